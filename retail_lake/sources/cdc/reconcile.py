"""Compare curated with the operational store: the rows of a table in the database against the latest-state rows
the merge wrote (the table's own columns only), as multisets of tuples. The database's personal columns (those the
table declares in `retail_lake.sources.operational_db.tables`) are compared by their pseudonyms, computed with the
`Pseudonymizer` of the merge's key, as curated holds them."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from retail_lake.sources.operational_db.tables import TABLES, SourceTable


@dataclass
class TableComparison:
    table: str
    database_rows: int
    curated_rows: int
    only_in_database: list[tuple]
    only_in_curated: list[tuple]

    @property
    def equal(self) -> bool:
        return not self.only_in_database and not self.only_in_curated


def database_rows(conn: Any, table: SourceTable, pseudonymizer: Any) -> tuple[list[str], Counter[tuple]]:
    cursor = conn.execute(f"SELECT * FROM {table.qualified}")
    columns = [d.name for d in cursor.description]
    personal = table.personal_columns
    protect = {i: getattr(pseudonymizer, personal[c]) for i, c in enumerate(columns) if c in personal}
    rows = (tuple(protect[i](v) if i in protect and v is not None else v for i, v in enumerate(row))
            for row in cursor.fetchall())
    return columns, Counter(rows)


def read_prefix(s3: Any, bucket: str, prefix: str) -> pa.Table | None:
    parts = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".parquet"):
                parts.append(pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())))
    return _utc_timestamps(pa.concat_tables(parts)) if parts else None


def _utc_timestamps(table: pa.Table) -> pa.Table:
    """Spark may write timestamps without a zone (INT96): they are UTC instants (the jobs run in UTC)."""
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is None:
            table = table.set_column(i, field.name, table.column(i).cast(pa.timestamp("us", tz="UTC")))
    return table


def compare_table(conn: Any, s3: Any, bucket: str, prefix: str, table: SourceTable,
                  pseudonymizer: Any) -> TableComparison:
    columns, in_database = database_rows(conn, table, pseudonymizer)
    curated = read_prefix(s3, bucket, f"{prefix}{table.name}/")
    in_curated: Counter[tuple] = Counter()
    if curated is not None:
        in_curated = Counter(tuple(row[c] for c in columns) for row in curated.select(columns).to_pylist())
    return TableComparison(table.name, sum(in_database.values()), sum(in_curated.values()),
                           sorted((in_database - in_curated).elements(), key=repr)[:20],
                           sorted((in_curated - in_database).elements(), key=repr)[:20])


def compare_all(conn: Any, s3: Any, bucket: str, prefix: str, pseudonymizer: Any) -> list[TableComparison]:
    return [compare_table(conn, s3, bucket, prefix, table, pseudonymizer) for table in TABLES]


def twin_pseudonymizer(secretsmanager: Any, secret_arn: str) -> Any:
    """The `Pseudonymizer` of the key in `secret_arn` (the ingestion stack's pseudonymization secret)."""
    from retail_lake.privacy.pseudonymize import Pseudonymizer, key_from_secret_string

    return Pseudonymizer(key_from_secret_string(secretsmanager.get_secret_value(SecretId=secret_arn)["SecretString"]))
