"""A Glue table's data on the twin's S3 as one Arrow table, the way Athena reads an external table.

- Parquet tables only (the lake's tables are all Parquet); any other format fails naming the table and its format.
- Every object under the table's `Location` is read, except Hive's hidden files (names starting with `_` or `.`,
  and `_temporary/`, `.crc`): partitions are found from the path (`key=value/` segments, or the table's
  `storage.location.template` under partition projection), so no partition needs registering. The partition
  columns take the values of the path, typed as the table's `PartitionKeys` say.
- Columns are matched by name, case-insensitively (Athena lower-cases names); a column the table declares but a
  file lacks reads as NULL; primitive columns are cast to the declared Glue type, so a query sees the catalog's
  types, not each file's.
- Objects are cached by (bucket, key, ETag): a rewritten object is read again, an unchanged one is not.
"""

from __future__ import annotations

import io
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retail_lake.twin.athena.errors import AthenaQueryError
from retail_lake.twin.athena.types import hive_to_arrow

PARQUET_MARKERS = ("parquet",)
_CACHE_OBJECTS = 4096


@dataclass(frozen=True)
class TableScan:
    table: pa.Table
    bytes_scanned: int
    objects: int


class GlueTableReader:
    def __init__(self, s3_client: Any) -> None:
        self._s3 = s3_client
        self._cache: OrderedDict[tuple[str, str, str], pa.Table] = OrderedDict()
        self._conformed: OrderedDict[tuple, pa.Table] = OrderedDict()  # as the table reads them (types, partitions)
        self._lock = threading.Lock()

    def scan(self, glue_table: dict[str, Any]) -> TableScan:
        name = f"{glue_table.get('DatabaseName', '?')}.{glue_table['Name']}"
        descriptor = glue_table.get("StorageDescriptor") or {}
        _require_parquet(name, descriptor)
        location = descriptor.get("Location") or ""
        parsed = urlparse(location)
        if parsed.scheme not in ("s3", "s3a") or not parsed.netloc:
            raise AthenaQueryError("HIVE_METASTORE_ERROR", f"table {name} has no S3 location (Location={location!r})")
        bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        columns = [(c["Name"].lower(), c.get("Type", "string")) for c in descriptor.get("Columns", [])]
        partition_keys = [(c["Name"].lower(), c.get("Type", "string")) for c in glue_table.get("PartitionKeys", [])]
        template = _location_template(glue_table, bucket, prefix)
        pieces, scanned, count = [], 0, 0
        for key, etag, size in self._objects(bucket, prefix):
            relative = key[len(prefix):]
            if _hidden(relative):
                continue
            values = _partition_values(relative, partition_keys, template)
            if values is None:
                continue  # outside every partition (e.g. a stray file beside the partition folders)
            signature = (bucket, key, etag, tuple(columns), tuple(partition_keys), tuple(sorted(values.items())))
            with self._lock:
                conformed = self._conformed.get(signature)
            if conformed is None:
                data = self._read_object(bucket, key, etag, name)
                conformed = _conform(data, columns, partition_keys, values, name, key)
                with self._lock:
                    self._conformed[signature] = conformed
                    while len(self._conformed) > _CACHE_OBJECTS:
                        self._conformed.popitem(last=False)
            pieces.append(conformed)
            scanned += size
            count += 1
        schema = pa.schema([pa.field(n, _declared(t) or pa.string()) for n, t in columns + partition_keys])
        if not pieces:
            return TableScan(schema.empty_table(), 0, 0)
        table = pa.concat_tables(pieces, promote_options="permissive")
        return TableScan(table, scanned, count)

    # ------------------------------------------------------------------------------------------ objects
    def _objects(self, bucket: str, prefix: str) -> list[tuple[str, str, int]]:
        found = []
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    if not obj["Key"].endswith("/"):
                        found.append((obj["Key"], obj.get("ETag", ""), int(obj.get("Size", 0))))
        except self._s3.exceptions.NoSuchBucket:
            raise AthenaQueryError("HIVE_PATH_ERROR", f"the bucket of s3://{bucket}/{prefix} does not exist") from None
        return sorted(found)

    def _read_object(self, bucket: str, key: str, etag: str, table_name: str) -> pa.Table:
        cache_key = (bucket, key, etag)
        with self._lock:
            if cache_key in self._cache:
                self._cache.move_to_end(cache_key)
                return self._cache[cache_key]
        body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            data = pq.read_table(io.BytesIO(body))
        except (pa.ArrowInvalid, OSError) as error:
            raise AthenaQueryError(
                "HIVE_BAD_DATA", f"table {table_name}: s3://{bucket}/{key} is not a readable Parquet file ({error})"
            ) from None
        with self._lock:
            self._cache[cache_key] = data
            while len(self._cache) > _CACHE_OBJECTS:
                self._cache.popitem(last=False)
        return data


