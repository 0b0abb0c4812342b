"""`<Project>-<stage>-Ingestion`: the event stream and the stream-transform Lambda, wired to the lake."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.ingestion.stream_ingestion import StreamIngestion
from stacks.ingestion.stream_ingestion_props import StreamIngestionProps
from stacks.stage_config import StageConfig
from stacks.storage.data_lake_storage import DataLakeStorage


class IngestionStack(Stack):
    ingestion: StreamIngestion

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, storage: DataLakeStorage, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.ingestion = StreamIngestion(
            self, "StreamIngestion", props=StreamIngestionProps(storage=storage, config=config)
        )
        ingestion = self.ingestion
        outputs = {
            "StreamName": (ingestion.stream.stream_name, "Kinesis stream the producers write events to"),
            "StreamArn": (ingestion.stream.stream_arn, "ARN of the event stream"),
            "StreamTransformFunctionName": (
                ingestion.stream_transform_function.function_name,
                "Lambda that validates events and lands them in raw/quarantine",
            ),
            "OnFailureQueueUrl": (ingestion.on_failure_queue.queue_url, "Batches that failed after all retries"),
            "PseudonymizationSecretArn": (
                ingestion.pseudonymization_secret.secret_arn,
                "Secret holding the pseudonymization key",
            ),
            "AlarmTopicArn": (ingestion.alarm_topic.topic_arn, "SNS topic the ingestion alarms notify"),
        }
        for key, (value, description) in outputs.items():
            CfnOutput(self, key, value=value, description=description).override_logical_id(key)
