"""Props of `StreamIngestion`."""

from __future__ import annotations

from dataclasses import dataclass

from stacks.stage_config import StageConfig
from stacks.storage.data_lake_storage import DataLakeStorage


@dataclass(frozen=True)
class StreamIngestionProps:
    storage: DataLakeStorage  # the lake the stream lands in: raw and quarantine buckets, lake key
    config: StageConfig