def _require_parquet(name: str, descriptor: dict[str, Any]) -> None:
    serde = (descriptor.get("SerdeInfo") or {}).get("SerializationLibrary", "")
    formats = " ".join([descriptor.get("InputFormat", ""), serde]).lower()
    if not any(marker in formats for marker in PARQUET_MARKERS):
        raise AthenaQueryError(
            "NOT_SUPPORTED",
            f"table {name} is stored as {descriptor.get('InputFormat') or serde or 'an unknown format'}; the twin's "
            "Athena reads Parquet tables only",
        )


def _hidden(relative_key: str) -> bool:
    parts = relative_key.split("/")
    return any(part.startswith(("_", ".")) for part in parts) or relative_key.endswith(".crc")


def _location_template(glue_table: dict[str, Any], bucket: str, prefix: str) -> re.Pattern[str] | None:
    parameters = glue_table.get("Parameters") or {}
    template = parameters.get("storage.location.template")
    if not template or parameters.get("projection.enabled", "").lower() != "true":
        return None
    base = f"s3://{bucket}/{prefix}"
    if not template.startswith(base):
        return None
    pattern, position = "", 0
    rest = template[len(base):]
    for match in re.finditer(r"\$\{([A-Za-z0-9_]+)\}", rest):
        pattern += re.escape(rest[position:match.start()]) + f"(?P<{match.group(1).lower()}>[^/]+)"
        position = match.end()
    pattern += re.escape(rest[position:])
    return re.compile("^" + pattern.rstrip("/") + "(/|$)")


def _partition_values(relative: str, keys: list[tuple[str, str]], template: re.Pattern[str] | None) -> dict[str, str] | None:
    if not keys:
        return {}
    if template is not None:
        match = template.match(relative)
        return None if match is None else {k: unquote(v) for k, v in match.groupdict().items()}
    found = {}
    for segment in relative.split("/")[:-1]:
        if "=" in segment:
            key, value = segment.split("=", 1)
            found[key.lower()] = unquote(value)
    if any(name not in found for name, _ in keys):
        return None
    return found


def _declared(hive_type: str) -> pa.DataType | None:
    return hive_to_arrow(hive_type)


def _conform(data: pa.Table, columns: list[tuple[str, str]], partition_keys: list[tuple[str, str]],
             values: dict[str, str], table_name: str, key: str) -> pa.Table:
    by_name = {name.lower(): i for i, name in enumerate(data.column_names)}
    arrays, fields = [], []
    for name, hive_type in columns:
        target = _declared(hive_type)
        if name in by_name:
            column = data.column(by_name[name])
            if target is not None and column.type != target:
                column = _cast(column, target, table_name, key, name)
        else:
            column = pa.nulls(data.num_rows, type=target or pa.string())
        arrays.append(column)
        fields.append(pa.field(name, column.type))
    for name, hive_type in partition_keys:
        target = _declared(hive_type) or pa.string()
        raw = values.get(name)
        value = None if raw in (None, "__HIVE_DEFAULT_PARTITION__") else raw
        column = pa.array([value] * data.num_rows, type=pa.string())
        arrays.append(_cast(column, target, table_name, key, name) if target != pa.string() else column)
        fields.append(pa.field(name, target))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _cast(column: Any, target: pa.DataType, table_name: str, key: str, name: str) -> Any:
    if pa.types.is_timestamp(target) and pa.types.is_timestamp(column.type) and column.type.tz is not None:
        column = pc.cast(column, pa.timestamp(column.type.unit, tz="UTC")).cast(pa.timestamp(column.type.unit))
    try:
        return column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise AthenaQueryError(
            "HIVE_BAD_DATA",
            f"table {table_name}, column {name}: the type in s3 object {key} ({column.type}) does not match the "
            f"catalog's ({target}): {error}",
        ) from None
