import collections
import hashlib
import random

import pytest

from retail_lake.ingestion.kpl import deaggregate, is_aggregated
from retail_lake.ingestion.producer import (
    PUT_RECORDS_MAX_BYTES,
    PUT_RECORDS_MAX_ENTRIES,
    KinesisProducer,
    ProducerError,
    partition_key_for,
)
from tests import factories as f

TWO_SHARDS = [
    {"ShardId": "shardId-000000000000", "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": str(2**127 - 1)},
     "SequenceNumberRange": {"StartingSequenceNumber": "1"}},
    {"ShardId": "shardId-000000000001", "HashKeyRange": {"StartingHashKey": str(2**127), "EndingHashKey": str(2**128 - 1)},
     "SequenceNumberRange": {"StartingSequenceNumber": "1"}},
]


def shard_of(key: str) -> str:
    return TWO_SHARDS[int.from_bytes(hashlib.md5(key.encode()).digest(), "big") >= 2**127]["ShardId"]


class FakeKinesis:
    """Records what was accepted; fails chosen entries of chosen calls."""

    def __init__(self, fail_plan=None):
        self.fail_plan = fail_plan or (lambda call, index: None)
        self.calls = []
        self.accepted = []  # (shard, data)

    def list_shards(self, **kwargs):
        return {"Shards": TWO_SHARDS}

    def put_records(self, StreamName, Records):
        assert len(Records) <= PUT_RECORDS_MAX_ENTRIES
        assert sum(len(r["Data"]) + len(r["PartitionKey"]) for r in Records) <= PUT_RECORDS_MAX_BYTES
        call = len(self.calls)
        self.calls.append(Records)
        results = []
        for index, record in enumerate(Records):
            error = self.fail_plan(call, index)
            if error:
                results.append({"ErrorCode": error, "ErrorMessage": "slow down"})
            else:
                shard = shard_of(record["PartitionKey"])
                self.accepted.append((shard, record["Data"]))
                results.append({"ShardId": shard, "SequenceNumber": str(len(self.accepted))})
        return {"FailedRecordCount": sum(1 for r in results if "ErrorCode" in r), "Records": results}


def events(n):
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            out.append(f.line(f.pos_sale(event_id=f"p{i}", store_id=f"ST{i % 7:04d}")))
        elif kind == 1:
            out.append(f.line(f.click(event_id=f"c{i}", session_id=f"s{i % 11}")))
        else:
            out.append(f.line(f.inventory(event_id=f"i{i}", store_id=f"ST{i % 5:04d}")))
    out.append(b"{broken json")
    return out


def delivered(fake):
    return [user for _, data in fake.accepted for user in deaggregate(data)]


def test_partition_key_by_store_then_session_then_hash():
    assert partition_key_for(f.line(f.pos_sale())) == "ST0001"
    assert partition_key_for(f.line(f.click())) == "sess-1"
    assert partition_key_for(b"{broken").startswith("unkeyed-")
    assert partition_key_for(f.line(f.pos_sale(store_id=12))) == "evt-pos-1"


def test_every_event_delivered_once_aggregated_and_on_its_partition_keys_shard():
    lines = events(3000)
    fake = FakeKinesis()
    report = KinesisProducer(fake, "s", aggregate_max_bytes=8 * 1024, sleep=lambda s: None).send(lines)
    assert collections.Counter(delivered(fake)) == collections.Counter(lines)
    assert report.events == len(lines) and report.kinesis_records == len(fake.accepted)
    assert report.events / report.kinesis_records > 10
    assert all(is_aggregated(data) for _, data in fake.accepted)
    for shard, data in fake.accepted:
        assert {shard_of(partition_key_for(u)) for u in deaggregate(data)} == {shard}


def test_partially_failed_put_records_retries_only_the_failed_entries():
    lines = events(2000)
    failing = {(0, 1), (0, 3), (1, 0)}  # (call, entry index)
    fake = FakeKinesis(lambda call, i: "ProvisionedThroughputExceededException" if (call, i) in failing else None)
    sleeps = []
    report = KinesisProducer(fake, "s", aggregate_max_bytes=4 * 1024, sleep=sleeps.append,
                             rng=random.Random(0)).send(lines)
    first_call = fake.calls[0]
    retry_call = fake.calls[1]
    assert [r["Data"] for r in retry_call] == [first_call[1]["Data"], first_call[3]["Data"]]
    assert len(fake.calls) == 3 and [r["Data"] for r in fake.calls[2]] == [retry_call[0]["Data"]]
    assert collections.Counter(delivered(fake)) == collections.Counter(lines)  # nothing lost, nothing twice
    assert report.retried_entries == 3 and len(sleeps) == 2
    assert all(0 <= s <= 0.1 for s in sleeps)


def test_entries_still_failing_after_max_attempts_raise_with_counts():
    fake = FakeKinesis(lambda call, i: "InternalFailure" if i == 0 else None)
    producer = KinesisProducer(fake, "s", max_attempts=3, sleep=lambda s: None)
    with pytest.raises(ProducerError, match=r"1 Kinesis records \(\d+ events\) were not delivered: after 3 attempts"):
        producer.send(events(30))


def test_a_permanent_error_stops_at_once_and_says_what_was_acknowledged():
    fake = FakeKinesis(lambda call, i: "KMSAccessDeniedException" if i == 1 else None)
    sleeps = []
    producer = KinesisProducer(fake, "s", aggregate_max_bytes=2 * 1024, sleep=sleeps.append)
    with pytest.raises(ProducerError, match=r"KMSAccessDeniedException.*do not go away.*events were acknowledged"):
        producer.send(events(300))
    assert len(fake.calls) == 1 and sleeps == []


def test_oversized_line_travels_alone_and_too_big_line_is_refused():
    fake = FakeKinesis()
    big = f.line(f.click(search_query="x" * 200, page_url="https://e.com/" + "p" * 1800))
    KinesisProducer(fake, "s", aggregate_max_bytes=1024, sleep=lambda s: None).send([big])
    assert fake.accepted[0][1] == big and not is_aggregated(big)
    with pytest.raises(ProducerError, match="1 MiB"):
        KinesisProducer(fake, "s", sleep=lambda s: None).send([b"x" * (1024 * 1024 + 1)])
