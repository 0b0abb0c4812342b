"""Process one dropped CSV file: check it against its feed, split good rows from bad ones, and make the result
exactly-once through a manifest.

    outcome = parse_file(feed, key, body)     # pure: rows typed per the feed, rejects with reason and line
    process_object(s3, buckets, key)          # S3 I/O around it, skipping a file the manifest has seen

Exactly once: a file is identified by the SHA-256 of its bytes. Its curated and quarantine object keys derive from
that digest, so processing it again rewrites the same objects; the manifest entry
(`file_drops/_manifest/<sha256>.json` in curated) is written last, with a conditional put (`If-None-Match: *`),
and a file whose entry exists is skipped. A resend of the same bytes, under any name, is not processed again.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from retail_lake.sources.file_drops.feeds import Feed, FieldError, feed_of_key

MANIFEST_PREFIX = "file_drops/_manifest/"
CURATED_PREFIX = "file_drops/"
QUARANTINE_PREFIX = "file_drops/"
MAX_FILE_BYTES = 200 * 1024 * 1024


@dataclass
class Reject:
    line: int  # 1-based line of the file (the header is line 1)
    reason: str  # bad_header, wrong_field_count, invalid_value, duplicate_key, not_utf8
    detail: str
    raw: str


@dataclass
class ParsedFile:
    feed: Feed
    key: str
    sha256: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=self.feed.arrow_schema)


def parse_file(feed: Feed, key: str, body: bytes) -> ParsedFile:
    parsed = ParsedFile(feed, key, hashlib.sha256(body).hexdigest())
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        parsed.rejects.append(Reject(0, "not_utf8", f"the file is not UTF-8: {error}", ""))
        return parsed
    lines = text.splitlines()
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != feed.header:
        parsed.rejects += [Reject(i + 1, "bad_header", f"expected the header {','.join(feed.header)}; got "
                                  f"{','.join(header or [])!r}: the whole file is quarantined", line)
                           for i, line in enumerate(lines)]
        return parsed
    seen: set[tuple[Any, ...]] = set()
    for index, fields in enumerate(reader, start=2):
        raw = lines[index - 1] if index - 1 < len(lines) else ""
        if not fields or all(not f.strip() for f in fields):
            continue  # blank lines carry nothing
        if len(fields) != len(feed.columns):
            parsed.rejects.append(Reject(index, "wrong_field_count",
                                         f"{len(fields)} fields, expected {len(feed.columns)}", raw))
            continue
        row: dict[str, Any] = {}
        try:
            for column, value in zip(feed.columns, fields):
                try:
                    row[column.name] = column.parse(value)
                except FieldError as error:
                    raise FieldError(f"{column.name} {error}") from None
        except FieldError as error:
            parsed.rejects.append(Reject(index, "invalid_value", str(error), raw))
            continue
        key_values = tuple(row[k] for k in feed.keys)
        if key_values in seen:
            parsed.rejects.append(Reject(index, "duplicate_key",
                                         f"{', '.join(feed.keys)} {key_values} already appears in this file", raw))
            continue
        seen.add(key_values)
        parsed.rows.append({**row, "source_file": key, "source_line": index})
    return parsed


def output_keys(parsed: ParsedFile) -> tuple[str, str, str]:
    """(curated key, quarantine key, manifest key) of a file: functions of its feed and digest only."""
    feed, digest = parsed.feed.name, parsed.sha256
    return (f"{CURATED_PREFIX}{feed}/{digest}.parquet", f"{QUARANTINE_PREFIX}{feed}/{digest}.jsonl",
            f"{MANIFEST_PREFIX}{digest}.json")


@dataclass(frozen=True)
class Buckets:
    landing: str
    curated: str
    quarantine: str


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def process_object(s3: Any, buckets: Buckets, key: str) -> dict[str, Any]:
    """Process `landing` bucket object `key` once; returns what happened (`status`: processed, duplicate,
    ignored)."""
    feed = feed_of_key(key)
    if feed is None:
        return {"key": key, "status": "ignored", "reason": "not under landing/<feed>/ of a known feed"}
    head = s3.head_object(Bucket=buckets.landing, Key=key)
    if head["ContentLength"] > MAX_FILE_BYTES:
        raise ValueError(f"{key}: {head['ContentLength']} bytes is over the {MAX_FILE_BYTES} byte limit of one drop; "
                         "split the file")
    body = s3.get_object(Bucket=buckets.landing, Key=key)["Body"].read()
    parsed = parse_file(feed, key, body)
    curated_key, quarantine_key, manifest_key = output_keys(parsed)
    if _exists(s3, buckets.curated, manifest_key):
        return {"key": key, "status": "duplicate", "sha256": parsed.sha256}
    if parsed.rows:
        sink = io.BytesIO()
        pq.write_table(parsed.table(), sink)
        s3.put_object(Bucket=buckets.curated, Key=curated_key, Body=sink.getvalue())
    if parsed.rejects:
        lines = [json.dumps({"file": key, "line": r.line, "reason": r.reason, "detail": r.detail, "raw": r.raw})
                 for r in parsed.rejects]
        s3.put_object(Bucket=buckets.quarantine, Key=quarantine_key, Body=("\n".join(lines) + "\n").encode())
    entry = {"key": key, "sha256": parsed.sha256, "feed": feed.name, "rows": len(parsed.rows),
             "rejected": len(parsed.rejects), "processed_at": dt.datetime.now(dt.timezone.utc).isoformat(),
             "curated_key": curated_key if parsed.rows else None,
             "quarantine_key": quarantine_key if parsed.rejects else None}
    try:
        s3.put_object(Bucket=buckets.curated, Key=manifest_key, Body=json.dumps(entry).encode(), IfNoneMatch="*")
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] not in ("PreconditionFailed", "ConditionalRequestConflict"):
            raise
        return {"key": key, "status": "duplicate", "sha256": parsed.sha256}  # a concurrent run won; same output
    return {"status": "processed", **entry}
