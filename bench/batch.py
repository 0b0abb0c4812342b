"""Batch-layer throughput: raw -> curated -> analytics with the real Glue entry scripts on local[2].

- setup (not timed): N generated events go through the stream transform (`RawBatch`, without Kinesis: one
  Kinesis record per event, a fake shard, increasing sequence numbers, chunks of 10,000 events whose arrival
  times are spread over the generated days) and its Parquet objects are written to a local directory laid
  out like the raw bucket (`<dataset>/dt=.../hour=.../<shard>-<sequence>.parquet`); the generator's reference
  dimensions go under `<raw>/reference/<table>/<table>.parquet`.
- timed: the SparkSession start (local[2], the twin's settings; `startup_s`), then `glue_jobs/raw_to_curated.py`
  once per dataset (quarantine under `<curated>/_quarantine/`) and `glue_jobs/curated_to_analytics.py`, run
  in-process with `runpy` and the argv Glue passes them (`--backfill true`, run date = the day after the
  generated days, as the demo does); SQL settings a script changes are undone after it, as on the twin.
  `events_per_s` = N / (seconds of the whole layer after start-up).
- floor in the same run, after the layer (so in a warm JVM): each dataset's raw rows read and written back as
  Parquet unchanged, no cast, dedupe, join or partitioning (`copy_floor_s`): the least any raw -> curated step
  costs on this Spark, before the analytics layer. `copy_floor_events_per_s` = N / those seconds.
- baseline in the same run: a naive pandas implementation of `daily_sales` ONLY (one of the five gold tables)
  over the same raw POS Parquet: pyarrow read, dedupe by event id (first arrival), store-local event dates,
  line items exploded in a Python loop, pandas groupby. Its `events_per_s` is N / its seconds.

Run: `retail-lake bench batch --events N [--json] [--no-baseline] [--no-floor]` or `python -m bench.batch --events N`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import platform
import runpy
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
CHUNK_EVENTS = 10_000
SHARD_ID = "shardId-000000000000"
FIRST_SEQUENCE = 49_600_000_000_000_000_000_000_000_000_000_000_000_000_000_000
DATASETS = ("pos_sales", "inventory_movements", "clickstream")
SECRET_STRING = "benchmark-pseudonymization-key-0123456789abcdef"


# ------------------------------------------------------------------------------------------------ setup


def build_raw(events: int, seed: int, raw: Path) -> dict[str, Any]:
    """Generate, transform and write the raw zone and the reference dimensions under `raw`."""
    from retail_lake.batch.reference import REFERENCE_TABLES, reference_object_key
    from retail_lake.generator import GeneratorConfig, generate, write_reference_data
    from retail_lake.ingestion.raw_writer import parquet_bytes, raw_key
    from retail_lake.ingestion.stream_transform import RawBatch
    from retail_lake.privacy.pseudonymize import Pseudonymizer, key_from_secret_string

    config = GeneratorConfig(events=events, seed=seed)
    started = time.perf_counter()
    stream = generate(config)
    generate_s = time.perf_counter() - started

    started = time.perf_counter()
    pseudonymizer = Pseudonymizer(key_from_secret_string(SECRET_STRING))
    first = dt.datetime.combine(config.start_date, dt.time(), tzinfo=dt.timezone.utc).timestamp()
    span = config.days * 86_400
    chunks = max(1, -(-len(stream) // CHUNK_EVENTS))
    rows = {name: 0 for name in DATASETS}
    files = quarantined = 0
    sequence = FIRST_SEQUENCE
    lines = stream.lines
    for index in range(chunks):
        arrival = first + span * (index + 0.5) / chunks  # spread over the generated days
        ingest_time = dt.datetime.fromtimestamp(arrival + 60, tz=dt.timezone.utc)
        batch = RawBatch(pseudonymizer, shard_id=SHARD_ID, ingest_time=ingest_time)
        for offset, line in enumerate(lines[index * CHUNK_EVENTS:(index + 1) * CHUNK_EVENTS]):
            sequence += 1
            batch.add_record(str(sequence), arrival + offset * 1e-3, line.encode())
        for dataset, table in batch.tables().items():
            path = raw / raw_key(dataset, batch)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(parquet_bytes(table, batch.rows[dataset].contract))
            rows[dataset] = rows.get(dataset, 0) + table.num_rows
            files += 1
        quarantined += len(batch.quarantine)
    transform_s = time.perf_counter() - started
    del stream, lines

    reference_dir = raw / "_generated_reference"
    write_reference_data(config, reference_dir, formats=("parquet",))
    for table in REFERENCE_TABLES:
        target = raw / reference_object_key("reference", table)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(reference_dir / f"{table}.parquet"), target)
    shutil.rmtree(reference_dir)
    run_date = config.end_date + dt.timedelta(days=1)  # as the demo: replay the generated days in one backfill
    return {"generate_s": round(generate_s, 2), "stream_transform_s": round(transform_s, 2),
            "raw_rows": rows, "raw_files": files, "quarantined": quarantined, "run_date": run_date.isoformat(),
            "start_date": config.start_date.isoformat(), "days": config.days}


# ------------------------------------------------------------------------------------------------ Spark


def start_spark(driver_memory: str) -> Any:
    """local[2] with the twin's settings (`retail_lake.twin.executors.glue_jobs.local_spark_session`), plus the
    driver heap (local mode runs everything in the driver JVM; Spark's default is 1g)."""
    from retail_lake.twin.executors.glue_jobs import new_local_spark_session

    session = new_local_spark_session("retail-lake-bench-batch", **{"spark.driver.memory": driver_memory})
    session.range(1).count()  # the first job: executor threads up
    return session


def run_script(script: str, arguments: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """Run a Glue entry script in-process as Glue would (`script --JOB_NAME x --key value ...`); returns its
    seconds and the JSON summary it printed."""
    argv = [str(REPO_ROOT / "glue_jobs" / script)]
    for key, value in arguments.items():
        argv += [f"--{key}", value]
    from pyspark.sql import SparkSession

    from retail_lake.twin.executors.glue_jobs import _spark_hygiene

    saved, out = sys.argv, io.StringIO()
    sys.argv = argv
    started = time.perf_counter()
    try:  # like a job run on the twin: SQL settings the script changes are undone after it
        with contextlib.redirect_stdout(out), _spark_hygiene(SparkSession.builder.getOrCreate()):
            runpy.run_path(argv[0], run_name="__main__")
    finally:
        sys.argv = saved
    seconds = time.perf_counter() - started
    print(f"  {script} {arguments.get('dataset', '')}: {seconds:.1f} s", file=sys.stderr, flush=True)
    summary = {}
    for line in out.getvalue().splitlines():
        if line.startswith(("CURATED_SUMMARY ", "ANALYTICS_SUMMARY ")):
            summary = json.loads(line.split(" ", 1)[1])
    return seconds, summary


def run_layer(raw: Path, curated: Path, analytics: Path, run_date: str) -> dict[str, Any]:
    jobs, counts = {}, {}
    for dataset in DATASETS:
        seconds, summary = run_script("raw_to_curated.py", {
            "JOB_NAME": f"bench-raw-to-curated-{dataset}", "dataset": dataset, "run_date": run_date,
            "backfill": "true", "raw_path": f"{raw}/{dataset}/", "reference_path": f"{raw}/reference/",
            "curated_path": f"{curated}/{dataset}/", "quarantine_path": f"{curated}/_quarantine/{dataset}/",
        })
        jobs[f"raw_to_curated.{dataset}"] = round(seconds, 2)
        counts[dataset] = {"rows_read": summary.get("rows_read"), "rows_written": summary.get("rows_written"),
                           "duplicates_dropped": summary.get("duplicates_dropped")}
    seconds, summary = run_script("curated_to_analytics.py", {
        "JOB_NAME": "bench-curated-to-analytics", "run_date": run_date, "backfill": "true",
        "curated_path": f"{curated}/", "reference_path": f"{raw}/reference/", "analytics_path": f"{analytics}/",
    })
    jobs["curated_to_analytics"] = round(seconds, 2)
    return {"jobs_s": jobs, "curated": counts, "analytics": summary.get("analytics", {})}


def copy_floor(raw: Path, target: Path) -> dict[str, Any]:
    """Seconds to read each dataset's raw rows and write them back as Parquet, unchanged (warm session)."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()
    seconds = {}
    for dataset in DATASETS:
        started = time.perf_counter()
        rows = spark.read.option("basePath", f"{raw}/{dataset}").parquet(f"{raw}/{dataset}/dt=*/")
        rows.write.mode("overwrite").parquet(str(target / dataset))
        seconds[dataset] = round(time.perf_counter() - started, 2)
    return {"copy_floor_s": round(sum(seconds.values()), 2), "copy_floor_jobs_s": seconds}


# ------------------------------------------------------------------------------------------------ baseline


def naive_daily_sales(raw: Path, run_date: str, quarantined: frozenset[str] = frozenset()) -> Any:
    """daily_sales the way a first pandas script would: all raw POS files, rows to Python, lines exploded in
    a loop, dedupe by event id (first arrival), store-local dates, groupby. Only daily_sales. The sales the
    Spark layer's quality rules quarantined (`quarantined` event ids, read before timing) are left out, so
    both compute over the same events."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted((raw / "pos_sales").rglob("*.parquet"))
    table = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
    sales = table.to_pandas()
    sales["_seq"] = sales["ingest_sequence_number"].map(int)
    sales = sales.sort_values(["ingest_arrival_time", "_seq", "ingest_subsequence_number"])
    sales = sales.drop_duplicates("event_id", keep="first")
    sales = sales[~sales["event_id"].isin(quarantined)]
    stores = pd.read_parquet(raw / "reference" / "stores" / "stores.parquet")[["store_id", "timezone"]]
    sales = sales.merge(stores, on="store_id", how="left")
    sales["timezone"] = sales["timezone"].fillna("UTC")
    dates = pd.Series(index=sales.index, dtype=object)
    for zone, rows in sales.groupby("timezone").groups.items():
        dates.loc[rows] = pd.to_datetime(sales.loc[rows, "event_time"], utc=True).dt.tz_convert(zone).dt.date
    sales["event_date"] = dates
    sales = sales[sales["event_date"] <= dt.date.fromisoformat(run_date)]
    out: dict[str, list] = {k: [] for k in ("event_date", "store_id", "sku", "quantity", "gross", "discount",
                                            "transaction_id")}
    for event_date, store, transaction, items in zip(sales["event_date"], sales["store_id"],
                                                     sales["transaction_id"], sales["line_items"]):
        for item in items:
            out["event_date"].append(event_date)
            out["store_id"].append(store)
            out["sku"].append(item["sku"])
            out["quantity"].append(item["quantity"])
            out["gross"].append(Decimal(item["quantity"]) * item["unit_price"])
            out["discount"].append(item["discount"])
            out["transaction_id"].append(transaction)
    lines = pd.DataFrame(out)
    daily = lines.groupby(["event_date", "store_id", "sku"]).agg(
        units=("quantity", "sum"), gross_sales=("gross", "sum"), discounts=("discount", "sum"),
        baskets=("transaction_id", "nunique"),
    ).reset_index()
    daily["net_sales"] = daily["gross_sales"] - daily["discounts"]
    daily["average_basket"] = [(n / b).quantize(Decimal("0.01")) for n, b in zip(daily["net_sales"], daily["baskets"])]
    return daily


def quarantined_event_ids(quarantine: Path) -> frozenset[str]:
    """The event ids the raw -> curated job sent to quarantine (none when it wrote nothing there)."""
    import pyarrow.dataset as ds

    if not any(quarantine.rglob("*.parquet")):
        return frozenset()
    table = ds.dataset(quarantine, format="parquet", partitioning="hive").to_table(columns=["event_id"])
    return frozenset(table.column("event_id").to_pylist())


def compare_daily_sales(analytics: Path, naive: Any) -> dict[str, Any]:
    """Not timed: do the Spark job's daily_sales and the baseline agree (rows, units, net sales)?"""
    import pyarrow.dataset as ds

    spark_table = ds.dataset(analytics / "daily_sales", format="parquet", partitioning="hive").to_table()
    spark_units = sum(v for v in spark_table.column("units").to_pylist() if v is not None)
    spark_net = sum(v for v in spark_table.column("net_sales").to_pylist() if v is not None)
    naive_units, naive_net = int(naive["units"].sum()), sum(naive["net_sales"])
    return {"spark_rows": spark_table.num_rows, "baseline_rows": len(naive), "spark_units": int(spark_units),
            "baseline_units": naive_units, "spark_net_sales": str(spark_net), "baseline_net_sales": str(naive_net),
            "agree": spark_table.num_rows == len(naive) and spark_units == naive_units and spark_net == naive_net}


# ------------------------------------------------------------------------------------------------ run


def run(events: int, seed: int, driver_memory: str, workdir: Path | None, baseline: bool,
        floor: bool = True) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="bench-batch-", dir=workdir))
    raw, curated, analytics = base / "raw", base / "curated", base / "analytics"
    try:
        print(f"setup: generating {events:,} events (seed {seed}) and running the stream transform ...", flush=True)
        setup = build_raw(events, seed, raw)
        print(f"  generated in {setup['generate_s']} s, stream transform + Parquet in {setup['stream_transform_s']} s;"
              f" raw rows {setup['raw_rows']}, {setup['raw_files']} files, {setup['quarantined']} quarantined",
              flush=True)

        started = time.perf_counter()
        start_spark(driver_memory)
        startup_s = time.perf_counter() - started
        print(f"spark local[2] started in {startup_s:.1f} s; running the Glue scripts ...", flush=True)
        started = time.perf_counter()
        layer = run_layer(raw, curated, analytics, setup["run_date"])
        layer_s = time.perf_counter() - started

        result: dict[str, Any] = {
            "benchmark": "batch", "events": events, "seed": seed, "master": "local[2]",
            "driver_memory": driver_memory, "cpus": os.cpu_count(), "python": platform.python_version(),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            **setup, "startup_s": round(startup_s, 2), "layer_s": round(layer_s, 2),
            "events_per_s": round(events / layer_s), **layer,
        }
        if floor:
            print("floor: the raw rows read and written back unchanged ...", flush=True)
            result.update(copy_floor(raw, base / "copy"))
            result["copy_floor_events_per_s"] = round(events / result["copy_floor_s"])
        if baseline:
            print("baseline: naive pandas daily_sales over the same raw POS Parquet ...", flush=True)
            quarantined = quarantined_event_ids(curated / "_quarantine" / "pos_sales")
            started = time.perf_counter()
            naive = naive_daily_sales(raw, setup["run_date"], quarantined)
            baseline_s = time.perf_counter() - started
            result.update({
                "baseline": "naive pandas, daily_sales only (1 of the 5 gold tables, no curated zone written)",
                "baseline_s": round(baseline_s, 2), "baseline_events_per_s": round(events / baseline_s),
                "baseline_check": compare_daily_sales(analytics, naive),
            })
        return result
    finally:
        shutil.rmtree(base, ignore_errors=True)


