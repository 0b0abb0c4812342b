"""Glue job: merge the operational store's DMS change files into curated (Glue 5.0, plain PySpark).

    --changes_path s3://<cdc landing>/dms/retail/  DMS S3 target folder of the schema (the restricted CDC landing
                                                   bucket): <table>/LOAD*.parquet, <ts>.parquet
    --curated_path s3://<curated>/operational/     writes <table>/ (latest state), <table>_history/ (type 2) and
                                                   _cdc_watermarks/<table>/ (the last change merged)
    --pseudonymization_secret_id <arn>             the key of `retail_lake.privacy`: personal columns (names, e-mail,
                                                   phone, street) reach curated as their keyed pseudonyms only
    [--tables stores,customers,...]                default: every replicated table

Each table: read its change files, keep the rows after its watermark (`retail_lake.sources.cdc.merge`), replace the
personal columns by their pseudonyms, apply the rows to the latest state (and to the history for the tables that
keep one), then write state and history, conformed to the declared columns (the curated Glue tables), and the new
watermark. A table without new changes is not rewritten, so a rerun over the same files changes nothing. Prints
one JSON summary line (`CDC_MERGE_SUMMARY {...}`).
"""

from __future__ import annotations

import datetime as dt
import json
import sys

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.utils import AnalysisException

from retail_lake.batch.job_args import resolve_args
from retail_lake.batch.partitions import path_not_found
from retail_lake.sources.cdc import merge
from retail_lake.sources.operational_db.tables import TABLES, table

REQUIRED = ["JOB_NAME", "changes_path", "curated_path", "pseudonymization_secret_id"]
OPTIONAL = {"tables": ",".join(t.name for t in TABLES)}
WATERMARKS = "_cdc_watermarks"


def read_parquet(spark: SparkSession, path: str) -> DataFrame | None:
    try:
        return spark.read.parquet(path)
    except AnalysisException as error:
        if path_not_found(error):
            return None
        raise


def pseudonymization_key(secret_id: str) -> bytes:
    if not secret_id:
        raise ValueError("--pseudonymization_secret_id is empty: the merge writes personal columns only as keyed "
                         "pseudonyms, so it needs the key's secret")
    import boto3

    from retail_lake.privacy.pseudonymize import key_from_secret_string

    return key_from_secret_string(boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])


def merge_table(spark: SparkSession, name: str, changes_path: str, curated_path: str, key: bytes) -> dict:
    spec = table(name)
    changes = read_parquet(spark, f"{changes_path}/{name}/")
    if changes is None:
        return {"table": name, "changes": 0, "note": "no change files"}
    watermark_frame = read_parquet(spark, f"{curated_path}/{WATERMARKS}/{name}/")
    watermark = watermark_frame.first()["watermark"] if watermark_frame is not None else None
    fresh = merge.new_changes(changes, watermark).cache()
    count = fresh.count()
    if count == 0:
        fresh.unpersist()
        return {"table": name, "changes": 0, "watermark": watermark}
    protected = merge.protect_personal_data(fresh, spec, key)  # before anything else reads the rows
    merge.validate(protected, spec.keys)
    # one window pass over the new changes, read by both the latest state and the history
    annotated = merge.annotate(protected, spec.keys).cache()
    state = merge.latest_state(read_parquet(spark, f"{curated_path}/{name}/"), annotated, spec.keys)
    outputs = {name: merge.conform(state, spec)}
    if spec.history:
        previous = read_parquet(spark, f"{curated_path}/{name}_history/")
        outputs[f"{name}_history"] = merge.conform(merge.history(previous, annotated, spec.keys), spec, history=True)
    new_watermark = merge.watermark_after(fresh, watermark)
    rows = {}
    for target, frame in outputs.items():
        # materialized first: the output replaces the files it was computed from
        settled = frame.localCheckpoint(eager=True)
        rows[target] = settled.count()
        settled.write.mode("overwrite").parquet(f"{curated_path}/{target}/")
    spark.createDataFrame(
        [(name, new_watermark, count, dt.datetime.now(dt.timezone.utc))],
        "table string, watermark string, changes long, merged_at timestamp",
    ).coalesce(1).write.mode("overwrite").parquet(f"{curated_path}/{WATERMARKS}/{name}/")
    annotated.unpersist()
    fresh.unpersist()
    return {"table": name, "changes": count, "watermark": new_watermark, "rows": rows}


def main() -> None:
    args = resolve_args(sys.argv, REQUIRED, OPTIONAL)
    spark = SparkSession.builder.getOrCreate()
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")  # UTC instants, not legacy INT96
    changes_path, curated_path = args["changes_path"].rstrip("/"), args["curated_path"].rstrip("/")
    names = [n.strip() for n in args["tables"].split(",") if n.strip()]
    for name in names:
        table(name)  # fails before any write on an unknown table name
    key = pseudonymization_key(args["pseudonymization_secret_id"])
    summary = {"job": args["JOB_NAME"], "tables": [merge_table(spark, n, changes_path, curated_path, key)
                                                   for n in names]}
    print("CDC_MERGE_SUMMARY " + json.dumps(summary, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
