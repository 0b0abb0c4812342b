"""The reference dimensions as loaded into the lake: `stores`, `products`, `customers` as Parquet under one
prefix, a folder per table (`<reference>/stores/*.parquet`, ...), as the generator writes them
(`retail_lake.generator.write_reference_data`) and a loader uploads them (see `reference_object_key`).

This is the one reader of that layout, shared by the Glue and EMR entry scripts; the transformations that use
the dimensions stay in `retail_lake.batch.curated` and `analytics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

REFERENCE_TABLES = ("stores", "products", "customers")


def reference_object_key(prefix: str, table: str, file_name: str | None = None) -> str:
    """The S3 key (or relative path) a reference table's file goes to: `<prefix>/<table>/<table>.parquet`."""
    if table not in REFERENCE_TABLES:
        raise ValueError(f"unknown reference table {table!r}; the batch layer reads {', '.join(REFERENCE_TABLES)}")
    base = prefix.strip("/")
    return f"{base + '/' if base else ''}{table}/{file_name or table + '.parquet'}"


@dataclass(frozen=True)
class ReferenceDimensions:
    stores: DataFrame
    products: DataFrame
    customers: DataFrame


def read_reference(spark: SparkSession, reference_path: str) -> ReferenceDimensions:
    """Read the three dimensions under `reference_path` (an s3:// URI in Glue, a local path on the twin)."""
    base = reference_path.rstrip("/")
    tables = {}
    for table in REFERENCE_TABLES:
        path = f"{base}/{table}/"
        try:
            tables[table] = spark.read.parquet(path)
        except Exception as error:  # AnalysisException: PATH_NOT_FOUND and friends
            raise FileNotFoundError(
                f"reference table {table!r} not found at {path} ({type(error).__name__}); load the generator's "
                f"reference data there: {table}/{table}.parquet under the reference prefix"
            ) from error
    return ReferenceDimensions(**tables)
