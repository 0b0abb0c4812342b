"""`<Project>-<stage>-Sources`: the database and batch sources — DMS change data capture from the operational
PostgreSQL store (when the stage enables it), supplier file drops and the external API poller — and the Glue job
that merges the change files into curated (added to the batch layer, beside its other jobs)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as sns_subscriptions
from constructs import Construct

from retail_lake.sources.cdc import layout
from retail_lake.sources.operational_db.tables import SCHEMA
from stacks.batch.batch_processing import BatchProcessing
from stacks.nag import acknowledge
from stacks.sources.api_poller import ApiPoller
from stacks.sources.database_replication import DatabaseReplication
from stacks.sources.file_drops import FileDrops
from stacks.sources.source_functions import SourceFunctionLayers
from stacks.stage_config import StageConfig
from stacks.storage.data_lake_storage import DataLakeStorage

CDC_MERGE_SCRIPT = "cdc_merge.py"
CURATED_OPERATIONAL_PREFIX = "operational/"


def add_cdc_merge_job(batch: BatchProcessing, job_name_prefix: str, pseudonymization_secret: secretsmanager.ISecret,
                      pseudonymization_key: kms.IKey) -> Any:
    """The merge job, in the batch layer's stack (same code deployment and security configuration as its jobs); it
    pseudonymizes personal columns with the ingestion path's key, read from its secret."""
    storage = batch.storage
    raw_prefix = layout.table_prefix(SCHEMA, "").rstrip("/") + "/"  # dms/retail/
    name = f"{job_name_prefix}-cdc-merge"
    role = batch.create_job_role(
        "CdcMergeRole", name, reads=[(storage.raw_bucket, [raw_prefix])],
        writes=[(storage.curated_bucket, [CURATED_OPERATIONAL_PREFIX])],
        description=f"{name}: read the DMS change files, rewrite curated operational/")
    job = batch.create_job(
        "CdcMergeJob", name, role, CDC_MERGE_SCRIPT, batch.curated_capacity,
        description="Merges the operational store's DMS change files into curated: latest state and type-2 history",
        arguments={"--raw_path": storage.raw_bucket.s3_url_for_object(raw_prefix),
                   "--curated_path": storage.curated_bucket.s3_url_for_object(CURATED_OPERATIONAL_PREFIX),
                   "--pseudonymization_secret_id": pseudonymization_secret.secret_arn})
    role.add_to_policy(iam.PolicyStatement(sid="ReadPseudonymizationKey", actions=["secretsmanager:GetSecretValue"],
                                           resources=[pseudonymization_secret.secret_arn]))
    role.add_to_policy(iam.PolicyStatement(sid="DecryptPseudonymizationKey", actions=["kms:Decrypt"],
                                           resources=[pseudonymization_key.key_arn]))
    CfnOutput(Stack.of(batch), "CdcMergeJobName", value=job.ref,
              description="Glue job merging DMS change files into curated").override_logical_id("CdcMergeJobName")
    return job


class SourcesStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, storage: DataLakeStorage,
                 **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = RemovalPolicy.DESTROY if config.remove_data_on_destroy else RemovalPolicy.RETAIN
        self.sources_key = kms.Key(
            self, "SourcesKey", description="Encrypts the sources' secrets, queues, alarm topic and DMS resources",
            enable_key_rotation=True, removal_policy=removal,
            pending_window=Duration.days(7) if config.remove_data_on_destroy else Duration.days(30))
        self.sources_key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowAlarmsAndEventsToPublishToTheTopic",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com"), iam.ServicePrincipal("events.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"], resources=["*"]))
        self.alarm_topic = sns.Topic(self, "SourcesAlarmTopic", master_key=self.sources_key, enforce_ssl=True)
        if config.alarm_email:
            self.alarm_topic.add_subscription(sns_subscriptions.EmailSubscription(config.alarm_email))
        layers = SourceFunctionLayers(self, "FunctionLayers", config=config, removal=removal).layers
        self.file_drops = FileDrops(self, "FileDrops", config=config, storage=storage, layers=layers, removal=removal)
        self.api_poller = ApiPoller(self, "ApiPoller", config=config, storage=storage, key=self.sources_key,
                                    layers=layers, removal=removal)
        self.replication: DatabaseReplication | None = None
        name_prefix = f"{config.project_name}-{config.stage}".lower()
        outputs = {
            "LandingBucketName": (self.file_drops.landing_bucket.bucket_name, "Bucket receiving supplier file drops "
                                  "under landing/<feed>/"),
            "FileDropFunctionName": (self.file_drops.function.function_name, "Lambda processing dropped files"),
            "ApiPollerFunctionName": (self.api_poller.function.function_name, "Lambda polling the external APIs"),
            "ApiSecretArn": (self.api_poller.secret.secret_arn, "Secret with the external APIs' base_url and api_key"),
        }
        if config.sources.dms.enabled:
            self.replication = DatabaseReplication(
                self, "DatabaseReplication", dms_config=config.sources.dms, name_prefix=name_prefix, storage=storage,
                key=self.sources_key, alarm_topic=self.alarm_topic, removal=removal)
            outputs["ReplicationTaskArn"] = (self.replication.task.ref, "DMS full-load-and-CDC task")
            outputs["SourceDatabaseSecretArn"] = (self.replication.source_secret.secret_arn,
                                                  "Secret DMS reads the source database credentials from")
        for key, (value, description) in outputs.items():
            CfnOutput(self, key, value=value, description=description).override_logical_id(key)
        self._acknowledge_bucket_notifications_handler()

    def _acknowledge_bucket_notifications_handler(self) -> None:
        # aws-cdk-lib's generated providers DependsOn their role although they already GetAtt it (cfn-lint W3005)
        for provider_id in ("Custom::VpcRestrictDefaultSGCustomResourceProvider",
                            "Custom::S3AutoDeleteObjectsCustomResourceProvider"):
            provider = self.node.try_find_child(provider_id)
            if provider is None:
                continue
            handler, role = provider.node.try_find_child("Handler"), provider.node.try_find_child("Role")
            if isinstance(handler, CfnResource) and isinstance(role, CfnResource):
                handler.remove_resource_dependency(role)
        for handler in (c for c in self.node.children if c.node.id.startswith("BucketNotificationsHandler")):
            handler.node.default_child.add_metadata(  # type: ignore[union-attr]
                "cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
            acknowledge(handler, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                                 "AWSLambdaBasicExecutionRole]",
                        "The CDK's bucket-notification handler (generated by aws-cdk-lib) logs with "
                        "AWSLambdaBasicExecutionRole; it runs only during deployments to set the landing bucket's "
                        "notification.")
