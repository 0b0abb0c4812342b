"""`<Project>-<stage>-Storage`: the lake's buckets and key and the raw zone's catalog, with outputs the twin reads."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.catalog.raw_zone_catalog import RawZoneCatalog
from stacks.catalog.raw_zone_catalog_props import RawZoneCatalogProps, glue_database_name
from stacks.stage_config import StageConfig
from stacks.storage.data_lake_storage import DataLakeStorage
from stacks.storage.data_lake_storage_props import DataLakeStorageProps


class StorageStack(Stack):
    storage: DataLakeStorage
    catalog: RawZoneCatalog

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.storage = DataLakeStorage(
            self,
            "DataLake",
            props=DataLakeStorageProps(
                lifecycle=config.lifecycle,
                remove_data_on_destroy=config.remove_data_on_destroy,
            ),
        )
        storage = self.storage
        self.catalog = RawZoneCatalog(
            self,
            "RawCatalog",
            props=RawZoneCatalogProps(
                database_name=glue_database_name(config.project_name, config.stage, "raw"),
                raw_bucket=storage.raw_bucket,
            ),
        )
        outputs = {
            "RawBucketName": (storage.raw_bucket.bucket_name, "Raw zone: events as landed from the sources"),
            "CuratedBucketName": (storage.curated_bucket.bucket_name, "Curated zone: validated, deduplicated"),
            "AnalyticsBucketName": (storage.analytics_bucket.bucket_name, "Analytics zone: gold tables"),
            "QuarantineBucketName": (storage.quarantine_bucket.bucket_name, "Rejected records with a reason"),
            "ArtifactsBucketName": (storage.artifacts_bucket.bucket_name, "Job scripts and libraries"),
            "AthenaResultsBucketName": (storage.athena_results_bucket.bucket_name, "Athena query results"),
            "AccessLogsBucketName": (storage.access_logs_bucket.bucket_name, "S3 server access logs"),
            "DataLakeKeyArn": (storage.data_lake_key.key_arn, "KMS key of the lake buckets"),
            "RawDatabaseName": (self.catalog.raw_database_name, "Glue database of the raw zone, one table per dataset"),
        }
        for key, (value, description) in outputs.items():
            CfnOutput(self, key, value=value, description=description).override_logical_id(key)
