"""Start the daily pipeline for a business date and follow it state by state (`retail-lake run --date D`).

The same calls run against AWS and the embedded twin: `StartExecution` with a name derived from the date
(`daily-2026-11-07`, then `daily-2026-11-07-attempt-2`, ... for reruns), `GetExecutionHistory` for progress and
`DescribeExecution` for the outcome. A date whose execution is still RUNNING is not started again (and the state
machine's own lease on the date refuses it too, whoever starts it).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from retail_lake.orchestration.run_ledger import failure_cause
from retail_lake.orchestration.run_plan import execution_name, parse_run_date, run_date_of_execution

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


class PipelineRunError(RuntimeError):
    pass


@dataclass
class StateStep:
    """One state as it ran: entered, then exited (or failed)."""

    name: str
    entered: float
    seconds: float | None = None
    outcome: str = "running"  # running | succeeded | failed | retried
    detail: str = ""


@dataclass
class PipelineRun:
    execution_arn: str
    name: str
    run_date: str
    status: str = "RUNNING"
    output: Any = None
    error: str | None = None
    cause: str | None = None
    steps: list[StateStep] = field(default_factory=list)


def executions_of_date(sfn, state_machine_arn: str, run_date: str) -> list[dict[str, Any]]:
    """Executions of the state machine whose names carry `run_date`."""
    found = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn):
        found += [e for e in page["executions"] if run_date_of_execution(e["name"]) == run_date]
    return found


def start_run(sfn, state_machine_arn: str, run_date: str, *, execution_input: dict[str, Any] | None = None,
              max_attempts: int = 50) -> PipelineRun:
    """Start an execution for `run_date` named after it; refuses while one of that date is RUNNING."""
    run_date = parse_run_date(run_date)
    previous = executions_of_date(sfn, state_machine_arn, run_date)
    running = [e["name"] for e in previous if e["status"] == "RUNNING"]
    if running:
        raise PipelineRunError(f"{run_date} is already running as execution {running[0]}; wait for it to end "
                               "(or stop it) before running the date again")
    payload = json.dumps({**(execution_input or {}), "run_date": run_date})
    taken = {e["name"] for e in previous}
    for attempt in range(1, max_attempts + 1):
        name = execution_name(run_date, attempt)
        if name in taken:
            continue
        try:
            arn = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=payload)["executionArn"]
        except sfn.exceptions.ExecutionAlreadyExists:
            # started by someone else just now under the same name: the date is running
            raise PipelineRunError(f"{run_date} was just started by someone else as execution {name}") from None
        return PipelineRun(execution_arn=arn, name=name, run_date=run_date)
    raise PipelineRunError(f"{run_date} has been run {max_attempts} times already; see the executions named "
                           f"{execution_name(run_date)}*")


def _events(sfn, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events += page["events"]
    return events


def _seconds(event: dict[str, Any]) -> float:
    stamp = event["timestamp"]
    return stamp.timestamp() if hasattr(stamp, "timestamp") else float(stamp)


def progress_lines(events: list[dict[str, Any]], seen: int) -> Iterator[tuple[str, str]]:
    """(kind, text) for the history events from index `seen` on: a state entered or exited, a task failure (and
    whether it is retried is visible as the task starting again), the execution's end."""
    for event in events[seen:]:
        kind = event["type"]
        if kind.startswith(("Wait", "Choice")):  # the poll loops' bookkeeping: their tasks are reported
            continue
        if kind.endswith("StateEntered"):
            yield "entered", event["stateEnteredEventDetails"]["name"]
        elif kind.endswith("StateExited"):
            yield "exited", event["stateExitedEventDetails"]["name"]
        elif kind in ("TaskFailed", "LambdaFunctionFailed", "TaskStartFailed", "TaskSubmitFailed", "TaskTimedOut"):
            details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            # a failed Glue/EMR run's cause is the whole run as JSON: show its error message
            yield "task_failed", f"{details.get('error', kind)}: {failure_cause(details.get('cause', ''))[:300]}"
        elif kind in ("MapIterationFailed",):
            yield "task_failed", "a Map iteration failed"
        elif kind in ("ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"):
            yield "end", kind.removeprefix("Execution").upper()


def follow(sfn, run: PipelineRun, *, on_progress: Callable[[str, str], None] | None = None,
           poll_s: float = 1.0, timeout_s: float = 12 * 3600, sleep: Callable[[float], None] = time.sleep) -> PipelineRun:
    """Report every state entered/exited (`on_progress(kind, text)`) until the execution ends; fill the outcome."""
    seen = 0
    open_steps: dict[str, StateStep] = {}
    started = time.monotonic()
    while True:
        description = sfn.describe_execution(executionArn=run.execution_arn)
        events = _events(sfn, run.execution_arn)
        for kind, text in progress_lines(events, seen):
            now = time.monotonic()
            if kind == "entered":
                step = StateStep(text, now)
                open_steps[text] = step
                run.steps.append(step)
            elif kind == "exited" and text in open_steps:
                step = open_steps.pop(text)
                step.seconds, step.outcome = now - step.entered, "succeeded"
            elif kind == "task_failed":
                for step in open_steps.values():
                    step.detail = text
            if on_progress:
                on_progress(kind, text)
        seen = len(events)
        if description["status"] in TERMINAL:
            run.status = description["status"]
            run.output = json.loads(description["output"]) if description.get("output") else None
            run.error, run.cause = description.get("error"), description.get("cause")
            for step in open_steps.values():
                step.outcome = "failed"
            return run
        if time.monotonic() - started > timeout_s:
            raise PipelineRunError(f"execution {run.name} still {description['status']} after {timeout_s:.0f}s")
        sleep(poll_s)


def state_machine_arn(cloudformation, stack_name: str) -> str:
    from retail_lake.orchestration.batch_day import BatchRunError, stack_outputs

    try:
        outputs = stack_outputs(cloudformation, stack_name)
    except BatchRunError as error:
        raise PipelineRunError(str(error)) from None
    if "StateMachineArn" not in outputs:
        raise PipelineRunError(f"the stack {stack_name} has no StateMachineArn output: deploy the Orchestration "
                               "stack of this stage (`npx cdk deploy --all -c stage=<stage>`)")
    return outputs["StateMachineArn"]


def run_and_report(sfn, machine_arn: str, run_date: str, *, execution_input: dict[str, Any] | None = None,
                   out: Callable[[str], None] = print, poll_s: float = 1.0) -> PipelineRun:
    """Start the date, print each state as it is entered and left (with its time), then the outcome."""
    run = start_run(sfn, machine_arn, run_date, execution_input=execution_input)
    out(f"started {run.name} ({run.execution_arn})")
    entered: dict[str, float] = {}

    def on_progress(kind: str, text: str) -> None:
        now = time.monotonic()
        if kind == "entered":
            entered[text] = now
            out(f"  -> {text}")
        elif kind == "exited":
            seconds = now - entered.get(text, now)
            out(f"  <- {text} ({seconds:.1f} s)")
        elif kind == "task_failed":
            out(f"  !! {text}")

    follow(sfn, run, on_progress=on_progress, poll_s=poll_s)
    if run.status == "SUCCEEDED":
        out(f"{run.name}: SUCCEEDED")
    else:
        out(f"{run.name}: {run.status}: {run.error or ''} {run.cause or ''}".rstrip())
    return run
