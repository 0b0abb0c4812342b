"""EMR step: product affinity, FP-growth market-basket rules over the POS baskets of a trailing window.

Reads  <curated_path>/pos_sales   (curated POS sale lines, event_date partitions: transaction_id, sku), event
                                   dates run_date - window_days + 1 .. run_date
Writes <output_path>/product_affinity/as_of_date=<run_date>/   antecedent, consequent, rule, support,
                                                               confidence, lift, baskets, total_baskets

    spark-submit product_affinity.py --run_date 2026-03-01 \
        --curated_path s3://<curated bucket>/ --output_path s3://<analytics bucket>/ \
        [--window_days 90] [--min_support 0.01] [--min_confidence 0.1]

Logic: `retail_lake.batch.ml.product_affinity`. Only the date's partition is replaced on rerun.

Quality gate: before anything is written, the rules of product_affinity (retail_lake/contracts/rules/) are
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

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from retail_lake.batch.ml import product_affinity
from retail_lake.batch.schemas import EMR_TABLES, EVENT_DATE, conform
from retail_lake.quality import output_gate


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--run_date", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--curated_path", required=True, help="curated zone root holding pos_sales/")
    parser.add_argument("--output_path", required=True, help="root the output table is written under")
    parser.add_argument("--pos_table", default="pos_sales", help="folder of the POS table under --curated_path")
    parser.add_argument("--window_days", type=int, default=90, help="days of baskets, ending on --run_date")
    parser.add_argument("--min_support", type=float, default=0.01)
    parser.add_argument("--min_confidence", type=float, default=0.1)
    output_gate.add_arguments(parser)
    return parser.parse_known_args(argv)[0]


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    spark = SparkSession.builder.appName("retail-lake-product-affinity").getOrCreate()
    source = f"{args.curated_path.rstrip('/')}/{args.pos_table}"
    first = args.run_date - dt.timedelta(days=args.window_days - 1)
    day = F.col(EVENT_DATE).cast("date")
    lines = spark.read.parquet(source).where((day >= F.lit(first)) & (day <= F.lit(args.run_date)))
    missing = [c for c in ("transaction_id", "sku") if c not in lines.columns]
    if missing:
        raise SystemExit(f"{source} lacks {', '.join(missing)}: point --curated_path at the curated zone, whose "
                         f"{args.pos_table} table holds one row per sale line (the raw -> curated job writes it)")

    rules = product_affinity(lines, min_support=args.min_support, min_confidence=args.min_confidence)
    rules = conform(rules.select("*", F.lit(args.run_date).alias("as_of_date")), EMR_TABLES["product_affinity"])
    rules = rules.persist()
    out = args.output_path.rstrip("/")
    report = output_gate.enforce(spark, "product_affinity", {"product_affinity": rules}, args.run_date, out, args)
    (rules.write.mode("overwrite").option("partitionOverwriteMode", "dynamic").partitionBy("as_of_date")
     .parquet(f"{out}/product_affinity"))
    summary = {"step": "product_affinity", "run_date": args.run_date.isoformat(),
               "window": [first.isoformat(), args.run_date.isoformat()], "rows": {"product_affinity": rules.count()},
               "quality": output_gate.quality_summary(report)}
    rules.unpersist()
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
