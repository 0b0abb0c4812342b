"""Latency of the named queries on the twin's Athena (sqlglot + DuckDB over the twin's S3).

- setup (not timed, reported part by part): N generator events through the real batch layer, with
  `bench/batch.py`'s functions: generation and the stream transform write the raw zone and the reference tables
  to a temporary directory (`build_raw`), then the real Glue scripts raw -> curated -> analytics run on local[2]
  (`start_spark`, `run_layer`: `--backfill true`, run date = the day after the generated days, as the demo
  replays its week); the quality gate then judges the curated data of that run date as the twin's batch day
  does (`retail_lake.quality.curated_gate.run_gate`, the engine the gate job picks, rows appended to `quality_results`
  with `write_results`); the SparkSession and its JVM are then stopped to free their memory. An embedded twin
  with the Serving stack (and Storage, Batch) is deployed from the cloud assembly, the analytics zone (the five
  gold tables and `quality_results`, Parquet part files at the keys the jobs write) is put in the analytics
  bucket and the reference tables under `reference/` in the raw bucket, and the serving views are created.
  `--synthetic` replaces the batch layer by the synthetic analytics zone of `retail_lake.serving.sample`
  (`SampleSize.for_events(N)`), which needs no Spark.
- timed: every named query R times through the Athena API as a client sees it: StartQueryExecution, polling
  GetQueryExecution (every 20 ms), then all pages of GetQueryResults. The first run of each query reads its
  tables' objects from S3 (cold); later runs find unchanged objects in the engine's object cache (by ETag).
  Reported per query: cold (first run), p50 and p95 over all R runs.
- baseline in the same run: the same SQL, translated by sqlglot, run by DuckDB directly on in-memory tables
  holding the same objects (read back from the twin's S3 before timing, typed from the catalog's partition
  keys): no API, no S3, no result pages; what the engine itself costs.

Run: `python -m bench.athena --events 1000000 [--runs 5] [--json] [--synthetic] [--assembly DIR]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import batch  # noqa: E402  (the batch layer's setup functions, reused as they are)

SERVING_STACK = "RetailLake-dev-Serving"
QUALITY_RESULTS = "quality_results"
GLUE_TO_DUCKDB = {"date": "DATE", "string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT",
                  "smallint": "SMALLINT", "tinyint": "TINYINT", "boolean": "BOOLEAN", "double": "DOUBLE"}


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _assembly(path: Path | None) -> Path:
    if path is not None:
        return path
    outdir = Path(tempfile.mkdtemp(prefix="bench-athena-cdk-"))
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from stacks.app_builder import build_app

    build_app("dev", outdir, nag=False).synth()
    return outdir


# ------------------------------------------------------------------------------------------------ setup


def stop_spark(session: Any) -> None:
    """Stop the session and end its JVM (`stop()` alone leaves the gateway process and its heap alive)."""
    from pyspark import SparkContext

    session.stop()
    gateway = SparkContext._gateway
    if gateway is None:
        return
    process = getattr(gateway, "proc", None)
    gateway.shutdown()
    if process is not None:
        process.terminate()
        process.wait(timeout=60)
    SparkContext._gateway = None
    SparkContext._jvm = None


def real_analytics_zone(events: int, seed: int, driver_memory: str, base: Path) -> dict[str, Any]:
    """The raw zone of N events, the real batch layer and the quality gate under `base`; the mirror of the
    analytics bucket is `base/analytics` (gold tables and quality_results), the raw bucket's is `base/raw`."""
    from retail_lake.quality import curated_gate, gate

    raw, curated, analytics = base / "raw", base / "curated", base / "analytics"
    print(f"setup: generating {events:,} events (seed {seed}) and running the stream transform ...", flush=True)
    raw_setup = batch.build_raw(events, seed, raw)
    print(f"  generated in {raw_setup['generate_s']} s, stream transform + Parquet in "
          f"{raw_setup['stream_transform_s']} s; raw rows {raw_setup['raw_rows']}", flush=True)
    started = time.perf_counter()
    spark = batch.start_spark(driver_memory)
    startup_s = time.perf_counter() - started
    print(f"spark local[2] started in {startup_s:.1f} s; running the Glue scripts ...", flush=True)
    started = time.perf_counter()
    layer = batch.run_layer(raw, curated, analytics, raw_setup["run_date"])
    layer_s = time.perf_counter() - started
    started = time.perf_counter()
    report = curated_gate.run_gate(spark, raw_setup["run_date"], list(batch.DATASETS), str(curated),
                                   run_id=gate.new_run_id())
    gate.write_results(spark, report, str(analytics / QUALITY_RESULTS))
    gate_s = time.perf_counter() - started
    print(f"  quality gate on {raw_setup['run_date']}: {gate_s:.1f} s ({report.headline()})", flush=True)
    started = time.perf_counter()
    stop_spark(spark)
    stop_s = time.perf_counter() - started
    shutil.rmtree(curated, ignore_errors=True)
    return {"source": "batch layer (bench/batch.py build_raw + run_layer, real Glue scripts, local[2])",
            "seed": seed, "driver_memory": driver_memory, "run_date": raw_setup["run_date"],
            "raw_rows": raw_setup["raw_rows"], "stream_quarantined": raw_setup["quarantined"],
            "curated": layer["curated"], "analytics": layer["analytics"],
            "setup_parts_s": {"generate": raw_setup["generate_s"], "stream_transform": raw_setup["stream_transform_s"],
                              "spark_startup": round(startup_s, 2), "batch_layer": round(layer_s, 2),
                              "batch_jobs": layer["jobs_s"], "quality_gate": round(gate_s, 2),
                              "spark_stop": round(stop_s, 2)},
            "quality_gate": {"engine": report.engine, "failed": report.failed, "rules": len(report.rows()),
                             "headline": report.headline()}}


