"""The quality gate between curated and analytics: every rule of each curated dataset on each partition the day's
run rewrote (`event_date=<date>`: the business date, and the earlier dates of its window that have rows, since
late events rewrite them and analytics rebuilds them); a failed error-level rule stops analytics.

    report = run_gate(spark, "2026-11-07", ["pos_sales", ...], curated_path, run_id="jr_...",
                      first_date=run_window("2026-11-07").first_rewritten(backfill=False))
    publish_report(spark, report, results_path=..., report_path=..., topic_arn=..., pipeline=...)
    if report.failed: raise QualityGateFailed(report.headline())

The Glue entry script `glue_jobs/quality_gate.py` does exactly that; `retail_lake.quality.gate` holds the
evaluation and the outputs this gate shares with the EMR steps' output gate.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from retail_lake.quality.gate import (
    EVENT_DATE,
    GateReport,
    choose_engine,
    daily_counts,
    history_days,
    judge,
    read_table,
    trailing_from,
)
from retail_lake.quality.resolve import GateContext
from retail_lake.quality.rules import rules_for


def curated_columns(spark: Any, dataset: str) -> tuple[str, ...]:
    """The columns the curated step writes for `dataset` (run on empty frames), with `event_date`."""
    from pyspark.sql import types as st

    from retail_lake.batch import curated
    from retail_lake.batch.reference import ReferenceDimensions
    from retail_lake.contracts.derive import spark_schema
    from retail_lake.contracts.registry import BY_DATASET

    def empty(columns: list[str]):
        return spark.createDataFrame([], st.StructType([st.StructField(c, st.StringType()) for c in columns]))

    dimension_columns = {name: [key, *attributes.values()] for name, (key, _, attributes) in curated.DIMENSIONS.items()}
    dimension_columns["stores"].append("timezone")
    ref = ReferenceDimensions(**{name: empty(columns) for name, columns in dimension_columns.items()})
    raw = spark.createDataFrame([], spark_schema(BY_DATASET[dataset]))
    day = dt.date(2000, 1, 1)
    return tuple(curated.curate(dataset, raw, ref, day, day).rows.columns)


def read_curated(spark: Any, curated_path: str, dataset: str) -> Any | None:
    """The dataset's curated table (partition column `event_date` included), or None when it has no data. The schema
    is read from the files, not the declaration (`retail_lake.batch.catalog.read_curated`): the schema rule judges
    what was written."""
    return read_table(spark, f"{curated_path.rstrip('/')}/{dataset}")


def run_gate(spark: Any, run_date: str, datasets: list[str], curated_path: str, *, run_id: str,
             engine: str | None = None, first_date: dt.date | None = None) -> GateReport:
    """Evaluate each dataset's rules on its curated partition `event_date=<run_date>` (judged even when empty) and
    on each earlier partition from `first_date` that has rows (default: the run date only). The row-count rule of a
    partition compares it with the dates before it."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as st

    day = dt.date.fromisoformat(run_date)
    first = min(first_date or day, day)
    engine = engine or choose_engine(spark)
    reports = []
    for dataset in datasets:
        rules = rules_for(dataset)
        expected = curated_columns(spark, dataset)
        longest = history_days(rules)
        table = read_curated(spark, curated_path, dataset)
        if table is None:
            empty = spark.createDataFrame([], st.StructType([st.StructField(c, st.StringType()) for c in expected]))
            reports.append(judge(spark, dataset, empty, f"{EVENT_DATE}={run_date}", GateContext(day, (), expected),
                                 engine, rules))
            continue
        counts = daily_counts(table, first - dt.timedelta(days=longest), day)
        for date in sorted({d for d in counts if first <= d < day} | {day}):
            partition = table.where(F.col(EVENT_DATE) == F.lit(date))
            history = trailing_from(counts, date, longest) if longest else ()
            reports.append(judge(spark, dataset, partition, f"{EVENT_DATE}={date.isoformat()}",
                                 GateContext(date, history, expected), engine, rules))
    return GateReport(run_id, run_date, engine, reports, dt.datetime.now(dt.timezone.utc))


def parse_datasets(value: str) -> list[str]:
    """`--datasets` as a list, each a known dataset (clear error otherwise)."""
    from retail_lake.contracts.registry import DATASETS

    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in DATASETS]
    if not names or unknown:
        raise ValueError(f"--datasets {value!r}: unknown {', '.join(unknown) or '(none given)'}; "
                         f"pass a comma list of {', '.join(DATASETS)}")
    return names
