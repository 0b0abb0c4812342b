"""Times the generator on 1M events written to a temporary file; the last line printed is one JSON object.

Baseline, in the same run: the standard library alone re-serializing the same events (`json.dumps` of
each event already built as a dict, written line by line), i.e. what any dict-per-event generator pays
before it has drawn a single random number.

    .venv/bin/python bench/bench_generator.py [--events N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retail_lake.generator import GeneratorConfig, write_jsonl  # noqa: E402


def _parsed(line: bytes):
    try:
        return json.loads(line)
    except ValueError:  # the injected malformed lines
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    config = GeneratorConfig(events=args.events, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        wall, cpu = time.perf_counter(), time.process_time()
        report = write_jsonl(config, path)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        size = path.stat().st_size
        with path.open("rb") as handle:
            documents = [document for document in map(_parsed, handle) if document is not None]
        baseline_path = Path(tmp) / "baseline.jsonl"
        baseline = time.perf_counter()
        with baseline_path.open("w") as out:
            for document in documents:
                out.write(json.dumps(document) + "\n")
        baseline = time.perf_counter() - baseline
        baseline_events = len(documents)
        del documents
    print(f"{report.total_lines} lines, {size / 1e6:.0f} MB in {wall:.2f} s wall ({cpu:.2f} s CPU); baseline "
          f"json.dumps of {baseline_events} ready-made events: {baseline:.2f} s", file=sys.stderr)
    print(json.dumps({
        "events": report.total_lines,
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "events_per_s": round(report.total_lines / wall),
        "bytes": size,
        "baseline_json_dumps_seconds": round(baseline, 3),
        "baseline_events_per_s": round(baseline_events / baseline),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
