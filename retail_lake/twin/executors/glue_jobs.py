"""Glue job runs on local Spark: a `StartJobRun` on the embedded twin really runs the job's script.

    twin.deploy("cdk.out")                      # AWS::Glue::Job provisioned by the twin (attaches this executor)
    glue = twin.client("glue")
    run_id = glue.start_job_run(JobName=name, Arguments={"--date": "2024-05-01"})["JobRunId"]   # returns at once
    glue.get_job_run(JobName=name, RunId=run_id)["JobRun"]["JobRunState"]   # STARTING/RUNNING -> SUCCEEDED|FAILED
    twin.executor("glue").wait(name, run_id)   # or poll get_job_run yourself, as against Glue

What a run does (`GlueJobExecutor.execute`, usable on its own: the service-independent part, `SparkScriptRun`,
is the shape an EMR Serverless executor reuses with its entry point and `entryPointArguments`):
1. downloads the script from the job's `Command.ScriptLocation` (the artifacts bucket the CDK asset went to);
2. takes the run's arguments as moto merged them, like Glue: the job's DefaultArguments, overridden by the
   run's Arguments, overridden by NonOverridableArguments;
3. stages every argument whose whole value is an `s3://bucket/prefix` (or `s3a://`) URI: the objects under the
   prefix are downloaded to `<run dir>/s3/<bucket>/<prefix>` and the argument is replaced by that **plain
   absolute local path** (trailing `/` kept), which Spark, pyarrow, pandas and `open()` all accept. A URI naming
   one object (its exact key exists and nothing lies under `key/`) becomes that file's path. A prefix without
   objects is not created locally (reading it fails as on S3; writers create it). Prefixes of one
   run share one mirror, so nested or repeated prefixes are consistent. Not staged: Glue's own code/dependency
   arguments (`--extra-py-files`, `--extra-files`, `--extra-jars`, `--additional-python-modules`, ...:
   **ignored locally**, the working tree's packages are importable), `--spark-event-logs-path`, and values
   holding several comma-separated URIs;
4. runs the script in-process with `runpy` as `__main__`, `sys.argv = [script, "--JOB_NAME", name,
   "--JOB_RUN_ID", run_id, "--key", "value", ...]` as Glue passes them, the script's directory first on
   `sys.path`, stdout/stderr to `<twin work dir>/glue/<job>/<run id>.log` (and to CloudWatch Logs
   `/aws-glue/jobs/output`, stream = run id). For `glueetl`/`gluestreaming` jobs one process-wide local
   SparkSession (`local_spark_session()`: local[2], UTC, UI off) is created first, so
   `SparkSession.builder.getOrCreate()` in the script returns it; SQL settings the script changes and temp views
   it registers are undone after the run. `pythonshell` jobs run without creating Spark;
5. syncs the staged directories back to S3, also after a failure (what a failing Glue job wrote stays on S3
   too): uploads every file created or changed (size or mtime) and deletes the objects whose local file the job
   deleted (so `mode("overwrite")` leaves no stale part files). Hadoop's local checksum files (`.name.crc`) and
   `_temporary/` directories are not uploaded. Then the run directory is removed.

Run states through moto's normal API: STARTING (queued), RUNNING, then SUCCEEDED or FAILED with `ErrorMessage`
(`"<ExceptionType>: <message>"`, truncated to 4,000 characters; `SystemExit(0)` counts as success), with real
`StartedOn`, `LastModifiedOn`, `CompletedOn` and `ExecutionTime` (seconds). moto hook: `GlueBackend.start_job_run`
is wrapped (the original creates the run and applies MaxConcurrentRuns; the wrapper re-classes the run so its
state is the executor's, then queues it) and restored on close.

Limits: one worker thread runs every run of every job, one at a time (the SparkSession, `sys.argv`, stdout and
the process environment are shared), so runs of the same job and of different jobs are serialized; a run queued
behind another stays STARTING. `Timeout`, `MaxRetries`, `BatchStopJobRun`, job bookmarks, `--TempDir`
semantics beyond staging, worker type/count (always local[2]) and GlueContext/DynamicFrame (the `awsglue` stand-ins
on PyPI give only `getResolvedOptions`: scripts use plain PySpark) are not emulated. Staging downloads whole
prefixes: point arguments at the partitions a run needs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import runpy
import shutil
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from retail_lake.twin.executors import Executor, register_executor
from retail_lake.twin.executors.thread_output import thread_output

log = logging.getLogger(__name__)

STARTING, RUNNING, SUCCEEDED, FAILED = "STARTING", "RUNNING", "SUCCEEDED", "FAILED"
TERMINAL_STATES = frozenset({SUCCEEDED, FAILED, "STOPPED", "ERROR", "TIMEOUT"})
SPARK_COMMANDS = frozenset({"glueetl", "gluestreaming"})
# Glue's own arguments naming code, dependencies or logs: passed through to the script, never staged.
UNSTAGED_ARGUMENTS = frozenset({
    "--extra-py-files", "--extra-files", "--extra-jars", "--additional-python-modules",
    "--python-modules-installer-option", "--spark-event-logs-path", "--scriptLocation", "--conf",
})
_S3_URI = re.compile(r"^s3a?://[^/\s,]+(/[^\s,]*)?$")
_MAX_ERROR_MESSAGE = 4000


class JobRunWaitTimeout(TimeoutError):
    pass


# ---------------------------------------------------------------------------------------------- local Spark
_SPARK_LOCK = threading.Lock()


def new_local_spark_session(app_name: str, **extra_config: str) -> Any:
    """A local[2] SparkSession with the twin's settings (session time zone and JVM in UTC, UI off, loopback
    only), plus `extra_config` (e.g. `spark.driver.memory`)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")  # local[2]; AQE coalesces anyway
    )
    for key, value in extra_config.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


