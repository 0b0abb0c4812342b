"""Running Athena statements through the API (boto3), the way the CLI, the report and the view refresh do:
start, poll until a final state, page through the results.

    result = run_query(session.client("athena"), "SELECT 1 AS x", workgroup="retail-lake-dev", database="...")
    result.columns   # [("x", "integer")]
    result.rows      # [["1"]]  (Athena's strings; None for NULL)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from retail_lake.serving import catalog

FINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")


class QueryFailed(RuntimeError):
    """The query ran and ended FAILED or CANCELLED; `reason` is Athena's StateChangeReason."""

    def __init__(self, query_id: str, state: str, reason: str, athena_error: dict[str, Any] | None) -> None:
        super().__init__(f"Athena query {query_id} {state}: {reason}")
        self.query_id, self.state, self.reason, self.athena_error = query_id, state, reason, athena_error or {}


class QueryTimeout(TimeoutError):
    pass


@dataclass
class QueryResult:
    query_id: str
    columns: list[tuple[str, str]]  # (name, Athena type)
    rows: list[list[str | None]]
    statement_type: str
    statistics: dict[str, Any] = field(default_factory=dict)

    @property
    def bytes_scanned(self) -> int:
        return int(self.statistics.get("DataScannedInBytes", 0))

    def records(self) -> list[dict[str, str | None]]:
        names = [name for name, _ in self.columns]
        return [dict(zip(names, row)) for row in self.rows]


def start_query(athena: Any, sql: str, *, workgroup: str, database: str | None = None) -> str:
    kwargs: dict[str, Any] = {"QueryString": sql, "WorkGroup": workgroup}
    if database:
        kwargs["QueryExecutionContext"] = {"Database": database}
    return athena.start_query_execution(**kwargs)["QueryExecutionId"]


def wait_for_query(athena: Any, query_id: str, *, timeout: float = 600.0, poll: float = 0.1) -> dict[str, Any]:
    """The QueryExecution once final; QueryFailed if it did not succeed. The poll interval doubles up to 2 s."""
    deadline = time.monotonic() + timeout
    while True:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        state = execution["Status"]["State"]
        if state in FINAL_STATES:
            if state != "SUCCEEDED":
                status = execution["Status"]
                raise QueryFailed(query_id, state, status.get("StateChangeReason", ""), status.get("AthenaError"))
            return execution
        if time.monotonic() > deadline:
            raise QueryTimeout(f"Athena query {query_id} still {state} after {timeout:g}s")
        time.sleep(poll)
        poll = min(poll * 2, 2.0)


def fetch_results(athena: Any, query_id: str, statement_type: str = "DML") -> tuple[list[tuple[str, str]], list[list[str | None]]]:
    columns: list[tuple[str, str]] = []
    rows: list[list[str | None]] = []
    first = True
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
        result_set = page["ResultSet"]
        if not columns:
            columns = [(c["Name"], c["Type"]) for c in result_set["ResultSetMetadata"]["ColumnInfo"]]
        page_rows = result_set.get("Rows", [])
        if first and statement_type == "DML" and page_rows:
            page_rows = page_rows[1:]  # a query's first row is the header
        first = False
        rows += [[cell.get("VarCharValue") for cell in row["Data"]] for row in page_rows]
    return columns, rows


def run_query(athena: Any, sql: str, *, workgroup: str, database: str | None = None,
              timeout: float = 600.0) -> QueryResult:
    query_id = start_query(athena, sql, workgroup=workgroup, database=database)
    execution = wait_for_query(athena, query_id, timeout=timeout)
    statement_type = execution.get("StatementType", "DML")
    columns, rows = fetch_results(athena, query_id, statement_type)
    return QueryResult(query_id, columns, rows, statement_type, execution.get("Statistics", {}))


def create_views(athena: Any, *, workgroup: str, analytics_database: str) -> list[str]:
    """Create (or replace) every serving view in the analytics database; returns the view names, in order."""
    files = catalog.views()
    created = []
    for name in catalog.view_order():
        run_query(athena, files[name].render(analytics=analytics_database), workgroup=workgroup,
                  database=analytics_database)
        created.append(name)
    return created


def run_named_query(athena: Any, name: str, *, workgroup: str, analytics_database: str,
                    quality_database: str | None = None) -> QueryResult:
    """Run one of the business questions (`catalog.named_queries()`) as the stage's named query does."""
    queries = catalog.named_queries()
    if name not in queries:
        raise KeyError(f"no named query {name!r}; known: {', '.join(queries)}")
    sql = queries[name].render(analytics=analytics_database, quality=quality_database or analytics_database)
    return run_query(athena, sql, workgroup=workgroup, database=analytics_database)
