"""`<Project>-<stage>-Orchestration`: the daily pipeline state machine, its schedule, ledger, notifications and
alarm; optionally (per stage, off by default) a managed Airflow environment running the same pipeline."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_glue as glue
from constructs import Construct

from stacks.analytics_cluster.analytics_cluster import AnalyticsCluster
from stacks.batch.batch_processing import BatchProcessing
from stacks.catalog.raw_zone_catalog_props import glue_database_name
from stacks.orchestration.daily_pipeline import DailyPipeline
from stacks.orchestration.daily_pipeline_props import AthenaViews, DailyPipelineProps, WarehouseLoad
from stacks.stage_config import StageConfig
from stacks.storage.data_lake_storage import DataLakeStorage


class OrchestrationStack(Stack):
    pipeline: DailyPipeline

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, storage: DataLakeStorage,
        batch: BatchProcessing, quality_gate_job: glue.CfnJob | None = None,
        analytics_cluster: AnalyticsCluster | None = None,
        serving: Any = None, **kwargs: Any,
    ) -> None:
        """`serving` (the Serving stack, optional): its Athena view queries are refreshed after each run and, when
        the stage has the warehouse, its Redshift load statements run through the Data API."""
        super().__init__(scope, construct_id, **kwargs)
        cluster = analytics_cluster
        views = warehouse = None
        if serving is not None and getattr(serving, "athena", None) is not None and serving.athena.view_queries:
            views = AthenaViews(
                workgroup=serving.athena.workgroup.ref,
                named_query_ids=[query.attr_named_query_id for query in serving.athena.view_queries.values()],
                database=glue_database_name(config.project_name, config.stage, "analytics"),
            )
        if serving is not None and getattr(serving, "redshift", None) is not None:
            warehouse = WarehouseLoad(
                workgroup_name=serving.redshift.workgroup.ref,
                database=config.serving.redshift.database,
                sql=[serving.redshift.external_schema_sql, *serving.redshift.load_sqls],
                workgroup_arn=serving.redshift.workgroup.attr_workgroup_workgroup_arn,
            )
        self.pipeline = DailyPipeline(self, "DailyPipeline", props=DailyPipelineProps(
            config=config,
            storage=storage,
            curated_jobs=batch.raw_to_curated_jobs,
            analytics_job=batch.curated_to_analytics_job,
            quality_gate_job=quality_gate_job,
            # the names the Batch stack gives its databases (plain strings: IAM resources and nag findings name them)
            catalog_databases=[glue_database_name(config.project_name, config.stage, zone)
                               for zone in ("curated", "analytics")],
            emr_application_id=cluster.application.attr_application_id if cluster else None,
            emr_application_arn=Stack.of(cluster).export_value(cluster.application.attr_arn) if cluster else None,
            emr_job_role=cluster.job_role if cluster else None,
            # exported whole: the key is a Select over the deployment's object keys, which may not import
            emr_steps_uri=cluster.steps_uri if cluster else None,
            emr_library_key=Stack.of(cluster).export_value(
                cluster.library_key, name=f"{config.stack_name('Analytics')}-EmrLibraryKey") if cluster else None,
            emr_python_deps_key=Stack.of(cluster).export_value(
                cluster.python_deps_key, name=f"{config.stack_name('Analytics')}-EmrPythonDepsKey"
            ) if cluster else None,
            emr_deequ_jar_key=cluster.deequ_jar_key if cluster else None,
            quality_topic_arn=cluster.quality_topic_arn if cluster else None,
            emr_quality_pipeline=cluster.quality_pipeline if cluster else None,
            views=views,
            warehouse=warehouse,
        ))
        pipeline = self.pipeline
        self.mwaa = None
        if config.orchestration.mwaa.enabled:
            from stacks.orchestration.mwaa_environment import MwaaEnvironment

            self.mwaa = MwaaEnvironment(self, "Airflow", config=config, storage=storage,
                                        state_machine=pipeline.state_machine)
        outputs = {
            "StateMachineArn": (pipeline.state_machine.state_machine_arn, "The daily pipeline state machine"),
            "NotificationTopicArn": (pipeline.topic.topic_arn, "Pipeline success summaries and failure alerts"),
            "RunLedgerTableName": (pipeline.run_ledger.table_name, "DynamoDB ledger of runs and date leases"),
            "ExecutionLogGroupName": (pipeline.log_group.log_group_name, "Execution history log group"),
            "PipelineTimeZone": (config.orchestration.time_zone, "Time zone of business dates"),
        }
        for key, (value, description) in outputs.items():
            CfnOutput(self, key, value=value, description=description).override_logical_id(key)