def upload_tree(s3: Any, root: Path, bucket: str, prefix: str = "") -> tuple[int, int]:
    """Put every Parquet part file under `root` at `<prefix><path relative to root>` (Spark's `_SUCCESS` and
    `.crc` side files left out); returns (objects, bytes)."""
    objects = size = 0
    for path in sorted(root.rglob("*.parquet")):
        relative = path.relative_to(root)
        if any(part.startswith((".", "_")) for part in relative.parts):
            continue
        body = path.read_bytes()
        s3.put_object(Bucket=bucket, Key=prefix + relative.as_posix(), Body=body)
        objects += 1
        size += len(body)
    return objects, size


# ------------------------------------------------------------------------------------------------ baseline


def _s3_location(location: str) -> tuple[str, str]:
    bucket, _, prefix = location.split("://", 1)[1].partition("/")
    return bucket, prefix if not prefix or prefix.endswith("/") else prefix + "/"


def baseline_connection(twin: Any, databases: list[str], workdir: Path) -> tuple[Any, dict[str, int]]:
    """DuckDB in memory holding every catalog table of `databases` that has objects (read back from the twin's
    S3, partition columns typed as the catalog declares them) and the serving views; returns it and the rows of
    each table."""
    import duckdb
    import sqlglot

    from retail_lake.serving import catalog

    s3, glue = twin.client("s3"), twin.client("glue")
    con = duckdb.connect()
    con.execute("SET integer_division = true")
    rows: dict[str, int] = {}
    for database in dict.fromkeys(databases):
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{database}"')
        for page in glue.get_paginator("get_tables").paginate(DatabaseName=database):
            for table in page["TableList"]:
                location = table.get("StorageDescriptor", {}).get("Location")
                if not location or table.get("TableType") == "VIRTUAL_VIEW":
                    continue
                bucket, prefix = _s3_location(location)
                target = workdir / database / table["Name"]
                keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                        for o in p.get("Contents", []) if o["Key"].endswith(".parquet")]
                if not keys:
                    continue
                for key in keys:
                    path = target / key[len(prefix):]
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                partitions = {k["Name"]: GLUE_TO_DUCKDB.get(k["Type"].lower(), "VARCHAR")
                              for k in table.get("PartitionKeys", [])}
                options = ""
                if partitions:
                    types = ", ".join(f"'{name}': {kind}" for name, kind in partitions.items())
                    options = f", hive_partitioning = true, hive_types = {{{types}}}"
                con.execute(f'CREATE TABLE "{database}"."{table["Name"]}" AS SELECT * FROM '
                            f"read_parquet('{target}/**/*.parquet', union_by_name = true{options})")
                rows[f"{database}.{table['Name']}"] = con.execute(
                    f'SELECT COUNT(*) FROM "{database}"."{table["Name"]}"').fetchone()[0]
    shutil.rmtree(workdir, ignore_errors=True)
    for view in catalog.view_order():
        con.execute(sqlglot.transpile(catalog.views()[view].render(analytics=databases[0]), read="athena",
                                      write="duckdb")[0])
    return con, rows


def baseline_seconds(con: Any, sql: str) -> float:
    import sqlglot

    translated = sqlglot.transpile(sql, read="athena", write="duckdb")[0]
    started = time.perf_counter()
    con.execute(translated).fetchall()
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------------------ run


