"""Reconciliation of the streaming path: every produced event is in exactly one place.

    produced = rows in raw (all datasets) + entries in quarantine (all reasons)

Duplicates (the same event id delivered twice by a source) are rows in raw; they are counted here and
dropped in curated. Batches that exhausted their retries are listed by the on-failure queue; any such
batch means the counts cannot add up, and the reconciliation says so.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq


@dataclass
class LakeCounts:
    raw: Counter = field(default_factory=Counter)  # dataset -> rows
    raw_distinct: Counter = field(default_factory=Counter)  # dataset -> distinct event ids
    quarantined: Counter = field(default_factory=Counter)  # reason -> entries
    raw_objects: int = 0
    quarantine_objects: int = 0
    failed_batches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def raw_total(self) -> int:
        return sum(self.raw.values())

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    @property
    def duplicates(self) -> int:
        return self.raw_total - sum(self.raw_distinct.values())


def _objects(s3, bucket: str, prefix: str = ""):
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            yield obj["Key"]


def count_lake(s3, *, raw_bucket: str, quarantine_bucket: str, sqs=None, on_failure_queue_url: str | None = None,
               datasets: tuple[str, ...] | None = None) -> LakeCounts:
    counts = LakeCounts()
    ids: dict[str, set[str]] = {}
    for key in _objects(s3, raw_bucket):
        if not key.endswith(".parquet"):
            continue
        dataset = key.split("/", 1)[0]
        if datasets is not None and dataset not in datasets:
            continue
        body = s3.get_object(Bucket=raw_bucket, Key=key)["Body"].read()
        event_ids = pq.read_table(io.BytesIO(body), columns=["event_id"]).column("event_id").to_pylist()
        counts.raw[dataset] += len(event_ids)
        ids.setdefault(dataset, set()).update(event_ids)
        counts.raw_objects += 1
    for dataset, distinct in ids.items():
        counts.raw_distinct[dataset] = len(distinct)
    for key in _objects(s3, quarantine_bucket, "stream/"):
        body = s3.get_object(Bucket=quarantine_bucket, Key=key)["Body"].read()
        for line in body.splitlines():
            if line.strip():
                counts.quarantined[json.loads(line)["reason"]] += 1
        counts.quarantine_objects += 1
    if sqs is not None and on_failure_queue_url:
        while True:
            messages = sqs.receive_message(
                QueueUrl=on_failure_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30
            ).get("Messages", [])
            if not messages:
                break
            counts.failed_batches.extend(json.loads(m["Body"]) for m in messages)
    return counts


@dataclass
class Reconciliation:
    produced: int
    lake: LakeCounts
    expected: dict[str, Any] | None = None  # what the generator says should happen, when known
    problems: list[str] = field(default_factory=list)

    def check(self) -> "Reconciliation":
        self.problems.clear()
        landed = self.lake.raw_total + self.lake.quarantined_total
        if landed != self.produced:
            self.problems.append(
                f"produced {self.produced} events but raw ({self.lake.raw_total}) + quarantine "
                f"({self.lake.quarantined_total}) hold {landed}: {self.produced - landed:+d} unaccounted"
            )
        if self.lake.failed_batches:
            self.problems.append(
                f"{len(self.lake.failed_batches)} batch(es) exhausted their retries and went to the on-failure queue"
            )
        if self.expected is not None:
            if self.lake.raw_total != self.expected.get("raw"):
                self.problems.append(f"raw holds {self.lake.raw_total} rows, expected {self.expected.get('raw')}")
            expected_q = {k: v for k, v in (self.expected.get("quarantined") or {}).items() if v}
            if dict(self.lake.quarantined) != expected_q:
                self.problems.append(f"quarantine by reason {dict(self.lake.quarantined)}, expected {expected_q}")
            if self.lake.duplicates != self.expected.get("duplicates"):
                self.problems.append(
                    f"{self.lake.duplicates} duplicate rows in raw, expected {self.expected.get('duplicates')}"
                )
        return self

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> dict[str, Any]:
        return {
            "produced": self.produced,
            "raw": self.lake.raw_total,
            "raw_by_dataset": dict(sorted(self.lake.raw.items())),
            "quarantined": dict(sorted(self.lake.quarantined.items())),
            "quarantined_total": self.lake.quarantined_total,
            "duplicates": self.lake.duplicates,
            "failed_batches": len(self.lake.failed_batches),
            "reconciled": self.ok,
            "problems": list(self.problems),
        }
