"""Raw-zone and quarantine objects of one batch: Arrow tables, Parquet bytes, deterministic keys, S3 writes.

Keys are derived from the shard and the first sequence number of the batch, under the ingestion
date/hour of the batch's first record:

    <raw bucket>/<dataset>/dt=YYYY-MM-DD/hour=HH/<shard id>-<first sequence number>.parquet
    <quarantine bucket>/stream/dt=YYYY-MM-DD/hour=HH/<shard id>-<first sequence number>.jsonl

A retried batch starts at the same sequence number (Lambda checkpoints at the first unprocessed
record), so it overwrites its earlier attempt; a batch split in two by bisect-on-error writes its first
half over the earlier objects (deleting those of datasets the half has no rows of) and its second half
under the second half's own first sequence number. The last sequence number of the range is kept in
the object's metadata.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from retail_lake.contracts.derive import card_columns
from retail_lake.contracts.fields import Contract, Privacy
from retail_lake.ingestion.stream_transform import RawBatch

QUARANTINE_PREFIX = "stream"
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True)
class WrittenObject:
    bucket: str
    key: str
    rows: int
    bytes: int


@functools.cache
def dictionary_columns(contract: Contract) -> tuple[str, ...]:
    """Columns worth dictionary encoding: the low-cardinality ones (enumerations, coded identifiers such as
    stores and SKUs, card brand, ingestion shard and record). Unique ids would only pay for a dictionary
    that Parquet then abandons."""
    columns = [f.name for f in contract.fields if f.allowed or (f.pattern and f.privacy is Privacy.NONE)]
    for f in contract.fields:
        columns += [f"{f.name}.list.element.{c.name}" for c in f.children if c.allowed or c.pattern]
    columns += ["ingest_shard_id", "ingest_sequence_number"]
    if contract.fields_with_privacy(Privacy.CARD_NUMBER):
        columns.append(card_columns(contract.fields_with_privacy(Privacy.CARD_NUMBER)[0])[0])
    return tuple(columns)


def parquet_bytes(table: pa.Table, contract: Contract) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="snappy", use_dictionary=list(dictionary_columns(contract)),
                   write_statistics=True)
    return sink.getvalue().to_pybytes()


def partition_path(when: dt.datetime) -> str:
    return f"dt={when:%Y-%m-%d}/hour={when:%H}"


def raw_key(dataset: str, batch: RawBatch) -> str:
    return f"{dataset}/{partition_path(batch.partition_time)}/{batch.shard_id}-{batch.first_sequence_number}.parquet"


def quarantine_key(batch: RawBatch) -> str:
    return (
        f"{QUARANTINE_PREFIX}/{partition_path(batch.partition_time)}/"
        f"{batch.shard_id}-{batch.first_sequence_number}.jsonl"
    )


def quarantine_bytes(batch: RawBatch) -> bytes:
    return _ENCODER.encode_lines(batch.quarantine)


def write_batch(s3_client, batch: RawBatch, *, raw_bucket: str, quarantine_bucket: str) -> list[WrittenObject]:
    """Write the batch's raw Parquet objects (one per dataset) and its quarantine object.

    Every key of the batch is written or deleted, for every dataset the stream carries: a batch retried
    in smaller pieces (bisect on error) may hold no rows of a dataset its first, failed attempt had
    written, and that attempt's object must not survive beside the retry's."""
    if batch.first_sequence_number is None:
        return []
    metadata = {
        "shard-id": batch.shard_id,
        "first-sequence-number": batch.first_sequence_number,
        "last-sequence-number": batch.last_sequence_number or "",
        "kinesis-records": str(batch.records),
    }
    tables = batch.tables()
    written = []
    for dataset in sorted(batch.rows):
        key = raw_key(dataset, batch)
        table = tables.get(dataset)
        if table is None:
            s3_client.delete_object(Bucket=raw_bucket, Key=key)
            continue
        body = parquet_bytes(table, batch.rows[dataset].contract)
        s3_client.put_object(
            Bucket=raw_bucket, Key=key, Body=body, ContentType="application/vnd.apache.parquet", Metadata=metadata
        )
        written.append(WrittenObject(raw_bucket, key, table.num_rows, len(body)))
    key = quarantine_key(batch)
    if batch.quarantine:
        body = quarantine_bytes(batch)
        s3_client.put_object(
            Bucket=quarantine_bucket, Key=key, Body=body, ContentType="application/x-ndjson", Metadata=metadata
        )
        written.append(WrittenObject(quarantine_bucket, key, len(batch.quarantine), len(body)))
    else:
        s3_client.delete_object(Bucket=quarantine_bucket, Key=key)
    return written