def run(events: int, runs: int, assembly: Path | None, *, synthetic: bool = False, seed: int = 42,
        driver_memory: str = "8g", workdir: Path | None = None) -> dict[str, Any]:
    from retail_lake.serving import catalog
    from retail_lake.serving.athena import create_views, fetch_results, start_query, wait_for_query
    from retail_lake.twin import Twin

    base = Path(tempfile.mkdtemp(prefix="bench-athena-", dir=workdir))
    load_start = round(os.getloadavg()[0], 2)
    setup_started = time.perf_counter()
    try:
        started = time.perf_counter()
        if synthetic:
            from retail_lake.serving.sample import SampleLake, SampleSize

            lake = SampleLake.build(SampleSize.for_events(events))
            zone: dict[str, Any] = {"source": "synthetic (retail_lake.serving.sample, SampleSize.for_events)",
                                    "setup_parts_s": {"synthetic_tables": round(time.perf_counter() - started, 2)}}
        else:
            lake = None
            zone = real_analytics_zone(events, seed, driver_memory, base)
        zone_s = time.perf_counter() - started
        started = time.perf_counter()
        assembly_dir = _assembly(assembly)
        zone["setup_parts_s"]["synth"] = round(time.perf_counter() - started, 2)
        results: dict[str, Any] = {}
        with Twin() as twin:
            started = time.perf_counter()
            twin.deploy(assembly_dir, stacks=[SERVING_STACK])
            outputs = twin.outputs
            storage, batch_outputs = outputs["RetailLake-dev-Storage"], outputs["RetailLake-dev-Batch"]
            workgroup = outputs[SERVING_STACK]["AthenaWorkGroupName"]
            database = batch_outputs["AnalyticsDatabaseName"]
            quality_database = batch_outputs.get("QualityDatabaseName", database)
            zone["setup_parts_s"]["twin_deploy"] = round(time.perf_counter() - started, 2)
            started = time.perf_counter()
            s3 = twin.client("s3")
            if lake is not None:
                objects = lake.write(s3, analytics_bucket=storage["AnalyticsBucketName"],
                                     raw_bucket=storage["RawBucketName"])
                uploaded = {"objects": objects}
            else:
                analytics = upload_tree(s3, base / "analytics", storage["AnalyticsBucketName"])
                reference = upload_tree(s3, base / "raw" / "reference", storage["RawBucketName"], "reference/")
                uploaded = {"objects": analytics[0] + reference[0], "bytes": analytics[1] + reference[1]}
                shutil.rmtree(base / "raw", ignore_errors=True)
                shutil.rmtree(base / "analytics", ignore_errors=True)
            athena = twin.client("athena")
            create_views(athena, workgroup=workgroup, analytics_database=database)
            zone["setup_parts_s"]["upload_and_views"] = round(time.perf_counter() - started, 2)
            setup_s = time.perf_counter() - setup_started
            print(f"setup done in {setup_s:.1f} s ({uploaded['objects']} objects uploaded); timing the named "
                  f"queries ...", flush=True)
            for name, file in catalog.named_queries().items():
                sql = file.render(analytics=database, quality=quality_database)
                latencies, result_rows = [], 0
                for _ in range(runs):
                    started = time.perf_counter()
                    query_id = start_query(athena, sql, workgroup=workgroup, database=database)
                    wait_for_query(athena, query_id, poll=0.02)
                    _, fetched = fetch_results(athena, query_id)
                    latencies.append(time.perf_counter() - started)
                    result_rows = len(fetched)
                results[name] = {"cold_s": round(latencies[0], 3), "p50_s": round(_percentile(latencies, 0.5), 3),
                                 "p95_s": round(_percentile(latencies, 0.95), 3),
                                 "mean_s": round(statistics.mean(latencies), 3), "rows": result_rows}
            print("baseline: the same SQL on DuckDB in memory ...", flush=True)
            con, table_rows = baseline_connection(twin, [database, quality_database], base / "baseline")
            for name, file in catalog.named_queries().items():
                sql = file.render(analytics=database, quality=quality_database)
                results[name]["baseline_duckdb_in_memory_s"] = round(baseline_seconds(con, sql), 3)
            con.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    gold_rows = {key.split(".", 1)[1]: value for key, value in table_rows.items()}
    return {"benchmark": "athena", "events": events, "runs": runs, "synthetic": synthetic,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **zone,
            "analytics_zone_s": round(zone_s, 1), "uploaded": uploaded, "gold_rows": gold_rows,
            "setup_s": round(setup_s, 1), "queries": results,
            "median_of_p50_s": round(statistics.median(r["p50_s"] for r in results.values()), 3),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "load_average_1m_start": load_start, "load_average_1m_end": round(os.getloadavg()[0], 2)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="runs of each named query (default 5)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed (batch layer path)")
    parser.add_argument("--driver-memory", default="8g", help="Spark driver heap for the batch layer (local mode)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the temporary lake goes (default: /tmp)")
    parser.add_argument("--synthetic", action="store_true",
                        help="synthetic gold tables (retail_lake.serving.sample) instead of the batch layer's")
    parser.add_argument("--assembly", type=Path, help="cloud assembly (default: synthesize dev to a temp dir)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object, last")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.events < 1000:
        parser.error("--runs must be >= 1 and --events >= 1000")
    result = run(args.events, args.runs, args.assembly, synthetic=args.synthetic, seed=args.seed,
                 driver_memory=args.driver_memory, workdir=args.workdir)
    machine = result["machine"]
    print(f"{args.events:,} events ({result['source']}); gold rows {result['gold_rows']}")
    print(f"setup {result['setup_s']} s: {result['setup_parts_s']} (load average {machine['load_average_1m_start']}"
          f" -> {machine['load_average_1m_end']})")
    print(f"{'named query':40} {'cold s':>8} {'p50 s':>8} {'p95 s':>8} {'rows':>7} {'duckdb-only s':>14}")
    for name, figures in result["queries"].items():
        print(f"{name:40} {figures['cold_s']:8.3f} {figures['p50_s']:8.3f} {figures['p95_s']:8.3f} "
              f"{figures['rows']:7,} {figures['baseline_duckdb_in_memory_s']:14.3f}")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
