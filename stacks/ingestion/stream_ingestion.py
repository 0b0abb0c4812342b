"""Kinesis stream -> stream-transform Lambda -> raw / quarantine buckets, with failure handling and alarms."""

from __future__ import annotations

import jsii
from aws_cdk import Duration, Fn, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as sns_subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.ingestion.lambda_assets import (
    STREAM_DEPS_STAMP_NAME,
    assemble_stream_transform_code,
    stream_deps_layer_dir,
)
from stacks.ingestion.stream_ingestion_props import StreamIngestionProps
from stacks.nag import acknowledge, objects_wildcard_finding
from stacks.stage_config import KinesisConfig

STREAM_TRANSFORM_HANDLER = "handler.handler"
POWERTOOLS_SERVICE_NAME = "stream-transform"
METRICS_NAMESPACE = "RetailLake"


@jsii.implements(lambda_.IEventSourceDlq)
class _EncryptedSqsOnFailure:
    """On-failure destination on a KMS-encrypted queue, granting only what sending needs.

    (`SqsDlq` grants kms:Encrypt, kms:ReEncrypt* and kms:GenerateDataKey* on the key; SendMessage to an
    encrypted queue needs kms:GenerateDataKey and kms:Decrypt.)
    """

    def __init__(self, queue: sqs.IQueue, key: kms.IKey) -> None:
        self._queue = queue
        self._key = key

    def bind(self, target: lambda_.IEventSourceMapping, target_handler: lambda_.IFunction) -> lambda_.DlqDestinationConfig:
        target_handler.add_to_role_policy(
            iam.PolicyStatement(
                sid="SendFailedBatchesToOnFailureQueue",
                actions=["sqs:SendMessage"],
                resources=[self._queue.queue_arn],
            )
        )
        target_handler.add_to_role_policy(
            iam.PolicyStatement(
                sid="EncryptOnFailureMessages",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self._key.key_arn],
            )
        )
        return lambda_.DlqDestinationConfig(destination=self._queue.queue_arn)


