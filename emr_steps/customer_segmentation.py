"""EMR step: customer segmentation, k-means on the RFM features of `customer_360` for one date.

Reads  <analytics_path>/customer_360           (the rows with as_of_date = --run_date)
Writes <output_path>/customer_segments/as_of_date=<run_date>/           customer_id, cluster, cluster_label, r/f/m
       <output_path>/customer_segment_profiles/as_of_date=<run_date>/   per cluster: customers, averages, silhouette

    spark-submit customer_segmentation.py --run_date 2026-03-01 \
        --analytics_path s3://<analytics bucket>/ --output_path s3://<analytics bucket>/ [--k 4] [--seed 7]

Logic: `retail_lake.batch.ml.customer_segments`. Only the date's partitions are replaced on rerun.

Quality gate: before anything is written, the rules of customer_segments (retail_lake/contracts/rules/) are
evaluated on the computed rows (`retail_lake.quality.output_gate`): an error-level failure writes nothing
and fails the run with QualityGateFailed; warnings are reported. Arguments: --results_path, --report_path,
--topic_arn, --pipeline, --metrics_namespace.
"""

from __future__ import annotations

from retail_lake.batch.emr_python import use_shipped_packages

use_shipped_packages()  # first: pydeequ, PyYAML, boto3 and their numpy from the job's archive (EMR Serverless)

import argparse
import datetime as dt
import json

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail_lake.batch.ml import customer_segments
from retail_lake.batch.schemas import EMR_TABLES, conform
from retail_lake.quality import output_gate


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--run_date", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--analytics_path", required=True, help="analytics zone root holding customer_360/")
    parser.add_argument("--output_path", required=True, help="root the output tables are written under")
    parser.add_argument("--k", type=int, default=4, help="number of clusters")
    parser.add_argument("--seed", type=int, default=7)
    output_gate.add_arguments(parser)
    # launchers add their own arguments (Glue-style --JOB_NAME, ...): ignore what is not ours
    return parser.parse_known_args(argv)[0]


def write_partition(df: DataFrame, path: str) -> None:
    """Replaces the as_of_date partitions present in `df` (dynamic overwrite): a rerun never appends."""
    df.write.mode("overwrite").option("partitionOverwriteMode", "dynamic").partitionBy("as_of_date").parquet(path)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    spark = SparkSession.builder.appName("retail-lake-customer-segmentation").getOrCreate()
    source = f"{args.analytics_path.rstrip('/')}/customer_360"
    rfm = spark.read.parquet(source)
    if "as_of_date" in rfm.columns:
        rfm = rfm.where(F.col("as_of_date").cast("date") == F.lit(args.run_date))
    if rfm.limit(1).count() == 0:
        raise SystemExit(f"no customer_360 rows for as_of_date {args.run_date} under {source}: "
                         "run the analytics job for that date first")

    result = customer_segments(rfm, k=args.k, seed=args.seed)
    as_of = F.lit(args.run_date).alias("as_of_date")
    segments = result.segments.select("*", as_of)
    profiles = result.profiles.select("*", F.lit(result.silhouette).cast("double").alias("silhouette"),
                                      F.lit(args.k).alias("k"), F.lit(args.seed).alias("seed"), as_of)
    out = args.output_path.rstrip("/")
    tables = {name: conform(df, EMR_TABLES[name]).persist()  # the columns the catalog declares
              for name, df in (("customer_segments", segments), ("customer_segment_profiles", profiles))}
    report = output_gate.enforce(spark, "customer_segmentation", tables, args.run_date, out, args)  # before writing
    for name, df in tables.items():
        write_partition(df, f"{out}/{name}")
    summary = {"step": "customer_segmentation", "run_date": args.run_date.isoformat(), "silhouette": result.silhouette,
               "rows": {name: df.count() for name, df in tables.items()}, "quality": output_gate.quality_summary(report)}
    for df in tables.values():
        df.unpersist()
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
