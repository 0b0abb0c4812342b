"""Lambda's Kinesis event-source mappings, run by the twin: read each shard with GetShardIterator/GetRecords,
deliver batches to the in-process Lambda runtime, and apply the mapping's settings as Lambda does.

Settings honoured (read back from the endpoint's event-source mapping, so they are the deployed ones):
BatchSize (and Lambda's 6 MB invocation payload), ParallelizationFactor (records of a shard split into lanes by partition-key hash, order kept within a
lane), FunctionResponseTypes=ReportBatchItemFailures (checkpoint at the lowest failed sequence number and retry
from there), function errors (retry the batch; BisectBatchOnFunctionError splits it in halves),
MaximumRetryAttempts (-1: unbounded), MaximumRecordAgeInSeconds, StartingPosition, DestinationConfig.OnFailure
(SQS queue or SNS topic, Lambda's Kinesis failure-record format). MaximumBatchingWindowInSeconds is not waited
for: `drain()` forms batches from whatever the shard holds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from retail_lake.ingestion.redrive import INVOCATION_PAYLOAD_LIMIT, RECORD_ENVELOPE_BYTES, kinesis_event_record
from retail_lake.twin.executors import Executor, register_executor
from retail_lake.twin.executors.lambda_runtime import InvocationResult, LambdaRuntime

log = logging.getLogger(__name__)

RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


class DrainTimeout(TimeoutError):
    pass


@dataclass
class PollerCounters:
    invocations: int = 0
    records_delivered: int = 0  # records in invocations that returned without error
    records_succeeded: int = 0  # records checkpointed past
    function_errors: int = 0
    partial_failures: int = 0  # invocations that reported batch item failures
    retries: int = 0
    bisections: int = 0
    records_discarded: int = 0  # sent to the on-failure destination (or dropped without one)
    on_failure_messages: int = 0

    def add(self, other: PollerCounters) -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)


@dataclass
class _Record:
    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    arrival: datetime


@dataclass
class _Lane:
    records: deque[_Record] = field(default_factory=deque)
    pending_sizes: deque[int] = field(default_factory=deque)  # forced batch sizes after a bisection / retry
    attempts: dict[str, int] = field(default_factory=dict)  # failed invocations per sequence number


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    lanes: list[_Lane]


@dataclass
class _Mapping:
    uuid: str
    function_arn: str
    stream_arn: str
    stream_name: str
    batch_size: int
    parallelization_factor: int
    bisect: bool
    report_item_failures: bool
    max_retry_attempts: int  # -1: until the record expires
    max_record_age: int  # -1: no limit
    on_failure: str | None
    starting_position: str
    starting_timestamp: Any
    role_arn: str = ""
    shards: dict[str, _Shard] = field(default_factory=dict)
    counters: PollerCounters = field(default_factory=PollerCounters)

    @classmethod
    def from_configuration(cls, config: dict[str, Any]) -> _Mapping:
        stream_arn = config["EventSourceArn"]
        return cls(
            uuid=config["UUID"],
            function_arn=config["FunctionArn"],
            stream_arn=stream_arn,
            stream_name=stream_arn.split(":stream/", 1)[1],
            batch_size=int(config.get("BatchSize") or 100),
            parallelization_factor=int(config.get("ParallelizationFactor") or 1),
            bisect=bool(config.get("BisectBatchOnFunctionError", False)),
            report_item_failures="ReportBatchItemFailures" in (config.get("FunctionResponseTypes") or []),
            max_retry_attempts=int(config["MaximumRetryAttempts"]) if config.get("MaximumRetryAttempts") is not None else -1,
            max_record_age=int(config["MaximumRecordAgeInSeconds"]) if config.get("MaximumRecordAgeInSeconds") is not None else -1,
            on_failure=((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"),
            starting_position=config.get("StartingPosition", "TRIM_HORIZON"),
            starting_timestamp=config.get("StartingPositionTimestamp"),
        )


@dataclass
class DrainReport:
    seconds: float
    totals: PollerCounters
    by_mapping: dict[str, PollerCounters]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self.totals), "seconds": round(self.seconds, 2)}


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@register_executor
class KinesisEventSourcePoller(Executor):
    name = "kinesis-event-source"

    def __init__(self, *, max_records_per_fetch: int = 10_000) -> None:
        self.max_records_per_fetch = max_records_per_fetch
        self._mappings: dict[str, _Mapping] = {}
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def attach(self, twin) -> None:
        super().attach(twin)
        self.runtime: LambdaRuntime = twin.executor(LambdaRuntime)
        self._kinesis = twin.client("kinesis")
        self._lambda = twin.client("lambda")

    def close(self) -> None:
        self.stop()

    # ------------------------------------------------------------------ public API
    @property
    def counters(self) -> PollerCounters:
        totals = PollerCounters()
        for mapping in self._mappings.values():
            totals.add(mapping.counters)
        return totals

    def counters_for(self, function_name: str) -> PollerCounters:
        totals = PollerCounters()
        for mapping in self._mappings.values():
            if mapping.function_arn.split(":function:", 1)[1].split(":")[0] == function_name:
                totals.add(mapping.counters)
        return totals

    def drain(self, timeout: float = 60.0, progress: Callable[[int], None] | None = None) -> DrainReport:
        """Poll every enabled Kinesis mapping until each shard is caught up and every lane is empty.
        `progress(n)` is called after each round with the number of Kinesis records newly finished
        (checkpointed or discarded)."""
        started = time.monotonic()
        before = {uuid: PollerCounters(**asdict(m.counters)) for uuid, m in self._mappings.items()}
        with self._lock:
            self.refresh()
            finished = self._finished_records()
            while self._step():
                if progress is not None:
                    now_finished = self._finished_records()
                    if now_finished > finished:
                        progress(now_finished - finished)
                    finished = now_finished
                if time.monotonic() - started > timeout:
                    raise DrainTimeout(
                        f"Kinesis event sources not drained after {timeout:.0f}s: {self.counters} "
                        "(a handler that keeps failing with MaximumRetryAttempts=-1 retries until the record expires)"
                    )
        by_mapping = {}
        for uuid, mapping in self._mappings.items():
            delta = PollerCounters(**asdict(mapping.counters))
            for key, value in asdict(before.get(uuid, PollerCounters())).items():
                setattr(delta, key, getattr(delta, key) - value)
            by_mapping[uuid] = delta
        totals = PollerCounters()
        for delta in by_mapping.values():
            totals.add(delta)
        return DrainReport(time.monotonic() - started, totals, by_mapping)

    def _finished_records(self) -> int:
        return sum(m.counters.records_succeeded + m.counters.records_discarded for m in self._mappings.values())

    def start(self, interval: float = 0.5) -> None:
        """Poll in a background thread (as Lambda does) until `stop()`."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    with self._lock:
                        self.refresh()
                        busy = self._step()
                except Exception:
                    log.exception("Kinesis poller step failed")
                    busy = False
                if not busy:
                    self._stop.wait(interval)

        self._thread = threading.Thread(target=loop, name="twin-kinesis-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=30)
            self._thread = None

    # ------------------------------------------------------------------ mappings and shards
    def refresh(self) -> None:
        """Pick up new or changed event-source mappings and new shards."""
        seen = set()
        for page in self._lambda.get_paginator("list_event_source_mappings").paginate():
            for config in page["EventSourceMappings"]:
                if ":kinesis:" not in config.get("EventSourceArn", "") or config.get("State") != "Enabled":
                    continue
                seen.add(config["UUID"])
                fresh = _Mapping.from_configuration(config)
                known = self._mappings.get(config["UUID"])
                if known is None:
                    fresh.role_arn = self.runtime.function(fresh.function_arn).role
                    self._mappings[fresh.uuid] = fresh
                else:  # settings may have been updated; keep the checkpoint state
                    fresh.shards, fresh.counters, fresh.role_arn = known.shards, known.counters, known.role_arn
                    self._mappings[fresh.uuid] = fresh
        for uuid in set(self._mappings) - seen:
            del self._mappings[uuid]
        for mapping in self._mappings.values():
            for shard in self._kinesis.list_shards(StreamARN=mapping.stream_arn)["Shards"]:
                if shard["ShardId"] not in mapping.shards:
                    mapping.shards[shard["ShardId"]] = _Shard(
                        shard["ShardId"],
                        self._first_iterator(mapping, shard["ShardId"]),
                        [_Lane() for _ in range(mapping.parallelization_factor)],
                    )

    def _first_iterator(self, mapping: _Mapping, shard_id: str) -> str:
        kwargs: dict[str, Any] = {"StreamARN": mapping.stream_arn, "ShardId": shard_id}
        if mapping.starting_position == "AT_TIMESTAMP":
            kwargs.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=mapping.starting_timestamp)
        else:
            kwargs["ShardIteratorType"] = mapping.starting_position
        return self._kinesis.get_shard_iterator(**kwargs)["ShardIterator"]

    def _fetch(self, mapping: _Mapping, shard: _Shard) -> None:
        while shard.iterator:
            # moto 5.2.5 resolves the stream from StreamARN, not from the iterator
            response = self._kinesis.get_records(
                ShardIterator=shard.iterator, StreamARN=mapping.stream_arn, Limit=self.max_records_per_fetch
            )
            shard.iterator = response.get("NextShardIterator")
            records = response.get("Records", [])
            for raw in records:
                record = _Record(shard.shard_id, raw["SequenceNumber"], raw["PartitionKey"], raw["Data"],
                                 raw["ApproximateArrivalTimestamp"])
                shard.lanes[self._lane_index(mapping, record.partition_key)].records.append(record)
            if not records:
                break

    @staticmethod
    def _lane_index(mapping: _Mapping, partition_key: str) -> int:
        if mapping.parallelization_factor == 1:
            return 0
        digest = hashlib.md5(partition_key.encode("utf-8")).hexdigest()
        return int(digest, 16) % mapping.parallelization_factor

    # ------------------------------------------------------------------ processing
    def _step(self) -> bool:
        """Fetch new records, then give every non-empty lane one batch. True if any lane had work."""
        busy = False
        for mapping in list(self._mappings.values()):
            for shard in mapping.shards.values():
                buffered = sum(len(lane.records) for lane in shard.lanes)
                if buffered < mapping.batch_size * mapping.parallelization_factor:
                    self._fetch(mapping, shard)
                for lane in shard.lanes:
                    if lane.records:
                        busy = True
                        self._process(mapping, shard, lane)
        return busy

    def _process(self, mapping: _Mapping, shard: _Shard, lane: _Lane) -> None:
        if self._discard_expired(mapping, shard, lane):
            return
        size = lane.pending_sizes.popleft() if lane.pending_sizes else mapping.batch_size
        batch = _within_payload_limit(lane.records, min(size, len(lane.records)))
        result = self.runtime.invoke(mapping.function_arn, self._event(mapping, batch))
        mapping.counters.invocations += 1
        if result.failed:
            mapping.counters.function_errors += 1
            self._failed(mapping, shard, lane, batch, result, bisectable=True)
            return
        mapping.counters.records_delivered += len(batch)
        failed_at = self._first_failed_index(mapping, batch, result)
        if failed_at is None:
            self._commit(mapping, lane, len(batch))
            return
        mapping.counters.partial_failures += 1
        self._commit(mapping, lane, failed_at)
        self._failed(mapping, shard, lane, batch[failed_at:], result, bisectable=False)

    def _first_failed_index(self, mapping: _Mapping, batch: list[_Record], result: InvocationResult) -> int | None:
        """Index of the lowest failed record, or None when the batch succeeded. An unusable response counts as
        a failure of the whole batch, as Lambda treats it."""
        if not mapping.report_item_failures or not isinstance(result.payload, dict):
            return None
        failures = result.payload.get("batchItemFailures")
        if not failures:
            return None
        positions = {r.sequence_number: i for i, r in enumerate(batch)}
        indexes = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if identifier not in positions:
                log.warning("%s reported batchItemFailures item %r not in the batch: retrying the whole batch",
                            mapping.function_arn, identifier)
                return 0
            indexes.append(positions[identifier])
        return min(indexes)

    def _commit(self, mapping: _Mapping, lane: _Lane, count: int) -> None:
        for _ in range(count):
            record = lane.records.popleft()
            lane.attempts.pop(record.sequence_number, None)
        mapping.counters.records_succeeded += count

    def _failed(self, mapping: _Mapping, shard: _Shard, lane: _Lane, failed: list[_Record],
                result: InvocationResult, *, bisectable: bool) -> None:
        for record in failed:
            lane.attempts[record.sequence_number] = lane.attempts.get(record.sequence_number, 0) + 1
        attempts = lane.attempts[failed[0].sequence_number]
        if 0 <= mapping.max_retry_attempts < attempts:
            self._discard(mapping, shard, lane, failed, RETRY_ATTEMPTS_EXHAUSTED, attempts, result)
            return
        mapping.counters.retries += 1
        if bisectable and mapping.bisect and len(failed) > 1:
            mapping.counters.bisections += 1
            half = len(failed) // 2
            lane.pending_sizes.appendleft(len(failed) - half)
            lane.pending_sizes.appendleft(half)
        elif bisectable:
            lane.pending_sizes.appendleft(len(failed))
        # a partial failure retries from the failed record with the mapping's batch size

    def _discard_expired(self, mapping: _Mapping, shard: _Shard, lane: _Lane) -> bool:
        if mapping.max_record_age < 0:
            return False
        now = datetime.now(timezone.utc)
        expired = []
        for record in lane.records:
            if (now - record.arrival).total_seconds() <= mapping.max_record_age:
                break
            expired.append(record)
        if expired:
            lane.pending_sizes.clear()
            attempts = max(lane.attempts.get(r.sequence_number, 0) for r in expired)
            self._discard(mapping, shard, lane, expired, RECORD_AGE_EXCEEDED, attempts, None)
        return bool(expired)

    def _discard(self, mapping: _Mapping, shard: _Shard, lane: _Lane, records: list[_Record], condition: str,
                 attempts: int, result: InvocationResult | None) -> None:
        for record in records:
            assert lane.records[0] is record, "discarded records are always at the head of their lane"
            lane.records.popleft()
            lane.attempts.pop(record.sequence_number, None)
        mapping.counters.records_discarded += len(records)
        log.warning("%s: %d records of %s/%s discarded (%s)", mapping.function_arn, len(records),
                    mapping.stream_name, shard.shard_id, condition)
        if mapping.on_failure:
            self._send_on_failure(mapping, shard, records, condition, attempts, result)
            mapping.counters.on_failure_messages += 1

    # ------------------------------------------------------------------ payloads
    def _event(self, mapping: _Mapping, batch: list[_Record]) -> dict[str, Any]:
        return {
            "Records": [
                kinesis_event_record(
                    shard_id=r.shard_id, sequence_number=r.sequence_number, partition_key=r.partition_key,
                    data=r.data, arrival_timestamp=r.arrival.timestamp(), stream_arn=mapping.stream_arn,
                    region=self.twin.region, invoke_identity_arn=mapping.role_arn,
                )
                for r in batch
            ]
        }

    def on_failure_record(self, mapping: _Mapping, shard: _Shard, records: list[_Record], condition: str,
                          attempts: int, result: InvocationResult | None) -> dict[str, Any]:
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if result is not None and result.failed:
            response_context["functionError"] = "Unhandled"
        return {
            "requestContext": {
                "requestId": result.request_id if result else None,
                "functionArn": mapping.function_arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": response_context,
            "version": "1.0",
            "timestamp": _iso(datetime.now(timezone.utc)),
            "KinesisBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": records[0].sequence_number,
                "endSequenceNumber": records[-1].sequence_number,
                "approximateArrivalOfFirstRecord": _iso(records[0].arrival),
                "approximateArrivalOfLastRecord": _iso(records[-1].arrival),
                "batchSize": len(records),
                "streamArn": mapping.stream_arn,
            },
        }

    def _send_on_failure(self, mapping: _Mapping, shard: _Shard, records: list[_Record], condition: str,
                         attempts: int, result: InvocationResult | None) -> None:
        message = json.dumps(self.on_failure_record(mapping, shard, records, condition, attempts, result))
        destination = mapping.on_failure
        service, account = destination.split(":")[2], destination.split(":")[4]
        if service == "sqs":
            sqs = self.twin.client("sqs")
            url = sqs.get_queue_url(QueueName=destination.rsplit(":", 1)[1], QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=message)
        elif service == "sns":
            self.twin.client("sns").publish(TopicArn=destination, Message=message)
        else:
            log.error("on-failure destination %s is not supported by the twin (SQS or SNS)", destination)


def _within_payload_limit(records, size: int) -> list:
    """A Kinesis event source hands a function fewer records than its BatchSize when the records' base64
    data would not fit in Lambda's invocation payload limit."""
    batch, total = [], 16
    for index in range(size):
        record = records[index]
        cost = 4 * -(-len(record.data) // 3) + RECORD_ENVELOPE_BYTES
        if batch and total + cost > INVOCATION_PAYLOAD_LIMIT:
            break
        batch.append(record)
        total += cost
    return batch
