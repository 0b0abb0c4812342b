"""The ledger of pipeline runs (one DynamoDB table): a lease per business date, so two executions never run the
same date at once, and a record per execution with its outcome (for a failure: which state, which error, why).

Items (partition key `run_date`, sort key `record`):
- `record = "LEASE"`: the execution holding the date (`execution_arn`, `acquired_at`). Taken with a conditional
  write; a lease whose holder is no longer RUNNING (stopped, timed out, failed before releasing) is taken over.
- `record = "RUN#<execution name>"`: `status` RUNNING -> SUCCEEDED | FAILED, times, the plan's summary, and for a
  failure `failed_state`, `error`, `cause`.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Callable, Mapping

LEASE = "LEASE"
MAX_CAUSE = 4000


class RunAlreadyInProgress(RuntimeError):
    """Another execution holds the date's lease and is still running."""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _execution_name(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


def _conditional_failed(error: Exception) -> bool:
    response = getattr(error, "response", None) or {}
    return response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def acquire_lease(dynamodb, table: str, run_date: str, execution_arn: str,
                  execution_status: Callable[[str], str]) -> None:
    """Take the date's lease for `execution_arn` (idempotent for the holder). `execution_status(arn)` answers the
    holder's status (Step Functions DescribeExecution); raises `RunAlreadyInProgress` while it is RUNNING."""
    item = {"run_date": {"S": run_date}, "record": {"S": LEASE}, "execution_arn": {"S": execution_arn},
            "acquired_at": {"S": _now()}}
    try:
        dynamodb.put_item(TableName=table, Item=item,
                          ConditionExpression="attribute_not_exists(run_date) OR execution_arn = :me",
                          ExpressionAttributeValues={":me": {"S": execution_arn}})
        return
    except Exception as error:
        if not _conditional_failed(error):
            raise
    current = dynamodb.get_item(TableName=table, Key={"run_date": {"S": run_date}, "record": {"S": LEASE}},
                                ConsistentRead=True).get("Item")
    holder = current["execution_arn"]["S"] if current else None
    if holder is not None:
        status = execution_status(holder)
        if status == "RUNNING":
            raise RunAlreadyInProgress(
                f"{run_date} is already being run by execution {_execution_name(holder)} ({holder}); wait for it "
                "to end, or stop it, before running the date again")
    try:  # a stale lease (its holder ended without releasing it), or released meanwhile: take it over
        dynamodb.put_item(
            TableName=table, Item=item,
            ConditionExpression="attribute_not_exists(run_date) OR execution_arn = :holder",
            ExpressionAttributeValues={":holder": {"S": holder or execution_arn}},
        )
    except Exception as error:
        if _conditional_failed(error):
            raise RunAlreadyInProgress(f"{run_date}: another execution took the lease at the same moment") from None
        raise


def release_lease(dynamodb, table: str, run_date: str, execution_arn: str) -> bool:
    """Release the lease if `execution_arn` holds it; True when it did."""
    try:
        dynamodb.delete_item(TableName=table, Key={"run_date": {"S": run_date}, "record": {"S": LEASE}},
                             ConditionExpression="execution_arn = :me",
                             ExpressionAttributeValues={":me": {"S": execution_arn}})
        return True
    except Exception as error:
        if _conditional_failed(error):
            return False
        raise


def record_start(dynamodb, table: str, run_date: str, execution_arn: str, plan: Mapping[str, Any]) -> None:
    dynamodb.put_item(TableName=table, Item={
        "run_date": {"S": run_date},
        "record": {"S": f"RUN#{_execution_name(execution_arn)}"},
        "execution_arn": {"S": execution_arn},
        "status": {"S": "RUNNING"},
        "started_at": {"S": _now()},
        "datasets": {"S": str(plan.get("datasets_csv", ""))},
        "backfill": {"S": str(plan.get("backfill", "false"))},
    })


def failure_cause(cause: Any) -> str:
    """A readable cause: a Glue or EMR result serialized by Step Functions is reduced to its error message."""
    text = cause if isinstance(cause, str) else json.dumps(cause, default=str)
    try:
        parsed = json.loads(text)
    except (TypeError, ValueError):
        return text[:MAX_CAUSE]
    if isinstance(parsed, dict):
        for key in ("ErrorMessage", "errorMessage", "StateDetails", "stateDetails"):
            if parsed.get(key):
                prefix = f"{parsed['JobName']}: " if parsed.get("JobName") else ""
                return (prefix + str(parsed[key]))[:MAX_CAUSE]
        status = parsed.get("Status")
        if isinstance(status, dict) and status.get("StateChangeReason"):
            return str(status["StateChangeReason"])[:MAX_CAUSE]
    return text[:MAX_CAUSE]


def record_finish(dynamodb, table: str, run_date: str, execution_arn: str, status: str,
                  failure: Mapping[str, Any] | None = None, summary: Mapping[str, Any] | None = None) -> dict:
    """Write the execution's outcome and release the lease it holds; returns the record as plain values."""
    record: dict[str, Any] = {
        "run_date": run_date, "record": f"RUN#{_execution_name(execution_arn)}", "execution_arn": execution_arn,
        "status": status, "finished_at": _now(),
    }
    if failure:
        record.update({"failed_state": str(failure.get("state", "unknown")),
                       "error": str(failure.get("error", "unknown")),
                       "cause": failure_cause(failure.get("cause", ""))})
    if summary:
        record["summary"] = json.dumps(summary, sort_keys=True, default=str)
    names = {f"#{key}": key for key in record if key not in ("run_date", "record")}
    dynamodb.update_item(
        TableName=table,
        Key={"run_date": {"S": run_date}, "record": {"S": record["record"]}},
        UpdateExpression="SET " + ", ".join(f"#{key} = :{key}" for key in record if key not in ("run_date", "record")),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":{key}": {"S": str(value)} for key, value in record.items()
                                   if key not in ("run_date", "record")},
    )
    if run_date != "unknown":
        release_lease(dynamodb, table, run_date, execution_arn)
    return record


def runs_of_date(dynamodb, table: str, run_date: str) -> list[dict[str, str]]:
    """Every record of a date (lease first, then the runs), as plain strings."""
    items = dynamodb.query(TableName=table, KeyConditionExpression="run_date = :d",
                           ExpressionAttributeValues={":d": {"S": run_date}}, ConsistentRead=True)["Items"]
    return [{key: value["S"] for key, value in item.items()} for item in items]
