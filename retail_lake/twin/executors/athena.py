"""Athena queries on the embedded twin: `StartQueryExecution` really runs the SQL (see `retail_lake.twin.athena`).

    twin.deploy("cdk.out")                    # AWS::Athena::WorkGroup provisioned by the twin (attaches this executor)
    athena = twin.client("athena")
    qid = athena.start_query_execution(QueryString="SELECT ...", WorkGroup=wg,
                                       QueryExecutionContext={"Database": db})["QueryExecutionId"]   # at once
    athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]["State"]  # QUEUED/RUNNING/SUCCEEDED
    athena.get_query_results(QueryExecutionId=qid)            # pages of rows, header row first, Athena's types
    twin.executor("athena").wait(qid)                         # or poll get_query_execution, as against Athena

What happens, as on Athena:
- the output location is the workgroup's when it enforces its configuration (`EnforceWorkGroupConfiguration`),
  else the request's, else the workgroup's; none fails the call with Athena's InvalidRequestException message.
  The result goes to `<location><query id>.csv` (header, every value quoted, NULL as an empty field; written
  with the workgroup's encryption: SSE-KMS with its key) with `<query id>.csv.metadata` (the column info as JSON;
  Athena's own is binary); DDL writes `<query id>.txt`. A CTAS writes Parquet to its `external_location` or
  `<location>tables/<query id>/`, the manifest `<location>tables/<query id>-manifest.csv`
  (`Statistics.DataManifestLocation`), and creates the Glue table: `awswrangler.athena.read_sql_query` works
  with `ctas_approach` True (its default) or False.
- `GetQueryExecution` reports QUEUED, RUNNING, then SUCCEEDED, FAILED or CANCELLED, with real times and
  `Statistics` (`DataScannedInBytes` = bytes of the objects read, `EngineExecutionTimeInMillis`, ...). A failed
  query carries `StateChangeReason` ("<ERROR_NAME>: line l:c: ...") and `AthenaError` (category 2 = user error,
  a type number, `Retryable` false, the message).
- the workgroup's `BytesScannedCutoffPerQuery` cancels a query that read more (CANCELLED, "Bytes scanned limit
  was exceeded").
- `ExecutionParameters` fill the statement's `?` placeholders in order (each value is SQL literal text).

moto hook: `AthenaResponse.start_query_execution`, `get_query_execution`, `batch_get_query_execution`,
`get_query_results`, `stop_query_execution` and `list_query_executions` are replaced while attached (restored on
close); workgroups, named queries and data catalogs stay moto's. Queries run on two worker threads.

Limits: partitions are read from the object layout (as with partition projection), not from registered
partitions; data scanned is counted per object, not per column read; result reuse, query queues, `StopQueryExecution`
of a running query (it ends as it ends; a queued one is cancelled), prepared statements and federated catalogs are
not emulated; SQL that sqlglot cannot translate or DuckDB cannot run fails with NOT_SUPPORTED or the DuckDB error.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from retail_lake.twin.athena.engine import AthenaEngine, Outcome
from retail_lake.twin.athena.errors import AthenaQueryError
from retail_lake.twin.athena.statements import parse_statement
from retail_lake.twin.athena.tables import GlueTableReader
from retail_lake.twin.athena.types import column_info, format_value
from retail_lake.twin.executors import Executor, register_executor

log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"
FINAL_STATES = frozenset({SUCCEEDED, FAILED, CANCELLED})
MAX_PAGE = 1000
ENGINE_VERSION = {"SelectedEngineVersion": "Athena engine version 3",
                  "EffectiveEngineVersion": "Athena engine version 3"}
NO_OUTPUT_LOCATION = ("No output location provided. An output location is required either through the Workgroup "
                      "result configuration setting or as an API input.")
_PATCHED = ("start_query_execution", "get_query_execution", "batch_get_query_execution", "get_query_results",
            "stop_query_execution", "list_query_executions")
_ACTIVE: AthenaQueryExecutor | None = None


class QueryWaitTimeout(TimeoutError):
    pass


@dataclass
class QueryExecution:
    query_id: str
    query: str
    database: str
    catalog: str
    workgroup: str
    result_configuration: dict[str, Any]
    workgroup_configuration: dict[str, Any]
    execution_parameters: list[str] | None
    root: str = ""  # the output location's folder: results and CTAS tables go below it
    state: str = QUEUED
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    completed: float | None = None
    statement_type: str = "DML"
    outcome: Outcome | None = None
    error: AthenaQueryError | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def output_location(self) -> str | None:
        return self.result_configuration.get("OutputLocation")

    def describe(self) -> dict[str, Any]:
        status: dict[str, Any] = {"State": self.state, "SubmissionDateTime": self.submitted}
        if self.completed is not None:
            status["CompletionDateTime"] = self.completed
        if self.error is not None:
            status["StateChangeReason"] = str(self.error)
            status["AthenaError"] = self.error.athena_error()
        queued_ms = int(((self.started or time.time()) - self.submitted) * 1000)
        engine_ms = int(((self.completed or time.time()) - self.started) * 1000) if self.started else 0
        statistics: dict[str, Any] = {
            "EngineExecutionTimeInMillis": engine_ms,
            "DataScannedInBytes": self.outcome.bytes_scanned if self.outcome else 0,
            "TotalExecutionTimeInMillis": queued_ms + engine_ms,
            "QueryQueueTimeInMillis": queued_ms,
            "ServicePreProcessingTimeInMillis": 0,
            "QueryPlanningTimeInMillis": 0,
            "ServiceProcessingTimeInMillis": 0,
            "ResultReuseInformation": {"ReusedPreviousResult": False},
        }
        if self.outcome is not None and self.outcome.manifest_location:
            statistics["DataManifestLocation"] = self.outcome.manifest_location
        described = {
            "QueryExecutionId": self.query_id,
            "Query": self.query,
            "StatementType": self.statement_type,
            "ResultConfiguration": self.result_configuration,
            "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": False}},
            "QueryExecutionContext": {"Database": self.database, "Catalog": self.catalog},
            "Status": status,
            "Statistics": statistics,
            "WorkGroup": self.workgroup,
            "EngineVersion": ENGINE_VERSION,
        }
        if self.execution_parameters:
            described["ExecutionParameters"] = self.execution_parameters
        return described


@register_executor
class AthenaQueryExecutor(Executor):
    name = "athena"

    def __init__(self, workers: int = 2) -> None:
        self.executions: dict[str, QueryExecution] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="twin-athena")
        self._originals: dict[str, Any] = {}
        self._engine: AthenaEngine | None = None

    # ------------------------------------------------------------------------------------------ lifecycle
    def attach(self, twin) -> None:
        super().attach(twin)
        if not twin.is_embedded:
            return  # an external endpoint runs Athena itself
        global _ACTIVE
        from moto.athena.responses import AthenaResponse

        self._engine = AthenaEngine(twin.client("glue"), twin.client("s3"), GlueTableReader(twin.client("s3")))
        for name in _PATCHED:
            self._originals[name] = AthenaResponse.__dict__.get(name)
            setattr(AthenaResponse, name, _RESPONSES[name])
        _ACTIVE = self

    def close(self) -> None:
        global _ACTIVE
        from moto.athena.responses import AthenaResponse

        for name, original in self._originals.items():
            if original is None:
                if name in AthenaResponse.__dict__:
                    delattr(AthenaResponse, name)
            else:
                setattr(AthenaResponse, name, original)
        self._originals.clear()
        if _ACTIVE is self:
            _ACTIVE = None
        self._pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------------------------------------ API
    def start(self, *, query: str, context: dict[str, Any] | None, result_configuration: dict[str, Any] | None,
              workgroup_name: str, workgroup_configuration: dict[str, Any],
              execution_parameters: list[str] | None) -> QueryExecution:
        query_id = str(uuid.uuid4())
        configuration = _effective_result_configuration(result_configuration or {}, workgroup_configuration)
        if not configuration.get("OutputLocation"):
            raise _RequestError(NO_OUTPUT_LOCATION)
        root = configuration["OutputLocation"]
        if not root.endswith("/"):
            root += "/"
        try:
            statement_type = parse_statement(query).statement_type
        except AthenaQueryError:
            statement_type = "DML"
        suffix = ".txt" if statement_type == "DDL" and not query.lstrip().upper().startswith("CREATE TABLE") else ".csv"
        configuration["OutputLocation"] = f"{root}{query_id}{suffix}"
        context = context or {}
        execution = QueryExecution(
            query_id=query_id, query=query, database=(context.get("Database") or "default"),
            catalog=context.get("Catalog") or "AwsDataCatalog", workgroup=workgroup_name,
            result_configuration=configuration, workgroup_configuration=workgroup_configuration,
            execution_parameters=execution_parameters, root=root, statement_type=statement_type,
        )
        with self._lock:
            self.executions[query_id] = execution
        self._pool.submit(self._run, execution)
        return execution

    def get(self, query_id: str) -> QueryExecution:
        with self._lock:
            execution = self.executions.get(query_id)
        if execution is None:
            raise _RequestError(f"QueryExecution {query_id} was not found")
        return execution

    def stop(self, query_id: str) -> None:
        execution = self.get(query_id)
        with self._lock:
            if execution.state == QUEUED:
                execution.state = CANCELLED
                execution.completed = time.time()
                execution.done.set()

    def wait(self, query_id: str, timeout: float = 300.0) -> QueryExecution:
        execution = self.get(query_id)
        if not execution.done.wait(timeout):
            raise QueryWaitTimeout(f"query {query_id} still {execution.state} after {timeout:g}s")
        return execution

    # ------------------------------------------------------------------------------------------ running
    def _run(self, execution: QueryExecution) -> None:
        with self._lock:
            if execution.state != QUEUED:
                return
            execution.state = RUNNING
            execution.started = time.time()
        try:
            sql = _bind_parameters(execution.query, execution.execution_parameters)
            assert self._engine is not None
            outcome = self._engine.run(sql, database=execution.database, query_id=execution.query_id,
                                       output_root=execution.root,
                                       put_object=lambda uri, body: self._put(execution, uri, body))
            execution.outcome = outcome
            execution.statement_type = outcome.statement_type
            cutoff = execution.workgroup_configuration.get("BytesScannedCutoffPerQuery")
            if cutoff and outcome.bytes_scanned > int(cutoff):
                raise _Cancelled(AthenaQueryError(
                    "EXCEEDED_BYTES_SCANNED_LIMIT",
                    f"Query cancelled! : Bytes scanned limit was exceeded ({outcome.bytes_scanned:,} bytes scanned, "
                    f"workgroup {execution.workgroup} allows {int(cutoff):,} per query)"))
            self._write_results(execution, outcome)
            final = SUCCEEDED
        except _Cancelled as cancelled:
            execution.error, final = cancelled.error, CANCELLED
        except AthenaQueryError as error:
            execution.error, final = error, FAILED
        except Exception as error:  # a defect of the twin: reported as Athena's internal error, logged in full
            log.exception("athena query %s failed inside the twin", execution.query_id)
            execution.error = AthenaQueryError("GENERIC_INTERNAL_ERROR", f"{type(error).__name__}: {error}",
                                               category=1)
            final = FAILED
        with self._lock:
            execution.state = final
            execution.completed = time.time()
        execution.done.set()

    def _put(self, execution: QueryExecution, uri: str, body: bytes) -> None:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        extra: dict[str, Any] = {}
        encryption = execution.result_configuration.get("EncryptionConfiguration") or {}
        if encryption.get("EncryptionOption") in ("SSE_KMS", "CSE_KMS"):
            extra["ServerSideEncryption"] = "aws:kms"
            if encryption.get("KmsKey"):
                extra["SSEKMSKeyId"] = encryption["KmsKey"]
        elif encryption.get("EncryptionOption") == "SSE_S3":
            extra["ServerSideEncryption"] = "AES256"
        self.twin.client("s3").put_object(Bucket=bucket, Key=key, Body=body, **extra)

    def _write_results(self, execution: QueryExecution, outcome: Outcome) -> None:
        location = execution.output_location
        assert location is not None
        if outcome.result is None:
            self._put(execution, location, b"")
            return
        self._put(execution, location, result_csv(outcome.result))
        metadata = {"ColumnInfo": [column_info(f.name, f.type) for f in outcome.result.schema]}
        self._put(execution, f"{location}.metadata", json.dumps(metadata).encode())

    # ------------------------------------------------------------------------------------------ results
    def results_page(self, query_id: str, max_results: int | None, next_token: str | None) -> dict[str, Any]:
        execution = self.get(query_id)
        if execution.state != SUCCEEDED:
            if execution.state in FINAL_STATES:
                raise _RequestError(f"Query did not finish successfully. Final query state: {execution.state}"
                                    + (f"\n{execution.error}" if execution.error else ""))
            raise _RequestError(f"Query has not yet finished. Current state: {execution.state}")
        table = execution.outcome.result if execution.outcome else None
        limit = min(max_results or MAX_PAGE, MAX_PAGE)
        if table is None:
            return {"ResultSet": {"Rows": [], "ResultSetMetadata": {"ColumnInfo": []}}, "UpdateCount": 0}
        try:
            offset = int(next_token) if next_token else 0
        except ValueError:
            raise _RequestError(f"NextToken {next_token!r} is not valid for query {query_id}") from None
        with_header = execution.statement_type == "DML"
        total = table.num_rows + (1 if with_header else 0)
        rows = []
        end = min(offset + limit, total)
        if with_header and offset == 0:
            rows.append({"Data": [{"VarCharValue": name} for name in table.column_names]})
        first = max(offset - (1 if with_header else 0), 0)
        last = end - (1 if with_header else 0)
        if last > first:
            columns = [column.to_pylist() for column in table.slice(first, last - first).columns]
            rows += [{"Data": [_cell(column[i]) for column in columns]} for i in range(last - first)]
        page: dict[str, Any] = {
            "ResultSet": {"Rows": rows,
                          "ResultSetMetadata": {"ColumnInfo": [column_info(f.name, f.type) for f in table.schema]}},
            "UpdateCount": 0 if with_header else table.num_rows,
        }
        if offset + limit < total:
            page["NextToken"] = str(offset + limit)
        return page


def result_csv(table: pa.Table) -> bytes:
    """Athena's result file: a header, every value in double quotes, NULL as an empty unquoted field."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(table.column_names)
    for batch in table.to_batches(max_chunksize=10_000):
        for record in batch.to_pylist():
            values = [format_value(record[name]) for name in table.column_names]
            out.write(",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in values) + "\n")
    return out.getvalue().encode()


def _cell(value: Any) -> dict[str, str]:
    text = format_value(value)
    return {} if text is None else {"VarCharValue": text}


def _effective_result_configuration(requested: dict[str, Any], workgroup: dict[str, Any]) -> dict[str, Any]:
    group = dict(workgroup.get("ResultConfiguration") or {})
    if workgroup.get("EnforceWorkGroupConfiguration", True) and group.get("OutputLocation"):
        return group
    merged = {**group, **requested}
    return merged


def _bind_parameters(sql: str, parameters: list[str] | None) -> str:
    if not parameters:
        return sql
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="athena")
    placeholders = [p for p in tree.find_all(exp.Placeholder)]
    if len(placeholders) != len(parameters):
        raise AthenaQueryError("INVALID_PARAMETER_USAGE", f"the query has {len(placeholders)} parameter(s) `?` but "
                               f"{len(parameters)} ExecutionParameters were given")
    for placeholder, value in zip(placeholders, parameters):
        placeholder.replace(sqlglot.parse_one(value, read="athena"))
    return tree.sql(dialect="athena")


