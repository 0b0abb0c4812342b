"""Step Functions on the embedded twin: moto's ASL interpreter runs the deployed state machine, and its tasks reach
the twin's executors through moto's own APIs (Lambda invokes run handlers in-process, Glue and EMR Serverless runs
execute on local Spark, SNS/SQS/DynamoDB are moto's).

    twin.deploy("cdk.out")                  # AWS::StepFunctions::StateMachine provisioned by the twin
    sfn = twin.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine, name="daily-2026-11-07", input="{}")["executionArn"]
    twin.executor("stepfunctions").wait(arn)            # or poll describe_execution, as against AWS

The twin enables moto's interpreter (`execute_state_machine`); this executor fixes, for as long as it is attached,
what keeps moto 5.2.5's interpreter from running a real definition (each fix says what moto does and what AWS does):

1. `aws-sdk:emrserverless:*` and `aws-sdk:redshiftdata:*` look for boto3 services named so; boto3 names them
   `emr-serverless` and `redshift-data`.
2. Service calls of the interpreter (`aws-sdk:*`, glue, sns, ...) go to `localhost:$MOTO_PORT` (default 5000), not
   to the twin's server: MOTO_PORT is set to the twin's port while attached.
3. Every `.sync` task of a service without task-token support (glue:startJobRun.sync) dies in a `finally` that
   assumes a callback endpoint (`'NoneType' object has no attribute 'interrupt_all'`): the interrupt is skipped
   when there is no endpoint.
4. The Glue `.sync` result carries the job run's datetimes, which break DescribeExecution and
   GetExecutionHistory (HTTP 500): AWS renders them as epoch milliseconds, and so does the twin.
5. `aws-sdk` parameters are passed to boto3 as written (PascalCase, `ApplicationId`) and responses come back in
   boto3's casing (`jobRunId`): AWS converts both ways (requests to the API's member names, responses to PascalCase
   `JobRunId`), and so does the twin, with the service model; response timestamps become epoch milliseconds.
6. `aws-sdk` errors are named `<service>.<service>Exception` whatever the error (`emrserverless.emrserverless
   Exception`): AWS names them `<Service>.<ErrorCode>` (`EmrServerless.ValidationException`), which is what a
   definition's Retry and Catch match, so the twin does too.

Fault injection for tests: `fail_glue_starts(job_name, times, code)` makes the next `times` StartJobRun calls of
a job fail with a Glue service error (e.g. ConcurrentRunsExceededException), as a busy Glue would;
`fail_glue_runs(job_name, times, message)` makes the next `times` runs of a job end FAILED with that ErrorMessage.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import logging
import textwrap
import threading
import time
from typing import Any

from retail_lake.twin.executors import Executor, register_executor

log = logging.getLogger(__name__)

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
# aws-sdk service names (as in the resource ARN) -> the prefix AWS gives their errors
SDK_ERROR_PREFIXES = {
    "emrserverless": "EmrServerless", "athena": "Athena", "redshiftdata": "RedshiftData", "glue": "Glue",
    "dynamodb": "DynamoDb", "sfn": "Sfn", "s3": "S3", "sns": "Sns", "sqs": "Sqs", "lambda": "Lambda",
}


# aws-sdk service names whose boto3 client is named otherwise (moto maps only sfn/states)
SDK_BOTO_SERVICES = {"emrserverless": "emr-serverless", "redshiftdata": "redshift-data"}


MOTO_SFN_LOGGER = "moto.stepfunctions.parser"
_MISSING = object()


class ExecutionWaitTimeout(TimeoutError):
    pass


def epoch_millis(value: Any) -> Any:
    """Datetimes anywhere in a value -> epoch milliseconds (how Step Functions renders service timestamps)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {key: epoch_millis(item) for key, item in value.items()}
    if isinstance(value, list):
        return [epoch_millis(item) for item in value]
    return value


