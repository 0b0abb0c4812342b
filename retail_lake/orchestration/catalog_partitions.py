"""Keep the Glue Data Catalog's partitions of the curated and analytics tables in step with S3.

After the jobs of a date have written, every partitioned table of the given databases whose partitions are not
projected (`projection.enabled` is not "true") gets a catalog partition for each Hive-style prefix under its
location (`<location>/<key>=<value>/...`) that has none, and loses the catalog partitions whose prefix no longer
holds an object (a job's window rewrite removed it). New partitions copy the table's storage descriptor with
their own location, as Athena's `ALTER TABLE ADD PARTITION` does. Tables without partition keys, projected
tables and tables not on S3 are left alone and reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import urlparse

BATCH_SIZE = 100  # BatchCreatePartition / BatchDeletePartition take at most 100 (25 for delete) entries per call
DELETE_BATCH_SIZE = 25


@dataclass
class TablePartitions:
    database: str
    table: str
    added: list[list[str]] = field(default_factory=list)
    removed: list[list[str]] = field(default_factory=list)
    skipped: str | None = None  # why the table was left alone

    def as_dict(self) -> dict[str, Any]:
        return {"table": f"{self.database}.{self.table}", "added": len(self.added), "removed": len(self.removed),
                **({"skipped": self.skipped} if self.skipped else {})}


def _split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    prefix = parsed.path.lstrip("/")
    return parsed.netloc, prefix if not prefix or prefix.endswith("/") else prefix + "/"


def _child_prefixes(s3, bucket: str, prefix: str) -> list[str]:
    children: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        children += [entry["Prefix"] for entry in page.get("CommonPrefixes", [])]
    return children


def _has_objects(s3, bucket: str, prefix: str) -> bool:
    response = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    return bool(response.get("KeyCount", len(response.get("Contents", []))))


def partitions_on_s3(s3, location: str, keys: list[str]) -> dict[tuple[str, ...], str]:
    """Partition values -> location for every `k1=v1/k2=v2/` path under `location` holding at least one object."""
    bucket, root = _split(location)
    found: dict[tuple[str, ...], str] = {}

    def walk(prefix: str, depth: int, values: tuple[str, ...]) -> None:
        if depth == len(keys):
            if _has_objects(s3, bucket, prefix):
                found[values] = f"s3://{bucket}/{prefix}"
            return
        for child in _child_prefixes(s3, bucket, prefix):
            name, sep, value = child[len(prefix):].rstrip("/").partition("=")
            if sep and name == keys[depth] and not value.startswith("_"):
                walk(child, depth + 1, values + (value,))

    walk(root, 0, ())
    return found


def _catalog_partitions(glue, database: str, table: str) -> set[tuple[str, ...]]:
    values: set[tuple[str, ...]] = set()
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
        values |= {tuple(p["Values"]) for p in page.get("Partitions", [])}
    return values


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def sync_table(glue, s3, database: str, table: dict[str, Any]) -> TablePartitions:
    result = TablePartitions(database, table["Name"])
    keys = [column["Name"] for column in table.get("PartitionKeys", [])]
    parameters = table.get("Parameters", {}) or {}
    descriptor = table.get("StorageDescriptor", {}) or {}
    location = descriptor.get("Location", "")
    if not keys:
        result.skipped = "not partitioned"
    elif str(parameters.get("projection.enabled", "")).lower() == "true":
        result.skipped = "partition projection"
    elif not location.startswith(("s3://", "s3a://")):
        result.skipped = f"location {location!r} is not on S3"
    if result.skipped:
        return result
    on_s3 = partitions_on_s3(s3, location, keys)
    in_catalog = _catalog_partitions(glue, database, table["Name"])
    missing = sorted(set(on_s3) - in_catalog)
    gone = sorted(in_catalog - set(on_s3))
    for chunk in _chunks(missing, BATCH_SIZE):
        response = glue.batch_create_partition(DatabaseName=database, TableName=table["Name"], PartitionInputList=[
            {"Values": list(values), "StorageDescriptor": {**descriptor, "Location": on_s3[values]},
             "Parameters": {}} for values in chunk])
        errors = [e for e in response.get("Errors", [])
                  if e.get("ErrorDetail", {}).get("ErrorCode") != "AlreadyExistsException"]
        if errors:
            raise RuntimeError(f"registering partitions of {database}.{table['Name']} failed: {errors[:3]}")
    for chunk in _chunks(gone, DELETE_BATCH_SIZE):
        glue.batch_delete_partition(DatabaseName=database, TableName=table["Name"],
                                    PartitionsToDelete=[{"Values": list(values)} for values in chunk])
    result.added = [list(v) for v in missing]
    result.removed = [list(v) for v in gone]
    return result


def sync_partitions(glue, s3, databases: Iterable[str]) -> list[TablePartitions]:
    """Register new and drop vanished partitions of every table of `databases`."""
    results = []
    for database in databases:
        for page in glue.get_paginator("get_tables").paginate(DatabaseName=database):
            for table in page.get("TableList", []):
                results.append(sync_table(glue, s3, database, table))
    return results
