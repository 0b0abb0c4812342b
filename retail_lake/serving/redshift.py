"""Redshift Serverless: the external schema over the Glue catalog (Spectrum) and the load of the analytics tables,
run through the Redshift Data API. The SQL lives in `sql/redshift/`; this module renders it and runs it.

    load_analytics(boto3.client("redshift-data"), workgroup="retail-lake-prod", database="retail",
                   analytics_database="retail_lake_prod_analytics")

The daily pipeline calls the same Data API operations after the analytics job: `ExecuteStatement` with
`external_schema_statement(...)`, then `BatchExecuteStatement` with `load_statements()` (one transaction), each
followed by DescribeStatement until FINISHED. The Serving stack exports the workgroup and database names and
exposes both as `RedshiftWarehouse.external_schema_sql` / `load_sqls` for the state machine definition.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from retail_lake.serving import catalog

GOLD_TABLES = ("daily_sales", "inventory_position", "customer_360", "web_sessions", "conversion_funnel")
EXTERNAL_SCHEMA = "lake"
TARGET_SCHEMA = "public"
FINAL = ("FINISHED", "FAILED", "ABORTED")


class RedshiftLoadFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class LoadResult:
    statement_id: str
    status: str
    statements: int
    seconds: float


def split_statements(sql: str) -> list[str]:
    """The statements of a SQL file: comment lines dropped, split on `;`, empty pieces left out."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [piece.strip() for piece in body.split(";") if piece.strip()]


def external_schema_statement(*, analytics_database: str, external_schema: str = EXTERNAL_SCHEMA) -> str:
    """CREATE EXTERNAL SCHEMA over the analytics database (run on its own: not inside a transaction block)."""
    (statement,) = split_statements(catalog.redshift_statements()["01_external_schema"].render(
        analytics=analytics_database, external_schema=external_schema))
    return statement


def load_statements(*, tables: tuple[str, ...] = GOLD_TABLES, external_schema: str = EXTERNAL_SCHEMA,
                    target_schema: str = TARGET_SCHEMA) -> list[str]:
    """A rebuild of every table from the external schema, in order: one Data API batch, one transaction."""
    template = catalog.redshift_statements()["02_load_table"]
    statements: list[str] = []
    for table in tables:
        statements += split_statements(template.render(table=table, external_schema=external_schema,
                                                       target_schema=target_schema))
    return statements


def load_analytics(data_api: Any, *, workgroup: str, database: str, analytics_database: str,
                   tables: tuple[str, ...] = GOLD_TABLES, timeout: float = 3600.0, poll: float = 2.0) -> LoadResult:
    """Create the external schema if needed, then rebuild the tables in one batch; wait for both."""
    started = time.monotonic()
    schema_id = data_api.execute_statement(
        WorkgroupName=workgroup, Database=database,
        Sql=external_schema_statement(analytics_database=analytics_database))["Id"]
    _wait(data_api, schema_id, started, timeout, poll)
    statements = load_statements(tables=tables)
    statement_id = data_api.batch_execute_statement(WorkgroupName=workgroup, Database=database,
                                                    Sqls=statements)["Id"]
    status = _wait(data_api, statement_id, started, timeout, poll)
    return LoadResult(statement_id, status, len(statements) + 1, round(time.monotonic() - started, 2))


def _wait(data_api: Any, statement_id: str, started: float, timeout: float, poll: float) -> str:
    while True:
        described = data_api.describe_statement(Id=statement_id)
        status = described["Status"]
        if status in FINAL:
            break
        if time.monotonic() - started > timeout:
            raise RedshiftLoadFailed(f"Redshift statement {statement_id} still {status} after {timeout:g}s")
        time.sleep(poll)
    if status != "FINISHED":
        raise RedshiftLoadFailed(f"Redshift statement {statement_id} {status}: "
                                 f"{described.get('Error', 'no error given')}")
    return status
