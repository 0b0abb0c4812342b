"""Quality rule evaluation time: the clickstream rule file on N rows with the engine that runs here (Great
Expectations on pandas; the Deequ jar is not reachable on these machines), against a baseline in the same run.

- setup (not timed): a curated-clickstream-shaped pandas frame of N rows built with numpy (ids, sessions, event
  types, devices, SKUs with 0.1% unknown, search text on 10% of rows, order values, arrival-ordered event times
  with 0.1% of rows an hour or more behind), the helper column the row freshness rules read (`_lag_seconds_...`,
  pandas cummax), the rules resolved for a business date with a trailing week of counts.
- timed: `retail_lake.quality.expectations.evaluate(frame, rules)`: every rule of `clickstream.yaml`
  (uniqueness, completeness, allowed values, range, pattern, referential integrity, freshness, row count,
  schema), results in the common schema. `rows_per_s` = N / seconds.
- baseline in the same run: the same rules as hand-written vectorized pandas expressions (null checks, `isin`,
  comparisons, `str.contains`, `duplicated`), counting failing rows only: what the rule engine costs on top.

Both must agree on every failing row count (the run fails otherwise).

Run: `retail-lake bench quality --rows 1000000 [--json]` or `python -m bench.quality --rows 1000000 10000000`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

DAY = dt.date(2026, 11, 7)


def build_frame(rows: int, seed: int = 7) -> pd.DataFrame:
    from retail_lake.quality.resolve import lag_column
    from retail_lake.quality.rules import rules_for

    rng = np.random.default_rng(seed)
    start = pd.Timestamp(DAY).value // 1000  # microseconds
    step = 86_400_000_000 // rows
    event_time = start + np.arange(rows, dtype=np.int64) * step
    late = rng.random(rows) < 0.001
    event_time[late] -= 3_600_000_000 + rng.integers(0, 86_400_000_000, late.sum())
    event_types = np.array(["page_view", "search", "add_to_cart", "remove_from_cart", "checkout", "purchase"])
    devices = np.array(["desktop", "mobile_web", "tablet", "ios_app", "android_app"])
    sku_number = rng.integers(1, 2_000, rows)
    unknown = rng.random(rows) < 0.001
    has_sku = rng.random(rows) < 0.6
    sku = pd.array(np.char.add("SKU-", np.char.zfill(sku_number.astype(str), 6)), dtype=object)
    sku[~has_sku] = None
    sku_known = pd.array(np.where(unknown, False, True), dtype="boolean")
    sku_known[~has_sku] = pd.NA
    searching = rng.random(rows) < 0.1
    search = pd.array(np.where(searching, "running shoes size 42", None), dtype=object)
    customer = rng.random(rows) < 0.5
    customer_known = pd.array(np.ones(rows, dtype=bool), dtype="boolean")
    customer_known[~customer] = pd.NA
    purchase = rng.random(rows) < 0.02
    order_value = np.where(purchase, rng.uniform(1, 500, rows).round(2), np.nan)
    frame = pd.DataFrame({
        "event_id": np.char.add("e", np.arange(rows).astype(str)).astype(object),
        "session_id": np.char.add("s", (np.arange(rows) // 7).astype(str)).astype(object),
        "event_type": event_types[rng.integers(0, len(event_types), rows)],
        "device": devices[rng.integers(0, len(devices), rows)],
        "sku": sku, "sku_known": sku_known, "customer_known": customer_known,
        "search_query": search, "order_value": order_value,
        "event_time": pd.to_datetime(event_time, unit="us"),
        "event_date": DAY,
    })
    for rule in rules_for("clickstream"):
        if rule.type == "freshness" and rule.scope == "row" and lag_column(rule) not in frame:
            seconds = frame["event_time"].astype("int64") / 1e9
            frame[lag_column(rule)] = seconds.cummax().shift(1) - seconds
    return frame


def resolved_rules(frame: pd.DataFrame, rows: int) -> list:
    from retail_lake.quality.resolve import GateContext, resolve_all
    from retail_lake.quality.rules import rules_for

    context = GateContext(DAY, trailing_counts=(rows,) * 7, expected_columns=tuple(frame.columns))
    return resolve_all(rules_for("clickstream"), context)


def baseline(frame: pd.DataFrame, resolved: list) -> dict[str, int | None]:
    """Failing rows per rule with plain pandas."""
    out: dict[str, int | None] = {}
    for item in resolved:
        rule, p = item.rule, item.rule.params
        column = frame[rule.column] if rule.column in frame else None
        if rule.type == "completeness":
            out[rule.id] = int(column.isna().sum())
        elif rule.type == "uniqueness":
            out[rule.id] = int(frame.duplicated(subset=p["columns"], keep=False).sum())
        elif rule.type == "allowed_values":
            out[rule.id] = int((column.notna() & ~column.isin(p["values"])).sum())
        elif rule.type == "range":
            bad = pd.Series(False, index=frame.index)
            if p["min"] is not None:
                bad |= column < p["min"]
            if p["max"] is not None:
                bad |= column > p["max"]
            out[rule.id] = int((column.notna() & bad).sum())
        elif rule.type == "pattern":
            hits = column.dropna().astype(str).str.contains(p["regex"], regex=True)
            out[rule.id] = int(hits.sum() if p["forbid"] else (~hits).sum())
        elif rule.type == "referential_integrity":
            out[rule.id] = int((frame[rule.flag_column] == False).sum())  # noqa: E712 - nullable boolean
        elif rule.type == "freshness" and rule.scope == "row":
            from retail_lake.quality.resolve import lag_column

            lag = frame[lag_column(rule)]
            limit = float(p["min_lag_seconds"])
            out[rule.id] = int(((lag > 0) & (lag >= limit)).sum()) if limit > 0 else int((lag > 0).sum())
        else:
            out[rule.id] = None
    return out


def run(rows: int) -> dict[str, Any]:
    from retail_lake.quality import expectations

    started = time.perf_counter()
    frame = build_frame(rows)
    resolved = resolved_rules(frame, rows)
    setup_s = time.perf_counter() - started
    expectations._context()  # context creation is per process, not per evaluation
    started = time.perf_counter()
    results = expectations.evaluate(frame, resolved)
    engine_s = time.perf_counter() - started
    started = time.perf_counter()
    expected = baseline(frame, resolved)
    baseline_s = time.perf_counter() - started
    disagree = {r.rule_id: (r.failing_rows, expected[r.rule_id]) for r in results
                if expected[r.rule_id] is not None and r.failing_rows != expected[r.rule_id]}
    if disagree:
        raise SystemExit(f"engine and baseline disagree (engine, baseline): {disagree}")
    return {
        "rows": rows, "rules": len(resolved), "engine": expectations.ENGINE, "setup_s": round(setup_s, 2),
        "engine_s": round(engine_s, 2), "engine_rows_per_s": round(rows / engine_s),
        "baseline_s": round(baseline_s, 2), "baseline_rows_per_s": round(rows / baseline_s),
        "failed_rules": sorted(r.rule_id for r in results if r.failed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    machine = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform(),
               "load_average_1m": round(os.getloadavg()[0], 2)}
    results = []
    for rows in args.rows:
        result = run(rows)
        results.append(result)
        print(f"{rows:>11,} rows, {result['rules']} rules: {result['engine']} {result['engine_s']:.2f} s "
              f"({result['engine_rows_per_s']:,} rows/s); pandas baseline {result['baseline_s']:.2f} s "
              f"({result['baseline_rows_per_s']:,} rows/s); failed {', '.join(result['failed_rules'])}", flush=True)
    machine["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps({"machine": machine, "runs": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
