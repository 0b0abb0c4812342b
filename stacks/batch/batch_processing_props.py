"""Props of `BatchProcessing`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from retail_lake.batch.schemas import GOLD_TABLES
from retail_lake.contracts.registry import DATASETS
from stacks.storage.data_lake_storage import DataLakeStorage

GLUE_VERSION = "5.0"  # Spark 3.5, Python 3.11
ANALYTICS_TABLES = tuple(GOLD_TABLES)  # the gold tables the curated -> analytics job writes
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def job_name_prefix(project_name: str, stage: str) -> str:
    """`RetailLake`, `dev` -> `retail-lake-dev` (Glue job names of this stage start with it)."""
    return f"{_WORD_BOUNDARY.sub('-', project_name)}-{stage}".lower()


@dataclass(frozen=True)
class GlueCapacity:
    worker_type: str = "G.1X"
    number_of_workers: int = 2
    timeout_minutes: int = 60
    max_retries: int = 0  # the orchestrator retries a failed day; a job retry would rerun it blindly


@dataclass(frozen=True)
class BatchProcessingProps:
    storage: DataLakeStorage
    job_name_prefix: str  # e.g. "retail-lake-dev": jobs are <prefix>-raw-to-curated-<dataset>, ...
    curated_database_name: str  # see stacks.catalog.raw_zone_catalog_props.glue_database_name
    analytics_database_name: str
    datasets: tuple[str, ...] = DATASETS
    analytics_tables: tuple[str, ...] = ANALYTICS_TABLES
    reference_prefix: str = "reference/"  # in the raw bucket: stores/, products/, customers/ (Parquet)
    artifacts_prefix: str = "glue/"  # in the artifacts bucket: scripts/, library/, temp/<job>/
    curated_capacity: GlueCapacity = field(default_factory=GlueCapacity)
    analytics_capacity: GlueCapacity = field(default_factory=GlueCapacity)
    remove_data_on_destroy: bool = False
