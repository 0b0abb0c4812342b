"""Redrive of Kinesis batches that exhausted their retries: from the on-failure queue back to the function.

When the stream-transform function keeps failing on a batch (a bad deployment, a missing permission, a
secret that cannot be read), the event-source mapping gives up after its retries and sends a description
of the batch to the on-failure queue: the stream, the shard and the sequence range, not the records. The
records themselves stay in the stream until its retention ends. Once the cause is fixed, `redrive` reads
each described range back from its shard, invokes the function with the same Kinesis event Lambda would
have sent, and deletes the message when the function processed every record.

Redriving is safe to repeat: the transform's object keys are deterministic from shard and sequence range,
so a batch processed twice overwrites its own objects. A message is kept (and made visible again at once)
when its records are no longer in the stream, when the function still fails, or in a dry run; the report
says which and why, so no failed batch is dropped silently.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from typing import Any, Iterable

# Lambda's synchronous invocation payload limit (6 MB) and the JSON around one record's data in the event.
INVOCATION_PAYLOAD_LIMIT = 6 * 1024 * 1024
RECORD_ENVELOPE_BYTES = 512

REDRIVEN, STILL_FAILING, EXPIRED, DRY_RUN, UNREADABLE = "redriven", "still-failing", "expired", "dry-run", "unreadable"


class RedriveError(Exception):
    """A redrive that cannot start (no queue, no function to send the records to)."""


@dataclass(frozen=True)
class FailedBatch:
    """One on-failure message of a Kinesis event-source mapping."""

    message_id: str
    receipt_handle: str
    stream_arn: str
    shard_id: str
    start_sequence_number: str
    end_sequence_number: str
    batch_size: int
    function_arn: str | None
    condition: str | None

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> "FailedBatch":
        """From an SQS message whose body is Lambda's on-failure record; ValueError when it is not one."""
        try:
            body = json.loads(message["Body"])
            info = body["KinesisBatchInfo"]
            context = body.get("requestContext") or {}
            return cls(
                message_id=message["MessageId"],
                receipt_handle=message["ReceiptHandle"],
                stream_arn=info["streamArn"],
                shard_id=info["shardId"],
                start_sequence_number=str(info["startSequenceNumber"]),
                end_sequence_number=str(info["endSequenceNumber"]),
                batch_size=int(info["batchSize"]),
                function_arn=context.get("functionArn"),
                condition=context.get("condition"),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a Kinesis on-failure record ({type(error).__name__}: {error})") from None


@dataclass
class RedriveOutcome:
    message_id: str
    stream_arn: str | None
    shard_id: str | None
    start_sequence_number: str | None
    end_sequence_number: str | None
    records: int
    status: str
    detail: str = ""


@dataclass
class RedriveReport:
    outcomes: list[RedriveOutcome]

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def records_redriven(self) -> int:
        return sum(outcome.records for outcome in self.outcomes if outcome.status == REDRIVEN)

    def as_dict(self) -> dict[str, Any]:
        statuses = (REDRIVEN, STILL_FAILING, EXPIRED, DRY_RUN, UNREADABLE)
        return {
            "messages": len(self.outcomes),
            **{status: self.count(status) for status in statuses},
            "records_redriven": self.records_redriven,
            "outcomes": [asdict(outcome) for outcome in self.outcomes],
        }


# ------------------------------------------------------------------------------------------ the records


def read_failed_records(kinesis, batch: FailedBatch, *, page_limit: int = 10_000, max_pages: int = 1_000) -> list[dict]:
    """The records of the batch's sequence range, read back from its shard (GetRecords shapes: `Data` as
    bytes). Fewer than `batch_size` records, or a first record after the range's start, means the stream
    no longer holds all of them."""
    iterator = kinesis.get_shard_iterator(
        StreamName=batch.stream_arn.split(":stream/", 1)[-1],
        ShardId=batch.shard_id,
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=batch.start_sequence_number,
    )["ShardIterator"]
    end = int(batch.end_sequence_number)
    records: list[dict] = []
    for _ in range(max_pages):
        if iterator is None:
            break
        response = kinesis.get_records(ShardIterator=iterator, Limit=page_limit)
        page = response.get("Records", [])
        for record in page:
            if int(record["SequenceNumber"]) > end:
                return records
            records.append(record)
        if len(records) >= batch.batch_size:
            return records
        if not page and response.get("MillisBehindLatest", 0) == 0:
            break  # at the tip of the shard: the range ends in records that are gone
        iterator = response.get("NextShardIterator")
    return records


def kinesis_event_record(
    *, shard_id: str, sequence_number: str, partition_key: str, data: bytes, arrival_timestamp: float,
    stream_arn: str, region: str, invoke_identity_arn: str,
) -> dict[str, Any]:
    """One record of the event Lambda sends a function for a Kinesis event source."""
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence_number,
            "data": base64.b64encode(data).decode("ascii"),
            "approximateArrivalTimestamp": arrival_timestamp,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": invoke_identity_arn,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def invocation_chunks(event_records: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    """The records in order, in chunks whose event stays within Lambda's invocation payload limit."""
    chunk: list[dict[str, Any]] = []
    total = 16
    for record in event_records:
        cost = len(record["kinesis"]["data"]) + RECORD_ENVELOPE_BYTES
        if chunk and total + cost > INVOCATION_PAYLOAD_LIMIT:
            yield chunk
            chunk, total = [], 16
        chunk.append(record)
        total += cost
    if chunk:
        yield chunk


def _arrival(record: dict) -> float:
    arrival = record.get("ApproximateArrivalTimestamp")
    return arrival.timestamp() if hasattr(arrival, "timestamp") else float(arrival or 0.0)


# ------------------------------------------------------------------------------------------ redrive


class Redriver:
    """Redrive the failed batches described in one on-failure queue."""

    def __init__(self, *, sqs, kinesis, lambda_client, queue_url: str, function: str | None = None) -> None:
        self.sqs, self.kinesis, self.lambda_client = sqs, kinesis, lambda_client
        self.queue_url = queue_url
        self.function = function
        self._roles: dict[str, str] = {}

    def run(self, *, max_messages: int = 100, dry_run: bool = False) -> RedriveReport:
        outcomes: list[RedriveOutcome] = []
        seen: set[str] = set()
        while len(outcomes) < max_messages:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, max_messages - len(outcomes)),
                WaitTimeSeconds=1,
                VisibilityTimeout=300,
            ).get("Messages", [])
            fresh = 0
            for message in messages:
                if message["MessageId"] in seen:  # kept earlier in this run and received again
                    self._release(message["ReceiptHandle"])
                    continue
                fresh += 1
                seen.add(message["MessageId"])
                outcomes.append(self._one(message, dry_run=dry_run))
            if not fresh:
                break
        return RedriveReport(outcomes)

    def _one(self, message: dict[str, Any], *, dry_run: bool) -> RedriveOutcome:
        try:
            batch = FailedBatch.from_message(message)
        except ValueError as error:
            self._release(message["ReceiptHandle"])
            return RedriveOutcome(message["MessageId"], None, None, None, None, 0, UNREADABLE, str(error))
        outcome = RedriveOutcome(
            batch.message_id, batch.stream_arn, batch.shard_id, batch.start_sequence_number,
            batch.end_sequence_number, 0, REDRIVEN,
        )
        records = read_failed_records(self.kinesis, batch)
        outcome.records = len(records)
        if len(records) < batch.batch_size or (records and records[0]["SequenceNumber"] != batch.start_sequence_number):
            outcome.status = EXPIRED
            outcome.detail = (
                f"{len(records)} of the batch's {batch.batch_size} records are still in the stream (its retention "
                "ended for the others); replay them from the producer's source"
            )
        elif dry_run:
            outcome.status = DRY_RUN
            outcome.detail = f"{len(records)} records readable; would invoke {self._target(batch)}"
        else:
            failure = self._invoke(batch, records)
            if failure is None:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=batch.receipt_handle)
                return outcome
            outcome.status, outcome.detail = STILL_FAILING, failure
        self._release(batch.receipt_handle)
        return outcome

    def _target(self, batch: FailedBatch) -> str:
        target = self.function or batch.function_arn
        if not target:
            raise RedriveError(f"message {batch.message_id} names no function; pass the function to redrive to")
        return target

    def _invoke(self, batch: FailedBatch, records: list[dict]) -> str | None:
        """Invoke the function on the records in order; the failure, or None when every record was processed."""
        target = self._target(batch)
        region = batch.stream_arn.split(":")[3]
        role = self._role(target)
        event_records = [
            kinesis_event_record(
                shard_id=batch.shard_id, sequence_number=r["SequenceNumber"], partition_key=r["PartitionKey"],
                data=r["Data"], arrival_timestamp=_arrival(r), stream_arn=batch.stream_arn, region=region,
                invoke_identity_arn=role,
            )
            for r in records
        ]
        for chunk in invocation_chunks(event_records):
            response = self.lambda_client.invoke(
                FunctionName=target, InvocationType="RequestResponse", Payload=json.dumps({"Records": chunk}).encode()
            )
            payload = response["Payload"].read()
            if response.get("FunctionError"):
                return f"{target} failed: {payload.decode('utf-8', 'replace')[:500]}"
            try:
                result = json.loads(payload or b"null")
            except ValueError:
                result = None
            failures = (result or {}).get("batchItemFailures") if isinstance(result, dict) else None
            if failures:
                first = failures[0].get("itemIdentifier")
                return f"{target} reported {len(failures)} batch item failure(s), first at sequence number {first}"
        return None

    def _role(self, function: str) -> str:
        if function not in self._roles:
            self._roles[function] = self.lambda_client.get_function_configuration(FunctionName=function)["Role"]
        return self._roles[function]

    def _release(self, receipt_handle: str) -> None:
        """Make a kept message visible again at once, for the next redrive."""
        self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=0)
