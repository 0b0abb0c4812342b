"""`<Project>-<stage>-Sources`: the database and batch sources — DMS change data capture from the operational
PostgreSQL store (when the stage enables it), supplier file drops and the external API poller — with the Glue tables
of what they write to curated; and the Glue job that merges the change files into curated, with the restricted CDC
landing bucket DMS writes to (added to the batch layer, beside its other jobs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnOutput, CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as sns_subscriptions
from constructs import Construct

from retail_lake.sources.catalog import source_tables
from retail_lake.sources.cdc import layout
from retail_lake.sources.operational_db.tables import SCHEMA
from stacks.batch.batch_processing import BatchProcessing
from stacks.batch.glue_assets import CDC_MERGE_SCRIPT
from stacks.nag import acknowledge
from stacks.sources.api_poller import ApiPoller
from stacks.sources.cdc_landing import CdcLanding
from stacks.sources.database_replication import DatabaseReplication
from stacks.sources.file_drops import FileDrops
from stacks.sources.source_functions import SourceFunctionLayers
from stacks.sources.source_tables import SourceTables
from stacks.stage_config import StageConfig
from stacks.storage.data_lake_storage import DataLakeStorage

CURATED_OPERATIONAL_PREFIX = "operational/"


@dataclass(frozen=True)
class CdcMerge:
    """The merge job of the operational store's change files, its role, and the restricted landing bucket it reads
    (where DMS writes)."""

    job: glue.CfnJob
    role: iam.Role
    landing: CdcLanding


def add_cdc_merge_job(batch: BatchProcessing, job_name_prefix: str, pseudonymization_secret: secretsmanager.ISecret,
                      pseudonymization_key: kms.IKey, *, config: StageConfig) -> CdcMerge:
    """The merge job, in the batch layer's stack (same code deployment and security configuration as its jobs), with
    the CDC landing bucket it alone reads: both in one stack, so that the landing bucket's key and bucket policies
    can name the job's role exactly. It pseudonymizes personal columns with the ingestion path's key, read from its
    secret, before anything reaches curated."""
    stack, storage = Stack.of(batch), batch.storage
    landing = CdcLanding(stack, "CdcLanding", access_logs_bucket=storage.access_logs_bucket,
                         expiration_days=config.sources.cdc_landing_expiration_days,
                         remove_data_on_destroy=config.remove_data_on_destroy)
    changes_prefix = layout.schema_prefix(SCHEMA)  # dms/retail/
    name = f"{job_name_prefix}-cdc-merge"
    role = batch.create_job_role(
        "CdcMergeRole", name, reads=[(landing.bucket, [changes_prefix])],
        writes=[(storage.curated_bucket, [CURATED_OPERATIONAL_PREFIX])],
        description=f"{name}: read the DMS change files in the CDC landing bucket, rewrite curated operational/")
    landing.allow_reader(role)
    job = batch.create_job(
        "CdcMergeJob", name, role, CDC_MERGE_SCRIPT, batch.curated_capacity,
        description="Merges the operational store's DMS change files into curated (personal columns as keyed "
                    "pseudonyms): latest state and type-2 history",
        arguments={"--changes_path": landing.bucket.s3_url_for_object(changes_prefix),
                   "--curated_path": storage.curated_bucket.s3_url_for_object(CURATED_OPERATIONAL_PREFIX),
                   "--pseudonymization_secret_id": pseudonymization_secret.secret_arn})
    role.add_to_policy(iam.PolicyStatement(sid="ReadPseudonymizationKey", actions=["secretsmanager:GetSecretValue"],
                                           resources=[pseudonymization_secret.secret_arn]))
    role.add_to_policy(iam.PolicyStatement(sid="DecryptPseudonymizationKey", actions=["kms:Decrypt"],
                                           resources=[pseudonymization_key.key_arn]))
    if config.sources.dms.enabled:  # change files expire in the landing bucket: merge them well before
        glue.CfnTrigger(stack, "CdcMergeSchedule", type="SCHEDULED", schedule=config.sources.cdc_merge_schedule,
                        start_on_creation=True, description="Merges the DMS change files into curated",
                        actions=[glue.CfnTrigger.ActionProperty(job_name=job.ref)])
    outputs = {
        "CdcMergeJobName": (job.ref, "Glue job merging DMS change files into curated"),
        "CdcLandingBucketName": (landing.bucket.bucket_name, "Restricted bucket DMS writes the change files to"),
        "CdcLandingKeyArn": (landing.key.key_arn, "KMS key of the CDC landing bucket"),
        "CdcWriterRoleArn": (landing.writer_role.role_arn, "Role the DMS S3 target endpoint writes with"),
    }
    for key, (value, description) in outputs.items():
        CfnOutput(stack, key, value=value, description=description).override_logical_id(key)
    drop_redundant_provider_dependencies(stack)
    return CdcMerge(job, role, landing)


def drop_redundant_provider_dependencies(stack: Stack) -> None:
    """aws-cdk-lib's generated providers DependsOn their role although they already GetAtt it (cfn-lint W3005)."""
    for provider_id in ("Custom::VpcRestrictDefaultSGCustomResourceProvider",
                        "Custom::S3AutoDeleteObjectsCustomResourceProvider"):
        provider = stack.node.try_find_child(provider_id)
        if provider is None:
            continue
        handler, role = provider.node.try_find_child("Handler"), provider.node.try_find_child("Role")
        if isinstance(handler, CfnResource) and isinstance(role, CfnResource):
            handler.remove_resource_dependency(role)


class SourcesStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, storage: DataLakeStorage,
                 cdc_landing: CdcLanding, curated_database_name: str, **kwargs: Any) -> None:
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
                self, "DatabaseReplication", dms_config=config.sources.dms, name_prefix=name_prefix,
                landing=cdc_landing, key=self.sources_key, alarm_topic=self.alarm_topic, removal=removal)
            outputs["ReplicationTaskArn"] = (self.replication.task.ref, "DMS full-load-and-CDC task")
            outputs["SourceDatabaseSecretArn"] = (self.replication.source_secret.secret_arn,
                                                  "Secret DMS reads the source database credentials from")
        # what the file drops and the CDC merge write to curated, in the curated zone's Glue database
        self.curated_tables = SourceTables(self, "CuratedTables", database_name=curated_database_name,
                                           bucket=storage.curated_bucket, definitions=source_tables())
        for key, (value, description) in outputs.items():
            CfnOutput(self, key, value=value, description=description).override_logical_id(key)
        self._acknowledge_bucket_notifications_handler()

    def _acknowledge_bucket_notifications_handler(self) -> None:
        drop_redundant_provider_dependencies(self)
        for handler in (c for c in self.node.children if c.node.id.startswith("BucketNotificationsHandler")):
            handler.node.default_child.add_metadata(  # type: ignore[union-attr]
                "cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
            acknowledge(handler, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                                 "AWSLambdaBasicExecutionRole]",
                        "The CDK's bucket-notification handler (generated by aws-cdk-lib) logs with "
                        "AWSLambdaBasicExecutionRole; it runs only during deployments to set the landing bucket's "
                        "notification.")
