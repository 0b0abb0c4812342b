"""Running deployed Lambda functions in this process.

The code is the function's asset directory in the cloud assembly it was deployed from; the configuration
(handler, environment with every Ref resolved, timeout, memory) is read back from the endpoint. The handler's
stdout/stderr (Powertools logs and EMF metrics) go to `<work_dir>/lambda/<function>.log` and to the function's
CloudWatch Logs group, not the terminal. On an embedded twin, moto's own invoke runs the same handler, so
`lambda.invoke` (and later Step Functions' lambda tasks) reach it.

The asset's copy of a package this process has already imported (the working tree's `retail_lake`) is shadowed
by that import, so loading a function whose asset holds a different copy raises `StaleAssemblyError`: cdk.out
was synthesized before the code changed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import re
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from retail_lake.twin.assembly import ensure_fresh_code_dir
from retail_lake.twin.executors import Executor, register_executor

log = logging.getLogger(__name__)

# os.environ and sys.stdout are process-wide: one invocation at a time. A handler that synchronously invokes
# another function through the API would wait on this lock from a server thread: not supported.
_RUNTIME_LOCK = threading.RLock()


class FunctionNotRunnable(LookupError):
    pass


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as `context` (the attributes handlers and Powertools read)."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_seconds: float
    identity: Any = None
    client_context: Any = None
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class InvocationResult:
    function_name: str
    request_id: str
    payload: Any
    error: dict[str, Any] | None
    duration_ms: float
    logs: str

    @property
    def failed(self) -> bool:
        return self.error is not None


class _FunctionLog(io.TextIOBase):
    """The function's stdout/stderr: appended to its log file, and kept per invocation for CloudWatch Logs.
    Loggers created at import time keep a reference to this object, so it lives as long as the runtime."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("a", encoding="utf-8", buffering=1)
        self._current: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not self._file.closed:
            self._file.write(text)
        self._current.append(text)
        return len(text)

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def take(self) -> str:
        text, self._current = "".join(self._current), []
        return text

    def close(self) -> None:
        self._file.close()


