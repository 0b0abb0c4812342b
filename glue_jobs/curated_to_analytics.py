"""Glue job: curated -> analytics (gold) for one business date (Glue 5.0, plain PySpark).

    --run_date YYYY-MM-DD
    --curated_path s3://<curated>/              pos_sales/ (sale lines), inventory_movements/, clickstream/
    --reference_path s3://<raw>/reference/      (read for completeness checks of the dimensions)
    --analytics_path s3://<analytics>/          <table>/ per gold table
    [--late_days 3]

Tables and their partitions (every write replaces whole partitions, `retail_lake.batch.partitions.overwrite_window`,
so reruns never double rows and a date left without rows loses its old partition):
- daily_sales, web_sessions, conversion_funnel: by `event_date`, rewriting the run window's event dates
  (the same dates the raw -> curated runs rewrote);
- inventory_position, customer_360: snapshots by `as_of_date` = run_date.
Prints one JSON summary line (`ANALYTICS_SUMMARY {...}`) with each table's rows written.
"""

from __future__ import annotations

import datetime as dt
import json
import sys

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail_lake.batch import analytics
from retail_lake.batch.catalog import read_curated
from retail_lake.batch.curated import EVENT_DATE
from retail_lake.batch.job_args import resolve_args
from retail_lake.batch.partitions import overwrite_window
from retail_lake.batch.reference import read_reference
from retail_lake.batch.windows import DEFAULT_LATE_DAYS, run_window

REQUIRED = ["JOB_NAME", "run_date", "curated_path", "reference_path", "analytics_path"]
# --backfill true rebuilds the event-date tables for every event date up to run_date (replaying history).
OPTIONAL = {"late_days": str(DEFAULT_LATE_DAYS), "backfill": "false"}


def between(df: DataFrame, first: dt.date, last: dt.date) -> DataFrame:
    return df.where(F.col(EVENT_DATE).between(F.lit(first), F.lit(last)))


def main() -> None:
    args = resolve_args(sys.argv, REQUIRED, OPTIONAL)
    window = run_window(args["run_date"], int(args["late_days"]))
    backfill = args["backfill"].lower() == "true"
    first = window.first_rewritten(backfill)
    last = window.last_event_date
    spark = SparkSession.builder.getOrCreate()
    curated = args["curated_path"].rstrip("/")
    # each table reads only its columns of the sale lines: cheaper than caching every column of every line
    # with the tables' declared schemas: a dataset without partitions yet reads as empty
    lines = read_curated(spark, curated, "pos_sales").where(F.col(EVENT_DATE) <= F.lit(last))
    movements = read_curated(spark, curated, "inventory_movements")
    clicks = read_curated(spark, curated, "clickstream")
    read_reference(spark, args["reference_path"])  # fails early, with a hint, when the dimensions are missing

    # a session belongs to the UTC date it started: read the day before the window so that sessions running
    # over midnight into the window are not split
    sessions = analytics.web_sessions(between(clicks, first - dt.timedelta(days=1), last))
    sessions = between(sessions, first, last).cache()
    tables = {
        "daily_sales": (analytics.daily_sales(between(lines, first, last)), EVENT_DATE, first),
        "inventory_position": (analytics.inventory_position(movements, lines, window.run_date), "as_of_date", last),
        "customer_360": (analytics.customer_360(lines, window.run_date), "as_of_date", last),
        "web_sessions": (sessions, EVENT_DATE, first),
        "conversion_funnel": (analytics.conversion_funnel(sessions), EVENT_DATE, first),
    }
    written, removed = {}, {}
    for name, (table, partition, first_partition) in tables.items():
        result = overwrite_window(table, f"{args['analytics_path'].rstrip('/')}/{name}/", partition,
                                  first_partition, last)
        written[name] = result.rows
        if result.removed:
            removed[name] = list(result.removed)
    sessions.unpersist()
    summary = {"job": args["JOB_NAME"], "run_date": window.run_date.isoformat(),
               "backfill": backfill,
               "event_dates": "up to run_date" if backfill else [d.isoformat() for d in window.event_dates],
               "analytics": written, "stale_partitions_removed": removed}
    print("ANALYTICS_SUMMARY " + json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