class _RequestError(Exception):
    """The API call itself fails (InvalidRequestException), as opposed to a query that runs and fails."""


class _Cancelled(Exception):
    def __init__(self, error: AthenaQueryError) -> None:
        super().__init__(str(error))
        self.error = error


# ---------------------------------------------------------------------------------------------- moto responses
def _executor() -> AthenaQueryExecutor:
    if _ACTIVE is None:
        raise RuntimeError("the twin's Athena executor is not attached")
    return _ACTIVE


def _invalid(response: Any, message: str) -> tuple[str, dict[str, int]]:
    return json.dumps({"__type": "InvalidRequestException", "Message": message}), {"status": 400}


def _start_query_execution(self: Any) -> Any:
    workgroup_name = self._get_param("WorkGroup") or "primary"
    workgroup = self.athena_backend.work_groups.get(workgroup_name)
    if workgroup is None:
        return _invalid(self, f"WorkGroup {workgroup_name} is not found.")
    if getattr(workgroup, "state", "ENABLED") == "DISABLED":
        return _invalid(self, f"WorkGroup {workgroup_name} is disabled.")
    try:
        execution = _executor().start(
            query=self._get_param("QueryString") or "",
            context=self._get_param("QueryExecutionContext"),
            result_configuration=self._get_param("ResultConfiguration"),
            workgroup_name=workgroup_name,
            workgroup_configuration=json.loads(json.dumps(workgroup.configuration or {})),
            execution_parameters=self._get_param("ExecutionParameters"),
        )
    except _RequestError as error:
        return _invalid(self, str(error))
    return json.dumps({"QueryExecutionId": execution.query_id})


