"""EMR step: demand forecast per store x SKU (seasonal naive) with its backtest error, as of one date.

Reads  <analytics_path>/daily_sales   (event dates run_date - history_days + 1 .. run_date)
Writes <output_path>/demand_forecast/as_of_date=<run_date>/                    one row per store x SKU x day ahead
       <output_path>/demand_forecast_backtest/as_of_date=<run_date>/           MAE and WAPE per store x SKU
       <output_path>/demand_forecast_backtest_summary/as_of_date=<run_date>/   MAE and WAPE over all series

    spark-submit demand_forecast.py --run_date 2026-03-01 \
        --analytics_path s3://<analytics bucket>/ --output_path s3://<analytics bucket>/ \
        [--horizon_days 7] [--season 7] [--backtest_days 7] [--history_days 56]

Logic: `retail_lake.batch.ml.demand_forecast`. Only the date's partitions are replaced on rerun.

Quality gate: before anything is written, the rules of demand_forecast (retail_lake/contracts/rules/) are
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

from retail_lake.batch.ml import demand_forecast
from retail_lake.batch.schemas import EMR_TABLES, EVENT_DATE, conform
from retail_lake.quality import output_gate


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--run_date", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--analytics_path", required=True, help="analytics zone root holding daily_sales/")
    parser.add_argument("--output_path", required=True, help="root the output tables are written under")
    parser.add_argument("--horizon_days", type=int, default=7)
    parser.add_argument("--season", type=int, default=7)
    parser.add_argument("--backtest_days", type=int, default=7)
    parser.add_argument("--history_days", type=int, default=56, help="days of daily_sales read, ending on --run_date")
    output_gate.add_arguments(parser)
    return parser.parse_known_args(argv)[0]


def write_partition(df: DataFrame, path: str) -> None:
    """Replaces the as_of_date partitions present in `df` (dynamic overwrite): a rerun never appends."""
    df.write.mode("overwrite").option("partitionOverwriteMode", "dynamic").partitionBy("as_of_date").parquet(path)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.history_days < args.backtest_days + args.season:
        raise SystemExit(f"--history_days ({args.history_days}) must cover --backtest_days + --season "
                         f"({args.backtest_days + args.season}) for the backtest to score anything")
    spark = SparkSession.builder.appName("retail-lake-demand-forecast").getOrCreate()
    first = args.run_date - dt.timedelta(days=args.history_days - 1)
    day = F.col(EVENT_DATE).cast("date")
    sales = (spark.read.parquet(f"{args.analytics_path.rstrip('/')}/daily_sales")
             .where((day >= F.lit(first)) & (day <= F.lit(args.run_date))))

    result = demand_forecast(sales, horizon_days=args.horizon_days, season=args.season,
                             backtest_days=args.backtest_days, as_of_date=args.run_date)
    out = args.output_path.rstrip("/")
    outputs = {"demand_forecast": result.forecasts, "demand_forecast_backtest": result.backtest,
               "demand_forecast_backtest_summary": result.backtest_overall}
    tables = {name: conform(df, EMR_TABLES[name]).persist() for name, df in outputs.items()}
    report = output_gate.enforce(spark, "demand_forecast", tables, args.run_date, out, args)  # before writing
    for name, df in tables.items():
        write_partition(df, f"{out}/{name}")
    summary = {"step": "demand_forecast", "run_date": args.run_date.isoformat(),
               "rows": {name: df.count() for name, df in tables.items()}, "quality": output_gate.quality_summary(report)}
    for df in tables.values():
        df.unpersist()
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
