"""Supplier file drops: a landing bucket whose `landing/<feed>/*.csv` objects invoke the file-drop Lambda, which
writes good rows to curated and bad rows to quarantine, once per file (manifest in curated)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from constructs import Construct

from retail_lake.sources.file_drops.feeds import LANDING_PREFIX
from retail_lake.sources.file_drops.processing import CURATED_PREFIX, MANIFEST_PREFIX, QUARANTINE_PREFIX
from stacks.nag import acknowledge
from stacks.sources.source_functions import source_function
from stacks.nag import objects_wildcard_finding
from stacks.stage_config import StageConfig
from stacks.storage.data_lake_storage import DataLakeStorage


class FileDrops(Construct):
    """`landing_bucket` (KMS, TLS only, versioned, access-logged) and `function` (the processor)."""

    landing_bucket: s3.Bucket
    function: lambda_.Function

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, storage: DataLakeStorage,
                 layers: list[lambda_.ILayerVersion], removal: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.landing_bucket = s3.Bucket(
            self, "LandingBucket",
            encryption=s3.BucketEncryption.KMS, encryption_key=storage.data_lake_key, bucket_key_enabled=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, enforce_ssl=True, minimum_tls_version=1.2,
            versioned=True, removal_policy=removal, auto_delete_objects=config.remove_data_on_destroy,
            server_access_logs_bucket=storage.access_logs_bucket, server_access_logs_prefix="landing/",
            lifecycle_rules=[s3.LifecycleRule(
                id="expire-processed-drops", expiration=Duration.days(90),
                noncurrent_version_expiration=Duration.days(7),
                abort_incomplete_multipart_upload_after=Duration.days(7))],
        )
        self.function, role = source_function(
            self, "FileDropFunction", handler_dir="file_drop", config=config, layers=layers,
            description="Checks dropped supplier CSV files, writes good rows to curated and bad rows to quarantine, "
                        "once per file",
            environment={"LANDING_BUCKET": self.landing_bucket.bucket_name,
                         "CURATED_BUCKET": storage.curated_bucket.bucket_name,
                         "QUARANTINE_BUCKET": storage.quarantine_bucket.bucket_name},
            timeout=Duration.minutes(5), memory_mb=1024, service="file-drop", removal=removal)
        role.add_to_policy(iam.PolicyStatement(
            sid="ReadDroppedFiles", actions=["s3:GetObject"],
            resources=[self.landing_bucket.arn_for_objects(f"{LANDING_PREFIX}*")]))
        role.add_to_policy(iam.PolicyStatement(
            sid="WriteCuratedRowsAndManifest", actions=["s3:GetObject", "s3:PutObject"],
            resources=[storage.curated_bucket.arn_for_objects(f"{CURATED_PREFIX}*")]))
        role.add_to_policy(iam.PolicyStatement(
            sid="WriteQuarantinedRows", actions=["s3:PutObject"],
            resources=[storage.quarantine_bucket.arn_for_objects(f"{QUARANTINE_PREFIX}*")]))
        role.add_to_policy(iam.PolicyStatement(
            sid="ListCuratedManifest", actions=["s3:ListBucket"], resources=[storage.curated_bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{MANIFEST_PREFIX}*"]}}))  # HeadObject answers 404, not 403
        role.add_to_policy(iam.PolicyStatement(
            sid="UseLakeKey", actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=[storage.data_lake_key.key_arn]))
        self.landing_bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED, s3n.LambdaDestination(self.function),
            s3.NotificationKeyFilter(prefix=LANDING_PREFIX, suffix=".csv"))
        reason = ("Object keys under this one prefix are data-dependent (feed / file / content digest); the role "
                  "reads, writes or checks only there, in this one bucket.")
        for bucket, prefix in ((self.landing_bucket, LANDING_PREFIX), (storage.curated_bucket, CURATED_PREFIX),
                               (storage.quarantine_bucket, QUARANTINE_PREFIX)):
            acknowledge(role, objects_wildcard_finding(role, bucket).replace("/*]", f"/{prefix}*]"), reason)
