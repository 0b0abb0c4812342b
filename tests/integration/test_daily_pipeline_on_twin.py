"""The daily pipeline state machine on the embedded twin, deployed from the real dev cloud assembly: moto's Step
Functions interpreter runs the synthesized definition, its tasks run on the twin's executors (Lambda in-process,
Glue and EMR Serverless on local Spark, SNS -> SQS in moto). One deployment and one ingested day are shared by the
tests of this module, which run in order: a day with a transient Glue error (retried), the batch oracle, a
persistent failure (failure handler, ledger, SNS), then a rerun of the date (no duplicates, never twice at once)."""

from __future__ import annotations

import datetime as dt
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retail_lake.batch.curated import EVENT_DATE
from retail_lake.batch.reference import REFERENCE_TABLES, reference_object_key
from retail_lake.batch.windows import run_window
from retail_lake.contracts.registry import DATASETS
from retail_lake.generator import GeneratorConfig, generate, write_reference_data
from retail_lake.ingestion.producer import KinesisProducer
from retail_lake.orchestration.batch_day import quality_gate_summary
from retail_lake.orchestration.pipeline_runner import PipelineRunError, follow, run_and_report, start_run
from retail_lake.orchestration.run_ledger import failure_cause, runs_of_date
from retail_lake.quality.rules import rule_datasets, rules_for
from retail_lake.reconcile import count_lake
from retail_lake.twin import Twin
from tests.integration.oracles import daily_sales_oracle, daily_sales_rows

pytestmark = pytest.mark.integration

STORAGE, INGESTION, BATCH = "RetailLake-dev-Storage", "RetailLake-dev-Ingestion", "RetailLake-dev-Batch"
ORCHESTRATION = "RetailLake-dev-Orchestration"
RUN_DATE = dt.datetime.now(dt.timezone.utc).date()
CONFIG = GeneratorConfig(events=2_000, seed=31, stores=6, skus=200, customers=800, days=2,
                         start_date=RUN_DATE - dt.timedelta(days=2), defect_rate=0.0, defect_counts={"duplicate": 40})
FAST = {"poll_seconds": 1}


def _table(s3, bucket: str, prefix: str) -> pa.Table:
    parts = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if not key.endswith(".parquet"):
                continue
            table = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
            for segment in key[len(prefix):].split("/")[:-1]:
                name, _, value = segment.partition("=")
                table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
            parts.append(table)
    return pa.concat_tables(parts, promote_options="default") if parts else pa.table({})


def _sorted_rows(table: pa.Table, *keys: str) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda row: tuple(str(row[k]) for k in keys))


def _messages(sqs, queue_url: str) -> list[dict]:
    found = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            envelope = json.loads(message["Body"])
            found.append({"subject": envelope.get("Subject"), "attributes": envelope.get("MessageAttributes", {}),
                          "message": json.loads(envelope["Message"])})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _history(twin: Twin, execution_arn: str) -> list[dict]:
    events = []
    for page in twin.client("stepfunctions").get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events += page["events"]
    return events


