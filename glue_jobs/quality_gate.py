"""Glue job: the quality gate between curated and analytics for one business date (Glue 5.0, plain PySpark).

    --date YYYY-MM-DD                        business date: the curated partitions event_date=<date> are judged,
                                             and the earlier dates of the run's window that have rows
    [--late_days 3]                          the window: <date> - late_days .. <date>, as the curated and analytics
                                             jobs rewrite it (retail_lake.batch.windows)
    [--backfill false]                       true: every event date up to <date> (the run replayed history)
    [--datasets pos_sales,clickstream,...]   default: every curated dataset
    --curated_path s3://<curated>/           <dataset>/event_date=.../
    --results_path s3://<analytics>/quality_results/     rows appended under run_date=<date>/
    --report_path s3://<analytics>/quality_reports/      the readable report: run_date=<date>/<run id>.txt
    --topic_arn arn:aws:sns:...              quality topic: a readable message when an error rule fails
    [--pipeline retail-lake-dev] [--metrics_namespace RetailLake/Quality]

Evaluates every rule of each dataset (`retail_lake.quality.curated_gate`; Deequ when its jar is on the classpath, Great
Expectations otherwise), writes the results, publishes CloudWatch metrics and prints the report
(`QUALITY_SUMMARY {...}` is the last line). When an error-level rule failed it publishes the report to the topic
and fails the run with `QualityGateFailed: ...`; warnings only report.
"""

from __future__ import annotations

import json
import sys

from pyspark.sql import SparkSession

from retail_lake.batch.job_args import resolve_args
from retail_lake.batch.windows import DEFAULT_LATE_DAYS, run_window
from retail_lake.contracts.registry import DATASETS
from retail_lake.quality import curated_gate, gate
from retail_lake.quality.results import METRICS_NAMESPACE

REQUIRED = ["JOB_NAME", "date", "curated_path", "results_path", "report_path", "topic_arn"]
OPTIONAL = {"datasets": ",".join(DATASETS), "JOB_RUN_ID": "", "pipeline": "retail-lake",
            "metrics_namespace": METRICS_NAMESPACE, "late_days": str(DEFAULT_LATE_DAYS), "backfill": "false"}


def main() -> None:
    args = resolve_args(sys.argv, REQUIRED, OPTIONAL)
    datasets = curated_gate.parse_datasets(args["datasets"])
    run_id = args["JOB_RUN_ID"] or gate.new_run_id()
    spark = SparkSession.builder.getOrCreate()
    # the partitions the curated jobs rewrote and analytics rebuilds next
    first_date = run_window(args["date"], int(args["late_days"])).first_rewritten(args["backfill"].lower() == "true")
    report = curated_gate.run_gate(spark, args["date"], datasets, args["curated_path"], run_id=run_id,
                                   first_date=first_date)
    report_key = gate.publish_report(spark, report, results_path=args["results_path"],
                                     report_path=args["report_path"], topic_arn=args["topic_arn"],
                                     pipeline=args["pipeline"], namespace=args["metrics_namespace"])
    print(report.text())
    print("QUALITY_SUMMARY " + json.dumps(report.summary() | {"report": report_key}, sort_keys=True))
    if report.failed:
        raise gate.QualityGateFailed(report.headline())


if __name__ == "__main__":
    main()