def _get_query_execution(self: Any) -> Any:
    try:
        execution = _executor().get(self._get_param("QueryExecutionId"))
    except _RequestError as error:
        return _invalid(self, str(error))
    return json.dumps({"QueryExecution": execution.describe()})


def _batch_get_query_execution(self: Any) -> Any:
    found, missing = [], []
    for query_id in self._get_param("QueryExecutionIds") or []:
        try:
            found.append(_executor().get(query_id).describe())
        except _RequestError as error:
            missing.append({"QueryExecutionId": query_id, "ErrorCode": "InvalidRequestException",
                            "ErrorMessage": str(error)})
    return json.dumps({"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing})


def _get_query_results(self: Any) -> Any:
    try:
        page = _executor().results_page(self._get_param("QueryExecutionId"), self._get_param("MaxResults"),
                                        self._get_param("NextToken"))
    except _RequestError as error:
        return _invalid(self, str(error))
    return json.dumps(page)


def _stop_query_execution(self: Any) -> Any:
    try:
        _executor().stop(self._get_param("QueryExecutionId"))
    except _RequestError as error:
        return _invalid(self, str(error))
    return json.dumps({})


def _list_query_executions(self: Any) -> Any:
    workgroup = self._get_param("WorkGroup") or "primary"
    executor = _executor()
    with executor._lock:
        ids = [e.query_id for e in sorted(executor.executions.values(), key=lambda e: e.submitted, reverse=True)
               if e.workgroup == workgroup]
    return json.dumps({"QueryExecutionIds": ids})


_RESPONSES = {
    "start_query_execution": _start_query_execution,
    "get_query_execution": _get_query_execution,
    "batch_get_query_execution": _batch_get_query_execution,
    "get_query_results": _get_query_results,
    "stop_query_execution": _stop_query_execution,
    "list_query_executions": _list_query_executions,
}
