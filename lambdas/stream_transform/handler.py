"""Stream-transform Lambda: Kinesis (KPL-aggregated retail events) -> raw zone Parquet + quarantine.

Thin entry point: Powertools for logging, metrics, tracing and partial batch failure reporting; the
work is done by `retail_lake.ingestion` (deaggregate, validate, protect, write).
"""

from __future__ import annotations

import datetime as dt
import os

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from retail_lake.ingestion.raw_writer import write_batch
from retail_lake.ingestion.stream_transform import RawBatch
from retail_lake.privacy.pseudonymize import Pseudonymizer, key_from_secret_string

RAW_BUCKET = os.environ["RAW_BUCKET"]
QUARANTINE_BUCKET = os.environ["QUARANTINE_BUCKET"]
SECRET_ARN = os.environ["PSEUDONYMIZATION_SECRET_ARN"]
SECRET_MAX_AGE_SECONDS = int(os.environ.get("PSEUDONYMIZATION_SECRET_MAX_AGE", "300"))

logger = Logger()
metrics = Metrics()
tracer = Tracer()
processor = BatchProcessor(event_type=EventType.KinesisDataStreams)
s3 = boto3.client("s3")
# A provider of this module's own (not Powertools' process-wide default), so its client is made with this
# function's configuration; the secret is cached for SECRET_MAX_AGE_SECONDS.
secrets = parameters.SecretsProvider(boto3_client=boto3.client("secretsmanager"))


def _pseudonymizer() -> Pseudonymizer:
    secret = secrets.get(SECRET_ARN, max_age=SECRET_MAX_AGE_SECONDS)
    return Pseudonymizer(key_from_secret_string(secret if isinstance(secret, str) else secret.decode()))


def _shard_of(event: dict) -> str:
    records = event.get("Records") or [{}]
    return str(records[0].get("eventID", "unknown:")).split(":", 1)[0]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    batch = RawBatch(_pseudonymizer(), shard_id=_shard_of(event), ingest_time=dt.datetime.now(dt.timezone.utc))

    def record_handler(record: KinesisStreamRecord) -> None:
        kinesis = record.kinesis
        # the base64 text as delivered: RawBatch decodes it (with pybase64, SIMD) inside its failure handling
        batch.add_record(kinesis.sequence_number, float(kinesis.approximate_arrival_timestamp), kinesis.data)

    response = process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    written = write_batch(s3, batch, raw_bucket=RAW_BUCKET, quarantine_bucket=QUARANTINE_BUCKET)
    _publish(batch, written, response)
    return response


def _publish(batch: RawBatch, written: list, response: dict) -> None:
    counts = batch.counts
    metrics.add_metric(name="EventsReceived", unit=MetricUnit.Count, value=counts.received)
    metrics.add_metric(name="EventsWritten", unit=MetricUnit.Count, value=sum(counts.written.values()))
    metrics.add_metric(name="EventsQuarantined", unit=MetricUnit.Count, value=sum(counts.quarantined.values()))
    metrics.add_metric(name="CardNumbersMasked", unit=MetricUnit.Count, value=counts.card_numbers_masked)
    metrics.add_metric(name="BatchItemFailures", unit=MetricUnit.Count, value=len(response["batchItemFailures"]))
    logger.info(
        "batch processed",
        extra={
            "shard_id": batch.shard_id,
            "first_sequence_number": batch.first_sequence_number,
            "last_sequence_number": batch.last_sequence_number,
            "failed_sequence_number": batch.failed_sequence_number,
            "counts": counts.as_dict(),
            "objects": [f"s3://{o.bucket}/{o.key}" for o in written],
        },
    )
