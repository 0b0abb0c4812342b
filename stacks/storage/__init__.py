"""The S3 lake (raw, curated, analytics and their supporting buckets) and its KMS key."""

from stacks.storage.data_lake_storage import DataLakeStorage
from stacks.storage.data_lake_storage_props import DataLakeStorageProps
from stacks.storage.storage_stack import StorageStack

__all__ = ["DataLakeStorage", "DataLakeStorageProps", "StorageStack"]
