"""`retail-lake workload`: seed the operational store and apply a stream of changes to it."""

from __future__ import annotations

import argparse
import json
import os
import time

DSN_ENV = "RETAIL_LAKE_PG_DSN"


def add_workload_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dsn", default=os.environ.get(DSN_ENV),
                        help=f"PostgreSQL connection string (default ${DSN_ENV}); without one, a throw-away server is "
                             "started on 127.0.0.1 and stopped afterwards")
    parser.add_argument("--changes", type=int, default=1_000, help="changes to apply after seeding (default 1,000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--no-create", action="store_true",
                        help="keep the existing schema and data: only apply changes")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--products", type=int, default=120)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--stores", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def run_workload(args: argparse.Namespace) -> int:
    import psycopg

    from retail_lake.sources.operational_db import workload

    def work(dsn: str) -> dict:
        started = time.perf_counter()
        with psycopg.connect(dsn, autocommit=True) as conn:
            seeded = None
            if not args.no_create:
                workload.create_schema(conn)
                seeded = workload.seed(conn, workload.Scale(args.stores, args.customers, args.products, args.orders),
                                       seed=args.seed)
            applied = workload.apply_changes(conn, args.changes, seed=args.seed + 1) if args.changes else {}
            return {"seeded": seeded, "changes": dict(applied), "rows": workload.count_rows(conn),
                    "seconds": round(time.perf_counter() - started, 2)}

    if args.dsn:
        summary = work(args.dsn)
    else:
        from retail_lake.twin.postgres import LocalPostgres

        with LocalPostgres() as pg:
            print(f"started PostgreSQL on 127.0.0.1:{pg.port} (temporary; stopped when done)")
            summary = work(pg.dsn)
    if args.json:
        print(json.dumps(summary))
    else:
        if summary["seeded"]:
            print("seeded: " + ", ".join(f"{t} {n:,}" for t, n in summary["seeded"].items()))
        print("changes: " + ", ".join(f"{k} {v:,}" for k, v in sorted(summary["changes"].items())))
        print("rows now: " + ", ".join(f"{t} {n:,}" for t, n in summary["rows"].items())
              + f" ({summary['seconds']}s)")
    return 0
