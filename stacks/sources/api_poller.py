"""The scheduled REST API poller: an EventBridge schedule invokes a Lambda that polls weather per store, competitor
prices and the promotions calendar, with the API's base URL and key in Secrets Manager, and lands every page in
raw (`external_apis/<source>/dt=/hour=/`)."""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from retail_lake.sources.external_apis.poller import RAW_PREFIX
from stacks.nag import acknowledge, objects_wildcard_finding
from stacks.sources.source_functions import source_function
from stacks.stage_config import StageConfig
from stacks.storage.data_lake_storage import DataLakeStorage

STORES_PREFIX = "operational/stores/"
TIMEOUT_SECONDS, RATE_PER_SECOND, MAX_ATTEMPTS = 5, 5, 5


class ApiPoller(Construct):
    """`secret` (base_url + api_key), `function`, `schedule` (EventBridge rule) and `dead_letter_queue` (events the
    schedule could not deliver)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, storage: DataLakeStorage,
                 key: kms.IKey, layers: list[lambda_.ILayerVersion], removal: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self, "ApiSecret",
            description="External APIs of the poller: base_url and api_key (replace the generated key with the "
                        "provider's)",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"base_url": config.sources.api_base_url}),
                generate_string_key="api_key", exclude_punctuation=True, password_length=40),
            removal_policy=removal,
        )
        acknowledge(self.secret, "AwsSolutions-SMG4",
                    "The API key is issued by the external provider; it is rotated in the provider's console and "
                    "then stored here, so no Lambda rotation schedule can rotate it.")
        self.function, role = source_function(
            self, "ApiPollerFunction", handler_dir="api_poller", config=config, layers=layers,
            description="Polls weather per store, competitor prices and promotions; lands every page in raw",
            environment={"RAW_BUCKET": storage.raw_bucket.bucket_name,
                         "CURATED_BUCKET": storage.curated_bucket.bucket_name, "STORES_PREFIX": STORES_PREFIX,
                         "API_SECRET_ARN": self.secret.secret_arn,
                         "API_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS), "API_RATE_PER_SECOND": str(RATE_PER_SECOND),
                         "API_MAX_ATTEMPTS": str(MAX_ATTEMPTS)},
            timeout=Duration.minutes(10), memory_mb=512, service="api-poller", removal=removal)
        role.add_to_policy(iam.PolicyStatement(
            sid="LandPages", actions=["s3:PutObject"], resources=[storage.raw_bucket.arn_for_objects(f"{RAW_PREFIX}*")]))
        role.add_to_policy(iam.PolicyStatement(
            sid="ReadStoreLocations", actions=["s3:GetObject"],
            resources=[storage.curated_bucket.arn_for_objects(f"{STORES_PREFIX}*")]))
        role.add_to_policy(iam.PolicyStatement(
            sid="ListStoreLocations", actions=["s3:ListBucket"], resources=[storage.curated_bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{STORES_PREFIX}*"]}}))
        role.add_to_policy(iam.PolicyStatement(
            sid="UseLakeKey", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[storage.data_lake_key.key_arn]))
        role.add_to_policy(iam.PolicyStatement(
            sid="ReadApiSecret", actions=["secretsmanager:GetSecretValue"], resources=[self.secret.secret_arn]))
        role.add_to_policy(iam.PolicyStatement(sid="DecryptApiSecret", actions=["kms:Decrypt"], resources=[key.key_arn]))
        for bucket, prefix in ((storage.raw_bucket, RAW_PREFIX), (storage.curated_bucket, STORES_PREFIX)):
            acknowledge(role, objects_wildcard_finding(role, bucket).replace("/*]", f"/{prefix}*]"),
                        "Page and store-table object keys under this one prefix are data-dependent (source, window, "
                        "page; Spark part files); the role writes or reads only there, in this one bucket.")
        self.dead_letter_queue = sqs.Queue(self, "ScheduleDeadLetterQueue", encryption=sqs.QueueEncryption.KMS,
                                           encryption_master_key=key, enforce_ssl=True,
                                           retention_period=Duration.days(14), removal_policy=removal)
        acknowledge(self.dead_letter_queue, "AwsSolutions-SQS3",
                    "This queue is itself the dead-letter queue of the poll schedule's target; it holds schedule "
                    "events that could not invoke the poller.")
        self.schedule = events.Rule(
            self, "PollSchedule", description="Starts the external API poller",
            schedule=events.Schedule.expression(config.sources.api_poll_schedule),
            targets=[targets.LambdaFunction(self.function, retry_attempts=2, max_event_age=Duration.hours(1),
                                            dead_letter_queue=self.dead_letter_queue)])