@pytest.fixture(scope="module")
def day(dev_assembly, tmp_path_factory: pytest.TempPathFactory):
    lines = list(generate(CONFIG))
    reference_dir = tmp_path_factory.mktemp("reference")
    write_reference_data(CONFIG, reference_dir, formats=("parquet",))
    with Twin() as twin:
        if not twin.is_embedded:
            pytest.skip("the state machine's Glue and EMR tasks execute on the embedded twin only")
        twin.deploy(dev_assembly)
        storage = twin.outputs[STORAGE]
        s3 = twin.client("s3")
        raw_bucket = storage["RawBucketName"]
        produced = KinesisProducer(twin.client("kinesis"), twin.outputs[INGESTION]["StreamName"]).send(lines)
        twin.settle(lambda: count_lake(s3, raw_bucket=raw_bucket,
                                       quarantine_bucket=storage["QuarantineBucketName"]).raw_total >= produced.events,
                    timeout=120)
        for table in REFERENCE_TABLES:
            s3.upload_file(str(reference_dir / f"{table}.parquet"), raw_bucket, reference_object_key("reference/", table))
        orchestration = twin.outputs[ORCHESTRATION]
        sqs, sns = twin.client("sqs"), twin.client("sns")
        queue_url = sqs.create_queue(QueueName="pipeline-notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=orchestration["NotificationTopicArn"], Protocol="sqs", Endpoint=queue_arn)
        yield {"twin": twin, "s3": s3, "sqs": sqs, "queue_url": queue_url, "storage": storage,
               "batch": twin.outputs[BATCH], "orchestration": orchestration,
               "sfn": twin.client("stepfunctions"), "raw_pos": _table(s3, raw_bucket, "pos_sales/"), "results": {}}


def _why(run) -> str:
    """The failed job's own error message, not the whole job-run JSON Step Functions puts in the cause."""
    return failure_cause((run.cause or "").split(": ", 1)[-1])


def _run(day, **execution_input):
    run = start_run(day["sfn"], day["orchestration"]["StateMachineArn"], RUN_DATE.isoformat(),
                    execution_input={**FAST, **execution_input})
    return follow(day["sfn"], run, poll_s=0.5, timeout_s=900)


def test_a_transient_glue_error_is_retried_and_the_day_succeeds(day) -> None:
    twin = day["twin"]
    pos_job = day["batch"]["RawToCuratedPosSalesJobName"]
    twin.executor("stepfunctions").fail_glue_starts(pos_job, times=1, code="ConcurrentRunsExceededException")
    run = _run(day)
    assert run.status == "SUCCEEDED", (run.error, _why(run))
    assert run.name == f"daily-{RUN_DATE.isoformat()}"
    visited = [step.name for step in run.steps]
    for state in ("BeginRun", "CurateDatasets", "RawToCurated", "QualityGate", "BuildAnalytics", "AnalyticsEmrSteps",
                  "StartEmrStep", "GetEmrStep", "RegisterPartitions", "RefreshViews", "StartViewQuery", "GetViewQuery",
                  "RecordSuccess", "PublishSummary"):
        assert state in visited, state
    failures = [e for e in _history(twin, run.execution_arn) if e["type"] == "TaskFailed"]
    assert [e["taskFailedEventDetails"]["error"] for e in failures] == ["Glue.ConcurrentRunsExceededException"]
    runs_of_pos_job = twin.client("glue").get_job_runs(JobName=pos_job)["JobRuns"]
    assert len(runs_of_pos_job) == 1 and runs_of_pos_job[0]["JobRunState"] == "SUCCEEDED"  # the retry ran the job
    summary = run.output["summary"]
    assert set(summary["curated_jobs"]) == {"pos_sales", "clickstream", "inventory_movements"}
    assert summary["analytics_job"]["state"] == "SUCCEEDED"
    assert {step["step"] for step in summary["emr_steps"]} == {"customer_segmentation", "product_affinity",
                                                                "demand_forecast"}
    views = [key for key in twin.outputs["RetailLake-dev-Serving"] if key.startswith("ViewQuery")]
    assert views and summary["views_refreshed"] == len(views)  # the Serving stack's CREATE OR REPLACE VIEW queries
    # the lake's tables use partition projection: nothing to register, nothing registered
    assert (summary["partitions_added"], summary["partitions_removed"]) == (0, 0)
    notes = _messages(day["sqs"], day["queue_url"])
    assert [n["message"]["outcome"] for n in notes] == ["SUCCEEDED"]
    assert notes[0]["attributes"]["outcome"]["Value"] == "SUCCEEDED"
    ledger = day["orchestration"]["RunLedgerTableName"]
    records = runs_of_date(twin.client("dynamodb"), ledger, RUN_DATE.isoformat())
    assert [(r["record"], r["status"]) for r in records] == [(f"RUN#{run.name}", "SUCCEEDED")]  # lease released
    s3, storage = day["s3"], day["storage"]
    # every gate of the day is in quality_results: the curated datasets' (Glue), on each event date the run rewrote
    # (those of its window with rows, and the date itself), and the EMR steps' outputs (their as_of_date)
    gates = {gate["dataset"]: gate for gate in quality_gate_summary(s3, storage, [RUN_DATE.isoformat()])}
    assert set(gates) == set(rule_datasets())
    first_rewritten = run_window(RUN_DATE).first_event_date
    for dataset, gate in gates.items():
        if dataset in DATASETS:
            written = set(_table(s3, storage["CuratedBucketName"], f"{dataset}/").column(EVENT_DATE).to_pylist())
            partitions = {d for d in written if d >= first_rewritten.isoformat()} | {RUN_DATE.isoformat()}
            assert len(partitions) >= 3, (dataset, written)
        else:
            partitions = {RUN_DATE.isoformat()}
        assert gate["engine"] == "great_expectations"  # no Deequ jar on this machine
        assert gate["rules"] == len(rules_for(dataset)) and gate["partitions"] == len(partitions), dataset
        assert gate["failed_errors"] == 0, gate["failed"]  # the day went on to analytics
        assert gate["passed"] + gate["failed_warnings"] == gate["checks"] == gate["rules"] * len(partitions)
    day["results"]["first"] = {
        "daily_sales": _table(s3, storage["AnalyticsBucketName"], "daily_sales/"),
        "pos_sales": _table(s3, storage["CuratedBucketName"], "pos_sales/"),
        "customer_segments": _table(s3, storage["AnalyticsBucketName"], "customer_segments/"),
    }


def test_the_days_daily_sales_equal_the_batch_oracle(day) -> None:
    """daily_sales as the state machine left them = an independent Decimal computation over the POS events in raw
    (deduplicated by event id, dated in each store's time zone, within the run's window)."""
    expected = daily_sales_oracle(day["raw_pos"].to_pylist(), CONFIG, RUN_DATE)
    actual = daily_sales_rows(day["results"]["first"]["daily_sales"].to_pylist())
    assert len(expected) > 50
    assert actual == expected


def test_a_persistent_failure_ends_in_the_failure_handler_and_is_notified(day) -> None:
    """The quality gate fails (a job failure, not a transient error: no retry): the pipeline stops before the
    analytics, records the failure and notifies it."""
    twin = day["twin"]
    gate = day["batch"]["QualityGateJobName"]
    reason = "QualityGateFailed: inventory_movements: rule quantity_is_not_zero failed on 12 rows"
    twin.executor("stepfunctions").fail_glue_runs(gate, times=1, message=reason)
    lines: list[str] = []  # what `retail-lake run` prints
    run = run_and_report(day["sfn"], day["orchestration"]["StateMachineArn"], RUN_DATE.isoformat(),
                         execution_input={**FAST, "datasets": ["inventory_movements"]}, out=lines.append, poll_s=0.5)
    assert run.status == "FAILED"
    assert lines[0].startswith(f"started {run.name} (arn:aws:states:")
    assert "  -> QualityGate" in lines
    assert any(line.startswith("  <- CurateDatasets (") and line.endswith(" s)") for line in lines)
    assert any(line.startswith("  !! States.TaskFailed: ") and "QualityGateFailed" in line for line in lines)
    assert lines[-1].startswith(f"{run.name}: FAILED: DailyPipelineFailed QualityGate failed with States.TaskFailed")
    assert run.error == "DailyPipelineFailed" and run.cause.startswith("QualityGate failed with States.TaskFailed")
    visited = [step.name for step in run.steps]
    assert visited[-4:] == ["QualityGate failed", "RecordFailure", "NotifyFailure", "PipelineFailed"]
    assert "BuildAnalytics" not in visited and "AnalyticsEmrSteps" not in visited
    gate_runs = twin.client("glue").get_job_runs(JobName=gate)["JobRuns"]
    assert [r["JobRunState"] for r in gate_runs].count("FAILED") == 1  # not retried: only transient errors are
    (note,) = _messages(day["sqs"], day["queue_url"])
    assert note["attributes"]["outcome"]["Value"] == "FAILED"
    message = note["message"]
    assert (message["outcome"], message["failed_state"], message["error"], message["run_date"]) == (
        "FAILED", "QualityGate", "States.TaskFailed", RUN_DATE.isoformat())
    assert message["cause"] == f"{gate}: {reason}"
    assert message["execution"] == run.name == f"daily-{RUN_DATE.isoformat()}-attempt-2"
    records = {r["record"]: r for r in runs_of_date(twin.client("dynamodb"), day["orchestration"]["RunLedgerTableName"],
                                                    RUN_DATE.isoformat())}
    assert "LEASE" not in records  # the failed run released the date
    failed = records[f"RUN#{run.name}"]
    assert (failed["status"], failed["failed_state"], failed["error"]) == ("FAILED", "QualityGate",
                                                                          "States.TaskFailed")


def test_rerunning_the_date_completes_without_duplicates_and_never_runs_twice_at_once(day) -> None:
    twin, sfn = day["twin"], day["sfn"]
    machine = day["orchestration"]["StateMachineArn"]
    run = start_run(sfn, machine, RUN_DATE.isoformat(), execution_input=FAST)
    with pytest.raises(PipelineRunError, match="already running"):
        start_run(sfn, machine, RUN_DATE.isoformat())
    # a start that bypasses the naming (another tool, the schedule) is refused by the state machine's lease
    other = sfn.start_execution(stateMachineArn=machine, name="manual-same-date",
                                input=json.dumps({"run_date": RUN_DATE.isoformat(), **FAST}))["executionArn"]
    refused = twin.executor("stepfunctions").wait(other, timeout=120)
    assert refused["status"] == "FAILED" and "RunAlreadyInProgress" in refused["cause"]
    run = follow(sfn, run, poll_s=0.5, timeout_s=900)
    assert run.status == "SUCCEEDED", (run.error, _why(run))
    s3, storage, first = day["s3"], day["storage"], day["results"]["first"]
    assert _sorted_rows(_table(s3, storage["AnalyticsBucketName"], "daily_sales/"), "event_date", "store_id", "sku") \
        == _sorted_rows(first["daily_sales"], "event_date", "store_id", "sku")
    curated = _table(s3, storage["CuratedBucketName"], "pos_sales/")
    assert curated.num_rows == first["pos_sales"].num_rows
    assert _sorted_rows(curated, "event_id", "line_number") == _sorted_rows(first["pos_sales"], "event_id",
                                                                            "line_number")
    segments = _table(s3, storage["AnalyticsBucketName"], "customer_segments/")
    assert segments.num_rows == first["customer_segments"].num_rows
    notes = _messages(day["sqs"], day["queue_url"])
    outcomes = sorted(n["message"]["outcome"] for n in notes)
    assert outcomes == ["FAILED", "SUCCEEDED"]  # the refused start is notified too
    refused_note = next(n["message"] for n in notes if n["message"]["outcome"] == "FAILED")
    assert (refused_note["failed_state"], refused_note["error"]) == ("BeginRun", "RunAlreadyInProgress")