@dataclass
class DeployedFunction:
    name: str
    arn: str
    handler: str
    code_dir: Path
    environment: dict[str, str]
    timeout: int
    memory_size: int
    role: str
    log_group: str
    runtime: str
    log: _FunctionLog
    entry_point: Callable[..., Any] | None = None
    module_name: str = ""
    invocations: int = 0
    errors: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def _patched_environ(values: dict[str, str]):
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@register_executor
class LambdaRuntime(Executor):
    name = "lambda"

    def __init__(self, *, cloudwatch_logs: bool = True) -> None:
        self.cloudwatch_logs = cloudwatch_logs
        self._functions: dict[str, DeployedFunction] = {}
        self._original_invoke: Any = None

    def attach(self, twin) -> None:
        super().attach(twin)
        if twin.is_embedded:
            self._patch_moto_invoke()

    def close(self) -> None:
        if self._original_invoke is not None:
            from moto.awslambda.models import LambdaFunction

            LambdaFunction._invoke_lambda = self._original_invoke
            self._original_invoke = None
        for function in self._functions.values():
            sys.modules.pop(function.module_name, None)
            function.log.close()
        self._functions.clear()

    # ------------------------------------------------------------------ moto hook
    def _patch_moto_invoke(self) -> None:
        from moto.awslambda.models import LambdaFunction

        runtime = self
        self._original_invoke = LambdaFunction.__dict__["_invoke_lambda"]

        def _invoke_lambda(fn: Any, event: Any = None) -> tuple[str, bool, str]:
            result = runtime.invoke(fn.function_arn, event if event is not None else {})
            body = result.error if result.failed else result.payload
            return json.dumps(body, default=str), result.failed, result.logs

        LambdaFunction._invoke_lambda = _invoke_lambda

    # ------------------------------------------------------------------ loading
    def function(self, name_or_arn: str) -> DeployedFunction:
        """The function, loaded on first use (configuration from the endpoint, code from the assembly)."""
        name = name_or_arn.split(":function:", 1)[-1].split(":", 1)[0]
        with _RUNTIME_LOCK:
            if name not in self._functions:
                self._functions[name] = self._load(name)
            return self._functions[name]

    def _code_dir(self, function_name: str) -> Path:
        for deployment in reversed(self.twin.deployments):
            for stack in deployment.stacks.values():
                for resource in stack.of_type("AWS::Lambda::Function"):
                    if resource.physical_id != function_name:
                        continue
                    code_dir = stack.artifact.function_code_dir(resource.logical_id)
                    if code_dir is not None:
                        return code_dir
                    raise FunctionNotRunnable(
                        f"{function_name} ({stack.name}/{resource.logical_id}) has no asset directory in the "
                        "cloud assembly; the twin runs functions built with Code.from_asset(<dir>)"
                    )
        raise FunctionNotRunnable(
            f"function {function_name} was not deployed from a cloud assembly on this twin; deploy it with "
            "twin.deploy(<cdk.out>)"
        )

    def _load(self, name: str) -> DeployedFunction:
        config = self.twin.client("lambda").get_function_configuration(FunctionName=name)
        code_dir = self._code_dir(name)
        log_group = config.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{name}"
        function = DeployedFunction(
            name=name,
            arn=config["FunctionArn"],
            handler=config["Handler"],
            code_dir=code_dir,
            environment=dict(config.get("Environment", {}).get("Variables", {})),
            timeout=int(config.get("Timeout", 3)),
            memory_size=int(config.get("MemorySize", 128)),
            role=config.get("Role", ""),
            log_group=log_group,
            runtime=config.get("Runtime", "python3.11"),
            log=_FunctionLog(self.twin.work_dir / "lambda" / f"{name}.log"),
        )
        module_path, _, attribute = function.handler.rpartition(".")
        source = code_dir / (module_path.replace(".", "/") + ".py")
        if not source.is_file():
            raise FunctionNotRunnable(f"{name}: handler {function.handler!r} expects {source}, which does not exist")
        # the asset's copy of a package this process already imported (retail_lake) is shadowed by that import:
        # refuse to run an old handler against newer domain code
        ensure_fresh_code_dir(code_dir, function=name)
        function.module_name = f"_twin_lambda_{re.sub(r'[^0-9A-Za-z_]', '_', name)}_{uuid.uuid4().hex[:8]}"
        spec = importlib.util.spec_from_file_location(function.module_name, source)
        module = importlib.util.module_from_spec(spec)
        with _RUNTIME_LOCK, self._environment(function, "init"), self._captured(function):
            sys.modules[function.module_name] = module
            added_path = str(code_dir) not in sys.path
            if added_path:
                sys.path.append(str(code_dir))  # sibling modules of the handler; installed packages win
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(function.module_name, None)
                raise
            finally:
                if added_path:
                    sys.path.remove(str(code_dir))
        function.entry_point = getattr(module, attribute, None)
        if not callable(function.entry_point):
            raise FunctionNotRunnable(f"{name}: {source} has no callable {attribute!r}")
        function.log.take()
        return function

    def _environment(self, function: DeployedFunction, request_id: str):
        values = {
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": function.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": self._log_stream(request_id),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "LAMBDA_TASK_ROOT": str(function.code_dir),
            "_HANDLER": function.handler,
            "AWS_REGION": self.twin.region,
            "AWS_DEFAULT_REGION": self.twin.region,
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
            **function.environment,
        }
        return _patched_environ(values)

    @staticmethod
    def _captured(function: DeployedFunction):
        stack = contextlib.ExitStack()
        stack.enter_context(contextlib.redirect_stdout(function.log))
        stack.enter_context(contextlib.redirect_stderr(function.log))
        return stack

    @staticmethod
    def _log_stream(request_id: str) -> str:
        today = datetime.now(timezone.utc)
        return f"{today:%Y/%m/%d}/[$LATEST]{request_id.replace('-', '')}"

    # ------------------------------------------------------------------ invoking
    def invoke(self, name_or_arn: str, event: Any) -> InvocationResult:
        """Run the handler once with `event`; an exception becomes an error result, as Lambda reports it."""
        function = self.function(name_or_arn)
        request_id = str(uuid.uuid4())
        context = LambdaContext(
            function_name=function.name,
            function_version="$LATEST",
            invoked_function_arn=function.arn,
            memory_limit_in_mb=function.memory_size,
            aws_request_id=request_id,
            log_group_name=function.log_group,
            log_stream_name=self._log_stream(request_id),
            timeout_seconds=function.timeout,
        )
        payload, error = None, None
        with _RUNTIME_LOCK, self._environment(function, request_id), self._captured(function):
            started = time.monotonic()
            print(f"START RequestId: {request_id} Version: $LATEST")
            try:
                payload = function.entry_point(event, context)
                json.dumps(payload, default=str)
            except Exception as exc:  # the function's error, reported like Lambda's runtime does
                error = {
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "stackTrace": traceback.format_exception(exc)[1:],
                }
                print(json.dumps({"level": "ERROR", "requestId": request_id, **error}))
            duration_ms = (time.monotonic() - started) * 1000
            print(f"END RequestId: {request_id}")
            print(f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
                  f"Memory Size: {function.memory_size} MB")
            sys.stdout.flush()
        function.invocations += 1
        function.errors += error is not None
        logs = function.log.take()
        if self.cloudwatch_logs:
            self._ship_logs(function, context.log_stream_name, logs)
        return InvocationResult(function.name, request_id, payload, error, duration_ms, logs)

    def _ship_logs(self, function: DeployedFunction, stream: str, text: str) -> None:
        if not text:
            return
        logs = self.twin.client("logs")
        try:
            logs.create_log_group(logGroupName=function.log_group)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        logs.create_log_stream(logGroupName=function.log_group, logStreamName=stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line} for line in text.splitlines() if line.strip()]
        if events:
            logs.put_log_events(logGroupName=function.log_group, logStreamName=stream, logEvents=events)

    def stats(self) -> dict[str, dict[str, int]]:
        return {f.name: {"invocations": f.invocations, "errors": f.errors} for f in self._functions.values()}
