"""Fixtures for the integration tests: a synthesized fixture app (once per session) and twins.

The twin runs moto in this process unless RETAIL_LAKE_ENDPOINT_URL points at another endpoint (LocalStack):
see localstack/README.md. Twins are module-scoped: the twin sets AWS_ENDPOINT_URL for the whole process while
it runs, and unit tests collected after this package must not inherit it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from retail_lake.twin import Twin

FIXTURES_DIR = Path(__file__).parent / "fixtures"
FIXTURE_STORAGE = "TwinFixture-Storage"
FIXTURE_INGESTION = "TwinFixture-Ingestion"


@pytest.fixture(scope="session")
def fixture_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture CDK app (tests/integration/fixtures/streaming_app) synthesized to a cloud assembly."""
    sys.path.insert(0, str(FIXTURES_DIR))
    try:
        from streaming_app.app import build_app
    finally:
        sys.path.remove(str(FIXTURES_DIR))
    outdir = tmp_path_factory.mktemp("fixture-cdk.out")
    build_app(str(outdir))
    return outdir


@pytest.fixture(scope="module")
def deployed_twin(fixture_assembly: Path) -> Iterator[Twin]:
    """A twin with the fixture app deployed, shared by the tests of one module."""
    with Twin() as twin:
        twin.deploy(fixture_assembly)
        yield twin


def settle(twin: Twin, done: Callable[[], bool], timeout: float = 60.0) -> None:
    """Let the event-source mappings work: drain the in-process poller on the embedded twin; on an external
    endpoint (LocalStack runs the mappings itself) wait until `done()`. See `Twin.settle`."""
    twin.settle(done, timeout=timeout)


def read_json_objects(twin: Twin, bucket: str, prefix: str) -> list[Any]:
    """Objects under `prefix`, in key order (the fixture handlers prefix keys with a nanosecond clock)."""
    s3 = twin.client("s3")
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return [json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) for key in sorted(keys)]


def on_failure_messages(twin: Twin, queue_url: str) -> list[dict[str, Any]]:
    """Every message currently in the on-failure queue (received, then left to become visible again)."""
    sqs = twin.client("sqs")
    messages: dict[str, dict[str, Any]] = {}
    for _ in range(10):
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        new = [m for m in batch if m["MessageId"] not in messages]
        if not new:
            break
        messages.update({m["MessageId"]: json.loads(m["Body"]) for m in new})
    return list(messages.values())
