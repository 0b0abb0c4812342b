"""Latency of the named queries on the twin's Athena (sqlglot + DuckDB over the twin's S3).

- setup (not timed): an embedded twin with the Serving stack (and Storage, Batch) deployed from the cloud
  assembly; a synthetic analytics zone shaped like N generator events (`SampleSize.for_events(N)`: sale lines =
  60% of N over a week, 50 stores, 2,000 SKUs, 20,000 customers, sessions for 30% of N) written to the
  analytics bucket as the jobs lay it out; the serving views created.
- timed: every named query R times through the Athena API as a client sees it: StartQueryExecution, polling
  GetQueryExecution (every 20 ms), then all pages of GetQueryResults. The first run of each query reads its
  tables' objects from S3 (cold); later runs find unchanged objects in the engine's object cache (by ETag).
  Reported per query: cold (first run), p50 and p95 over all R runs.
- baseline in the same run: the same SQL, translated by sqlglot, run by DuckDB directly on the in-memory Arrow
  tables (no API, no S3, no result pages): what the engine itself costs.

Run: `python -m bench.athena --events 1000000 [--runs 5] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


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
    sys.path.insert(0, str(REPO_ROOT))
    from stacks.app_builder import build_app

    build_app("dev", outdir, nag=False).synth()
    return outdir


def _baseline(lake: Any, sql: str, database: str, quality_database: str) -> float:
    import duckdb
    import sqlglot

    con = duckdb.connect()
    con.execute("SET integer_division = true")
    for schema in {database, quality_database}:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    for name, table in lake.tables.items():
        schema = quality_database if name == "quality_results" else database
        con.register(f"t_{name}", table)
        con.execute(f'CREATE VIEW "{schema}"."{name}" AS SELECT * FROM t_{name}')
    for name, table in (("dim_store", lake.reference["stores"]), ("dim_product", lake.reference["products"])):
        con.register(f"t_{name}", table)
        con.execute(f'CREATE VIEW "{database}"."{name}" AS SELECT * FROM t_{name}')
    from retail_lake.serving import catalog

    for view in catalog.view_order():
        con.execute(sqlglot.transpile(catalog.views()[view].render(analytics=database), read="athena",
                                      write="duckdb")[0])
    translated = sqlglot.transpile(sql, read="athena", write="duckdb")[0]
    started = time.perf_counter()
    con.execute(translated).fetchall()
    return time.perf_counter() - started


def run(events: int, runs: int, assembly: Path | None) -> dict[str, Any]:
    from retail_lake.serving import catalog
    from retail_lake.serving.athena import create_views, fetch_results, start_query, wait_for_query
    from retail_lake.serving.sample import SampleLake, SampleSize
    from retail_lake.twin import Twin

    setup_started = time.perf_counter()
    assembly_dir = _assembly(assembly)
    size = SampleSize.for_events(events)
    lake = SampleLake.build(size)
    build_s = time.perf_counter() - setup_started
    rows = {name: table.num_rows for name, table in lake.tables.items()}
    results: dict[str, Any] = {}
    with Twin() as twin:
        twin.deploy(assembly_dir, stacks=["RetailLake-dev-Serving"])
        outputs = twin.outputs
        storage, batch = outputs["RetailLake-dev-Storage"], outputs["RetailLake-dev-Batch"]
        workgroup = outputs["RetailLake-dev-Serving"]["AthenaWorkGroupName"]
        database = batch["AnalyticsDatabaseName"]
        quality_database = batch.get("QualityDatabaseName", database)
        lake.write(twin.client("s3"), analytics_bucket=storage["AnalyticsBucketName"],
                   raw_bucket=storage["RawBucketName"])
        athena = twin.client("athena")
        create_views(athena, workgroup=workgroup, analytics_database=database)
        setup_s = time.perf_counter() - setup_started
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
            baseline = _baseline(lake, sql, database, quality_database)
            results[name] = {"cold_s": round(latencies[0], 3), "p50_s": round(_percentile(latencies, 0.5), 3),
                             "p95_s": round(_percentile(latencies, 0.95), 3),
                             "mean_s": round(statistics.mean(latencies), 3), "rows": result_rows,
                             "baseline_duckdb_in_memory_s": round(baseline, 3)}
    all_latencies_p50 = statistics.median(r["p50_s"] for r in results.values())
    return {"events": events, "runs": runs, "gold_rows": rows, "data_build_s": round(build_s, 1),
            "setup_s": round(setup_s, 1), "queries": results, "median_of_p50_s": round(all_latencies_p50, 3),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "load_average_1m": round(os.getloadavg()[0], 2)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="runs of each named query (default 5)")
    parser.add_argument("--assembly", type=Path, help="cloud assembly (default: synthesize dev to a temp dir)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object, last")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.events < 1000:
        parser.error("--runs must be >= 1 and --events >= 1000")
    result = run(args.events, args.runs, args.assembly)
    print(f"{args.events:,} events; gold rows {result['gold_rows']}; setup {result['setup_s']} s "
          f"(load average {result['machine']['load_average_1m']})")
    print(f"{'named query':40} {'cold s':>8} {'p50 s':>8} {'p95 s':>8} {'rows':>7} {'duckdb-only s':>14}")
    for name, figures in result["queries"].items():
        print(f"{name:40} {figures['cold_s']:8.3f} {figures['p50_s']:8.3f} {figures['p95_s']:8.3f} "
              f"{figures['rows']:7,} {figures['baseline_duckdb_in_memory_s']:14.3f}")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