def local_spark_session() -> Any:
    """The process-wide local SparkSession (created on first use). `SparkSession.builder.getOrCreate()`
    anywhere in the process returns this session."""
    from pyspark.sql import SparkSession

    with _SPARK_LOCK:
        existing = SparkSession._instantiatedSession  # a session someone already made (unit tests): reuse it
        if existing is not None and existing._sc._jsc is not None:
            return existing
        return new_local_spark_session("retail-lake-twin")


@contextlib.contextmanager
def _spark_hygiene(spark: Any):
    """Undo what a run did to the shared session: SQL settings it set or changed, temp views, cached tables."""
    def settings() -> dict[str, str]:
        return {row[0]: row[1] for row in spark.sql("SET").collect()}

    before = settings()
    try:
        yield spark
    finally:
        try:
            for key, value in settings().items():
                if key not in before:
                    spark.conf.unset(key)
                elif before[key] != value:
                    spark.conf.set(key, before[key])
            for table in spark.catalog.listTables():
                if table.isTemporary:
                    spark.catalog.dropTempView(table.name)
            spark.catalog.clearCache()
        except Exception:  # the session may have been stopped by the script; the next run recreates it
            log.debug("restoring the shared SparkSession failed", exc_info=True)


# ---------------------------------------------------------------------------------------------- S3 staging
def _is_checksum(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(".crc")


@dataclass
class S3Staging:
    """A local mirror of the S3 prefixes a run reads and writes: `stage(uri)` downloads a prefix and returns its
    local path; `sync_back()` uploads what changed under every staged prefix and deletes what the run deleted."""

    s3: Any
    root: Path
    staged: dict[str, str] = field(default_factory=dict)  # URI -> local path
    _dirs: dict[Path, tuple[str, str]] = field(default_factory=dict)  # local dir or file -> (bucket, key prefix)
    _snapshot: dict[Path, tuple[int, int]] = field(default_factory=dict)  # local file -> (size, mtime_ns)

    @staticmethod
    def is_s3_uri(value: str) -> bool:
        return bool(_S3_URI.match(value))

    def local_path(self, bucket: str, key: str) -> Path:
        return self.root / bucket / key

    def stage(self, uri: str) -> str:
        if uri in self.staged:
            return self.staged[uri]
        parsed = urlparse(uri)
        bucket, key = parsed.netloc, parsed.path.lstrip("/")
        prefix = key if (not key or key.endswith("/")) else key + "/"
        keys = self._list(bucket, prefix)
        if key and not key.endswith("/") and not keys and self._exists(bucket, key):
            target = self.local_path(bucket, key)  # one object
            self._download(bucket, key, target)
            self._dirs[target] = (bucket, key)
            local = str(target)
        else:
            directory = self.local_path(bucket, prefix)
            # S3 has no directories: an empty prefix stays absent (reading it fails as on S3, PATH_NOT_FOUND);
            # its parent exists, and Spark or pyarrow create the directory when writing
            directory.parent.mkdir(parents=True, exist_ok=True)
            for object_key in keys:
                if not object_key.endswith("/"):  # folder markers: the directory exists
                    self._download(bucket, object_key, self.local_path(bucket, object_key))
            self._dirs[directory] = (bucket, prefix)
            local = str(directory) + ("/" if key.endswith("/") or not key else "")
        self.staged[uri] = local
        return local

    def _list(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return keys

    def _exists(self, bucket: str, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
            return True
        except self.s3.exceptions.ClientError:
            return False

    def _download(self, bucket: str, key: str, target: Path) -> None:
        if target in self._snapshot:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        self.s3.download_file(bucket, key, str(target))
        stat = target.stat()
        self._snapshot[target] = (stat.st_size, stat.st_mtime_ns)

    def _files(self) -> set[Path]:
        files: set[Path] = set()
        for path in self._dirs:
            if path.is_file():
                files.add(path)
            elif path.is_dir():
                for file in path.rglob("*"):
                    if file.is_file() and not _is_checksum(file) and "_temporary" not in file.relative_to(path).parts:
                        files.add(file)
        return files

    def _key(self, path: Path) -> tuple[str, str]:
        bucket, *parts = path.relative_to(self.root).parts
        return bucket, "/".join(parts)

    def sync_back(self) -> tuple[int, int]:
        """Upload created or changed files, delete objects whose files are gone: (uploaded, deleted)."""
        uploaded = deleted = 0
        current = self._files()
        for path in sorted(current):
            stat = path.stat()
            if self._snapshot.get(path) != (stat.st_size, stat.st_mtime_ns):
                bucket, key = self._key(path)
                self.s3.upload_file(str(path), bucket, key)
                uploaded += 1
        for path in sorted(set(self._snapshot) - current):
            if not path.exists():
                bucket, key = self._key(path)
                self.s3.delete_object(Bucket=bucket, Key=key)
                deleted += 1
        return uploaded, deleted


# ---------------------------------------------------------------------------------------------- runs
@dataclass(frozen=True)
class SparkScriptRun:
    """One run of a script on local Spark, independent of the service that started it (Glue here; EMR Serverless
    passes its entry point and `--key value` entry-point arguments the same way)."""

    service: str  # "glue"
    job_name: str
    run_id: str
    script_uri: str  # s3:// (downloaded) or a local path
    arguments: dict[str, str]  # "--key" -> value, merged already
    spark: bool = True
    leading_argv: tuple[str, ...] = ()  # what the service passes before the arguments ("--JOB_NAME", name, ...)


@dataclass
class RunOutcome:
    run_id: str
    job_name: str
    state: str = STARTING
    error_message: str | None = None
    error_traceback: str | None = None
    submitted_on: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    started_on: datetime | None = None
    completed_on: datetime | None = None
    modified_on: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    staged: dict[str, str] = field(default_factory=dict)  # URI -> local path during the run
    uploaded: int = 0
    deleted: int = 0
    log_path: Path | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def transition(self, state: str) -> None:
        now = datetime.now(timezone.utc)
        self.state, self.modified_on = state, now
        if state == RUNNING:
            self.started_on = now
        if state in TERMINAL_STATES:
            self.completed_on = now
            self.done.set()

    @property
    def execution_seconds(self) -> float:
        if self.started_on is None:
            return 0.0
        return ((self.completed_on or datetime.now(timezone.utc)) - self.started_on).total_seconds()


class _RunLog:
    """The run's stdout/stderr (of the thread running it), line-buffered to its log file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.file = path.open("a", encoding="utf-8", buffering=1)

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(thread_output(self.file))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        self.file.close()


def run_script_in_process(script: Path, argv: list[str]) -> None:
    """Run `script` as `__main__` with `sys.argv = argv` and its directory first on sys.path; the script's
    exception propagates (SystemExit with code 0/None is success)."""
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = argv
    sys.path.insert(0, str(script.parent))
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise RuntimeError(f"the script exited with status {exc.code}") from exc
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path


def _error_message(exc: BaseException) -> str:
    text = str(exc).strip()
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return message[:_MAX_ERROR_MESSAGE]


def _twin_job_run_class(base: type) -> type:
    """A subclass of moto's FakeJobRun whose state and timing are the executor's `RunOutcome`."""

    class TwinJobRun(base):
        outcome: RunOutcome

        @property
        def status(self) -> str:  # no ManagedState transitions: the real run decides
            return self.outcome.state

        @status.setter
        def status(self, value: str) -> None:
            self.outcome.transition(value)

        def advance(self) -> None:
            pass

        def as_dict(self) -> dict[str, Any]:
            result = super().as_dict()
            outcome = self.outcome
            result.update({
                "JobRunState": outcome.state,
                "StartedOn": outcome.submitted_on,
                "LastModifiedOn": outcome.modified_on,
                "ExecutionTime": int(round(outcome.execution_seconds)),
                "LogGroupName": "/aws-glue/jobs",
                "GlueVersion": getattr(self, "twin_glue_version", None) or result.get("GlueVersion"),
            })
            if outcome.completed_on is not None:
                result["CompletedOn"] = outcome.completed_on
            else:
                result.pop("CompletedOn", None)
            if outcome.error_message:
                result["ErrorMessage"] = outcome.error_message
            return {key: value for key, value in result.items() if value is not None}

    return TwinJobRun


@register_executor
class GlueJobExecutor(Executor):
    """Runs Glue job runs started through the twin's Glue API on local Spark (embedded twin only)."""

    name = "glue"

    def __init__(self, *, cloudwatch_logs: bool = True, keep_run_dirs: bool = False) -> None:
        self.cloudwatch_logs = cloudwatch_logs
        self.keep_run_dirs = keep_run_dirs
        self.runs: dict[str, RunOutcome] = {}
        self._queue: queue.Queue[SparkScriptRun | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._original_start_job_run: Any = None
        self._run_class: type | None = None

    # ------------------------------------------------------------------ lifecycle
    def attach(self, twin) -> None:
        from retail_lake.twin.account import NotEmbeddedError

        super().attach(twin)
        if not twin.is_embedded:
            raise NotEmbeddedError(
                f"the Glue job executor runs only on the embedded twin; {twin.endpoint_url} runs Glue jobs itself"
            )
        self._patch_moto()
        self._worker = threading.Thread(target=self._work, name="twin-glue-jobs", daemon=True)
        self._worker.start()

    def close(self, timeout: float = 600.0) -> None:
        """Finish the queued runs (up to `timeout`), stop the worker, restore moto. The SparkSession stays up for
        the process (starting Spark costs seconds; the next twin reuses it)."""
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout)
            self._worker = None
        if self._original_start_job_run is not None:
            from moto.glue.models import GlueBackend

            GlueBackend.start_job_run = self._original_start_job_run
            self._original_start_job_run = None

    # ------------------------------------------------------------------ moto hook
    def _patch_moto(self) -> None:
        from moto.glue.models import FakeJobRun, GlueBackend

        executor = self
        original = GlueBackend.__dict__["start_job_run"]
        self._original_start_job_run = original
        self._run_class = _twin_job_run_class(FakeJobRun)

        def start_job_run(backend: Any, name: str, arguments: Any, *args: Any, **kwargs: Any) -> str:
            run_id = original(backend, name, arguments, *args, **kwargs)  # MaxConcurrentRuns, argument merge
            job = backend.get_job(name)
            run = next(r for r in job.job_runs if r.job_run_id == run_id)
            executor._adopt(job, run)
            return run_id

        GlueBackend.start_job_run = start_job_run

    def _adopt(self, job: Any, run: Any) -> None:
        outcome = RunOutcome(run_id=run.job_run_id, job_name=job.name)
        run.outcome = outcome
        run.twin_glue_version = job.glue_version
        run.__class__ = self._run_class
        self.runs[outcome.run_id] = outcome
        command = job.command or {}
        self.submit(SparkScriptRun(
            service="glue",
            job_name=job.name,
            run_id=outcome.run_id,
            script_uri=str(command.get("ScriptLocation", "")),
            arguments={(k if k.startswith("--") else f"--{k}"): str(v) for k, v in (run.arguments or {}).items()},
            spark=str(command.get("Name", "glueetl")) in SPARK_COMMANDS,
            leading_argv=("--JOB_NAME", job.name, "--JOB_RUN_ID", outcome.run_id),
        ))

    # ------------------------------------------------------------------ running
    def submit(self, run: SparkScriptRun) -> RunOutcome:
        """Queue a run for the worker thread (what the moto hook does on StartJobRun)."""
        outcome = self.runs.setdefault(run.run_id, RunOutcome(run_id=run.run_id, job_name=run.job_name))
        self._queue.put(run)
        return outcome

    def _work(self) -> None:
        while True:
            run = self._queue.get()
            if run is None:
                return
            try:
                self.execute(run)
            except Exception:  # execute records failures; this is a defect of the executor itself
                log.exception("glue run %s of %s failed outside the script", run.run_id, run.job_name)
                outcome = self.runs[run.run_id]
                if outcome.state not in TERMINAL_STATES:
                    outcome.error_message = "twin executor error: " + traceback.format_exc(limit=3)[-_MAX_ERROR_MESSAGE:]
                    outcome.transition(FAILED)

    def execute(self, run: SparkScriptRun) -> RunOutcome:
        """Run synchronously in this thread: stage, run the script, sync back, clean up."""
        outcome = self.runs.setdefault(run.run_id, RunOutcome(run_id=run.run_id, job_name=run.job_name))
        outcome.transition(RUNNING)
        run_dir = self.twin.work_dir / run.service / "runs" / run.run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        outcome.log_path = self.twin.work_dir / run.service / run.job_name / f"{run.run_id}.log"
        s3 = self.twin.client("s3")
        staging = S3Staging(s3, run_dir / "s3")
        started = time.monotonic()
        try:
            with _RunLog(outcome.log_path):
                try:
                    script = self._script(run, staging, run_dir)
                    argv = [str(script), *run.leading_argv]
                    for key, value in run.arguments.items():
                        if key not in UNSTAGED_ARGUMENTS and S3Staging.is_s3_uri(value):
                            value = staging.stage(value)
                        argv += [key, value]
                    outcome.staged = dict(staging.staged)
                    print(f"twin: {run.service} run {run.run_id} of {run.job_name}: {argv[1:]}")
                    if run.spark:
                        with _spark_hygiene(local_spark_session()):
                            run_script_in_process(script, argv)
                    else:
                        run_script_in_process(script, argv)
                except BaseException as exc:  # noqa: BLE001 - the job's failure, reported like Glue does
                    outcome.error_message = _error_message(exc)
                    outcome.error_traceback = traceback.format_exc()
                    print(outcome.error_traceback)
                finally:
                    outcome.uploaded, outcome.deleted = staging.sync_back()
                    print(f"twin: synced back {outcome.uploaded} uploaded, {outcome.deleted} deleted objects; "
                          f"{time.monotonic() - started:.1f}s")
        finally:
            if not self.keep_run_dirs:
                shutil.rmtree(run_dir, ignore_errors=True)
            outcome.transition(FAILED if outcome.error_message else SUCCEEDED)
            log.info("%s run %s of %s: %s in %.1fs", run.service, run.run_id, run.job_name, outcome.state,
                     time.monotonic() - started)
            if self.cloudwatch_logs:
                self._ship_logs(outcome)
        return outcome

    def _script(self, run: SparkScriptRun, staging: S3Staging, run_dir: Path) -> Path:
        if not run.script_uri:
            raise ValueError(f"job {run.job_name} has no Command.ScriptLocation")
        if not S3Staging.is_s3_uri(run.script_uri):
            return Path(run.script_uri)
        parsed = urlparse(run.script_uri)
        script = run_dir / "script" / Path(parsed.path).name
        script.parent.mkdir(parents=True, exist_ok=True)
        staging.s3.download_file(parsed.netloc, parsed.path.lstrip("/"), str(script))
        return script

    def _ship_logs(self, outcome: RunOutcome) -> None:
        if outcome.log_path is None or not outcome.log_path.exists():
            return
        try:
            logs = self.twin.client("logs")
            group = "/aws-glue/jobs/output"
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=group)
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_stream(logGroupName=group, logStreamName=outcome.run_id)
            now = int(time.time() * 1000)
            lines = outcome.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
            events = [{"timestamp": now, "message": line} for line in lines if line.strip()][-5000:]
            if events:
                logs.put_log_events(logGroupName=group, logStreamName=outcome.run_id, logEvents=events)
        except Exception:  # logs are a convenience; the run's state is what matters
            log.debug("shipping glue run logs failed", exc_info=True)

    # ------------------------------------------------------------------ waiting
    def wait(self, job_name: str, run_id: str, timeout: float = 300.0, *, interval: float = 0.2) -> dict[str, Any]:
        """Poll `get_job_run` through the API until the run ends; returns its `JobRun`."""
        glue = self.twin.client("glue")
        deadline = time.monotonic() + timeout
        while True:
            job_run = glue.get_job_run(JobName=job_name, RunId=run_id)["JobRun"]
            if job_run["JobRunState"] in TERMINAL_STATES:
                return job_run
            if time.monotonic() > deadline:
                raise JobRunWaitTimeout(f"glue run {run_id} of {job_name} still {job_run['JobRunState']} after {timeout:g}s")
            time.sleep(interval)
