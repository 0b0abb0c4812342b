"""The outcome of one execution of the daily pipeline, from the state it ends with: the run's date, a success
summary (what ran, how long) and the failure notification (which state, which error, which date, why)."""

from __future__ import annotations

import json
from typing import Any, Mapping

from retail_lake.orchestration.run_ledger import failure_cause
from retail_lake.orchestration.run_plan import InvalidRunInput, parse_run_date, run_date_of_execution


def run_date_for(state: Mapping[str, Any], execution_input: Any, execution_arn: str) -> str:
    """The business date of the execution: the plan's, else the input's, else the execution name's, else
    `unknown` (the input was rejected before a date was known)."""
    plan = state.get("run") or {}
    if plan.get("run_date"):
        return str(plan["run_date"])
    if isinstance(execution_input, str):
        try:
            execution_input = json.loads(execution_input or "{}")
        except ValueError:
            execution_input = {}
    if isinstance(execution_input, Mapping) and execution_input.get("run_date") is not None:
        try:
            return parse_run_date(execution_input["run_date"])
        except InvalidRunInput:
            pass
    return run_date_of_execution(execution_arn.rsplit(":", 1)[-1]) or "unknown"


def success_summary(state: Mapping[str, Any]) -> dict[str, Any]:
    """Jobs and runs of a successful execution, from the results the states left (`$.curated`, `$.quality`,
    `$.analytics`, `$.emr`, `$.partitions`, `$.views`, `$.warehouse`)."""
    plan = state.get("run") or {}
    summary: dict[str, Any] = {"datasets": [d for d in str(plan.get("datasets_csv", "")).split(",") if d],
                               "backfill": plan.get("backfill", "false")}
    curated = state.get("curated") or []
    summary["curated_jobs"] = {item.get("dataset", "?"): {"run_id": item.get("run_id"), "seconds": item.get("seconds")}
                               for item in curated if isinstance(item, Mapping)}
    for key in ("quality", "analytics"):
        if isinstance(state.get(key), Mapping):
            summary[f"{key}_job"] = dict(state[key])
    if isinstance(state.get("emr"), list):
        summary["emr_steps"] = [dict(item) for item in state["emr"] if isinstance(item, Mapping)]
    partitions = state.get("partitions")
    if isinstance(partitions, Mapping):
        summary["partitions_added"] = partitions.get("added", 0)
        summary["partitions_removed"] = partitions.get("removed", 0)
    if isinstance(state.get("views"), list):
        summary["views_refreshed"] = len(state["views"])
    if state.get("warehouse") is not None:
        summary["warehouse_loaded"] = True
    return summary


def failure_notification(record: Mapping[str, Any]) -> str:
    """The SNS message of a failed run: one JSON object a person or a subscriber can read."""
    return json.dumps({
        "outcome": "FAILED",
        "run_date": record.get("run_date"),
        "execution": str(record.get("execution_arn", "")).rsplit(":", 1)[-1],
        "failed_state": record.get("failed_state"),
        "error": record.get("error"),
        "cause": failure_cause(record.get("cause", "")),
        "what_to_do": (f"fix the cause, then run the date again: retail-lake run --date {record.get('run_date')}"
                       if record.get("run_date") not in (None, "unknown") else
                       "fix the execution input, then start it again"),
    }, sort_keys=True)