def print_human(result: dict[str, Any]) -> None:
    print(f"batch layer, {result['events']:,} events, {result['master']} (driver {result['driver_memory']})")
    print(f"  spark start-up : {result['startup_s']:>8} s")
    for job, seconds in result["jobs_s"].items():
        print(f"  {job:<35}: {seconds:>8} s")
    print(f"  layer total    : {result['layer_s']:>8} s -> {result['events_per_s']:>10,} events/s after start-up")
    if "copy_floor_s" in result:
        print(f"  floor (raw read and written back unchanged, warm): {result['copy_floor_s']} s -> "
              f"{result['copy_floor_events_per_s']:,} events/s")
    if "baseline_s" in result:
        print(f"  baseline (pandas, daily_sales only): {result['baseline_s']} s -> "
              f"{result['baseline_events_per_s']:,} events/s; agrees with Spark: {result['baseline_check']['agree']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--driver-memory", default="8g", help="Spark driver heap (local mode: the whole engine)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the temporary lake goes (default: /tmp)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the pandas baseline")
    parser.add_argument("--no-floor", action="store_true", help="skip the Spark copy floor")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object, last")
    args = parser.parse_args(argv)
    result = run(args.events, args.seed, args.driver_memory, args.workdir, not args.no_baseline, not args.no_floor)
    print_human(result)
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
