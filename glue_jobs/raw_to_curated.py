"""Glue job: raw -> curated for one dataset and one business date (Glue 5.0, plain PySpark).

    --dataset pos_sales|inventory_movements|clickstream
    --run_date YYYY-MM-DD          business date; the run rewrites event dates run_date - late_days .. run_date
    --raw_path s3://<raw>/<dataset>/            the dataset's raw prefix (dt=/hour= partitions)
    --reference_path s3://<raw>/reference/      stores/, products/, customers/ (Parquet)
    --curated_path s3://<curated>/<dataset>/    written partitioned by event_date
    --quarantine_path s3://<quarantine>/curated/<dataset>/   events broken by the dataset's error-level row
                                               rules, partitioned by event_date, with the rule ids they broke
    [--late_days 3]

Reads the raw `dt` partitions of the run window (`retail_lake.batch.windows`), applies the dataset's curated steps
(`retail_lake.batch.curated.curate`: dedupe over everything read, then keep the window's event dates) and
overwrites exactly those event-date partitions (`retail_lake.batch.partitions.overwrite_window`: a date of the
window left without rows loses its old partition): a rerun of the same date rewrites the same partitions with
the same rows. Prints one JSON summary line (`CURATED_SUMMARY {...}`).
"""

from __future__ import annotations

import json
import sys

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.utils import AnalysisException

from retail_lake.batch import curated
from retail_lake.batch.job_args import resolve_args
from retail_lake.batch.partitions import overwrite_window, path_not_found
from retail_lake.batch.reference import read_reference
from retail_lake.batch.windows import DEFAULT_LATE_DAYS, run_window
from retail_lake.contracts.derive import spark_schema
from retail_lake.contracts.registry import BY_DATASET
from retail_lake.quality.row_checks import event_key_for, split_rows
from retail_lake.quality.rules import rules_for

REQUIRED = ["JOB_NAME", "dataset", "run_date", "raw_path", "reference_path", "curated_path", "quarantine_path"]
# --backfill true replays history: every raw partition is read and every event date up to run_date is
# rewritten (the demo replays a generated week in one run per dataset this way).
OPTIONAL = {"late_days": str(DEFAULT_LATE_DAYS), "backfill": "false"}


def read_raw(spark: SparkSession, raw_path: str, raw_dts: list[str] | None) -> DataFrame | None:
    """The raw partitions `dt=<d>` of the window that exist (a Hadoop glob; all of them for None), or
    None when none does."""
    base = raw_path.rstrip("/")
    pattern = "*" if raw_dts is None else "{" + ",".join(raw_dts) + "}"
    try:
        return spark.read.option("basePath", base).parquet(f"{base}/dt={pattern}/")
    except AnalysisException as error:
        if path_not_found(error):
            return None
        raise


def main() -> None:
    args = resolve_args(sys.argv, REQUIRED, OPTIONAL)
    dataset = args["dataset"]
    if dataset not in BY_DATASET:
        raise ValueError(f"--dataset {dataset!r} is not a dataset; pass one of {', '.join(sorted(BY_DATASET))}")
    window = run_window(args["run_date"], int(args["late_days"]))
    spark = SparkSession.builder.getOrCreate()
    # copies of an event are rare and lie in different raw files: a per-partition first copy before the dedupe
    # shuffle (Spark's window group limit) would sort every row once more and drop almost none
    spark.conf.set("spark.sql.optimizer.windowGroupLimitThreshold", "-1")

    backfill = args["backfill"].lower() == "true"
    first_event_date = window.first_rewritten(backfill)
    raw = read_raw(spark, args["raw_path"], None if backfill else window.raw_dts)
    if raw is None:
        raw = spark.createDataFrame([], spark_schema(BY_DATASET[dataset]))
    ref = read_reference(spark, args["reference_path"])
    curation = curated.curate(dataset, raw, ref, first_event_date, window.last_event_date)
    # the dataset's error-level row rules: failing events go to quarantine with the rule ids they broke
    split = split_rows(curation.rows, rules_for(dataset), event_key=event_key_for(dataset))
    split.flagged.persist(StorageLevel.MEMORY_AND_DISK)
    written = overwrite_window(split.good, args["curated_path"], curated.EVENT_DATE, first_event_date,
                               window.last_event_date)
    overwrite_window(split.bad, args["quarantine_path"], curated.EVENT_DATE, first_event_date,
                     window.last_event_date)
    quarantined = split.counts()
    split.flagged.unpersist()
    summary = {
        "job": args["JOB_NAME"], "dataset": dataset, "run_date": window.run_date.isoformat(),
        "backfill": backfill,
        "raw_dts": "all" if backfill else window.raw_dts,
        "event_dates": "up to run_date" if backfill else [d.isoformat() for d in window.event_dates],
        **curation.counts(), **quarantined, "stale_partitions_removed": list(written.removed),
    }
    print("CURATED_SUMMARY " + json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
