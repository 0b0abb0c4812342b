"""DMS replication tasks on the embedded twin: `StartReplicationTask` really replicates a PostgreSQL source into
the twin's S3, in the DMS S3 target's layout.

    dms = twin.client("dms")
    dms.start_replication_task(ReplicationTaskArn=arn, StartReplicationTaskType="start-replication")
    twin.executor("dms").wait_caught_up(arn)       # every change committed so far is written to S3
    dms.stop_replication_task(ReplicationTaskArn=arn)

What a task does (`full-load-and-cdc`; `full-load` stops after the load, `cdc` skips it):
1. reads its source endpoint: `PostgreSQLSettings.SecretsManagerSecretId` names a secret holding `host`, `port`,
   `username`, `password` and `dbname` (as a DMS endpoint with Secrets Manager credentials reads it), else the
   endpoint's own ServerName/Port/Username/Password/DatabaseName;
2. reads its S3 target endpoint's `S3Settings` (BucketName, BucketFolder, TimestampColumnName,
   IncludeOpForFullLoad, EncryptionMode and ServerSideEncryptionKmsKeyId: SSE-KMS objects with that key) and its table mappings: the include selection rules name the tables, an `add-column`
   transformation with the expression `$AR_H_CHANGE_SEQ` adds the change-sequence column under its name;
3. full load: creates the task's logical replication slot (pgoutput) and reads every table in the snapshot the
   slot exported, writing `<folder>/<schema>/<table>/LOAD00000001.parquet` (Op `I`, the load time as timestamp);
4. CDC: polls the slot every `poll_interval` seconds; the changes of each poll become one file per table,
   `<folder>/<schema>/<table>/<YYYYMMDD-HHMMSSmmm>.parquet`, rows in commit order with `Op` I/U/D, the commit
   timestamp and the change sequence; the slot is advanced only after the files are written.
A restarted task (`resume-processing`, or any start while its slot exists) continues CDC where it stopped; a
`reload-target` start drops the slot and loads again. A failure marks the task `failed`
(`executor.errors[arn]` holds why). Status through moto's API: `starting` -> `running` -> `stopped`/`failed`.
The publication the slot decodes is `PostgreSQLSettings.PluginName`-independent: the task uses the source's
publication named in the endpoint's `ExtraConnectionAttributes` (`PublicationName=...`) or `retail_lake_cdc`.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from retail_lake.sources.cdc import layout
from retail_lake.twin.executors import Executor, register_executor
from retail_lake.twin.logical_decoding import Change, LogicalCapture, change_seq

log = logging.getLogger(__name__)
DEFAULT_PUBLICATION = "retail_lake_cdc"


@dataclass
class TaskSpec:
    arn: str
    migration_type: str
    dsn: str
    tables: list[tuple[str, str]]
    bucket: str
    folder: str
    kms_key_id: str | None  # SSE-KMS key of the change files (EncryptionMode SSE_KMS), else the bucket's default
    timestamp_column: str
    change_seq_column: str | None
    include_op_for_full_load: bool
    slot: str
    publication: str


@dataclass
class _Running:
    spec: TaskSpec
    capture: LogicalCapture
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    written_lsn: int = 0
    files: list[str] = field(default_factory=list)
    last_file: dict[tuple[str, str], str] = field(default_factory=dict)
    changes_written: int = 0
    empty_polls: int = 0  # polls that found nothing new: the task had caught up when each began
    loaded: bool = False


def _dsn(info: dict[str, Any]) -> str:
    return (f"host={info['host']} port={info['port']} dbname={info['dbname']} user={info['username']} "
            f"password={info['password']} connect_timeout=10")


@register_executor
class DmsExecutor(Executor):
    name = "dms"

    def __init__(self, poll_interval: float = 0.5) -> None:
        self.poll_interval = poll_interval
        self.running: dict[str, _Running] = {}
        self.errors: dict[str, str] = {}
        self._originals: dict[str, Any] = {}
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ moto hook
    def attach(self, twin: Any) -> None:
        from retail_lake.twin.account import NotEmbeddedError

        super().attach(twin)
        if not twin.is_embedded:
            raise NotEmbeddedError("the DMS executor runs only on the embedded twin")
        from moto.dms.models import DatabaseMigrationServiceBackend as Backend

        self._originals = {"start": Backend.start_replication_task, "stop": Backend.stop_replication_task}
        executor = self

        def start_replication_task(backend: Any, replication_task_arn: str, *args: Any, **kwargs: Any) -> Any:
            task = executor._originals["start"](backend, replication_task_arn, *args, **kwargs)
            start_type = kwargs.get("start_replication_task_type") or "start-replication"
            executor.start(backend, task, start_type)
            return task

        def stop_replication_task(backend: Any, replication_task_arn: str) -> Any:
            executor.stop(replication_task_arn)
            return executor._originals["stop"](backend, replication_task_arn)

        Backend.start_replication_task = start_replication_task
        Backend.stop_replication_task = stop_replication_task

    def close(self) -> None:
        for arn in list(self.running):
            self.stop(arn)
        if self._originals:
            from moto.dms.models import DatabaseMigrationServiceBackend as Backend

            Backend.start_replication_task = self._originals["start"]
            Backend.stop_replication_task = self._originals["stop"]
            self._originals = {}

    # ------------------------------------------------------------------ task specification
    def task_spec(self, backend: Any, task: Any) -> TaskSpec:
        endpoints = {e.endpoint_arn: e for e in backend.endpoints.values()}
        source, target = endpoints[task.source_endpoint_arn], endpoints[task.target_endpoint_arn]
        if source.engine_name not in ("postgres", "aurora-postgresql"):
            raise ValueError(f"source engine {source.engine_name!r}: the twin replicates PostgreSQL sources only")
        settings = source.postgre_sql_settings or {}
        if settings.get("SecretsManagerSecretId"):
            secret = self.twin.client("secretsmanager").get_secret_value(SecretId=settings["SecretsManagerSecretId"])
            info = json.loads(secret["SecretString"])
            missing = [k for k in ("host", "port", "username", "password") if k not in info]
            if missing:
                raise ValueError(f"secret {settings['SecretsManagerSecretId']} lacks {', '.join(missing)}")
            info.setdefault("dbname", settings.get("DatabaseName") or source.database_name)
        else:
            info = {"host": source.server_name, "port": source.port, "username": source.username,
                    "password": source.password, "dbname": source.database_name}
        s3 = target.s3_settings or {}
        if not s3.get("BucketName"):
            raise ValueError("the target endpoint has no S3Settings.BucketName")
        mappings = json.loads(task.table_mappings)
        change_seq_column = next((r["value"] for r in mappings["rules"] if r.get("rule-action") == "add-column"
                                  and r.get("expression") == "$AR_H_CHANGE_SEQ"), None)
        attributes = dict(part.split("=", 1) for part in (source.extra_connection_attributes or "").split(";")
                          if "=" in part)
        slot = settings.get("SlotName") or re.sub(r"[^a-z0-9_]", "_", f"dms_{task.id}".lower())[:63]
        return TaskSpec(
            arn=task.arn, migration_type=task.migration_type, dsn=_dsn(info), tables=layout.selected_tables(mappings),
            bucket=s3["BucketName"], folder=str(s3.get("BucketFolder") or "").strip("/"),
            kms_key_id=(s3.get("ServerSideEncryptionKmsKeyId") or None)
            if str(s3.get("EncryptionMode", "")).upper() == "SSE_KMS" else None,
            timestamp_column=s3.get("TimestampColumnName") or layout.COMMIT_TS_COLUMN,
            change_seq_column=change_seq_column,
            include_op_for_full_load=str(s3.get("IncludeOpForFullLoad", "false")).lower() == "true",
            slot=slot, publication=attributes.get("PublicationName", DEFAULT_PUBLICATION))

    # ------------------------------------------------------------------ running
    def start(self, backend: Any, task: Any, start_type: str = "start-replication") -> None:
        with self._lock:
            if task.arn in self.running:
                raise RuntimeError(f"replication task {task.id} is already running")
            self.errors.pop(task.arn, None)
            spec = self.task_spec(backend, task)
            running = _Running(spec, LogicalCapture(spec.dsn, spec.tables, slot=spec.slot,
                                                    publication=spec.publication))
            self.running[task.arn] = running
        running.thread = threading.Thread(target=self._run, args=(running, task, start_type),
                                          name=f"twin-dms-{task.id}", daemon=True)
        running.thread.start()

    def _run(self, running: _Running, task: Any, start_type: str) -> None:
        spec, capture = running.spec, running.capture
        try:
            if start_type == "reload-target" and capture.slot_exists():
                capture.drop_slot()
            if not capture.slot_exists():
                if spec.migration_type in ("full-load", "full-load-and-cdc"):
                    loads = capture.start()
                    for (schema, table), rows in loads.items():
                        self._write_load(running, schema, table, rows)
                    running.loaded = True
                    if spec.migration_type == "full-load":
                        capture.drop_slot()
                        task.status = "stopped"
                        task.stop_date = dt.datetime.now(dt.timezone.utc)
                        return
                else:
                    capture.start()  # cdc only: the slot marks where changes begin
            while not running.stop.is_set():
                batch = capture.poll()
                if batch.changes:
                    self._write_changes(running, batch.changes)
                if batch.end_lsn is not None:
                    capture.confirm(batch.end_lsn)
                    running.written_lsn = batch.end_lsn
                if not batch.changes:
                    running.empty_polls += 1
                    running.stop.wait(self.poll_interval)
        except Exception as error:  # noqa: BLE001 - the task fails as DMS reports it
            log.exception("replication task %s failed", task.id)
            self.errors[task.arn] = f"{type(error).__name__}: {error}"
            task.status = "failed"
        finally:
            capture.close()

    def _key(self, spec: TaskSpec, schema: str, table: str, name: str) -> str:
        return (f"{spec.folder}/" if spec.folder else "") + f"{schema}/{table}/{name}"

    def _put(self, running: _Running, key: str, table: pa.Table) -> None:
        sink = io.BytesIO()
        pq.write_table(table, sink)
        encryption = ({"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": running.spec.kms_key_id}
                      if running.spec.kms_key_id else {})
        self.twin.client("s3").put_object(Bucket=running.spec.bucket, Key=key, Body=sink.getvalue(), **encryption)
        running.files.append(key)

    def _write_load(self, running: _Running, schema: str, table: str, rows: pa.Table) -> None:
        spec, now = running.spec, dt.datetime.now(dt.timezone.utc)
        header: list[tuple[str, pa.Array]] = []
        if spec.include_op_for_full_load:
            header.append((layout.OP_COLUMN, pa.array(["I"] * rows.num_rows, pa.string())))
        header.append((spec.timestamp_column, pa.array([now] * rows.num_rows, pa.timestamp("us", tz="UTC"))))
        if spec.change_seq_column:
            header.append((spec.change_seq_column, pa.array([""] * rows.num_rows, pa.string())))
        out = pa.Table.from_arrays([a for _, a in header] + rows.columns,
                                   names=[n for n, _ in header] + rows.column_names)
        self._put(running, self._key(spec, schema, table, layout.load_file_name(1)), out)

    def _write_changes(self, running: _Running, changes: list[Change]) -> None:
        spec = running.spec
        by_table: dict[tuple[str, str], list[Change]] = {}
        for change in changes:
            by_table.setdefault((change.schema, change.table), []).append(change)
        for (schema, table), items in by_table.items():
            columns, types = running.capture.column_types(schema, table)
            arrays = [pa.array([c.op for c in items], pa.string()),
                      pa.array([c.commit_ts for c in items], pa.timestamp("us", tz="UTC"))]
            names = [layout.OP_COLUMN, spec.timestamp_column]
            if spec.change_seq_column:
                arrays.append(pa.array([change_seq(c.commit_lsn, c.index) for c in items], pa.string()))
                names.append(spec.change_seq_column)
            for column, type_ in zip(columns, types):
                arrays.append(pa.array([c.values.get(column) for c in items], type=type_))
                names.append(column)
            name = layout.cdc_file_name(items[0].commit_ts)
            previous = running.last_file.get((schema, table))
            while previous is not None and name <= previous:  # two batches in one millisecond: keep names ordered
                stamp = dt.datetime.strptime(name[:18], "%Y%m%d-%H%M%S%f").replace(tzinfo=dt.timezone.utc)
                name = layout.cdc_file_name(stamp + dt.timedelta(milliseconds=1))
            running.last_file[(schema, table)] = name
            self._put(running, self._key(spec, schema, table, name), pa.Table.from_arrays(arrays, names=names))
            running.changes_written += len(items)

    def stop(self, task_arn: str, timeout: float = 30.0) -> None:
        running = self.running.pop(task_arn, None)
        if running is None:
            return
        running.stop.set()
        if running.thread is not None:
            running.thread.join(timeout)

    def wait_caught_up(self, task_arn: str, timeout: float = 60.0) -> None:
        """Block until every change committed before this call is written to S3 (two empty polls begun after
        it), or raise when the task failed, stopped or did not catch up within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        running = self.running.get(task_arn)
        if running is None:
            raise RuntimeError(f"replication task {task_arn} is not running; {self.errors.get(task_arn, '')}")
        start = running.empty_polls
        while running.empty_polls < start + 2:
            if task_arn in self.errors:
                raise RuntimeError(f"replication task {task_arn} failed: {self.errors[task_arn]}")
            if running.thread is not None and not running.thread.is_alive():
                return  # a full-load task that finished
            if time.monotonic() > deadline:
                raise TimeoutError(f"replication task {task_arn} did not catch up within {timeout}s")
            time.sleep(0.05)
