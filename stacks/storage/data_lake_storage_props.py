"""Props of `DataLakeStorage`."""

from __future__ import annotations

from dataclasses import dataclass

from stacks.stage_config import LifecycleConfig


@dataclass(frozen=True)
class DataLakeStorageProps:
    lifecycle: LifecycleConfig
    # The one switch for destructive behaviour: when true, destroying the stack deletes the buckets with
    # their objects and schedules the key for deletion; when false, all of them are retained.
    remove_data_on_destroy: bool = False
