"""`<Project>-<stage>-Batch`: the Glue batch layer (raw -> curated -> analytics), with outputs the twin reads."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.batch.batch_processing import BatchProcessing
from stacks.batch.batch_processing_props import BatchProcessingProps, job_name_prefix
from stacks.catalog.raw_zone_catalog_props import glue_database_name
from stacks.stage_config import StageConfig
from stacks.storage.data_lake_storage import DataLakeStorage


class BatchStack(Stack):
    batch: BatchProcessing

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, storage: DataLakeStorage, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.batch = BatchProcessing(
            self,
            "BatchProcessing",
            props=BatchProcessingProps(
                storage=storage,
                job_name_prefix=job_name_prefix(config.project_name, config.stage),
                curated_database_name=glue_database_name(config.project_name, config.stage, "curated"),
                analytics_database_name=glue_database_name(config.project_name, config.stage, "analytics"),
                remove_data_on_destroy=config.remove_data_on_destroy,
            ),
        )
        batch = self.batch
        outputs = {
            "CuratedDatabaseName": (batch.curated_database.ref, "Glue database of the curated zone"),
            "AnalyticsDatabaseName": (batch.analytics_database.ref, "Glue database of the analytics zone"),
            "CuratedToAnalyticsJobName": (batch.curated_to_analytics_job.ref, "Glue job building the gold tables"),
            "GlueLibraryKey": (batch.library_key, "Key of the retail_lake package zip (in the artifacts bucket)"),
        }
        for dataset, job in batch.raw_to_curated_jobs.items():
            outputs[f"RawToCurated{_pascal(dataset)}JobName"] = (job.ref, f"Glue job raw -> curated for {dataset}")
        for key, (value, description) in outputs.items():
            CfnOutput(self, key, value=value, description=description).override_logical_id(key)


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))