class _GlueClient:
    """A Glue client whose GetJobRun answers carry epoch milliseconds instead of datetimes."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def get_job_run(self, **kwargs: Any) -> dict:
        return epoch_millis(self._client.get_job_run(**kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _sdk_error_name(service: str, error: Exception) -> str | None:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    if not code:
        return None
    prefix = SDK_ERROR_PREFIXES.get(service.lower(), service[:1].upper() + service[1:])
    return f"{prefix}.{code if code.endswith('Exception') else code + 'Exception'}"


@register_executor
class StepFunctionsExecutor(Executor):
    """Patches moto's Step Functions interpreter so deployed definitions run on the embedded twin."""

    name = "stepfunctions"

    def __init__(self) -> None:
        self._originals: list[tuple[Any, str, Any]] = []
        self._glue_faults: dict[str, list[str]] = {}
        self._run_faults: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._saved_log_level = logging.NOTSET

    # ------------------------------------------------------------------ lifecycle
    def attach(self, twin) -> None:
        from retail_lake.twin.account import NotEmbeddedError

        super().attach(twin)
        if not twin.is_embedded:
            raise NotEmbeddedError(f"the Step Functions executor patches moto in-process; {twin.endpoint_url} runs "
                                   "state machines itself")
        twin._apply_env({"MOTO_PORT": str(twin.port)})  # restored when the twin stops
        # the interpreter logs every caught task error with a dump of its parse tree; executions record them anyway
        self._saved_log_level = logging.getLogger(MOTO_SFN_LOGGER).level
        logging.getLogger(MOTO_SFN_LOGGER).setLevel(logging.CRITICAL)
        self._patch_service_names()
        self._patch_sync_finally()
        self._patch_glue()
        self._patch_sdk_errors()

    def close(self) -> None:
        for owner, name, original in reversed(self._originals):
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._originals.clear()
        logging.getLogger(MOTO_SFN_LOGGER).setLevel(self._saved_log_level)

    def _replace(self, owner: Any, name: str, replacement: Any) -> None:
        self._originals.append((owner, name, owner.__dict__.get(name, _MISSING)))
        setattr(owner, name, replacement)

    # ------------------------------------------------------------------ patches
    def _patch_service_names(self) -> None:
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
            StateTaskService,
        )

        overrides = dict(StateTaskService.__dict__["_SERVICE_NAME_SFN_TO_BOTO_OVERRIDES"])
        self._replace(StateTaskService, "_SERVICE_NAME_SFN_TO_BOTO_OVERRIDES", {**overrides, **SDK_BOTO_SERVICES})

    def _patch_sync_finally(self) -> None:
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
            state_task_service_callback as module,
        )

        cls = module.StateTaskServiceCallback
        current = cls.__dict__["_eval_integration_pattern"]
        if getattr(current, "_retail_lake_fixed", False):  # another twin in this process patched it already
            self._replace(cls, "_eval_integration_pattern", current)
            return
        source = textwrap.dedent(inspect.getsource(current))
        broken = "callback_endpoint.interrupt_all()"
        if broken not in source:  # a moto that fixed it
            return
        fixed = source.replace(broken, "if callback_endpoint is not None:\n                " + broken, 1)
        namespace: dict[str, Any] = {}
        exec(compile(fixed, module.__file__, "exec"), module.__dict__, namespace)  # noqa: S102 - moto's own code
        patched = namespace["_eval_integration_pattern"]
        patched._retail_lake_fixed = True
        self._replace(cls, "_eval_integration_pattern", patched)

    def _patch_glue(self) -> None:
        from moto.glue.models import GlueBackend
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue import (
            StateTaskServiceGlue,
        )

        original_client = StateTaskServiceGlue.__dict__["_get_glue_client"].__func__
        self._replace(StateTaskServiceGlue, "_get_glue_client",
                      staticmethod(lambda *args, **kwargs: _GlueClient(original_client(*args, **kwargs))))

        executor = self
        original_start = GlueBackend.start_job_run  # the Glue executor's hook when attached (it runs the job)

        def start_job_run(backend: Any, name: str, *args: Any, **kwargs: Any) -> str:
            fault = executor._take_glue_fault(name)
            if fault is not None:
                from moto.glue.exceptions import GlueClientError

                raise GlueClientError(fault, f"injected by the twin: {fault} for job {name}")
            return original_start(backend, name, *args, **kwargs)

        self._replace(GlueBackend, "start_job_run", start_job_run)

    def _patch_sdk_errors(self) -> None:
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
            StateTaskServiceAwsSdk,
        )

        original = StateTaskServiceAwsSdk.__dict__["_from_error"]

        def _from_error(task: Any, env: Any, ex: Exception) -> Any:
            name = _sdk_error_name(task.resource.api_name, ex)
            if name is None:
                return original(task, env, ex)
            message = ex.response["Error"].get("Message", "")
            status = ex.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return task._get_task_failure_event(env=env, error=name,
                                                cause=f"{message} (Service: {task.resource.api_name}, "
                                                      f"Status Code: {status})")

        self._replace(StateTaskServiceAwsSdk, "_from_error", _from_error)

        def _operation(task: Any) -> Any:
            import botocore.session

            action = task.resource.api_action
            model = botocore.session.get_session().get_service_model(task._get_boto_service_name())
            return model.operation_model(action[:1].upper() + action[1:])

        def _normalise_parameters(task: Any, parameters: dict, *args: Any, **kwargs: Any) -> None:
            task._to_boto_request(parameters, _operation(task).input_shape)

        def _normalise_response(task: Any, response: Any, *args: Any, **kwargs: Any) -> None:
            if isinstance(response, dict):
                converted = epoch_millis(response)
                response.clear()
                response.update(converted)
                task._from_boto_response(response, _operation(task).output_shape)

        self._replace(StateTaskServiceAwsSdk, "_normalise_parameters", _normalise_parameters)
        self._replace(StateTaskServiceAwsSdk, "_normalise_response", _normalise_response)

    # ------------------------------------------------------------------ fault injection
    def fail_glue_starts(self, job_name: str, times: int = 1,
                         code: str = "ConcurrentRunsExceededException") -> None:
        """The next `times` StartJobRun calls of `job_name` fail with the Glue error `code`."""
        with self._lock:
            self._glue_faults.setdefault(job_name, []).extend([code] * times)

    def fail_glue_runs(self, job_name: str, times: int = 1,
                       message: str = "RuntimeError: injected by the twin: the job failed") -> None:
        """The next `times` runs of `job_name` end FAILED with `message` as their ErrorMessage, without running
        the script (as a job that fails on its data would)."""
        glue = self.twin.executor("glue")
        with self._lock:
            self._run_faults.setdefault(job_name, []).extend([message] * times)
            if not getattr(glue.execute, "twin_run_faults", False):
                original = glue.execute
                executor = self

                def execute(run: Any) -> Any:
                    message = executor._take_run_fault(run.job_name)
                    if message is None:
                        return original(run)
                    outcome = glue.runs[run.run_id]
                    outcome.transition("RUNNING")
                    outcome.error_message = message
                    outcome.transition("FAILED")
                    return outcome

                execute.twin_run_faults = True  # type: ignore[attr-defined]
                execute.twin_serialized = getattr(original, "twin_serialized", False)  # type: ignore[attr-defined]
                glue.execute = execute

    def _take_run_fault(self, job_name: str) -> str | None:
        with self._lock:
            faults = self._run_faults.get(job_name)
            return faults.pop(0) if faults else None

    def _take_glue_fault(self, job_name: str) -> str | None:
        with self._lock:
            faults = self._glue_faults.get(job_name)
            return faults.pop(0) if faults else None

    # ------------------------------------------------------------------ waiting
    def wait(self, execution_arn: str, timeout: float = 900.0, *, interval: float = 0.5) -> dict[str, Any]:
        """Poll DescribeExecution until the execution ends; returns the description."""
        sfn = self.twin.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            description = sfn.describe_execution(executionArn=execution_arn)
            if description["status"] in TERMINAL_STATUSES:
                return description
            if time.monotonic() > deadline:
                raise ExecutionWaitTimeout(f"execution {execution_arn} still {description['status']} after "
                                           f"{timeout:g}s")
            time.sleep(interval)


def execution_output(description: dict[str, Any]) -> Any:
    return json.loads(description.get("output") or "null")
