"""EMR Serverless job runs on local Spark: a `StartJobRun` on the embedded twin really runs the job's entry point.

    twin.deploy("cdk.out")        # AWS::EMRServerless::Application provisioned by the twin (attaches this executor)
    emr = twin.client("emr-serverless")
    run_id = emr.start_job_run(applicationId=app_id, executionRoleArn=role_arn, jobDriver={"sparkSubmit": {
        "entryPoint": "s3://<artifacts>/emr/segmentation.py",
        "entryPointArguments": ["--input", "s3://<curated>/sales/", "--output", "s3://<analytics>/segments/"],
    }})["jobRunId"]                                                                          # returns at once
    emr.get_job_run(applicationId=app_id, jobRunId=run_id)["jobRun"]["state"]   # SUBMITTED/RUNNING -> SUCCESS|FAILED
    twin.executor("emr-serverless").wait(app_id, run_id)                        # or poll get_job_run yourself

A run is the Glue executor's run (`retail_lake.twin.executors.glue_jobs`, whose `SparkScriptRun`, `S3Staging`,
`local_spark_session`, `run_script_in_process` and `execute` this class reuses by subclassing `GlueJobExecutor`):
the entry point is downloaded from S3, every `s3://` entry-point argument value is staged to local disk and
replaced by its local path, the script runs in-process as `__main__` on the process-wide local SparkSession with
`sys.argv = [script, *entryPointArguments]`, and what it wrote under the staged prefixes is synced back to S3, also
after a failure. The run's output goes to `<twin work dir>/emr-serverless/<application id>/<run id>.log` and, when
the run (`configurationOverrides.monitoringConfiguration.s3MonitoringConfiguration.logUri`) or the application (the
template's MonitoringConfiguration) names an S3 log location, to
`<logUri>/applications/<application id>/jobs/<run id>/SPARK_DRIVER/stdout.gz` as EMR Serverless lays it out.

States through moto's normal API (`get_job_run`, `list_job_runs`): SUBMITTED (queued), RUNNING, then SUCCESS, or
FAILED with `stateDetails` = `"<ExceptionType>: <message>"` (4,000 characters at most); real `createdAt`,
`updatedAt`, `startedAt`, `endedAt` and `totalExecutionDurationSeconds`. `cancel_job_run` cancels a run that is
still queued (CANCELLED, never executed); a running run cannot be interrupted in-process and ends as it ends.
moto hook: `EMRServerlessBackend.start_job_run` is wrapped (the original validates the role's account, the
application and the timeout and records the run; the wrapper re-classes the run so its state is the executor's and
queues it) and restored on close.

Limits: `entryPointArguments` must be `--key value` pairs (the convention of this project's entry points, as in
Glue; each key once): anything else fails the run with a message saying so. `sparkSubmitParameters` (`--conf`,
`--py-files`, `--archives`, ...) and `configurationOverrides.applicationConfiguration` are ignored locally (the
working tree's packages are importable; local[2]); `executionTimeoutMinutes`, capacity limits, retries, Hive
(`hive` job drivers fail) and the execution role's permissions are not enforced. EMR and Glue runs share one
SparkSession, `sys.argv` and stdout: runs of both executors are serialized through one lock (each executor keeps
its own queue and worker thread), so a run queued behind another stays SUBMITTED.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import threading
import time
from typing import Any
from urllib.parse import urlparse

from retail_lake.twin.executors import register_executor
from retail_lake.twin.executors.glue_jobs import (
    FAILED,
    RUNNING,
    STARTING,
    SUCCEEDED,
    GlueJobExecutor,
    JobRunWaitTimeout,
    RunOutcome,
    SparkScriptRun,
)

log = logging.getLogger(__name__)

CANCELLED = "CANCELLED"
# RunOutcome's states -> EMR Serverless's JobRunState
EMR_STATES = {STARTING: "SUBMITTED", RUNNING: "RUNNING", SUCCEEDED: "SUCCESS", FAILED: "FAILED", CANCELLED: CANCELLED}
EMR_TERMINAL_STATES = frozenset({"SUCCESS", "FAILED", CANCELLED})
SERVICE = "emr-serverless"

# One run at a time across the Glue and EMR Serverless executors (shared SparkSession, sys.argv, stdout).
_RUN_LOCK = threading.RLock()


class EntryPointArgumentsError(ValueError):
    pass


def entry_point_arguments(values: list[str] | None) -> dict[str, str]:
    """`["--key", "value", ...]` -> `{"--key": "value"}`, the argument shape a `SparkScriptRun` carries."""
    values = [str(v) for v in (values or [])]
    pairs: dict[str, str] = {}
    problem = None
    if len(values) % 2:
        problem = "an odd number of elements"
    for key, value in zip(values[::2], values[1::2]):
        if problem:
            break
        if not key.startswith("--") or len(key) < 3:
            problem = f"{key!r} where a --key was expected"
        elif key in pairs:
            problem = f"{key} given twice"
        pairs[key] = value
    if problem:
        raise EntryPointArgumentsError(
            f"the twin passes entryPointArguments as --key value pairs, got {problem}: {values}"
        )
    return pairs


def _twin_job_run_class(base: type) -> type:
    """A subclass of moto's emr-serverless JobRun whose state and timing are the executor's `RunOutcome`."""

    class TwinEmrJobRun(base):
        outcome: RunOutcome

        @property
        def state(self) -> str:
            return EMR_STATES.get(self.outcome.state, self.outcome.state)

        @state.setter
        def state(self, value: str) -> None:  # moto's cancel_job_run
            if value == CANCELLED and self.outcome.state == STARTING:
                self.outcome.transition(CANCELLED)
                self.outcome.done.set()

        @property
        def state_details(self) -> str:
            if self.outcome.state == CANCELLED:
                return "Job run cancelled before it started"
            return self.outcome.error_message or ""

        @state_details.setter
        def state_details(self, value: Any) -> None:
            pass

        @property
        def created_at(self) -> Any:
            return self.outcome.submitted_on

        @created_at.setter
        def created_at(self, value: Any) -> None:
            pass

        @property
        def updated_at(self) -> Any:
            return self.outcome.modified_on

        @updated_at.setter
        def updated_at(self, value: Any) -> None:
            pass

        @property
        def started_at(self) -> Any:
            return self.outcome.started_on

        @property
        def ended_at(self) -> Any:
            return self.outcome.completed_on

        @property
        def total_execution_duration_seconds(self) -> int:
            return int(round(self.outcome.execution_seconds))

        @total_execution_duration_seconds.setter
        def total_execution_duration_seconds(self, value: Any) -> None:
            pass

    return TwinEmrJobRun


@register_executor
class EmrServerlessExecutor(GlueJobExecutor):
    """Runs EMR Serverless job runs started through the twin's API on local Spark (embedded twin only)."""

    name = SERVICE

    def __init__(self, *, keep_run_dirs: bool = False) -> None:
        super().__init__(cloudwatch_logs=True, keep_run_dirs=keep_run_dirs)  # "logs" here: S3 monitoring
        self.log_uris: dict[str, tuple[str, str]] = {}  # run id -> (S3 log URI, application id)
        self._original_emr_start_job_run: Any = None
        self._glue_execute: Any = None

    # ------------------------------------------------------------------ lifecycle
    def attach(self, twin) -> None:
        from retail_lake.twin.account import NotEmbeddedError

        if not twin.is_embedded:
            raise NotEmbeddedError(f"the EMR Serverless executor runs only on the embedded twin; "
                                   f"{twin.endpoint_url} runs EMR Serverless job runs itself")
        super().attach(twin)  # patches moto (our _patch_moto) and starts the worker
        self._serialize_with_glue(twin)

    def _serialize_with_glue(self, twin) -> None:
        """Make the Glue executor's runs take the same lock as ours (its worker is another thread)."""
        glue = twin.executor("glue")
        if getattr(glue.execute, "twin_serialized", False):
            return
        original = glue.execute

        def execute(run: SparkScriptRun) -> RunOutcome:
            with _RUN_LOCK:
                return original(run)

        execute.twin_serialized = True  # type: ignore[attr-defined]
        glue.execute = execute
        self._glue_execute = (glue, original)

    def close(self, timeout: float = 600.0) -> None:
        super().close(timeout)  # drains the queue, stops the worker (Glue's moto patch is not ours: untouched)
        if self._original_emr_start_job_run is not None:
            from moto.emrserverless.models import EMRServerlessBackend

            EMRServerlessBackend.start_job_run = self._original_emr_start_job_run
            self._original_emr_start_job_run = None
        if self._glue_execute is not None:
            glue, original = self._glue_execute
            glue.execute = original
            self._glue_execute = None

    # ------------------------------------------------------------------ moto hook
    def _patch_moto(self) -> None:
        from moto.emrserverless.models import EMRServerlessBackend, JobRun

        executor = self
        original = EMRServerlessBackend.__dict__["start_job_run"]
        self._original_emr_start_job_run = original
        self._run_class = _twin_job_run_class(JobRun)

        def start_job_run(backend: Any, *args: Any, **kwargs: Any) -> Any:
            job_run = original(backend, *args, **kwargs)  # role account, application, timeout checks
            executor._adopt_emr(backend, job_run)
            return job_run

        EMRServerlessBackend.start_job_run = start_job_run

    def _adopt_emr(self, backend: Any, job_run: Any) -> None:
        application = backend.applications[job_run.application_id]
        outcome = RunOutcome(run_id=job_run.id, job_name=job_run.application_id)
        job_run.outcome = outcome
        job_run.__class__ = self._run_class
        self.runs[outcome.run_id] = outcome
        log_uri = _s3_log_uri(job_run.configuration_overrides) or _s3_log_uri(
            {"monitoringConfiguration": getattr(application, "monitoring_configuration", None)}
        )
        if log_uri:
            self.log_uris[outcome.run_id] = (log_uri, job_run.application_id)
        driver = job_run.job_driver or {}
        spark_submit = driver.get("sparkSubmit")
        try:
            if spark_submit is None:
                raise EntryPointArgumentsError(f"the twin runs sparkSubmit job drivers only, got {sorted(driver)}")
            arguments = entry_point_arguments(spark_submit.get("entryPointArguments"))
        except EntryPointArgumentsError as exc:
            outcome.error_message = f"{type(exc).__name__}: {exc}"
            outcome.transition(FAILED)
            return
        self.submit(SparkScriptRun(
            service=SERVICE,
            job_name=job_run.application_id,
            run_id=outcome.run_id,
            script_uri=str(spark_submit.get("entryPoint", "")),
            arguments=arguments,
            spark=True,
        ))

    # ------------------------------------------------------------------ running
    def execute(self, run: SparkScriptRun) -> RunOutcome:
        outcome = self.runs.get(run.run_id)
        if outcome is not None and outcome.state == CANCELLED:
            return outcome
        with _RUN_LOCK:
            return super().execute(run)

    def _ship_logs(self, outcome: RunOutcome) -> None:
        """The run's log to `<logUri>/applications/<app>/jobs/<run>/SPARK_DRIVER/stdout.gz`, as EMR Serverless."""
        target = self.log_uris.get(outcome.run_id)
        if target is None or outcome.log_path is None or not outcome.log_path.exists():
            return
        log_uri, application_id = target
        parsed = urlparse(log_uri)
        prefix = parsed.path.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        key = f"{prefix}applications/{application_id}/jobs/{outcome.run_id}/SPARK_DRIVER/stdout.gz"
        try:
            self.twin.client("s3").put_object(Bucket=parsed.netloc, Key=key,
                                              Body=gzip.compress(outcome.log_path.read_bytes()))
        except Exception:  # logs are a convenience; the run's state is what matters
            log.debug("shipping the EMR Serverless run log to %s failed", log_uri, exc_info=True)

    # ------------------------------------------------------------------ waiting
    def wait(self, application_id: str, run_id: str, timeout: float = 300.0, *,
             interval: float = 0.2) -> dict[str, Any]:
        """Poll `get_job_run` through the API until the run ends; returns its `jobRun`."""
        emr = self.twin.client("emr-serverless")
        deadline = time.monotonic() + timeout
        while True:
            job_run = emr.get_job_run(applicationId=application_id, jobRunId=run_id)["jobRun"]
            if job_run["state"] in EMR_TERMINAL_STATES:
                return job_run
            if time.monotonic() > deadline:
                raise JobRunWaitTimeout(f"EMR Serverless run {run_id} on {application_id} still {job_run['state']} "
                                        f"after {timeout:g}s")
            time.sleep(interval)


def _s3_log_uri(overrides: Any) -> str | None:
    with contextlib.suppress(AttributeError, TypeError):
        s3_monitoring = (overrides or {}).get("monitoringConfiguration") or {}
        uri = (s3_monitoring.get("s3MonitoringConfiguration") or {}).get("logUri")
        return str(uri) if uri else None
    return None
