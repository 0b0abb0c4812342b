"""Redrive logic against in-memory stand-ins for SQS, Kinesis and Lambda: reading a sequence range back,
expired records, partial failures, payload-limit chunks."""

from __future__ import annotations

import io
import json

import pytest

from retail_lake.ingestion.redrive import (
    EXPIRED,
    INVOCATION_PAYLOAD_LIMIT,
    REDRIVEN,
    STILL_FAILING,
    FailedBatch,
    Redriver,
    invocation_chunks,
    kinesis_event_record,
    read_failed_records,
)

STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/sales"


def failure_body(start: str, end: str, size: int) -> str:
    return json.dumps({
        "requestContext": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:transform",
                           "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 3},
        "KinesisBatchInfo": {"shardId": "shardId-000000000001", "startSequenceNumber": start,
                             "endSequenceNumber": end, "batchSize": size, "streamArn": STREAM},
    })


class FakeKinesis:
    def __init__(self, sequence_numbers: list[int], page: int = 2) -> None:
        self.records = [{"SequenceNumber": str(s), "PartitionKey": "k", "Data": f"d{s}".encode(),
                         "ApproximateArrivalTimestamp": 1.0} for s in sequence_numbers]
        self.page = page

    def get_shard_iterator(self, StreamName, ShardId, ShardIteratorType, StartingSequenceNumber):
        assert (StreamName, ShardId, ShardIteratorType) == ("sales", "shardId-000000000001", "AT_SEQUENCE_NUMBER")
        first = next((i for i, r in enumerate(self.records) if int(r["SequenceNumber"]) >= int(StartingSequenceNumber)),
                     len(self.records))
        return {"ShardIterator": str(first)}

    def get_records(self, ShardIterator, Limit):
        start = int(ShardIterator)
        page = self.records[start:start + self.page]
        return {"Records": page, "NextShardIterator": str(start + len(page)), "MillisBehindLatest": 0}


class FakeSqs:
    def __init__(self, bodies: list[str]) -> None:
        self.messages = {f"m{i}": body for i, body in enumerate(bodies)}
        self.deleted: list[str] = []

    def receive_message(self, QueueUrl, MaxNumberOfMessages, WaitTimeSeconds, VisibilityTimeout):
        return {"Messages": [{"MessageId": k, "ReceiptHandle": k, "Body": v}
                             for k, v in list(self.messages.items())[:MaxNumberOfMessages]]}

    def delete_message(self, QueueUrl, ReceiptHandle):
        self.deleted.append(ReceiptHandle)
        del self.messages[ReceiptHandle]

    def change_message_visibility(self, QueueUrl, ReceiptHandle, VisibilityTimeout):
        assert VisibilityTimeout == 0


class FakeLambda:
    def __init__(self, responses: list[tuple[str | None, dict | str]]) -> None:
        self.responses = responses
        self.events: list[dict] = []

    def get_function_configuration(self, FunctionName):
        return {"Role": "arn:aws:iam::123456789012:role/transform"}

    def invoke(self, FunctionName, InvocationType, Payload):
        self.events.append(json.loads(Payload))
        error, body = self.responses.pop(0)
        response = {"Payload": io.BytesIO(json.dumps(body).encode() if not isinstance(body, str) else body.encode())}
        if error:
            response["FunctionError"] = error
        return response


def batch(start: str, end: str, size: int) -> FailedBatch:
    return FailedBatch.from_message({"MessageId": "m", "ReceiptHandle": "r", "Body": failure_body(start, end, size)})


def test_a_failure_record_is_read_from_the_message():
    b = batch("11", "14", 4)
    assert (b.stream_arn, b.shard_id, b.start_sequence_number, b.end_sequence_number, b.batch_size) == (
        STREAM, "shardId-000000000001", "11", "14", 4)
    assert b.function_arn.endswith(":function:transform") and b.condition == "RetryAttemptsExhausted"
    for body in ("not json", json.dumps({"KinesisBatchInfo": {"shardId": "x"}}), json.dumps([1])):
        with pytest.raises(ValueError, match="not a Kinesis on-failure record"):
            FailedBatch.from_message({"MessageId": "m", "ReceiptHandle": "r", "Body": body})


def test_the_range_is_read_back_across_pages_and_stops_at_its_end():
    kinesis = FakeKinesis([10, 11, 12, 13, 14, 15, 16], page=2)
    records = read_failed_records(kinesis, batch("11", "14", 4))
    assert [r["SequenceNumber"] for r in records] == ["11", "12", "13", "14"]


def test_records_past_the_retention_make_the_batch_expired_and_keep_its_message():
    kinesis = FakeKinesis([13, 14, 15])  # 11 and 12 were trimmed
    sqs = FakeSqs([failure_body("11", "14", 4)])
    report = Redriver(sqs=sqs, kinesis=kinesis, lambda_client=FakeLambda([]), queue_url="q").run()
    (outcome,) = report.outcomes
    assert (outcome.status, outcome.records) == (EXPIRED, 2)
    assert "2 of the batch's 4 records" in outcome.detail
    assert sqs.deleted == []


def test_a_partial_batch_failure_keeps_the_message_and_a_full_success_deletes_it():
    kinesis = FakeKinesis(list(range(20, 30)))
    sqs = FakeSqs([failure_body("20", "23", 4), failure_body("24", "29", 6)])
    function = FakeLambda([(None, {"batchItemFailures": [{"itemIdentifier": "21"}]}), (None, {"batchItemFailures": []})])
    report = Redriver(sqs=sqs, kinesis=kinesis, lambda_client=function, queue_url="q").run()
    assert [(o.status, o.records) for o in report.outcomes] == [(STILL_FAILING, 4), (REDRIVEN, 6)]
    assert "first at sequence number 21" in report.outcomes[0].detail
    assert sqs.deleted == ["m1"]
    first_event = function.events[0]["Records"]
    assert [r["kinesis"]["sequenceNumber"] for r in first_event] == ["20", "21", "22", "23"]
    assert first_event[0]["eventID"] == "shardId-000000000001:20"
    assert first_event[0]["eventSourceARN"] == STREAM and first_event[0]["awsRegion"] == "us-east-1"
    assert first_event[0]["invokeIdentityArn"] == "arn:aws:iam::123456789012:role/transform"
    assert report.as_dict()["records_redriven"] == 6


def test_an_unhandled_function_error_is_reported_with_its_message():
    sqs = FakeSqs([failure_body("1", "2", 2)])
    function = FakeLambda([("Unhandled", '{"errorMessage": "AccessDenied on the raw bucket"}')])
    (outcome,) = Redriver(sqs=sqs, kinesis=FakeKinesis([1, 2]), lambda_client=function, queue_url="q").run().outcomes
    assert outcome.status == STILL_FAILING and "AccessDenied on the raw bucket" in outcome.detail


def test_invocations_stay_within_the_payload_limit_in_order():
    big = b"x" * (900 * 1024)  # ~1.2 MB of base64 each
    records = [kinesis_event_record(shard_id="s", sequence_number=str(i), partition_key="k", data=big,
                                    arrival_timestamp=0.0, stream_arn=STREAM, region="us-east-1",
                                    invoke_identity_arn="r") for i in range(12)]
    chunks = list(invocation_chunks(records))
    assert [r["kinesis"]["sequenceNumber"] for c in chunks for r in c] == [str(i) for i in range(12)]
    assert all(len(json.dumps({"Records": c})) <= INVOCATION_PAYLOAD_LIMIT for c in chunks)
    assert len(chunks) == 3
