"""Props of the serving constructs."""

from __future__ import annotations

from dataclasses import dataclass

from stacks.serving.serving_config import ServingConfig
from stacks.storage.data_lake_storage import DataLakeStorage


@dataclass(frozen=True)
class AthenaServingProps:
    storage: DataLakeStorage
    workgroup_name: str  # e.g. retail-lake-dev
    analytics_database_name: str  # see stacks.catalog.raw_zone_catalog_props.glue_database_name
    quality_database_name: str | None = None  # the quality gates' database (quality_results); default: analytics
    bytes_scanned_cutoff_mb: int = ServingConfig.athena_bytes_scanned_cutoff_mb
    results_prefix: str = "results/"  # in the athena-results bucket
    reference_prefix: str = "reference/"  # in the raw bucket: stores/, products/ (Parquet)
    remove_data_on_destroy: bool = False
