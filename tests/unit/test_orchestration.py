"""The daily pipeline's logic outside the state machine: the run plan (dates in the stage's time zone, input
validation, execution names), the run ledger's date lease, the failure notification, catalog partition sync, and
the static definition checks themselves (they must catch what they claim to)."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
from moto import mock_aws

from retail_lake.orchestration import catalog_partitions, run_ledger
from retail_lake.orchestration.analytics_steps import step_job_driver
from retail_lake.orchestration.pipeline_outcome import failure_notification, run_date_for, success_summary
from retail_lake.orchestration.run_plan import (
    InvalidRunInput,
    build_run_plan,
    default_run_date,
    emr_step_drivers,
    execution_name,
    run_date_of_execution,
)
from tests.infrastructure.asl_checks import ANY, dataflow_problems, structural_problems

UTC = dt.timezone.utc
JOBS = {"pos_sales": "job-pos", "clickstream": "job-click", "inventory_movements": "job-inv"}
TOPIC = "arn:aws:sns:us-east-1:123456789012:quality"
EMR = {"steps_uri": "s3://art/emr/steps/", "library_key": "emr/library/abc.zip", "python_deps_key": "emr/python/d.zip",
       "deequ_jar_key": "glue/jars/deequ-2.0.21-spark-3.5.jar", "quality_topic_arn": TOPIC,
       "quality_pipeline": "retail-lake-dev", "artifacts_bucket": "art", "curated_bucket": "cur",
       "analytics_bucket": "ana"}


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


# ------------------------------------------------------------------------------------------ run plan
@pytest.mark.parametrize(("zone", "expected"), [
    ("Europe/London", "2026-11-07"),      # 00:30 local on the 8th
    ("Pacific/Auckland", "2026-11-07"),   # 13:30 local on the 8th
    ("America/Los_Angeles", "2026-11-06"),  # 16:30 local on the 7th
])
def test_the_default_date_is_yesterday_in_the_stages_time_zone(zone, expected) -> None:
    now = dt.datetime(2026, 11, 8, 0, 30, tzinfo=UTC)
    assert default_run_date(now, zone) == expected
    assert build_run_plan({}, now=now, time_zone=zone, curated_jobs=JOBS)["run_date"] == expected


def test_the_plan_lists_every_job_and_step_for_the_date() -> None:
    plan = build_run_plan({"run_date": "2026-11-05", "datasets": ["clickstream", "pos_sales"], "poll_seconds": 2},
                          now=dt.datetime.now(UTC), time_zone="UTC", curated_jobs=JOBS, emr=EMR,
                          views=[{"named_query_id": "q1"}])
    assert plan["run_date"] == "2026-11-05" and plan["backfill"] == "false"
    assert plan["curated"] == [
        {"dataset": "pos_sales", "job_name": "job-pos", "run_date": "2026-11-05", "backfill": "false"},
        {"dataset": "clickstream", "job_name": "job-click", "run_date": "2026-11-05", "backfill": "false"}]
    assert plan["datasets_csv"] == "pos_sales,clickstream"
    assert [s["step"] for s in plan["emr_steps"]] == ["customer_segmentation", "product_affinity", "demand_forecast"]
    assert plan["views"] == [{"named_query_id": "q1", "poll_seconds": 2}] and plan["poll_seconds"] == 2


def test_emr_drivers_are_the_run_batch_drivers_in_step_functions_casing() -> None:
    driver = emr_step_drivers(EMR, "2026-11-05", ("product_affinity",))[0]
    expected = step_job_driver("product_affinity", {
        "EmrStepsUri": EMR["steps_uri"], "EmrLibraryKey": EMR["library_key"], "EmrPythonDepsKey": "emr/python/d.zip",
        "EmrDeequJarKey": "glue/jars/deequ-2.0.21-spark-3.5.jar", "EmrQualityPipeline": "retail-lake-dev",
    }, {"ArtifactsBucketName": "art", "CuratedBucketName": "cur", "AnalyticsBucketName": "ana"},
        {"QualityTopicArn": TOPIC}, "2026-11-05")["sparkSubmit"]
    assert driver["job_driver"]["SparkSubmit"] == {"EntryPoint": expected["entryPoint"],
                                                   "EntryPointArguments": expected["entryPointArguments"],
                                                   "SparkSubmitParameters": expected["sparkSubmitParameters"]}
    # the plan's drivers carry the packages zip, the Deequ jar and the quality gate's arguments
    assert driver["job_driver"]["SparkSubmit"]["SparkSubmitParameters"] == (
        "--py-files s3://art/emr/library/abc.zip --jars s3://art/glue/jars/deequ-2.0.21-spark-3.5.jar "
        "--conf spark.archives=s3://art/emr/python/d.zip#pydeps")
    arguments = driver["job_driver"]["SparkSubmit"]["EntryPointArguments"]
    assert dict(zip(arguments[::2], arguments[1::2])) == {
        "--run_date": "2026-11-05", "--curated_path": "s3://cur/", "--output_path": "s3://ana/",
        "--results_path": "s3://ana/quality_results/", "--report_path": "s3://ana/quality_reports/",
        "--topic_arn": TOPIC, "--pipeline": "retail-lake-dev"}
    assert driver["name"] == "product-affinity-2026-11-05"
    plan = build_run_plan({"run_date": "2026-11-05", "emr_arguments": {"demand_forecast": {"--season": 1}}},
                          now=dt.datetime.now(UTC), time_zone="UTC", curated_jobs=JOBS, emr=EMR)
    forecast = next(s for s in plan["emr_steps"] if s["step"] == "demand_forecast")["job_driver"]["SparkSubmit"]
    assert forecast["EntryPointArguments"][-2:] == ["--season", "1"]


@pytest.mark.parametrize(("execution_input", "message"), [
    ({"run_date": "2026-13-01"}, "not a calendar date"),
    ({"run_date": "07/11/2026"}, "YYYY-MM-DD"),
    ({"datasets": ["pos_sales", "returns"]}, "unknown datasets"),
    ({"datasets": []}, "non-empty list"),
    ({"backfill": "yes"}, "true or false"),
    ({"poll_seconds": 0}, "1 to 300"),
    ({"rundate": "2026-11-01"}, "unknown input keys"),
    ({"emr_arguments": {"clustering": {"--k": 3}}}, "must map EMR steps"),
])
def test_bad_input_is_refused_with_what_is_wrong(execution_input, message) -> None:
    with pytest.raises(InvalidRunInput, match=message):
        build_run_plan(execution_input, now=dt.datetime.now(UTC), time_zone="UTC", curated_jobs=JOBS)


def test_execution_names_carry_the_date_and_the_attempt() -> None:
    assert execution_name("2026-11-07") == "daily-2026-11-07"
    assert execution_name("2026-11-07", 3) == "daily-2026-11-07-attempt-3"
    assert run_date_of_execution(execution_name("2026-11-07", 3)) == "2026-11-07"
    assert run_date_of_execution("daily-2026-11-07x") is None
    with pytest.raises(InvalidRunInput):
        execution_name("tomorrow")


# ------------------------------------------------------------------------------------------ ledger
def _ledger() -> tuple[object, str]:
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(TableName="runs", BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "run_date", "AttributeType": "S"},
                                                {"AttributeName": "record", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "run_date", "KeyType": "HASH"},
                                     {"AttributeName": "record", "KeyType": "RANGE"}])
    return dynamodb, "runs"


ARN_A = "arn:aws:states:us-east-1:123456789012:execution:machine:daily-2026-11-07"
ARN_B = "arn:aws:states:us-east-1:123456789012:execution:machine:daily-2026-11-07-attempt-2"


def test_a_running_execution_holds_its_date(aws) -> None:
    dynamodb, table = _ledger()
    status = {ARN_A: "RUNNING"}
    run_ledger.acquire_lease(dynamodb, table, "2026-11-07", ARN_A, status.get)
    run_ledger.acquire_lease(dynamodb, table, "2026-11-07", ARN_A, status.get)  # a retried BeginRun: still ours
    with pytest.raises(run_ledger.RunAlreadyInProgress, match="daily-2026-11-07"):
        run_ledger.acquire_lease(dynamodb, table, "2026-11-07", ARN_B, status.get)
    run_ledger.acquire_lease(dynamodb, table, "2026-11-08", ARN_B, status.get)  # another date is free


def test_a_stale_lease_is_taken_over_and_only_the_holder_releases(aws) -> None:
    dynamodb, table = _ledger()
    status = {ARN_A: "ABORTED", ARN_B: "RUNNING"}
    run_ledger.acquire_lease(dynamodb, table, "2026-11-07", ARN_A, status.get)
    run_ledger.acquire_lease(dynamodb, table, "2026-11-07", ARN_B, status.get)  # A was stopped without releasing
    assert run_ledger.release_lease(dynamodb, table, "2026-11-07", ARN_A) is False
    run_ledger.record_start(dynamodb, table, "2026-11-07", ARN_B, {"datasets_csv": "pos_sales"})
    record = run_ledger.record_finish(dynamodb, table, "2026-11-07", ARN_B, "FAILED", failure={
        "state": "QualityGate", "error": "States.TaskFailed",
        "cause": json.dumps({"JobName": "gate", "JobRunState": "FAILED",
                             "ErrorMessage": "QualityGateFailed: 3 error-level rules failed"})})
    assert record["cause"] == "gate: QualityGateFailed: 3 error-level rules failed"
    records = run_ledger.runs_of_date(dynamodb, table, "2026-11-07")
    assert [(r["record"], r["status"], r.get("failed_state")) for r in records] == [
        ("RUN#daily-2026-11-07-attempt-2", "FAILED", "QualityGate")]


# ------------------------------------------------------------------------------------------ outcome
def test_the_failure_notification_names_state_error_date_and_what_to_do() -> None:
    message = json.loads(failure_notification({
        "run_date": "2026-11-07", "execution_arn": ARN_B, "failed_state": "BuildAnalytics",
        "error": "States.TaskFailed", "cause": "job: boom"}))
    assert (message["failed_state"], message["error"], message["run_date"], message["execution"]) == (
        "BuildAnalytics", "States.TaskFailed", "2026-11-07", "daily-2026-11-07-attempt-2")
    assert "retail-lake run --date 2026-11-07" in message["what_to_do"]


def test_the_date_of_a_run_comes_from_the_plan_the_input_or_the_name() -> None:
    assert run_date_for({"run": {"run_date": "2026-11-01"}}, {}, ARN_A) == "2026-11-01"
    assert run_date_for({}, json.dumps({"run_date": "2026-11-02"}), ARN_A) == "2026-11-02"
    assert run_date_for({}, {"run_date": "bad"}, ARN_A) == "2026-11-07"
    assert run_date_for({}, {}, "arn:aws:states:r:1:execution:m:manual") == "unknown"
    summary = success_summary({"run": {"datasets_csv": "a,b"}, "curated": [{"dataset": "a", "run_id": "r", "seconds": 3}],
                               "partitions": {"added": 2, "removed": 1}, "views": [{}, {}]})
    assert summary["datasets"] == ["a", "b"] and summary["partitions_added"] == 2 and summary["views_refreshed"] == 2


# ------------------------------------------------------------------------------------------ catalog partitions
def test_partitions_follow_the_prefixes_on_s3(aws) -> None:
    s3, glue = boto3.client("s3"), boto3.client("glue")
    s3.create_bucket(Bucket="ana")
    glue.create_database(DatabaseInput={"Name": "analytics"})
    columns = [{"Name": "units", "Type": "bigint"}]
    descriptor = {"Columns": columns, "Location": "s3://ana/daily_sales/",
                  "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"}
    glue.create_table(DatabaseName="analytics", TableInput={
        "Name": "daily_sales", "StorageDescriptor": descriptor,
        "PartitionKeys": [{"Name": "event_date", "Type": "string"}]})
    glue.create_table(DatabaseName="analytics", TableInput={
        "Name": "projected", "StorageDescriptor": {**descriptor, "Location": "s3://ana/projected/"},
        "PartitionKeys": [{"Name": "dt", "Type": "string"}], "Parameters": {"projection.enabled": "true"}})
    for day in ("2026-11-06", "2026-11-07"):
        s3.put_object(Bucket="ana", Key=f"daily_sales/event_date={day}/part-0.parquet", Body=b"x")
    s3.put_object(Bucket="ana", Key="daily_sales/_temporary/x", Body=b"x")
    results = {r.table: r for r in catalog_partitions.sync_partitions(glue, s3, ["analytics"])}
    assert results["daily_sales"].added == [["2026-11-06"], ["2026-11-07"]]
    assert results["projected"].skipped == "partition projection"
    partition = glue.get_partition(DatabaseName="analytics", TableName="daily_sales",
                                   PartitionValues=["2026-11-07"])["Partition"]
    assert partition["StorageDescriptor"]["Location"] == "s3://ana/daily_sales/event_date=2026-11-07/"
    s3.delete_object(Bucket="ana", Key="daily_sales/event_date=2026-11-06/part-0.parquet")
    again = {r.table: r for r in catalog_partitions.sync_partitions(glue, s3, ["analytics"])}
    assert (again["daily_sales"].added, again["daily_sales"].removed) == ([], [["2026-11-06"]])


# ------------------------------------------------------------------------------------------ the static checks
def test_the_definition_checks_catch_broken_definitions() -> None:
    definition = {"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "x", "Next": "Gone", "Parameters": {"d.$": "$.run.missing"}},
        "B": {"Type": "Pass", "End": True},
        "C": {"Type": "Task", "Resource": "x", "Retry": [{"ErrorEquals": ["States.ALL"]}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "B"}], "End": True},
    }}
    problems = structural_problems(definition)
    assert "<root>/A: transition to 'Gone', which is not a state of its scope" in problems
    assert "<root>/A: Task without Retry" in problems and "<root>/A: Task without a Catch of States.ALL" in problems
    assert "<root>/B: unreachable" in problems and "<root>/C: retries every error, not only transient ones" in problems
    flow = {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "x", "ResultPath": "$.run", "Next": "B"},
                                       "B": {"Type": "Pass", "Parameters": {"d.$": "$.run.date", "e.$": "$.nope"},
                                             "End": True}}}
    assert dataflow_problems(flow, {}, {"A": {"date": ANY}}, {}) == [
        "<root>/B: reads $.nope, which the state's input does not have"]


# ------------------------------------------------------------------------------------------ the twin's fixes
def test_the_twin_names_aws_sdk_errors_and_renders_timestamps_as_aws_does() -> None:
    from botocore.exceptions import ClientError

    from retail_lake.twin.executors.step_functions import _sdk_error_name, epoch_millis

    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "StartJobRun")
    invalid = ClientError({"Error": {"Code": "InvalidRequest", "Message": "no"}}, "StartQueryExecution")
    assert _sdk_error_name("emrserverless", throttled) == "EmrServerless.ThrottlingException"
    assert _sdk_error_name("athena", invalid) == "Athena.InvalidRequestException"
    assert _sdk_error_name("athena", ValueError("x")) is None
    stamp = dt.datetime(2026, 11, 7, 6, 0, tzinfo=UTC)
    assert epoch_millis({"JobRun": {"StartedOn": stamp, "Ids": [stamp]}, "n": 1}) == {
        "JobRun": {"StartedOn": 1794031200000, "Ids": [1794031200000]}, "n": 1}


def test_progress_reports_states_task_failures_and_the_end_but_not_poll_bookkeeping() -> None:
    from retail_lake.orchestration.pipeline_runner import progress_lines

    glue_cause = json.dumps({"JobName": "gate", "JobRunState": "FAILED", "ErrorMessage": "QualityGateFailed: 2 rules"})
    events = [
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "QualityGate"}},
        {"type": "TaskFailed", "taskFailedEventDetails": {"error": "States.TaskFailed", "cause": glue_cause}},
        {"type": "WaitStateEntered", "stateEnteredEventDetails": {"name": "WaitForEmrStep"}},
        {"type": "ChoiceStateExited", "stateExitedEventDetails": {"name": "EmrStepDone?"}},
        {"type": "TaskStateExited", "stateExitedEventDetails": {"name": "QualityGate"}},
        {"type": "ExecutionFailed", "executionFailedEventDetails": {}},
    ]
    assert list(progress_lines(events, 0)) == [
        ("entered", "QualityGate"), ("task_failed", "States.TaskFailed: gate: QualityGateFailed: 2 rules"),
        ("exited", "QualityGate"), ("end", "FAILED")]
    assert list(progress_lines(events, 5)) == [("end", "FAILED")]
