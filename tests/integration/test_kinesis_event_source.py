"""Lambda's Kinesis event-source mapping semantics on the twin: batch size, order, partial batch failures,
retries into the on-failure destination, bisection, parallelization. Each case has its own stream and function
in the fixture app (tests/integration/fixtures/streaming_app), so the cases do not share checkpoints."""

from __future__ import annotations

from collections import defaultdict

import pytest

from retail_lake.twin import Twin
from tests.integration.conftest import (
    FIXTURE_INGESTION,
    FIXTURE_STORAGE,
    on_failure_messages,
    read_json_objects,
    settle,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def twin(deployed_twin: Twin) -> Twin:
    return deployed_twin


def put(twin: Twin, consumer: str, datas: list[str], keys: list[str] | None = None) -> list[str]:
    """Put records one by one (to fix their order) and return their sequence numbers."""
    kinesis = twin.client("kinesis")
    stream = twin.outputs[FIXTURE_INGESTION][f"{consumer}StreamName"]
    keys = keys or ["one-key"] * len(datas)
    return [
        kinesis.put_record(StreamName=stream, Data=data.encode(), PartitionKey=key)["SequenceNumber"]
        for data, key in zip(datas, keys, strict=True)
    ]


def raw_bucket(twin: Twin) -> str:
    return twin.outputs[FIXTURE_STORAGE]["RawBucketName"]


def failures_for(twin: Twin, consumer: str) -> list[dict]:
    stream = twin.outputs[FIXTURE_INGESTION][f"{consumer}StreamName"]
    return [
        m for m in on_failure_messages(twin, twin.outputs[FIXTURE_INGESTION]["OnFailureQueueUrl"])
        if m["KinesisBatchInfo"]["streamArn"].endswith("/" + stream)
    ]


def test_all_records_are_delivered_in_order_in_batches_of_the_configured_size(twin: Twin):
    sent = [f"ordered-{i:02d}" for i in range(12)]
    sequence_numbers = put(twin, "Ordered", sent)
    settle(twin, lambda: sum(len(b["records"]) for b in read_json_objects(twin, raw_bucket(twin), "batches/Ordered/")) >= 12)

    batches = read_json_objects(twin, raw_bucket(twin), "batches/Ordered/")
    assert [len(b["records"]) for b in batches] == [5, 5, 2]
    delivered = [r for b in batches for r in b["records"]]
    assert [r["data"] for r in delivered] == sent
    assert [r["sequenceNumber"] for r in delivered] == sequence_numbers
    assert all(0 < b["remaining_ms"] <= 30_000 for b in batches)
    if twin.is_embedded:
        counters = twin.kinesis_poller.counters_for(twin.outputs[FIXTURE_INGESTION]["OrderedFunctionName"])
        assert (counters.invocations, counters.records_succeeded, counters.retries) == (3, 12, 0)


def test_a_reported_item_failure_is_redelivered_from_its_sequence_number(twin: Twin):
    sent = [f"item-{i}" for i in range(10)]
    sent[6] = "fail-once:6"
    sequence_numbers = put(twin, "ItemFailure", sent)
    settle(twin, lambda: len(read_json_objects(twin, raw_bucket(twin), "batches/ItemFailure/")) >= 3)

    batches = [[r["sequenceNumber"] for r in b["records"]] for b in read_json_objects(
        twin, raw_bucket(twin), "batches/ItemFailure/")]
    # 0-4 succeed; 5-9 report 6 failed, so 5 is checkpointed and the retry starts at 6
    assert batches == [sequence_numbers[0:5], sequence_numbers[5:10], sequence_numbers[6:10]]
    assert failures_for(twin, "ItemFailure") == []


def test_a_batch_that_keeps_failing_goes_to_the_on_failure_queue_after_the_retries(twin: Twin):
    sequence_numbers = put(twin, "AlwaysFails", [f"doomed-{i}" for i in range(4)])
    settle(twin, lambda: bool(failures_for(twin, "AlwaysFails")))

    attempts = read_json_objects(twin, raw_bucket(twin), "attempts/AlwaysFails/")
    assert attempts == [[f"doomed-{i}" for i in range(4)]] * 3  # first try + MaximumRetryAttempts=2
    (failure,) = failures_for(twin, "AlwaysFails")
    info = failure["KinesisBatchInfo"]
    assert info["shardId"] == "shardId-000000000000"
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (sequence_numbers[0], sequence_numbers[-1])
    assert info["batchSize"] == 4
    assert info["approximateArrivalOfFirstRecord"] <= info["approximateArrivalOfLastRecord"]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 3
    assert failure["requestContext"]["functionArn"].endswith(twin.outputs[FIXTURE_INGESTION]["AlwaysFailsFunctionName"])
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert failure["version"] == "1.0" and failure["timestamp"].endswith("Z")


def test_bisection_isolates_the_poison_record(twin: Twin):
    sequence_numbers = put(twin, "Bisect", ["a", "b", "poison", "d"])
    settle(twin, lambda: bool(failures_for(twin, "Bisect")))

    attempts = read_json_objects(twin, raw_bucket(twin), "attempts/Bisect/")
    assert attempts == [["a", "b", "poison", "d"], ["a", "b"], ["poison", "d"], ["poison"], ["d"]]
    (failure,) = failures_for(twin, "Bisect")
    info = failure["KinesisBatchInfo"]
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == sequence_numbers[2]
    delivered = [r["data"] for b in read_json_objects(twin, raw_bucket(twin), "batches/Bisect/") for r in b["records"]]
    assert delivered == ["a", "b", "d"]


def test_parallelization_keeps_the_order_of_each_partition_key(twin: Twin):
    keys = [f"store-{i % 6}" for i in range(36)]
    sent = [f"{key}#{i:02d}" for i, key in enumerate(keys)]
    put(twin, "Parallel", sent, keys)
    settle(twin, lambda: sum(len(b["records"]) for b in read_json_objects(twin, raw_bucket(twin), "batches/Parallel/")) >= 36)

    batches = read_json_objects(twin, raw_bucket(twin), "batches/Parallel/")
    delivered = [r for b in batches for r in b["records"]]
    assert sorted(r["data"] for r in delivered) == sorted(sent)  # each record exactly once
    by_key_delivered: dict[str, list[str]] = defaultdict(list)
    for record in delivered:
        by_key_delivered[record["partitionKey"]].append(record["data"])
    by_key_sent: dict[str, list[str]] = defaultdict(list)
    for data, key in zip(sent, keys, strict=True):
        by_key_sent[key].append(data)
    assert by_key_delivered == by_key_sent
    assert all(len(b["records"]) <= 3 for b in batches)
    if twin.is_embedded:
        # six keys over four lanes: some batches interleave lanes, so the shard's order is not the delivery order
        assert [r["data"] for r in delivered] != sent
