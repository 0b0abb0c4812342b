"""Props of `RawZoneCatalog`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aws_cdk import aws_s3 as s3

from retail_lake.contracts.fields import Contract
from retail_lake.contracts.registry import BY_DATASET

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_GLUE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,254}$")


def glue_database_name(project_name: str, stage: str, zone: str) -> str:
    """`RetailLake`, `dev`, `raw` -> `retail_lake_dev_raw`: Glue (and Athena) want lowercase names of letters,
    digits and underscores."""
    name = f"{_WORD_BOUNDARY.sub('_', project_name)}_{stage}_{zone}".lower()
    if not _GLUE_NAME.match(name):
        raise ValueError(f"Glue database name {name!r} (from project {project_name!r}, stage {stage!r}, zone "
                         f"{zone!r}) must be lowercase letters, digits and underscores, starting with a letter")
    return name


@dataclass(frozen=True)
class RawZoneCatalogProps:
    database_name: str  # see `glue_database_name`
    raw_bucket: s3.IBucket  # the raw zone the tables describe: s3://<raw bucket>/<dataset>/dt=.../hour=.../
    # The contract of each dataset (the latest version of its record type): one table per entry.
    contracts_by_dataset: dict[str, Contract] = field(default_factory=lambda: dict(BY_DATASET))
    # First ingestion date partition projection enumerates; Athena prunes to the dates a query asks for.
    first_partition_date: str = "2020-01-01"
