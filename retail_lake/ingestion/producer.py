"""A high-throughput Kinesis producer: KPL aggregation, shard-aware batching, retries of failed entries only.

- Events are partitioned by store (`store_id`); events without a store (clickstream) by `session_id`,
  then `event_id`; a line that is not even JSON by a hash of its bytes. Lines are sent as they are.
- User records are aggregated per shard (the KPL's rule: only records that hash to the same shard share
  a Kinesis record) up to `aggregate_max_bytes`, so a Kinesis record carries many events.
- PutRecords requests stay within the API limits (500 records, 5 MiB including partition keys).
- When a PutRecords response reports failed entries, only those entries are sent again, with
  exponential backoff and full jitter; entries that succeeded are never re-sent, so nothing is
  duplicated. An entry still failing after `max_attempts` raises `ProducerError` naming how many
  events were not delivered: nothing is dropped silently.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import random
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import msgspec

from retail_lake.ingestion.kpl import MAX_BYTES_PER_RECORD, RecordAggregator

log = logging.getLogger(__name__)

PUT_RECORDS_MAX_ENTRIES = 500
PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_AGGREGATE_MAX_BYTES = 50 * 1024  # the KPL's default AggregationMaxSize
# Per-entry errors worth retrying; any other (KMSAccessDeniedException, KMSDisabledException, ...) will not
# go away by itself and stops the send at once.
RETRYABLE_ERRORS = frozenset({"ProvisionedThroughputExceededException", "InternalFailure", "KMSThrottlingException"})


class ProducerError(RuntimeError):
    pass


class _Keys(msgspec.Struct):
    store_id: object = None
    session_id: object = None
    event_id: object = None


_KEYS_DECODER = msgspec.json.Decoder(_Keys)


def partition_key_for(line: bytes) -> str:
    """Partition key of one event line: store, else session, else event id, else a hash of the bytes."""
    try:
        keys = _KEYS_DECODER.decode(line)
    except msgspec.DecodeError:
        keys = None
    if keys is not None:
        for value in (keys.store_id, keys.session_id, keys.event_id):
            if isinstance(value, str) and 0 < len(value) <= 256:
                return value
    return "unkeyed-" + hashlib.md5(line, usedforsecurity=False).hexdigest()[:16]


def _hash_key(partition_key: str) -> int:
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8"), usedforsecurity=False).digest(), "big")


@dataclass
class _Entry:
    data: bytes
    partition_key: str
    events: int

    @property
    def size(self) -> int:
        return len(self.data) + len(self.partition_key.encode("utf-8"))


@dataclass
class ProducerReport:
    events: int = 0
    acknowledged_events: int = 0
    kinesis_records: int = 0
    put_records_calls: int = 0
    retried_entries: int = 0
    throttled_entries: int = 0
    seconds: float = 0.0
    bytes: int = 0

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {
            "events": self.events,
            "kinesis_records": self.kinesis_records,
            "put_records_calls": self.put_records_calls,
            "retried_entries": self.retried_entries,
            "seconds": round(self.seconds, 3),
            "events_per_s": round(self.events_per_s, 1),
            "events_per_kinesis_record": round(self.events / self.kinesis_records, 1) if self.kinesis_records else 0,
        }


class KinesisProducer:
    def __init__(
        self,
        kinesis_client,
        stream_name: str,
        *,
        aggregate_max_bytes: int = DEFAULT_AGGREGATE_MAX_BYTES,
        max_attempts: int = 8,
        base_backoff_s: float = 0.05,
        max_backoff_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not 1024 <= aggregate_max_bytes <= MAX_BYTES_PER_RECORD:
            raise ValueError(f"aggregate_max_bytes must be between 1 KiB and 1 MiB, got {aggregate_max_bytes}")
        self._client = kinesis_client
        self._stream = stream_name
        self._aggregate_max_bytes = aggregate_max_bytes
        self._max_attempts = max_attempts
        self._base_backoff = base_backoff_s
        self._max_backoff = max_backoff_s
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._shard_starts, self._shard_ids = self._shard_map()

    def _shard_map(self) -> tuple[list[int], list[str]]:
        shards, token = [], None
        while True:
            kwargs = {"NextToken": token} if token else {"StreamName": self._stream}
            page = self._client.list_shards(**kwargs)
            shards.extend(s for s in page["Shards"] if "EndingSequenceNumber" not in s["SequenceNumberRange"])
            token = page.get("NextToken")
            if not token:
                break
        if not shards:
            raise ProducerError(f"stream {self._stream} has no open shards")
        shards.sort(key=lambda s: int(s["HashKeyRange"]["StartingHashKey"]))
        return [int(s["HashKeyRange"]["StartingHashKey"]) for s in shards], [s["ShardId"] for s in shards]

    def _shard_index(self, partition_key: str) -> int:
        return bisect.bisect_right(self._shard_starts, _hash_key(partition_key)) - 1

    # ------------------------------------------------------------------------------------------ send

    def send(self, lines: Iterable[bytes], *, progress: Callable[[int], None] | None = None) -> ProducerReport:
        """Send every line as one event; returns when every event is acknowledged by Kinesis."""
        report = ProducerReport()
        started = time.perf_counter()
        aggregators: dict[int, RecordAggregator] = {}
        counts: dict[int, int] = {}
        pending: list[_Entry] = []
        pending_bytes = 0

        def enqueue(entry: _Entry) -> None:
            nonlocal pending_bytes
            if len(pending) >= PUT_RECORDS_MAX_ENTRIES or pending_bytes + entry.size > PUT_RECORDS_MAX_BYTES:
                self._put_all(pending, report, progress)
                pending.clear()
                pending_bytes = 0
            pending.append(entry)
            pending_bytes += entry.size

        for line in lines:
            partition_key = partition_key_for(line)
            report.events += 1
            report.bytes += len(line)
            if len(line) + len(partition_key) + 64 > self._aggregate_max_bytes:
                # Too big to share a record: it travels alone, as an ordinary (non-aggregated) record.
                if len(line) + len(partition_key.encode()) > MAX_BYTES_PER_RECORD:
                    raise ProducerError(
                        f"event {report.events} is {len(line)} bytes; Kinesis records are limited to 1 MiB"
                    )
                enqueue(_Entry(line, partition_key, 1))
                continue
            shard = self._shard_index(partition_key)
            aggregator = aggregators.get(shard)
            if aggregator is None:
                aggregator = aggregators[shard] = RecordAggregator(max_size=self._aggregate_max_bytes)
            full = aggregator.add_user_record(partition_key, line)
            if full is None:
                counts[shard] = counts.get(shard, 0) + 1
            else:  # `full` holds the records before this one; this one starts the next aggregate
                full_key, _, data = full.get_contents()
                enqueue(_Entry(data, full_key, counts[shard]))
                counts[shard] = 1
        for shard, aggregator in aggregators.items():
            record = aggregator.clear_and_get()
            if record is not None:
                partition_key, _, data = record.get_contents()
                enqueue(_Entry(data, partition_key, counts.pop(shard)))
        if pending:
            self._put_all(pending, report, progress)
        report.seconds = time.perf_counter() - started
        return report

    def _put_all(self, entries: list[_Entry], report: ProducerReport, progress) -> None:
        remaining = list(entries)
        attempt = 0
        while remaining:
            attempt += 1
            report.put_records_calls += 1
            response = self._client.put_records(
                StreamName=self._stream,
                Records=[{"Data": e.data, "PartitionKey": e.partition_key} for e in remaining],
            )
            failed: list[_Entry] = []
            errors: dict[str, int] = {}
            for entry, result in zip(remaining, response["Records"]):
                if "ErrorCode" in result and result["ErrorCode"]:
                    failed.append(entry)
                    errors[result["ErrorCode"]] = errors.get(result["ErrorCode"], 0) + 1
                else:
                    report.kinesis_records += 1
                    report.acknowledged_events += entry.events
                    if progress is not None:
                        progress(entry.events)
            if not failed:
                return
            report.throttled_entries += errors.get("ProvisionedThroughputExceededException", 0)
            permanent = sorted(code for code in errors if code not in RETRYABLE_ERRORS)
            if permanent or attempt >= self._max_attempts:
                lost = sum(e.events for e in failed)
                why = f"errors {permanent} do not go away with retries" if permanent else f"after {attempt} attempts"
                raise ProducerError(
                    f"{len(failed)} Kinesis records ({lost} events) were not delivered: {why} (errors: {errors}). "
                    f"{report.acknowledged_events} events were acknowledged before this; the rest of the input "
                    f"was not sent. Sending the whole input again duplicates the acknowledged events in raw "
                    f"(curated drops them by event id)."
                )
            report.retried_entries += len(failed)
            delay = min(self._max_backoff, self._base_backoff * (2 ** (attempt - 1)))
            log.debug("retrying %d failed entries (%s) in up to %.3fs", len(failed), errors, delay)
            self._sleep(self._rng.uniform(0, delay))
            remaining = failed
