"""Rewriting a date window of a partitioned table, leaving no stale partition behind.

A dynamic partition overwrite replaces only the partitions the new rows fall in: a date of the window that now
has no rows (its events were corrected away, a backfill over a shorter history) would keep its old files.
`overwrite_window` therefore writes with dynamic overwrite, records which partitions the write produced, then
deletes the window's partitions it did not produce. Partitions outside the window are never touched. The old
rows of a date are replaced only once the new ones are committed, so a failed write leaves the old ones readable.

    written = overwrite_window(rows, "s3://curated/pos_sales/", "event_date", first, last)

Paths are whatever the session's Hadoop file systems read: `s3://` in Glue and EMR, plain local paths on the twin.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F


@dataclass(frozen=True)
class WindowWrite:
    rows: int
    partitions: tuple[str, ...]  # partition values written, YYYY-MM-DD, sorted
    removed: tuple[str, ...]  # stale partition values of the window deleted after the write


def stale_partitions(existing: Iterable[str], written: Iterable[str], first: dt.date, last: dt.date) -> list[str]:
    """The partition values in `existing` that are dates in `first` .. `last` and were not `written`.

    Values that are not ISO dates (Hive's `__HIVE_DEFAULT_PARTITION__`, anything foreign) are kept.
    """
    if first > last:
        raise ValueError(f"empty window: first date {first} is after last date {last}")
    keep = set(written)
    stale = []
    for value in existing:
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            continue
        if first <= day <= last and value not in keep:
            stale.append(value)
    return sorted(stale)


def overwrite_window(rows: DataFrame, path: str, column: str, first: dt.date, last: dt.date) -> WindowWrite:
    """Write `rows` as Parquet under `path` partitioned by the date column `column`, replacing every partition
    of `first` .. `last` (those without new rows are deleted). Filter `rows` to the window first: a row outside
it is written to its partition, which is then replaced but never cleaned up."""
    spark = rows.sparkSession
    observation = Observation(f"overwrite_window_{column}")
    value = F.col(column).cast("string")
    observed = rows.observe(
        observation,
        F.count(F.lit(1)).alias("rows"),
        F.array_join(F.array_sort(F.collect_set(value)), ",").alias("partitions"),
    )
    previous_mode = spark.conf.get("spark.sql.sources.partitionOverwriteMode")
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    try:
        observed.write.mode("overwrite").partitionBy(column).parquet(path)
    finally:
        spark.conf.set("spark.sql.sources.partitionOverwriteMode", previous_mode)
    metrics = observation.get
    written = tuple(v for v in (metrics["partitions"] or "").split(",") if v)
    removed = stale_partitions(_partition_values(spark, path, column), written, first, last)
    _delete_partitions(spark, path, column, removed)
    return WindowWrite(rows=int(metrics["rows"]), partitions=written, removed=tuple(removed))


def path_not_found(error: Exception) -> bool:
    """Whether a Spark read failed because its path does not exist (Spark 3.5's PATH_NOT_FOUND, or the older text)."""
    return "PATH_NOT_FOUND" in str(error) or "Path does not exist" in str(error)


def _hadoop_path(spark, path: str):  # noqa: ANN001, ANN202 - py4j objects
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path, hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def _partition_values(spark, path: str, column: str) -> list[str]:  # noqa: ANN001
    table, fs = _hadoop_path(spark, path)
    if not fs.exists(table):
        return []
    prefix = f"{column}="
    names = [status.getPath().getName() for status in fs.listStatus(table) if status.isDirectory()]
    return [name[len(prefix):] for name in names if name.startswith(prefix)]


def _delete_partitions(spark, path: str, column: str, values: list[str]) -> None:  # noqa: ANN001
    table, fs = _hadoop_path(spark, path)
    jvm = spark.sparkContext._jvm
    for value in values:
        partition = jvm.org.apache.hadoop.fs.Path(table, f"{column}={value}")
        if fs.exists(partition) and not fs.delete(partition, True):
            raise OSError(f"could not delete the stale partition {partition.toString()}")
