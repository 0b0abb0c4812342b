"""Glue job: raw -> curated for one dataset and one business date (Glue 5.0, plain PySpark).

    --dataset pos_sales|inventory_movements|clickstream
    --run_date YYYY-MM-DD          business date; the run rewrites event dates run_date - late_days .. run_date
    --raw_path s3://<raw>/<dataset>/            the dataset's raw prefix (dt=/hour= partitions)
    --reference_path s3://<raw>/reference/      stores/, products/, customers/ (Parquet)
    --curated_path s3://<curated>/<dataset>/    written partitioned by event_date
    [--late_days 3]

Reads the raw `dt` partitions of the run window (`retail_lake.batch.windows`), applies the dataset's curated steps
in the order `retail_lake.batch.curated` documents (dedupe over everything read, then keep the window's event
dates) and overwrites only those event-date partitions (dynamic partition overwrite): a rerun of the same date
rewrites the same partitions with the same rows. Prints one JSON summary line (`CURATED_SUMMARY {...}`).
"""

from __future__ import annotations

import datetime as dt
import json
import sys

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException

from retail_lake.batch import curated
from retail_lake.batch.job_args import resolve_args
from retail_lake.batch.reference import ReferenceDimensions, read_reference
from retail_lake.batch.windows import DEFAULT_LATE_DAYS, run_window
from retail_lake.contracts.derive import spark_schema
from retail_lake.contracts.registry import BY_DATASET

REQUIRED = ["JOB_NAME", "dataset", "run_date", "raw_path", "reference_path", "curated_path"]
# --backfill true replays history: every raw partition is read and every event date up to run_date is
# rewritten (the demo replays a generated week in one run per dataset this way).
OPTIONAL = {"late_days": str(DEFAULT_LATE_DAYS), "backfill": "false"}
BACKFILL_FIRST_EVENT_DATE = dt.date(2000, 1, 1)


def read_raw(spark: SparkSession, raw_path: str, raw_dts: list[str] | None) -> DataFrame | None:
    """The raw partitions `dt=<d>` of the window that exist (a Hadoop glob; all of them for None), or
    None when none does."""
    base = raw_path.rstrip("/")
    pattern = "*" if raw_dts is None else "{" + ",".join(raw_dts) + "}"
    try:
        return spark.read.option("basePath", base).parquet(f"{base}/dt={pattern}/")
    except AnalysisException as error:
        if "PATH_NOT_FOUND" in str(error) or "Path does not exist" in str(error):
            return None
        raise


def curate(dataset: str, deduped: DataFrame, ref: ReferenceDimensions) -> DataFrame:
    """The dataset's steps after dedupe (see `retail_lake.batch.curated`)."""
    if dataset == "pos_sales":
        dated = curated.with_event_date(deduped, ref.stores)
        return curated.conform_keys(curated.explode_pos_lines(dated), stores=ref.stores, products=ref.products,
                                    customers=ref.customers)
    if dataset == "inventory_movements":
        return curated.conform_keys(curated.with_event_date(deduped, ref.stores), stores=ref.stores,
                                    products=ref.products)
    if dataset == "clickstream":
        return curated.conform_keys(curated.with_event_date(deduped), products=ref.products, customers=ref.customers)
    raise ValueError(f"no curated steps for dataset {dataset!r}; known: {', '.join(sorted(BY_DATASET))}")


def main() -> None:
    args = resolve_args(sys.argv, REQUIRED, OPTIONAL)
    dataset = args["dataset"]
    if dataset not in BY_DATASET:
        raise ValueError(f"--dataset {dataset!r} is not a dataset; pass one of {', '.join(sorted(BY_DATASET))}")
    contract = BY_DATASET[dataset]
    window = run_window(args["run_date"], int(args["late_days"]))
    spark = SparkSession.builder.getOrCreate()
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")

    backfill = args["backfill"].lower() == "true"
    first_event_date = BACKFILL_FIRST_EVENT_DATE if backfill else window.first_event_date
    raw = read_raw(spark, args["raw_path"], None if backfill else window.raw_dts)
    if raw is None:
        raw = spark.createDataFrame([], spark_schema(contract))
    typed = curated.cast_to_contract(raw, contract).cache()
    deduped = curated.dedupe_by_event_id(typed).cache()
    rows_read, events = typed.count(), deduped.count()
    ref = read_reference(spark, args["reference_path"])
    in_window = curate(dataset, deduped, ref).where(
        F.col(curated.EVENT_DATE).between(F.lit(first_event_date), F.lit(window.last_event_date))
    ).cache()
    rows_written = in_window.count()
    events_written = in_window.select("event_id").distinct().count()
    in_window.write.mode("overwrite").partitionBy(curated.EVENT_DATE).parquet(args["curated_path"])
    summary = {
        "job": args["JOB_NAME"], "dataset": dataset, "run_date": window.run_date.isoformat(),
        "backfill": backfill,
        "raw_dts": "all" if backfill else window.raw_dts,
        "event_dates": "up to run_date" if backfill else [d.isoformat() for d in window.event_dates],
        "rows_read": rows_read, "duplicates_dropped": rows_read - events,
        "events_outside_window": events - events_written, "events_written": events_written,
        "rows_written": rows_written,
    }
    for frame in (in_window, deduped, typed):
        frame.unpersist()
    print("CURATED_SUMMARY " + json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
