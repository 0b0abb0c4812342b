"""Redrive of failed stream batches on the twin: a consumer fails until it is fixed, its batches exhaust
their retries into the on-failure queue, and `Redriver` sends exactly those records to it again."""

from __future__ import annotations

import json

import pytest

from retail_lake.ingestion.redrive import DRY_RUN, REDRIVEN, STILL_FAILING, UNREADABLE, Redriver
from retail_lake.twin import Twin
from tests.integration.conftest import FIXTURE_INGESTION, FIXTURE_STORAGE, on_failure_messages, read_json_objects

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def failed(deployed_twin: Twin):
    """Six records on the Redrive stream (batches of 4 and 2), both batches in the on-failure queue."""
    twin = deployed_twin
    kinesis = twin.client("kinesis")
    stream = twin.outputs[FIXTURE_INGESTION]["RedriveStreamName"]
    sequence_numbers = [
        kinesis.put_record(StreamName=stream, Data=f"sale-{i}".encode(), PartitionKey="store-7")["SequenceNumber"]
        for i in range(6)
    ]
    queue_url = twin.outputs[FIXTURE_INGESTION]["OnFailureQueueUrl"]
    twin.settle(lambda: len(on_failure_messages(twin, queue_url)) == 2, timeout=60)
    return twin, queue_url, sequence_numbers


def redriver(twin: Twin, queue_url: str) -> Redriver:
    return Redriver(sqs=twin.client("sqs"), kinesis=twin.client("kinesis"), lambda_client=twin.client("lambda"),
                    queue_url=queue_url)


def test_failed_batches_are_redriven_once_the_cause_is_fixed(failed):
    twin, queue_url, sequence_numbers = failed
    raw = twin.outputs[FIXTURE_STORAGE]["RawBucketName"]
    assert len(on_failure_messages(twin, queue_url)) == 2

    dry = redriver(twin, queue_url).run(dry_run=True)
    assert sorted((o.status, o.records) for o in dry.outcomes) == [(DRY_RUN, 2), (DRY_RUN, 4)]
    assert len(on_failure_messages(twin, queue_url)) == 2  # a dry run keeps every message

    still = redriver(twin, queue_url).run()
    assert [o.status for o in still.outcomes] == [STILL_FAILING, STILL_FAILING]
    assert all("NotFixedYetError" in o.detail for o in still.outcomes)
    assert len(on_failure_messages(twin, queue_url)) == 2
    assert read_json_objects(twin, raw, "batches/Redrive/") == []

    twin.client("s3").put_object(Bucket=raw, Key="fixed/Redrive", Body=b"fixed")
    report = redriver(twin, queue_url).run()
    assert sorted((o.status, o.records) for o in report.outcomes) == [(REDRIVEN, 2), (REDRIVEN, 4)]
    assert report.records_redriven == 6
    assert on_failure_messages(twin, queue_url) == []

    delivered = [r for batch in read_json_objects(twin, raw, "batches/Redrive/") for r in batch["records"]]
    assert sorted(delivered, key=lambda r: int(r["sequenceNumber"])) == [
        {"partitionKey": "store-7", "sequenceNumber": seq, "eventID": f"shardId-000000000000:{seq}", "data": f"sale-{i}"}
        for i, seq in enumerate(sequence_numbers)
    ]
    assert redriver(twin, queue_url).run().outcomes == []  # nothing left to redrive


def test_a_message_that_is_not_a_failure_record_is_kept_and_reported(failed):
    twin, queue_url, _ = failed
    sqs = twin.client("sqs")
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"hello": "world"}))
    report = redriver(twin, queue_url).run()
    (outcome,) = report.outcomes
    assert outcome.status == UNREADABLE and "KinesisBatchInfo" in outcome.detail
    assert on_failure_messages(twin, queue_url) == [{"hello": "world"}]
    for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
