"""The Kinesis Producer Library (KPL) aggregation format: many user records in one Kinesis record.

Aggregation uses `aws_kinesis_agg` (the AWS library). Deaggregation is done here directly on its protobuf
message type, because the library's Lambda helper re-encodes every user record to base64 and copies the
whole event dict per record, which costs more than the transform itself at 10,000 events a batch.
"""

from __future__ import annotations

import hashlib

# Importing the aggregator first puts the library's generated protobuf modules on sys.path.
from aws_kinesis_agg.aggregator import AggRecord, RecordAggregator  # noqa: F401 - re-exported
from aws_kinesis_agg import DIGEST_SIZE, MAGIC, MAX_BYTES_PER_RECORD, messages_pb2  # noqa: E402

__all__ = ["AggRecord", "MAX_BYTES_PER_RECORD", "RecordAggregator", "deaggregate", "is_aggregated"]

_MAGIC_LEN = len(MAGIC)
_AggregatedRecord = messages_pb2.AggregatedRecord


def is_aggregated(data: bytes) -> bool:
    return len(data) > _MAGIC_LEN + DIGEST_SIZE and data[:_MAGIC_LEN] == MAGIC


def deaggregate(data: bytes) -> list[bytes]:
    """The user records in one Kinesis record's data.

    As the KPL specifies, data without the magic prefix, or whose MD5 trailer does not match, is one
    ordinary (non-aggregated) user record.
    """
    if not is_aggregated(data):
        return [data]
    body = data[_MAGIC_LEN:-DIGEST_SIZE]
    if hashlib.md5(body, usedforsecurity=False).digest() != data[-DIGEST_SIZE:]:
        return [data]
    message = _AggregatedRecord()
    try:
        message.ParseFromString(body)
    except Exception:  # noqa: BLE001 - a corrupt aggregate is an ordinary record, per the format
        return [data]
    return [record.data for record in message.records]
