"""Lambda tasks of the daily pipeline state machine (thin: Powertools for logs and traces, the work in
`retail_lake.orchestration`):

- `begin_run`: the execution's plan (date, jobs, EMR drivers, views) and the date's lease in the run ledger;
- `register_partitions`: the catalog partitions of the curated and analytics tables, in step with S3;
- `finish_run`: the execution's outcome in the ledger (for a failure: state, error, cause, date), the lease
  released, and the notification text.
"""

from __future__ import annotations

import datetime as dt
import json
import os

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from retail_lake.orchestration import catalog_partitions, run_ledger, run_plan
from retail_lake.orchestration.pipeline_outcome import failure_notification, run_date_for, success_summary

LEDGER_TABLE = os.environ["RUN_LEDGER_TABLE"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")

logger = Logger()
tracer = Tracer()
dynamodb = boto3.client("dynamodb")


def _json_env(name: str, default: str) -> object:
    return json.loads(os.environ.get(name) or default)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def begin_run(event: dict, context: LambdaContext) -> dict:
    execution_input = event.get("input") or {}
    if isinstance(execution_input, str):
        execution_input = json.loads(execution_input or "{}")
    plan = run_plan.build_run_plan(
        execution_input,
        now=dt.datetime.now(dt.timezone.utc),
        time_zone=TIME_ZONE,
        curated_jobs=_json_env("CURATED_JOBS", "{}"),
        emr=_json_env("EMR_LOCATIONS", "null"),
        views=_json_env("ATHENA_VIEWS", "[]"),
    )
    sfn = boto3.client("stepfunctions")
    run_ledger.acquire_lease(dynamodb, LEDGER_TABLE, plan["run_date"], event["execution_arn"],
                             lambda arn: sfn.describe_execution(executionArn=arn)["status"])
    run_ledger.record_start(dynamodb, LEDGER_TABLE, plan["run_date"], event["execution_arn"], plan)
    logger.info("run planned", extra={"run_date": plan["run_date"], "datasets": plan["datasets_csv"]})
    return plan


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def register_partitions(event: dict, context: LambdaContext) -> dict:
    databases = _json_env("CATALOG_DATABASES", "[]")
    results = catalog_partitions.sync_partitions(boto3.client("glue"), boto3.client("s3"), databases)
    tables = [result.as_dict() for result in results]
    logger.info("catalog partitions synced", extra={"tables": tables})
    return {"tables": tables, "added": sum(t["added"] for t in tables), "removed": sum(t["removed"] for t in tables)}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def finish_run(event: dict, context: LambdaContext) -> dict:
    state = event.get("state") or {}
    execution_arn = event["execution_arn"]
    run_date = run_date_for(state, event.get("execution_input"), execution_arn)
    if event["status"] == "SUCCEEDED":
        summary = success_summary(state)
        record = run_ledger.record_finish(dynamodb, LEDGER_TABLE, run_date, execution_arn, "SUCCEEDED",
                                          summary=summary)
        logger.info("run succeeded", extra={"run_date": run_date})
        return {"run_date": run_date, "status": "SUCCEEDED", "summary": summary,
                "message": json.dumps({"outcome": "SUCCEEDED", "run_date": run_date, **summary}, sort_keys=True)}
    failure = {"state": (state.get("failed_at") or {}).get("state", "unknown"),
               "error": (state.get("failure") or {}).get("Error", "unknown"),
               "cause": (state.get("failure") or {}).get("Cause", "")}
    record = run_ledger.record_finish(dynamodb, LEDGER_TABLE, run_date, execution_arn, "FAILED", failure=failure)
    logger.error("run failed", extra={"run_date": run_date, "failed_state": record["failed_state"],
                                      "error": record["error"]})
    return {"run_date": run_date, "status": "FAILED", "failed_state": record["failed_state"],
            "error": record["error"], "message": failure_notification(record)}
