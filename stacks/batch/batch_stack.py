"""`<Project>-<stage>-Batch`: the Glue batch layer (raw -> curated -> analytics), with outputs the twin reads."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from retail_lake.batch.catalog import lake_tables
from stacks.batch.batch_processing import BatchProcessing
from stacks.batch.batch_processing_props import BatchProcessingProps, job_name_prefix
from stacks.batch.quality_gate import QualityGate, QualityGateProps
from stacks.catalog import ZoneTables
from stacks.catalog.raw_zone_catalog_props import glue_database_name
from stacks.stage_config import StageConfig
from stacks.storage.data_lake_storage import DataLakeStorage


class BatchStack(Stack):
    batch: BatchProcessing
    curated_tables: ZoneTables  # the curated zone's Glue tables (retail_lake.batch.catalog)
    analytics_tables: ZoneTables  # gold tables and the EMR steps' tables (retail_lake.batch.schemas)
    quality_gate: QualityGate  # the gate job between curated and analytics, its topic, alarms and DQ rulesets

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
        tables = lake_tables()
        self.curated_tables = ZoneTables(self, "CuratedTables", database=batch.curated_database,
                                         bucket=storage.curated_bucket, definitions=tables["curated"])
        self.analytics_tables = ZoneTables(self, "AnalyticsTables", database=batch.analytics_database,
                                           bucket=storage.analytics_bucket, definitions=tables["analytics"])
        self.quality_gate = QualityGate(self, "QualityGate", props=QualityGateProps(
            batch=batch, pipeline=job_name_prefix(config.project_name, config.stage),
            database_name=glue_database_name(config.project_name, config.stage, "quality"),
            remove_data_on_destroy=config.remove_data_on_destroy, alarm_email=config.alarm_email,
        ))
        for dataset, ruleset in self.quality_gate.rulesets.items():  # the managed service evaluates the table
            for zone in (self.curated_tables, self.analytics_tables):
                if dataset in zone.tables:
                    ruleset.add_resource_dependency(zone.tables[dataset])
        outputs = {
            "CuratedDatabaseName": (batch.curated_database.ref, "Glue database of the curated zone"),
            "AnalyticsDatabaseName": (batch.analytics_database.ref, "Glue database of the analytics zone"),
            "CuratedToAnalyticsJobName": (batch.curated_to_analytics_job.ref, "Glue job building the gold tables"),
            "GlueLibraryKey": (batch.library_key, "Key of the retail_lake package zip (in the artifacts bucket)"),
        }
        outputs["QualityGateJobName"] = (self.quality_gate.job.ref, "Glue job of the data quality gate (--date)")
        outputs["QualityTopicArn"] = (self.quality_gate.topic.topic_arn, "SNS topic a failed quality gate notifies")
        outputs["QualityDatabaseName"] = (self.quality_gate.database.ref, "Glue database of the quality results")
        outputs["QualityResultsTableName"] = (self.quality_gate.results_table.ref,
                                              "Glue table of the quality results (one row per rule and run)")
        for dataset, job in batch.raw_to_curated_jobs.items():
            outputs[f"RawToCurated{_pascal(dataset)}JobName"] = (job.ref, f"Glue job raw -> curated for {dataset}")
        for key, (value, description) in outputs.items():
            CfnOutput(self, key, value=value, description=description).override_logical_id(key)


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))
