"""Stream-transform throughput: the real handler against a naive baseline, on one core, same events.

- handler: `lambdas/stream_transform/handler.py` exactly as deployed, invoked with Kinesis events whose
  records are KPL-aggregated, 10,000 events per invocation, writing to S3 (a moto server in another
  process on 127.0.0.1, on another core: as in Lambda, S3 is not in the handler's process).
- baseline: what a first implementation would do: the library's per-record deaggregation, `json.loads`
  per event, a pydantic model per event, and one S3 object per event, into the same S3.
- memory: peak RSS of a fresh process that imports the handler and processes one 10,000-event batch
  (S3 and Secrets Manager stubbed in memory, as in Lambda where neither runs in the process).

Run: `retail-lake bench stream [--json]` or `python -m bench.stream`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import importlib
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SECRET_STRING = "benchmark-pseudonymization-key-0123456789abcdef"
CONTEXT = SimpleNamespace(
    function_name="stream-transform", function_version="$LATEST", memory_limit_in_mb=1024,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:stream-transform",
    aws_request_id="bench", get_remaining_time_in_millis=lambda: 900_000,
)
ENV = {
    "RAW_BUCKET": "bench-raw",
    "QUARANTINE_BUCKET": "bench-quarantine",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "RetailLakeBench",
    "POWERTOOLS_SERVICE_NAME": "stream-transform",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "LOG_LEVEL": "WARNING",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
}


def pin_to_one_core() -> int:
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


@contextlib.contextmanager
def s3_server(avoid_cpu: int):
    """A moto server in its own process on 127.0.0.1 (another core when there is one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    others = sorted(set(range(os.cpu_count() or 1)) - {avoid_cpu}) or [avoid_cpu]
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.sched_setaffinity(0, set(others)),
    )
    endpoint = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the moto server for the benchmark did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def event_lines(events: int, seed: int) -> list[bytes]:
    from retail_lake.generator import GeneratorConfig, generate

    return list(generate(GeneratorConfig(events=events, seed=seed)))


def kinesis_batches(lines: list[bytes], batch_events: int) -> list[dict[str, Any]]:
    """Lambda Kinesis events of about `batch_events` events each, from KPL-aggregated records."""
    from retail_lake.ingestion.kpl import RecordAggregator
    from retail_lake.ingestion.producer import DEFAULT_AGGREGATE_MAX_BYTES, partition_key_for

    records: list[tuple[bytes, int]] = []
    aggregator = RecordAggregator(max_size=DEFAULT_AGGREGATE_MAX_BYTES)
    count = 0
    for line in lines:
        full = aggregator.add_user_record(partition_key_for(line), line)
        if full is not None:
            records.append((full.get_contents()[2], count))
            count = 0
        count += 1
    last = aggregator.clear_and_get()
    if last is not None:
        records.append((last.get_contents()[2], count))
    batches, current, in_batch, sequence = [], [], 0, 49_600_000_000_000_000_000
    arrival = dt.datetime(2026, 11, 3, 12, tzinfo=dt.timezone.utc).timestamp()
    for data, n in records:
        sequence += 1
        current.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "bench",
                    "sequenceNumber": str(sequence),
                    "data": base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": arrival,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/bench",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/bench",
            }
        )
        in_batch += n
        if in_batch >= batch_events:
            batches.append({"Records": current, "events": in_batch})
            current, in_batch = [], 0
    if current:
        batches.append({"Records": current, "events": in_batch})
    return batches


def _import_handler():
    sys.path.insert(0, str(REPO_ROOT))
    sys.modules.pop("lambdas.stream_transform.handler", None)
    return importlib.import_module("lambdas.stream_transform.handler")


def measure_handler(batches: list[dict[str, Any]]) -> dict[str, float]:
    handler = _import_handler()
    handler.handler({"Records": batches[0]["Records"]}, CONTEXT)  # warm: imports, secret cache
    started = time.perf_counter()
    cpu_started = time.process_time()
    events = 0
    for batch in batches:
        response = handler.handler({"Records": batch["Records"]}, CONTEXT)
        assert not response["batchItemFailures"], response
        events += batch["events"]
    seconds = time.perf_counter() - started
    return {"events": events, "seconds": seconds, "cpu_seconds": time.process_time() - cpu_started}


def measure_handler_compute(batches: list[dict[str, Any]]) -> dict[str, float]:
    """The same handler with its S3 client replaced by an in-memory one: the transform's own cost, without
    the HTTP round trips (which in Lambda are network time, not the function's CPU)."""
    handler = _import_handler()
    handler.s3 = _MemoryS3()
    handler.handler({"Records": batches[0]["Records"]}, CONTEXT)
    started = time.perf_counter()
    events = 0
    for batch in batches:
        handler.handler({"Records": batch["Records"]}, CONTEXT)
        events += batch["events"]
    return {"events": events, "seconds": time.perf_counter() - started}


