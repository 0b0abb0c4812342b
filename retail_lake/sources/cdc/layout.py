"""How DMS writes the operational store into the restricted CDC landing bucket, defined once for the CDK endpoint
settings, the twin's DMS executor and the merge job.

S3 target endpoint (Parquet): `s3://<cdc landing>/<BUCKET_FOLDER>/<schema>/<table>/LOAD00000001.parquet` for the full
load (then LOAD00000002... when a table's load spans files) and `<YYYYMMDD-HHMMSSmmm>.parquet` for each batch of
changes. Every row carries `Op` (I, U or D; full-load rows `I`, as `IncludeOpForFullLoad` asks), the commit
timestamp (`TimestampColumnName`; for full-load rows the time the row was loaded) and the change sequence (a table
mapping's add-column of the header `$AR_H_CHANGE_SEQ`: a fixed-width string that sorts in commit order, empty
for full-load rows).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

BUCKET_FOLDER = "dms"
OP_COLUMN = "Op"
COMMIT_TS_COLUMN = "commit_ts"
CHANGE_SEQ_COLUMN = "change_seq"
OPERATIONS = ("I", "U", "D")
TABLE_MAPPINGS_FILE = Path(__file__).with_name("table_mappings.json")
CHANGE_SEQ_WIDTH = 35


def s3_target_settings(bucket_name: str, kms_key_arn: str, role_arn: str) -> dict[str, Any]:
    """The S3 target endpoint's S3Settings (CloudFormation and API spelling agree)."""
    return {
        "BucketName": bucket_name,
        "BucketFolder": BUCKET_FOLDER,
        "ServiceAccessRoleArn": role_arn,
        "DataFormat": "parquet",
        "ParquetVersion": "parquet-2-0",
        "EnableStatistics": True,
        "CompressionType": "NONE",  # Parquet pages are compressed by the writer (snappy) either way
        "EncryptionMode": "SSE_KMS",
        "ServerSideEncryptionKmsKeyId": kms_key_arn,
        "IncludeOpForFullLoad": True,
        "TimestampColumnName": COMMIT_TS_COLUMN,
        "ParquetTimestampInMillisecond": False,
        "CdcMaxBatchInterval": 60,
        "CdcMinFileSize": 32000,
        "DatePartitionEnabled": False,
    }


def schema_prefix(schema: str, folder: str = BUCKET_FOLDER) -> str:
    """The folder of a schema's change files (`dms/retail/`): what the merge job reads."""
    return f"{folder.strip('/')}/{schema}/"


def table_prefix(schema: str, table: str, folder: str = BUCKET_FOLDER) -> str:
    return f"{folder.strip('/')}/{schema}/{table}/"


def load_file_name(number: int) -> str:
    return f"LOAD{number:08d}.parquet"


def cdc_file_name(first_commit: dt.datetime) -> str:
    stamp = first_commit.astimezone(dt.timezone.utc)
    return f"{stamp:%Y%m%d-%H%M%S}{stamp.microsecond // 1000:03d}.parquet"


def table_mappings() -> dict[str, Any]:
    return json.loads(TABLE_MAPPINGS_FILE.read_text())


def selected_tables(mappings: dict[str, Any]) -> list[tuple[str, str]]:
    """(schema, table) pairs the mappings' selection rules include, in rule order (no wildcards here)."""
    return [(r["object-locator"]["schema-name"], r["object-locator"]["table-name"]) for r in mappings["rules"]
            if r["rule-type"] == "selection" and r["rule-action"] == "include"]
