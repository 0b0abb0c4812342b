"""The demo's database-source phase on the twin: a real PostgreSQL on 127.0.0.1 seeded with the operational store,
a DMS task started through boto3 (full load, then CDC through logical decoding into the restricted CDC landing
bucket), a burst of changes, the
CDC merge Glue job, a check that curated equals the database's current state, row for row, and a search of every
object of the shared zones for the database's personal values in clear text (there must be none)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table

DEFAULT_CHANGES = 2_000


def run_database_source(twin: Any, stage: str, console: Console, *, changes: int = DEFAULT_CHANGES,
                        seed: int = 42) -> dict[str, Any]:
    """Returns `{"database": {...}}`; `database.equal` is False (and `problems` says why) when curated differs."""
    import psycopg

    from retail_lake.sources.cdc.layout import schema_prefix
    from retail_lake.sources.cdc.privacy_audit import find_clear_text, personal_values
    from retail_lake.sources.cdc.reconcile import compare_all, twin_pseudonymizer
    from retail_lake.sources.cdc.replication_task import create_replication_task, landing_target
    from retail_lake.sources.operational_db import workload
    from retail_lake.sources.operational_db.tables import SCHEMA
    from retail_lake.twin.postgres import LocalPostgres

    started = time.perf_counter()
    storage, batch = twin.outputs[f"RetailLake-{stage}-Storage"], twin.outputs[f"RetailLake-{stage}-Batch"]
    merge_job = batch["CdcMergeJobName"]
    with LocalPostgres() as pg, psycopg.connect(pg.dsn, autocommit=True) as conn:
        workload.create_schema(conn)
        seeded = workload.seed(conn, workload.Scale(), seed=seed)
        console.print(f"[bold]database[/] PostgreSQL on 127.0.0.1:{pg.port} seeded: "
                      + ", ".join(f"{t} {n:,}" for t, n in seeded.items()))
        dms, executor = twin.client("dms"), twin.executor("dms", poll_interval=0.2)
        task = create_replication_task(dms, twin.client("secretsmanager"), **landing_target(batch),
                                       connection=pg.connection_info(), name=f"retail-lake-{stage}")
        dms.start_replication_task(ReplicationTaskArn=task, StartReplicationTaskType="start-replication")
        try:
            executor.wait_caught_up(task, timeout=120)
            console.print("[bold]dms[/] full load written to the restricted CDC landing bucket "
                          "dms/retail/<table>/LOAD00000001.parquet")
            t0 = time.perf_counter()
            applied = workload.apply_changes(conn, changes, seed=seed + 1)
            executor.wait_caught_up(task, timeout=120)
            running = executor.running[task]
            console.print(f"[bold]dms[/] CDC: {changes:,} changes ({', '.join(f'{k} {v}' for k, v in applied.most_common())}) "
                          f"-> {running.changes_written:,} change rows in "
                          f"{len([f for f in running.files if 'LOAD' not in f]):,} files in "
                          f"{time.perf_counter() - t0:.1f}s")
            glue = twin.client("glue")
            t0 = time.perf_counter()
            run_id = glue.start_job_run(JobName=merge_job)["JobRunId"]
            run = twin.executor("glue").wait(merge_job, run_id, timeout=900)
            if run["JobRunState"] != "SUCCEEDED":
                return {"database": {"equal": False, "problems": [f"{merge_job}: {run.get('ErrorMessage')}"]}}
            console.print(f"[bold]merge[/] {merge_job} in {time.perf_counter() - t0:.1f}s")
            pseudonymizer = twin_pseudonymizer(
                twin.client("secretsmanager"), twin.outputs[f"RetailLake-{stage}-Ingestion"]["PseudonymizationSecretArn"])
            comparisons = compare_all(conn, twin.client("s3"), storage["CuratedBucketName"], "operational/",
                                      pseudonymizer)
            t0 = time.perf_counter()
            values = personal_values(twin.client("s3"), batch["CdcLandingBucketName"], schema_prefix(SCHEMA), conn)
            shared = [storage[f"{zone}BucketName"] for zone in ("Raw", "Curated", "Quarantine", "Analytics")]
            leaks = find_clear_text(twin.client("s3"), shared, values)
            console.print(f"[bold]privacy[/] {len(values):,} personal values of the database (e-mails, phones, streets, "
                          f"names) searched for in every object of raw, curated, quarantine and analytics: "
                          f"{len(leaks)} found in clear text ({time.perf_counter() - t0:.1f}s)",
                          style="red" if leaks else None)
        finally:
            dms.stop_replication_task(ReplicationTaskArn=task)
    table = Table(title="Curated = the operational store, row for row (names, e-mails, phones, streets as pseudonyms)")
    for column in ("table", "database rows", "curated rows", "only in db", "only in curated"):
        table.add_column(column, justify="right" if column != "table" else "left")
    for c in comparisons:
        table.add_row(c.table, f"{c.database_rows:,}", f"{c.curated_rows:,}", str(len(c.only_in_database)),
                      str(len(c.only_in_curated)), style=None if c.equal else "red")
    console.print(table)
    equal = all(c.equal for c in comparisons)
    problems = [f"curated {c.table} differs from the database (e.g. only in db: {c.only_in_database[:1]}, only in "
                f"curated: {c.only_in_curated[:1]})" for c in comparisons if not c.equal]
    problems += [f"clear-text {f.kind} of the database in s3://{f.bucket}/{f.key} ({f.where})" for f in leaks[:20]]
    return {"database": {"equal": equal and not leaks, "changes": changes,
                         "seconds": round(time.perf_counter() - started, 1),
                         "tables": {c.table: c.database_rows for c in comparisons},
                         "clear_text_personal_values": len(leaks), "problems": problems}}