def measure_baseline(batches: list[dict[str, Any]], max_events: int) -> dict[str, float]:
    """Naive implementation: per-record library deaggregation, json.loads and pydantic per event,
    one S3 object per event."""
    import boto3
    import pydantic
    from aws_kinesis_agg.deaggregator import deaggregate_records

    from bench.naive_models import MODELS

    s3 = boto3.client("s3")
    events = 0
    started = time.perf_counter()
    for batch in batches:
        for record in deaggregate_records(batch["Records"]):
            data = base64.b64decode(record["kinesis"]["data"])
            events += 1
            try:
                document = json.loads(data)
                model = MODELS[document.get("record_type")]
                event = model.model_validate(document)
                body = event.model_dump_json().encode()
                key = f"naive/{event.record_type}/{event.event_id}-{record['kinesis']['sequenceNumber']}"
                s3.put_object(Bucket=ENV["RAW_BUCKET"], Key=key, Body=body)
            except (ValueError, KeyError, TypeError, AttributeError, pydantic.ValidationError) as error:
                key = f"naive/{record['kinesis']['sequenceNumber']}-{events}"
                s3.put_object(Bucket=ENV["QUARANTINE_BUCKET"], Key=key, Body=str(error).encode())
            if events >= max_events:
                return {"events": events, "seconds": time.perf_counter() - started}
    return {"events": events, "seconds": time.perf_counter() - started}


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries that across execve, so a
    child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _MemoryS3:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict:  # noqa: N803 - boto3 names
        self.objects[(Bucket, Key)] = Body
        return {}


def memory_probe(batch_file: Path) -> dict[str, float]:
    """Runs in a fresh process: peak RSS of processing one batch, with nothing but the handler and the
    batch's Lambda event loaded (as in a Lambda container)."""
    for key, value in ENV.items():
        os.environ.setdefault(key, value)
    os.environ["PSEUDONYMIZATION_SECRET_ARN"] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench"
    handler = _import_handler()
    handler.s3 = _MemoryS3()
    handler.secrets.get = lambda name, **_: SECRET_STRING  # Secrets Manager stands outside the process
    batch = json.loads(batch_file.read_bytes())
    before = _peak_rss_mb()
    handler.handler({"Records": batch["Records"]}, CONTEXT)
    peak = _peak_rss_mb()
    return {"peak_rss_mb": round(peak, 1), "rss_before_batch_mb": round(before, 1), "batch_events": batch["events"]}


def run(batch_events: int = 10_000, batches: int = 10, baseline_events: int = 3_000, seed: int = 7) -> dict[str, Any]:
    cpu = pin_to_one_core()
    for key, value in ENV.items():
        os.environ[key] = value
    lines = event_lines(batch_events * batches, seed)
    kinesis = kinesis_batches(lines, batch_events)
    with s3_server(avoid_cpu=cpu) as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        import boto3

        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=ENV["RAW_BUCKET"])
        s3.create_bucket(Bucket=ENV["QUARANTINE_BUCKET"])
        secret = boto3.client("secretsmanager").create_secret(Name="bench", SecretString=SECRET_STRING)
        os.environ["PSEUDONYMIZATION_SECRET_ARN"] = secret["ARN"]
        handler = measure_handler(kinesis)
        compute = measure_handler_compute(kinesis)
        baseline = measure_baseline(kinesis, baseline_events)
    with tempfile.TemporaryDirectory() as scratch:
        batch_file = Path(scratch) / "batch.json"
        batch_file.write_text(json.dumps(kinesis[0]))
        probe = subprocess.run(
            [sys.executable, "-m", "bench.stream", "--memory-probe", str(batch_file)],
            cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        )
    memory = json.loads(probe.stdout.strip().splitlines()[-1])
    events_per_s = handler["events"] / handler["seconds"]
    baseline_per_s = baseline["events"] / baseline["seconds"]
    return {
        "benchmark": "stream-transform handler",
        "events_per_s": round(events_per_s),
        "events_per_cpu_s": round(handler["events"] / handler["cpu_seconds"]),
        "compute_events_per_s": round(compute["events"] / compute["seconds"]),
        "baseline_events_per_s": round(baseline_per_s),
        "speedup": round(events_per_s / baseline_per_s, 1),
        "peak_rss_mb": memory["peak_rss_mb"],
        "rss_before_batch_mb": memory["rss_before_batch_mb"],
        "batch_events": batch_events,
        "batches": len(kinesis),
        "handler_events": handler["events"],
        "baseline_events": baseline["events"],
        "cpu": cpu,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def print_human(result: dict[str, Any]) -> None:
    print(f"stream-transform handler, {result['batches']} batches of ~{result['batch_events']:,} events, one core")
    print(f"  handler : {result['events_per_s']:>10,} events/s  (S3 = moto server on 127.0.0.1, another core)")
    print(f"            {result['compute_events_per_s']:>10,} events/s  (S3 writes kept in memory: the transform alone)")
    print(f"  baseline: {result['baseline_events_per_s']:>10,} events/s  (per-event json + pydantic + S3 put)")
    print(f"  speedup : {result['speedup']:>10}x")
    print(f"  peak RSS of one batch: {result['peak_rss_mb']} MB (process before the batch: "
          f"{result['rss_before_batch_mb']} MB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-events", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--baseline-events", type=int, default=3_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object, last")
    parser.add_argument("--memory-probe", type=Path, metavar="BATCH_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_probe:
        print(json.dumps(memory_probe(args.memory_probe)))
        return 0
    result = run(args.batch_events, args.batches, args.baseline_events, args.seed)
    print_human(result)
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
