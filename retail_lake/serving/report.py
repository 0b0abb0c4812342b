"""The lake's HTML report: charts of the gold tables and the data-quality summary, from the named queries run
through Athena (one self-contained file, the charts as inline PNG).

    path = write_report(athena, workgroup="retail-lake-dev", analytics_database="...", path=Path("report.html"))
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retail_lake.serving import catalog
from retail_lake.serving.athena import QueryFailed, QueryResult, run_named_query

QUALITY_QUERY = "data_quality_failures_by_dataset"


@dataclass
class Report:
    path: Path
    sections: list[str] = field(default_factory=list)  # section titles, in order
    quality_rows: int | None = None  # rows of the data-quality summary; None when there are no quality results
    problems: list[str] = field(default_factory=list)  # queries that failed, with Athena's reason


def write_report(athena: Any, *, workgroup: str, analytics_database: str, path: Path,
                 quality_database: str | None = None, title: str = "retail-lake: the lake today") -> Report:
    import matplotlib

    matplotlib.use("Agg")
    report = Report(Path(path))
    body: list[str] = []

    def query(name: str) -> QueryResult | None:
        try:
            return run_named_query(athena, name, workgroup=workgroup, analytics_database=analytics_database,
                                   quality_database=quality_database)
        except QueryFailed as failure:
            report.problems.append(f"{name}: {failure.reason}")
            return None

    def section(heading: str, content: str, note: str = "") -> None:
        report.sections.append(heading)
        body.append(f"<section><h2>{html.escape(heading)}</h2>"
                    + (f"<p class='note'>{html.escape(note)}</p>" if note else "") + content + "</section>")

    queries = catalog.named_queries()
    sales = query("daily_sales_by_store_and_region")
    if sales is not None:
        section(queries["daily_sales_by_store_and_region"].title, _sales_by_region_chart(sales),
                "Net sales per day, summed over the stores of each region.")
    skus = query("top_skus")
    if skus is not None:
        section("Top SKUs by net sales", _bar_chart(
            [f"{r['sku']} {r['product_name'] or ''}"[:32] for r in skus.records()],
            [float(r["net_sales"] or 0) for r in skus.records()], "net sales", horizontal=True))
    stock = query("stockouts_and_days_of_cover")
    if stock is not None:
        per_store: dict[str, int] = defaultdict(int)
        for r in stock.records():
            if r["stockout"] == "true":
                per_store[r["store_id"] or "?"] += 1
        stores = sorted(per_store, key=lambda s: (-per_store[s], s))[:25]
        low = sum(1 for r in stock.records() if r["stockout"] != "true")
        section("Stockouts by store (latest snapshot)",
                _bar_chart(stores, [per_store[s] for s in stores], "SKUs out of stock"),
                f"{sum(per_store.values()):,} store x SKU positions out of stock; {low:,} more with under 7 days "
                "of cover.")
    segments = query("customer_segment_mix")
    if segments is not None:
        section("Customer segment mix", _bar_chart(
            [r["segment"] or "?" for r in segments.records()], [int(r["customers"]) for r in segments.records()],
            "customers") + _html_table(segments))
    funnel = query("funnel_conversion_by_channel")
    if funnel is not None:
        section("Funnel conversion by channel", _funnel_chart(funnel) + _html_table(funnel))
    quality = query(QUALITY_QUERY)
    if quality is not None:
        report.quality_rows = len(quality.rows)
        content = (_html_table(quality) if quality.rows
                   else "<p>No failed rule in any quality gate run.</p>")
        section("Data quality: failed rules by dataset", content)
    else:
        section("Data quality: failed rules by dataset",
                "<p>No quality results yet (the quality gates have not written quality_results).</p>")
    if report.problems:
        body.append("<section><h2>Queries that failed</h2><ul>"
                    + "".join(f"<li>{html.escape(p)}</li>" for p in report.problems) + "</ul></section>")
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    document = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class='note'>Generated {generated} from the Athena named queries of "
        f"workgroup {html.escape(workgroup)} over {html.escape(analytics_database)}.</p>"
        + "".join(body) + "</body></html>"
    )
    report.path.parent.mkdir(parents=True, exist_ok=True)
    report.path.write_text(document)
    return report


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.85rem; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: right; } th { background: #f4f4f4; }
td:first-child, th:first-child { text-align: left; } .note { color: #666; font-size: 0.85rem; }
img { max-width: 100%; }
"""


def _png(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return f"<img alt='chart' src='data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}'>"


def _bar_chart(labels: list[str], values: list[float], axis: str, *, horizontal: bool = False) -> str:
    import matplotlib.pyplot as plt

    if not labels:
        return "<p>No rows.</p>"
    figure, ax = plt.subplots(figsize=(9, max(3, 0.3 * len(labels)) if horizontal else 3.5))
    if horizontal:
        ax.barh(labels[::-1], values[::-1], color="#4c72b0")
        ax.set_xlabel(axis)
    else:
        ax.bar(labels, values, color="#4c72b0")
        ax.set_ylabel(axis)
        ax.tick_params(axis="x", rotation=60)
    return _png(figure)


def _sales_by_region_chart(result: QueryResult) -> str:
    import matplotlib.pyplot as plt

    per_region: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in result.records():
        per_region[r["region"] or "unknown"][r["event_date"] or "?"] += float(r["net_sales"] or 0)
    if not per_region:
        return "<p>No rows.</p>"
    figure, ax = plt.subplots(figsize=(9, 3.5))
    for region, days in sorted(per_region.items()):
        dates = sorted(days)
        ax.plot(dates, [days[d] for d in dates], marker="o", label=region)
    ax.set_ylabel("net sales")
    ax.tick_params(axis="x", rotation=45)
    ax.legend(fontsize="small")
    return _png(figure)


def _funnel_chart(result: QueryResult) -> str:
    import matplotlib.pyplot as plt

    steps = ("sessions", "sessions_with_add_to_cart", "sessions_with_checkout", "sessions_with_purchase")
    records = result.records()
    if not records:
        return "<p>No rows.</p>"
    figure, ax = plt.subplots(figsize=(9, 3.5))
    width = 0.8 / len(records)
    for index, record in enumerate(records):
        ax.bar([i + index * width for i in range(len(steps))], [int(record[s] or 0) for s in steps], width,
               label=record["channel"])
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(steps))],
                  ["sessions", "add to cart", "checkout", "purchase"])
    ax.legend()
    return _png(figure)


def _html_table(result: QueryResult) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name, _ in result.columns)
    rows = "".join("<tr>" + "".join(f"<td>{'' if v is None else html.escape(v)}</td>" for v in row) + "</tr>"
                   for row in result.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
