"""CDC apply throughput: DMS change files -> curated (latest state + type-2 history) with the real Glue entry script
`glue_jobs/cdc_merge.py` on local[2].

- setup (not timed): a full load of K customers (`LOAD00000001.parquet`) and C changes (inserts of new customers,
  updates, deletes; about 8:1:1 updates:inserts:deletes, several changes per transaction) in CDC files of 10,000
  rows, in the DMS S3 target layout with `Op`, `commit_ts` and `change_seq`, written under a local raw folder.
- timed: the SparkSession start (`startup_s`, not in the rate), then one run of `cdc_merge.py --tables customers`
  (load + every change; names, e-mail, phone and street pseudonymized with HMAC-SHA256 in Spark SQL; state and
  history written; the key read from Secrets Manager, an in-process moto account here). `changes_per_s` = (K + C) / its seconds. A second run over the
  same files (nothing new after the watermark) is timed as `rerun_s`.
- baseline in the same run: a naive single-threaded Python merge of the same files: pyarrow read, rows sorted by
  change sequence, applied one by one to a dict (state) and to per-key version lists (history), written with
  pyarrow, personal columns pseudonymized with Python's `hmac`. Its `changes_per_s` is (K + C) / its seconds. Both
  results are checked equal (row counts, and the pseudonyms of the final state).

Run: `python -m bench.cdc --changes N [--keys K] [--json]`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import platform
import random
import runpy
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parent.parent
FILE_ROWS = 10_000
SCHEMA = pa.schema([("Op", pa.string()), ("commit_ts", pa.timestamp("us", tz="UTC")), ("change_seq", pa.string()),
                    ("customer_id", pa.string()), ("first_name", pa.string()), ("last_name", pa.string()),
                    ("email", pa.string()), ("phone", pa.string()), ("street", pa.string()), ("city", pa.string()),
                    ("postal_code", pa.string()), ("loyalty_tier", pa.string()),
                    ("updated_at", pa.timestamp("us", tz="UTC"))])
CITIES = ("Boston", "Denver", "Seattle", "Austin", "Miami", "Chicago", "New York", "Los Angeles")
TIERS = ("none", "silver", "gold", "platinum")
NAMES = ("Ann", "Ben", "Carla", "Dev", "Eva", "Lee", "Ng", "Silva", "Khan", "Meyer")
BENCH_KEY = "bench-pseudonymization-key-0123456789"


def _customer(rng: random.Random, key: str, clock: dt.datetime) -> tuple:
    """The image of a customer row after a change: every declared column, personal ones in clear text."""
    first, last = rng.choice(NAMES), rng.choice(NAMES)
    return (key, first, last, f"{first}.{last}.{key}@example.com".lower(), f"+1{rng.randint(200, 999)}555"
            f"{rng.randint(0, 9999):04d}", f"{rng.randint(1, 999)} Main St", rng.choice(CITIES),
            f"{rng.randint(10000, 99999)}", rng.choice(TIERS), clock)


def build_changes(keys: int, changes: int, seed: int, folder: Path) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    start = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    live = [f"C{n:08d}" for n in range(1, keys + 1)]
    load = [("I", start, "", *_customer(rng, k, start)) for k in live]
    pq.write_table(pa.Table.from_pylist([dict(zip(SCHEMA.names, r)) for r in load], SCHEMA),
                   folder / "LOAD00000001.parquet")
    next_key, lsn, rows, clock = keys + 1, 1_000_000, [], start
    while len(rows) < changes:
        lsn += rng.randint(50, 500)
        clock += dt.timedelta(milliseconds=rng.randint(1, 400))
        for index in range(rng.randint(1, 4)):
            kind = rng.choices("UID", weights=(8, 1, 1))[0]
            seq = f"{lsn:020d}{index:015d}"
            if kind == "I" or len(live) < 10:
                key = f"C{next_key:08d}"
                next_key += 1
                live.append(key)
                rows.append(("I", clock, seq, *_customer(rng, key, clock)))
            elif kind == "U":
                rows.append(("U", clock, seq, *_customer(rng, rng.choice(live), clock)))
            else:
                key = live.pop(rng.randrange(len(live)))
                rows.append(("D", clock, seq, key, *([None] * (len(SCHEMA) - 4))))
    for n, first in enumerate(range(0, len(rows), FILE_ROWS)):
        chunk = rows[first:first + FILE_ROWS]
        name = f"{chunk[0][1]:%Y%m%d-%H%M%S}{n:03d}.parquet"
        pq.write_table(pa.Table.from_pylist([dict(zip(SCHEMA.names, r)) for r in chunk], SCHEMA), folder / name)


def naive_merge(folder: Path, out: Path) -> tuple[int, int]:
    """Row-by-row Python merge, personal columns pseudonymized with `hmac`: returns (state rows, history rows)."""
    from retail_lake.privacy.pseudonymize import Pseudonymizer
    from retail_lake.sources.operational_db.tables import table

    pseudonymizer, personal = Pseudonymizer(BENCH_KEY.encode()), table("customers").personal_columns
    rows = []
    for path in sorted(folder.glob("*.parquet")):
        rows += pq.read_table(path).to_pylist()
    rows.sort(key=lambda r: r["change_seq"] or "0" * 35)
    state: dict[str, dict[str, Any]] = {}
    history: dict[str, list[dict[str, Any]]] = {}
    columns = SCHEMA.names[3:]
    for row in rows:
        key, ts = row["customer_id"], row["commit_ts"]
        versions = history.setdefault(key, [])
        if versions and versions[-1]["valid_to"] is None:
            if versions[-1]["valid_from"] == ts:  # same transaction: its last image wins
                versions.pop()
            else:
                versions[-1]["valid_to"] = ts
        if row["Op"] == "D":
            state.pop(key, None)
            continue
        image = {c: pseudonymizer.of_kind(personal[c], row[c]) if c in personal and row[c] is not None else row[c]
                 for c in columns}
        state[key] = image
        versions.append({**image, "valid_from": ts, "valid_to": None})
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(list(state.values())), out / "state.parquet")
    flat = [v for vs in history.values() for v in vs]
    pq.write_table(pa.Table.from_pylist(flat), out / "history.parquet")
    return len(state), len(flat)


def run_merge_script(raw: Path, curated: Path, secret_arn: str) -> None:
    argv = [str(REPO_ROOT / "glue_jobs" / "cdc_merge.py"), "--JOB_NAME", "bench-cdc-merge", "--changes_path", str(raw),
            "--curated_path", str(curated), "--pseudonymization_secret_id", secret_arn, "--tables", "customers"]
    saved = sys.argv
    sys.argv = argv
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            runpy.run_path(argv[0], run_name="__main__")
    finally:
        sys.argv = saved


@contextlib.contextmanager
def pseudonymization_secret() -> Any:
    """The merge reads its key from Secrets Manager: an in-process moto account holds it (no network)."""
    import boto3
    from moto import mock_aws

    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in [*env, "AWS_ENDPOINT_URL"]}
    os.environ.update(env)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws():
            yield boto3.client("secretsmanager").create_secret(Name="bench/pseudonymization",
                                                               SecretString=BENCH_KEY)["ARN"]
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run(keys: int, changes: int, seed: int, driver_memory: str, baseline: bool) -> dict[str, Any]:
    from retail_lake.twin.executors.glue_jobs import new_local_spark_session

    with tempfile.TemporaryDirectory(prefix="bench-cdc-") as tmp, pseudonymization_secret() as secret_arn:
        work = Path(tmp)
        build_changes(keys, changes, seed, work / "raw" / "customers")
        total = keys + changes
        t0 = time.perf_counter()
        spark = new_local_spark_session("bench-cdc", **{"spark.driver.memory": driver_memory})
        startup = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_merge_script(work / "raw", work / "curated", secret_arn)
        merge_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_merge_script(work / "raw", work / "curated", secret_arn)
        rerun_s = time.perf_counter() - t0
        state_rows = spark.read.parquet(str(work / "curated" / "customers")).count()
        history_rows = spark.read.parquet(str(work / "curated" / "customers_history")).count()
        result: dict[str, Any] = {
            "keys": keys, "changes": changes, "rows_applied": total, "startup_s": round(startup, 2),
            "merge_s": round(merge_s, 2), "changes_per_s": round(total / merge_s), "rerun_s": round(rerun_s, 2),
            "state_rows": state_rows, "history_rows": history_rows,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, local[2]",
        }
        if baseline:
            t0 = time.perf_counter()
            naive_state, naive_history = naive_merge(work / "raw" / "customers", work / "naive")
            naive_s = time.perf_counter() - t0
            result["baseline"] = {"merge_s": round(naive_s, 2), "changes_per_s": round(total / naive_s),
                                  "state_rows": naive_state, "history_rows": naive_history}
            if (naive_state, naive_history) != (state_rows, history_rows):
                raise AssertionError(f"the merge and the baseline disagree: {result}")
            merged = sorted((r.customer_id, r.email, r.street) for r in spark.read.parquet(
                str(work / "curated" / "customers")).select("customer_id", "email", "street").collect())
            naive = sorted((r["customer_id"], r["email"], r["street"]) for r in pq.read_table(
                work / "naive" / "state.parquet", columns=["customer_id", "email", "street"]).to_pylist())
            if merged != naive:
                raise AssertionError("the merge's pseudonyms differ from Python's hmac of the same values")
        spark.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000, help="customers in the full load")
    parser.add_argument("--changes", type=int, default=500_000, help="CDC rows after the load")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.keys, args.changes, args.seed, args.driver_memory, not args.no_baseline)
    print(f"cdc merge: {result['rows_applied']:,} rows (load {result['keys']:,} + {result['changes']:,} changes) in "
          f"{result['merge_s']} s = {result['changes_per_s']:,} changes/s (Spark start {result['startup_s']} s); "
          f"rerun over the same files {result['rerun_s']} s; state {result['state_rows']:,}, "
          f"history {result['history_rows']:,}")
    if "baseline" in result:
        b = result["baseline"]
        print(f"baseline (row-by-row Python): {b['merge_s']} s = {b['changes_per_s']:,} changes/s")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
