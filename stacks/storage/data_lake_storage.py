"""The lake's buckets and the KMS key that encrypts them."""

from __future__ import annotations

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.nag import acknowledge
from stacks.stage_config import ZoneLifecycle
from stacks.storage.data_lake_storage_props import DataLakeStorageProps

_ABORT_INCOMPLETE_UPLOADS = Duration.days(7)


class DataLakeStorage(Construct):
    """KMS key and buckets of the lake, exposed as typed attributes for other stacks to wire to.

    Zones: `raw_bucket` (events as landed), `curated_bucket` (validated, deduplicated), `analytics_bucket`
    (gold tables), `quarantine_bucket` (rejected records with a reason). Support: `artifacts_bucket`
    (job scripts, libraries), `athena_results_bucket`, and `access_logs_bucket`, which receives the server
    access logs of all the others.
    """

    data_lake_key: kms.Key
    raw_bucket: s3.Bucket
    curated_bucket: s3.Bucket
    analytics_bucket: s3.Bucket
    quarantine_bucket: s3.Bucket
    artifacts_bucket: s3.Bucket
    athena_results_bucket: s3.Bucket
    access_logs_bucket: s3.Bucket

    def __init__(self, scope: Construct, construct_id: str, *, props: DataLakeStorageProps) -> None:
        super().__init__(scope, construct_id)
        self._props = props
        removal = RemovalPolicy.DESTROY if props.remove_data_on_destroy else RemovalPolicy.RETAIN
        self._removal_policy = removal
        lifecycle = props.lifecycle

        self.data_lake_key = kms.Key(
            self,
            "DataLakeKey",
            description="Encrypts the retail lake: objects in every zone bucket and Athena results",
            enable_key_rotation=True,
            removal_policy=removal,
            pending_window=Duration.days(7) if props.remove_data_on_destroy else Duration.days(30),
        )

        # Server access logging cannot deliver to a KMS-encrypted bucket, so this one uses SSE-S3.
        self.access_logs_bucket = s3.Bucket(
            self,
            "AccessLogsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(lifecycle.access_logs_expiration_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=_ABORT_INCOMPLETE_UPLOADS,
                )
            ],
            **self._common_bucket_settings(),
        )
        acknowledge(
            self.access_logs_bucket,
            "AwsSolutions-S1",
            "This is the server access log target of every lake bucket; logging it into itself would loop, "
            "and S3 cannot deliver access logs to the KMS-encrypted buckets.",
        )

        self.raw_bucket = self._lake_bucket("RawBucket", "raw", self._zone_rules(lifecycle.raw))
        self.curated_bucket = self._lake_bucket("CuratedBucket", "curated", self._versioned_rules())
        self.analytics_bucket = self._lake_bucket("AnalyticsBucket", "analytics", self._versioned_rules())
        self.quarantine_bucket = self._lake_bucket(
            "QuarantineBucket", "quarantine", self._zone_rules(lifecycle.quarantine)
        )
        self.artifacts_bucket = self._lake_bucket("ArtifactsBucket", "artifacts", self._versioned_rules())
        self.athena_results_bucket = self._lake_bucket(
            "AthenaResultsBucket",
            "athena-results",
            [
                s3.LifecycleRule(
                    id="expire-query-results",
                    expiration=Duration.days(lifecycle.athena_results_expiration_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=_ABORT_INCOMPLETE_UPLOADS,
                )
            ],
        )

        if props.remove_data_on_destroy:
            self._drop_redundant_auto_delete_dependency()

    def _drop_redundant_auto_delete_dependency(self) -> None:
        # The auto-delete provider's handler DependsOn its role although it already GetAtts it (cfn-lint W3005).
        provider = Stack.of(self).node.try_find_child("Custom::S3AutoDeleteObjectsCustomResourceProvider")
        if provider is None:
            return
        handler, role = provider.node.try_find_child("Handler"), provider.node.try_find_child("Role")
        if isinstance(handler, CfnResource) and isinstance(role, CfnResource):
            handler.remove_resource_dependency(role)

    @property
    def zone_buckets(self) -> dict[str, s3.Bucket]:
        """The data buckets by zone name, in data-flow order."""
        return {
            "raw": self.raw_bucket,
            "quarantine": self.quarantine_bucket,
            "curated": self.curated_bucket,
            "analytics": self.analytics_bucket,
        }

    def _common_bucket_settings(self) -> dict:
        remove = self._props.remove_data_on_destroy
        return dict(
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            removal_policy=self._removal_policy,
            auto_delete_objects=remove,
        )

    def _lake_bucket(self, construct_id: str, log_prefix: str, rules: list[s3.LifecycleRule]) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.data_lake_key,
            bucket_key_enabled=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix=f"{log_prefix}/",
            lifecycle_rules=rules,
            **self._common_bucket_settings(),
        )

    def _versioned_rules(self) -> list[s3.LifecycleRule]:
        return [
            s3.LifecycleRule(
                id="expire-noncurrent-versions",
                noncurrent_version_expiration=Duration.days(self._props.lifecycle.noncurrent_version_expiration_days),
                abort_incomplete_multipart_upload_after=_ABORT_INCOMPLETE_UPLOADS,
            )
        ]

    @staticmethod
    def _zone_rules(zone: ZoneLifecycle) -> list[s3.LifecycleRule]:
        # Glacier Instant Retrieval, not GLACIER (Flexible Retrieval): Athena and Glue cannot read objects in
        # GLACIER or DEEP_ARCHIVE, and the raw zone's tables project partitions over the whole history.
        return [
            s3.LifecycleRule(
                id="tier-landed-data",
                transitions=[
                    s3.Transition(
                        storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                        transition_after=Duration.days(zone.transition_to_ia_days),
                    ),
                    s3.Transition(
                        storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                        transition_after=Duration.days(zone.transition_to_glacier_days),
                    ),
                ],
                noncurrent_version_expiration=Duration.days(zone.noncurrent_version_expiration_days),
                abort_incomplete_multipart_upload_after=_ABORT_INCOMPLETE_UPLOADS,
            )
        ]