class StreamIngestion(Construct):
    """The streaming path into the raw zone.

    Public attributes: `ingestion_key` (KMS key of the stream, secret, queue and topic), `stream`,
    `pseudonymization_secret`, `stream_transform_function`, `on_failure_queue` (batches that exhausted
    their retries), `alarm_topic` (every alarm's alarm and OK actions; e-mails the stage's `alarm_email`
    when one is configured).
    """

    ingestion_key: kms.Key
    stream: kinesis.Stream
    pseudonymization_secret: secretsmanager.Secret
    stream_transform_function: lambda_.Function
    on_failure_queue: sqs.Queue
    alarm_topic: sns.Topic

    def __init__(self, scope: Construct, construct_id: str, *, props: StreamIngestionProps) -> None:
        super().__init__(scope, construct_id)
        config = props.config
        removal = RemovalPolicy.DESTROY if config.remove_data_on_destroy else RemovalPolicy.RETAIN

        self.ingestion_key = kms.Key(
            self,
            "IngestionKey",
            description="Encrypts the event stream, the pseudonymization secret, the on-failure queue and alarms",
            enable_key_rotation=True,
            removal_policy=removal,
            pending_window=Duration.days(7) if config.remove_data_on_destroy else Duration.days(30),
        )
        # CloudWatch alarms publish to the encrypted alarm topic (documented SNS/KMS requirement).
        self.ingestion_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToUseTheKeyForSns",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" means this key
            )
        )

        self.stream = self._event_stream(config.kinesis, removal)
        self.pseudonymization_secret = secretsmanager.Secret(
            self,
            "PseudonymizationSecret",
            description="Key of the keyed hash that pseudonymizes e-mail addresses and phone numbers",
            encryption_key=self.ingestion_key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True, include_space=False
            ),
            removal_policy=removal,
        )
        acknowledge(
            self.pseudonymization_secret,
            "AwsSolutions-SMG4",
            "The pseudonymization key must stay stable: rotating it would change every hashed "
                "identifier and break joins across history. Re-keying is a planned backfill, not a rotation.",
        )

        self.on_failure_queue = sqs.Queue(
            self,
            "OnFailureQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.ingestion_key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=removal,
        )
        acknowledge(
            self.on_failure_queue,
            "AwsSolutions-SQS3",
            "This queue is itself the terminal on-failure destination of the Kinesis event source "
                "mapping (it holds pointers to failed batches for replay); it is alarmed on depth.",
        )

        self.alarm_topic = sns.Topic(self, "AlarmTopic", master_key=self.ingestion_key, enforce_ssl=True)
        if config.alarm_email:
            self.alarm_topic.add_subscription(sns_subscriptions.EmailSubscription(config.alarm_email))

        self.stream_transform_function = self._stream_transform_function(props, removal)
        self.stream_transform_function.add_event_source(
            event_sources.KinesisEventSource(
                self.stream,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=config.event_source.batch_size,
                max_batching_window=Duration.seconds(config.event_source.max_batching_window_seconds),
                parallelization_factor=config.event_source.parallelization_factor,
                retry_attempts=config.event_source.max_retry_attempts,
                max_record_age=Duration.seconds(config.event_source.max_record_age_seconds),
                bisect_batch_on_error=True,
                report_batch_item_failures=True,
                on_failure=_EncryptedSqsOnFailure(self.on_failure_queue, self.ingestion_key),
            )
        )
        self._alarms(config.alarms.iterator_age_ms, config.alarms.dlq_depth)

    def _event_stream(self, kinesis_config: KinesisConfig, removal: RemovalPolicy) -> kinesis.Stream:
        on_demand = kinesis_config.stream_mode == "on_demand"
        stream = kinesis.Stream(
            self,
            "EventStream",
            stream_mode=kinesis.StreamMode.ON_DEMAND if on_demand else kinesis.StreamMode.PROVISIONED,
            shard_count=None if on_demand else kinesis_config.shard_count,
            retention_period=Duration.hours(kinesis_config.retention_hours),
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=self.ingestion_key,
            removal_policy=removal,
        )
        acknowledge(
            stream,
            "AwsSolutions-KDS3",
            "The stream is encrypted with the customer-managed ingestion key (rotation on, key policy under "
            "our control) instead of the AWS-managed aws/kinesis key; that is a stronger setting, not a gap.",
        )
        return stream

    def _stream_transform_function(self, props: StreamIngestionProps, removal: RemovalPolicy) -> lambda_.Function:
        config = props.config
        storage = props.storage
        log_group = logs.LogGroup(self, "StreamTransformLogGroup", removal_policy=removal)
        # RetentionDays is an enum of names; the validated number of days goes straight to the L1 property.
        log_group.node.default_child.retention_in_days = config.log_retention_days  # type: ignore[union-attr]

        role = iam.Role(
            self,
            "StreamTransformRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="stream-transform: read the stream, write/delete raw/quarantine objects, read the "
                        "pseudonymization key",
        )
        log_group.grant_write(role)
        role.add_to_policy(
            iam.PolicyStatement(
                # Each invocation writes or deletes the objects of its batch key in both buckets, so a retried
                # or bisected batch never leaves a stale object behind.
                sid="WriteAndDeleteRawAndQuarantineObjects",
                actions=["s3:PutObject", "s3:DeleteObject"],
                resources=[
                    storage.raw_bucket.arn_for_objects("*"),
                    storage.quarantine_bucket.arn_for_objects("*"),
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="EncryptLakeObjects",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[storage.data_lake_key.key_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadPseudonymizationKey",
                actions=["secretsmanager:GetSecretValue"],
                resources=[self.pseudonymization_secret.secret_arn],
            )
        )

        stream_deps = lambda_.LayerVersion(
            self,
            "StreamDepsLayer",
            code=lambda_.Code.from_asset(str(stream_deps_layer_dir()), exclude=[STREAM_DEPS_STAMP_NAME]),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_11],
            compatible_architectures=[lambda_.Architecture.X86_64],
            description="stream-transform dependencies (msgspec, powertools, kinesis-agg, protobuf, x-ray)",
            removal_policy=removal,
        )
        aws_sdk_pandas = lambda_.LayerVersion.from_layer_version_arn(
            self, "AwsSdkPandasLayer", Fn.sub(config.aws_sdk_pandas_layer_arn)
        )

        function = lambda_.Function(
            self,
            "StreamTransformFunction",
            description="Validates, pseudonymizes and lands stream events in the raw zone (rejects to quarantine)",
            runtime=lambda_.Runtime.PYTHON_3_11,
            architecture=lambda_.Architecture.X86_64,
            handler=STREAM_TRANSFORM_HANDLER,
            code=lambda_.Code.from_asset(str(assemble_stream_transform_code())),
            layers=[stream_deps, aws_sdk_pandas],
            memory_size=config.stream_lambda.memory_mb,
            timeout=Duration.seconds(config.stream_lambda.timeout_seconds),
            reserved_concurrent_executions=config.stream_lambda.reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE,
            role=role,
            log_group=log_group,
            environment={
                "RAW_BUCKET": storage.raw_bucket.bucket_name,
                "QUARANTINE_BUCKET": storage.quarantine_bucket.bucket_name,
                "PSEUDONYMIZATION_SECRET_ARN": self.pseudonymization_secret.secret_arn,
                "STAGE": config.stage,
                "POWERTOOLS_SERVICE_NAME": POWERTOOLS_SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "LOG_LEVEL": config.stream_lambda.log_level,
            },
        )
        # aws-cdk-lib's Function always adds a construct-level DependsOn its role, which the Role GetAtt already
        # implies (cfn-lint W3005, harmless; DependsOn the role's default policy is the one that matters).
        function.node.default_child.add_metadata(  # type: ignore[union-attr]
            "cfn-lint", {"config": {"ignore_checks": ["W3005"]}}
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Pinned to Python 3.11 on purpose: the AWS SDK for pandas layer, the dependency layer "
                "wheels and the local toolchain (Glue 5.0 parity) all target 3.11.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no "
            "resource-level permissions, so AWS requires Resource '*' for them (added by CDK for Tracing.ACTIVE).",
        )
        for bucket in (storage.raw_bucket, storage.quarantine_bucket):
            acknowledge(
                role,
                objects_wildcard_finding(role, bucket),
                "PutObject and DeleteObject must cover any object key the handler writes or removes for a "
                "batch (dataset/partition/file paths are data-dependent); scoped to this one bucket's objects, "
                "no read, list, version delete or bucket-level action.",
            )
        return function

    def _alarms(self, iterator_age_ms: int, dlq_depth: int) -> None:
        function_iterator_age = self._iterator_age_alarm(
            "IteratorAgeAlarm",
            "stream-transform is falling behind the stream (Lambda IteratorAge)",
            self.stream_transform_function.metric("IteratorAge"),
            iterator_age_ms,
        )
        stream_iterator_age = self._iterator_age_alarm(
            "StreamIteratorAgeAlarm",
            "Records wait too long in the stream (GetRecords.IteratorAgeMilliseconds)",
            self.stream.metric_get_records_iterator_age_milliseconds(),
            iterator_age_ms,
        )
        function_errors = cloudwatch.Alarm(
            self,
            "StreamTransformErrorsAlarm",
            alarm_description="stream-transform invocations failed (Lambda Errors: unhandled exception or "
                              "timeout); failed batches are retried and bisected, and those that keep failing "
                              "go to the on-failure queue",
            metric=self.stream_transform_function.metric_errors(
                statistic=cloudwatch.Stats.SUM, period=Duration.minutes(5)
            ),
            threshold=0,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        on_failure_depth = cloudwatch.Alarm(
            self,
            "OnFailureQueueDepthAlarm",
            alarm_description="Batches failed after all retries and wait in the on-failure queue for replay",
            metric=self.on_failure_queue.metric_approximate_number_of_messages_visible(
                statistic=cloudwatch.Stats.MAXIMUM, period=Duration.minutes(1)
            ),
            threshold=dlq_depth,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        action = cloudwatch_actions.SnsAction(self.alarm_topic)
        for alarm in (function_iterator_age, stream_iterator_age, function_errors, on_failure_depth):
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)

    def _iterator_age_alarm(
        self, construct_id: str, description: str, metric: cloudwatch.Metric, threshold_ms: int
    ) -> cloudwatch.Alarm:
        """Alarm when the maximum per minute of an iterator-age `metric` exceeds `threshold_ms` in 3 of 5 minutes."""
        return cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric.with_(statistic=cloudwatch.Stats.MAXIMUM, period=Duration.minutes(1)),
            threshold=threshold_ms,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
