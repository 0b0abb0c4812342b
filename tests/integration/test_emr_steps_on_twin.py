"""The EMR steps on the embedded twin, deployed from the real dev cloud assembly: a batch day is produced (events
through the streaming path into raw, the reference dimensions beside them, the four Glue runs through boto3), then
the three steps are started as EMR Serverless job runs through boto3 (`run_analytics_steps`: entry points and the
package zip that the AnalyticsCluster stack's BucketDeployments put under s3://<artifacts>/emr/) and really run on
local Spark; their tables are read back from the analytics bucket."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import zipfile

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.parquet as pq
import pytest

from retail_lake.generator import GeneratorConfig, generate
from retail_lake.ingestion.producer import KinesisProducer
from retail_lake.orchestration.analytics_steps import (
    STEP_TABLES,
    AnalyticsStepError,
    run_analytics_steps,
    step_job_driver,
)
from retail_lake.orchestration.batch_day import load_reference_data, run_batch_day
from retail_lake.reconcile import count_lake
from retail_lake.twin import Twin

pytestmark = pytest.mark.integration

STORAGE, INGESTION = "RetailLake-dev-Storage", "RetailLake-dev-Ingestion"
BATCH, ANALYTICS = "RetailLake-dev-Batch", "RetailLake-dev-Analytics"
# As in test_glue_jobs_on_twin: events for the two days before today (UTC), so a run for today covers them all.
RUN_DATE = dt.datetime.now(dt.timezone.utc).date()
CONFIG = GeneratorConfig(events=3_000, seed=29, stores=8, skus=300, customers=1_500, days=2,
                         start_date=RUN_DATE - dt.timedelta(days=2), defect_rate=0.0)
HORIZON_DAYS = 7
# Two days of history: a daily season and a one-day backtest (the defaults want 8+ weeks); a low support floor
# because 300 SKUs over ~1,000 baskets make every pair rare.
STEP_ARGUMENTS = {
    "demand_forecast": {"--horizon_days": HORIZON_DAYS, "--season": 1, "--backtest_days": 1, "--history_days": 7},
    "product_affinity": {"--window_days": 7, "--min_support": 0.002, "--min_confidence": 0.05},
}


def _objects(s3, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return sorted(keys)


def _table(s3, bucket: str, prefix: str) -> pa.Table:
    """Every Parquet part under `prefix`, with the Hive partition values of its key as string columns."""
    parts = []
    for key in _objects(s3, bucket, prefix):
        if not key.endswith(".parquet"):
            continue
        table = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        for segment in key[len(prefix):].split("/")[:-1]:
            name, _, value = segment.partition("=")
            if name not in table.column_names:
                table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
        parts.append(table)
    return pa.concat_tables(parts, promote_options="default") if parts else pa.table({})


@pytest.fixture(scope="module")
def steps_day(dev_assembly, tmp_path_factory: pytest.TempPathFactory):
    lines = list(generate(CONFIG))
    with Twin() as twin:
        if not twin.is_embedded:
            pytest.skip("EMR Serverless job runs execute on the embedded twin only")
        twin.deploy(dev_assembly)
        storage, analytics, batch_outputs = twin.outputs[STORAGE], twin.outputs[ANALYTICS], twin.outputs[BATCH]
        s3 = twin.client("s3")
        raw_bucket = storage["RawBucketName"]
        produced = KinesisProducer(twin.client("kinesis"), twin.outputs[INGESTION]["StreamName"]).send(lines)
        twin.settle(lambda: count_lake(s3, raw_bucket=raw_bucket,
                                       quarantine_bucket=storage["QuarantineBucketName"]).raw_total >= produced.events,
                    timeout=120)
        load_reference_data(s3, raw_bucket, CONFIG, tmp_path_factory.mktemp("reference"))
        started = time.monotonic()
        batch = run_batch_day(twin.client("glue"), twin.outputs[BATCH], RUN_DATE)
        assert batch.ok, batch.runs
        batch_seconds = time.monotonic() - started

        emr = twin.client("emr-serverless")
        started = time.monotonic()
        result = run_analytics_steps(emr, analytics, storage, batch_outputs, RUN_DATE, poll_s=0.2,
                                     step_arguments=STEP_ARGUMENTS)
        print(f"batch day: {batch_seconds:.1f} s; EMR steps: {time.monotonic() - started:.1f} s "
              + ", ".join(f"{step} {run.seconds:.1f} s" for step, run in result.runs.items()))
        yield {"twin": twin, "s3": s3, "emr": emr, "storage": storage, "analytics": analytics, "batch": batch_outputs,
               "result": result}


def _analytics_table(steps_day, name: str) -> pa.Table:
    return _table(steps_day["s3"], steps_day["storage"]["AnalyticsBucketName"], f"{name}/")


def test_step_code_is_deployed_by_the_bucket_deployments(steps_day) -> None:
    s3, artifacts, outputs = steps_day["s3"], steps_day["storage"]["ArtifactsBucketName"], steps_day["analytics"]
    assert outputs["EmrStepsUri"] == f"s3://{artifacts}/emr/steps/"
    assert _objects(s3, artifacts, "emr/steps/") == [
        "emr/steps/customer_segmentation.py", "emr/steps/demand_forecast.py", "emr/steps/product_affinity.py"]
    key = outputs["EmrLibraryKey"]
    assert key.startswith("emr/library/") and key.endswith(".zip")
    names = zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=artifacts, Key=key)["Body"].read())).namelist()
    assert "retail_lake/batch/ml.py" in names and not [n for n in names if "__pycache__" in n]
    deps_key = outputs["EmrPythonDepsKey"]  # the driver's Python packages, at the zip's root
    assert deps_key.startswith("emr/python/") and deps_key.endswith(".zip")
    names = zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=artifacts, Key=deps_key)["Body"].read())).namelist()
    assert {"pydeequ/__init__.py", "yaml/__init__.py", "boto3/__init__.py"} <= set(names)
    assert outputs["EmrDeequJarKey"].startswith("glue/jars/deequ-")


def test_the_three_runs_succeed_with_the_deployed_entry_points(steps_day) -> None:
    result, emr = steps_day["result"], steps_day["emr"]
    assert result.ok and result.states == {step: "SUCCESS" for step in STEP_TABLES}
    artifacts = steps_day["storage"]["ArtifactsBucketName"]
    for step, run in result.runs.items():
        job_run = emr.get_job_run(applicationId=result.application_id, jobRunId=run.run_id)["jobRun"]
        assert job_run["executionRole"] == steps_day["analytics"]["EmrJobRoleArn"]
        spark_submit = job_run["jobDriver"]["sparkSubmit"]
        assert spark_submit["entryPoint"] == f"s3://{artifacts}/emr/steps/{step}.py"
        outputs = steps_day["analytics"]
        assert spark_submit["sparkSubmitParameters"] == (
            f"--py-files s3://{artifacts}/{outputs['EmrLibraryKey']} "
            f"--jars s3://{artifacts}/{outputs['EmrDeequJarKey']} "
            f"--conf spark.archives=s3://{artifacts}/{outputs['EmrPythonDepsKey']}#pydeps")
        arguments = dict(zip(spark_submit["entryPointArguments"][::2], spark_submit["entryPointArguments"][1::2]))
        assert arguments["--run_date"] == RUN_DATE.isoformat()
        analytics_bucket = steps_day["storage"]["AnalyticsBucketName"]
        assert arguments["--output_path"] == f"s3://{analytics_bucket}/"
        assert arguments["--results_path"] == f"s3://{analytics_bucket}/quality_results/"
        assert arguments["--topic_arn"] == steps_day["batch"]["QualityTopicArn"]


def test_segments_cover_the_customers_of_customer_360(steps_day) -> None:
    customers = _analytics_table(steps_day, "customer_360")
    segments = _analytics_table(steps_day, "customer_segments")
    assert segments.num_rows == customers.num_rows > 0
    assert set(segments.column("customer_id").to_pylist()) == set(customers.column("customer_id").to_pylist())
    assert set(segments.column("as_of_date").to_pylist()) == {RUN_DATE.isoformat()}
    assert set(segments.column("cluster").to_pylist()) <= set(range(4))
    profiles = _analytics_table(steps_day, "customer_segment_profiles")
    assert 1 <= profiles.num_rows <= 4
    assert sum(profiles.column("customers").to_pylist()) == segments.num_rows


def test_rules_have_support_and_confidence_in_the_unit_interval(steps_day) -> None:
    rules = _analytics_table(steps_day, "product_affinity")
    assert rules.num_rows > 0
    for column in ("support", "confidence"):
        values = rules.column(column).to_pylist()
        assert all(0 < v <= 1 for v in values), (column, min(values), max(values))
    assert all(v > 0 for v in rules.column("lift").to_pylist())
    assert all(0 < b <= t for b, t in zip(rules.column("baskets").to_pylist(),
                                          rules.column("total_baskets").to_pylist()))


def test_forecasts_cover_the_horizon_and_the_backtest_is_scored(steps_day) -> None:
    forecasts = _analytics_table(steps_day, "demand_forecast")
    assert forecasts.num_rows > 0
    assert set(forecasts.column("as_of_date").to_pylist()) == {RUN_DATE.isoformat()}
    days = {str(d) for d in forecasts.column("forecast_date").to_pylist()}
    assert days == {(RUN_DATE + dt.timedelta(days=h)).isoformat() for h in range(1, HORIZON_DAYS + 1)}
    summary = _analytics_table(steps_day, "demand_forecast_backtest_summary")
    assert summary.num_rows == 1
    (row,) = summary.to_pylist()
    assert row["mae"] is not None and row["mae"] >= 0 and row["points"] > 0, row
    assert _analytics_table(steps_day, "demand_forecast_backtest").num_rows > 0


def test_a_failing_step_raises_a_clear_error(steps_day) -> None:
    """A date with no customer_360 rows: the segmentation run fails, and the error names the step and the cause."""
    missing = RUN_DATE - dt.timedelta(days=30)
    with pytest.raises(AnalyticsStepError, match=r"customer_segmentation .* ended FAILED: .*no customer_360 rows"):
        run_analytics_steps(steps_day["emr"], steps_day["analytics"], steps_day["storage"], steps_day["batch"], missing,
                            steps=("customer_segmentation",), poll_s=0.2)


def test_job_driver_names_missing_outputs(steps_day) -> None:
    with pytest.raises(AnalyticsStepError, match="EmrStepsUri"):
        step_job_driver("demand_forecast", {}, steps_day["storage"], steps_day["batch"], RUN_DATE.isoformat())


def test_what_the_jobs_and_steps_wrote_matches_the_catalog(steps_day) -> None:
    """Every curated and analytics table of the Batch stack's catalog, read back from the files the Glue jobs and
    the EMR steps really wrote: the same columns with the same types, under Hive-style date partitions."""
    import awswrangler as wr

    from retail_lake.batch.catalog import lake_tables

    batch = steps_day["twin"].outputs[BATCH]
    databases = {"curated": batch["CuratedDatabaseName"], "analytics": batch["AnalyticsDatabaseName"]}
    checked = []
    for zone, definitions in lake_tables().items():
        for definition in definitions:
            database, name = databases[zone], definition.name
            location = wr.catalog.get_table_location(database=database, table=name)
            catalog_types = wr.catalog.get_table_types(database=database, table=name)
            file_types, partitions = wr.s3.read_parquet_metadata(path=location, dataset=True)
            key = definition.partition_key.name
            assert list(partitions) == [key], (name, partitions)
            assert file_types == {c: t for c, t in catalog_types.items() if c != key}, name
            assert catalog_types[key] == "date"
            bucket, prefix = location.removeprefix("s3://").split("/", 1)
            values = {k[len(prefix):].split("/")[0] for k in _objects(steps_day["s3"], bucket, prefix)
                      if k.endswith(".parquet")}
            assert values and all(dt.date.fromisoformat(v.removeprefix(f"{key}=")) for v in values), (name, values)
            checked.append(f"{zone}.{name}")
    assert len(checked) == 3 + 5 + 6, checked


def test_an_error_rule_on_a_step_output_stops_the_run_and_alerts_the_quality_topic(steps_day) -> None:
    """Returns booked as negative daily units for a date three weeks back: the demand forecast copies them, its output
    gate fails `demand_forecast.forecast_units.range`, the job run ends FAILED with QualityGateFailed before anything
    is written, quality_results holds the failed rule and the readable report arrives on the quality topic."""
    twin, s3, storage, batch = steps_day["twin"], steps_day["s3"], steps_day["storage"], steps_day["batch"]
    sqs, sns = twin.client("sqs"), twin.client("sns")
    queue_url = sqs.create_queue(QueueName="emr-quality-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=batch["QualityTopicArn"], Protocol="sqs", Endpoint=queue_arn)
    analytics_bucket = storage["AnalyticsBucketName"]
    # a day of the batch day's daily_sales, with every unit count negated, as the two days ending on bad_day
    source = [k for k in _objects(s3, analytics_bucket, "daily_sales/") if k.endswith(".parquet")][-1]
    day_sales = pq.read_table(io.BytesIO(s3.get_object(Bucket=analytics_bucket, Key=source)["Body"].read()))
    returns = day_sales.set_column(day_sales.column_names.index("units"), "units",
                                   pa.compute.negate(day_sales.column("units")))
    bad_day = RUN_DATE - dt.timedelta(days=21)
    for day in (bad_day - dt.timedelta(days=1), bad_day):
        buffer = io.BytesIO()
        pq.write_table(returns, buffer)
        s3.put_object(Bucket=analytics_bucket, Key=f"daily_sales/event_date={day.isoformat()}/part-returns.parquet",
                      Body=buffer.getvalue())

    with pytest.raises(AnalyticsStepError, match=r"demand_forecast .* ended FAILED: .*QualityGateFailed: .*"
                                                 r"demand_forecast\.forecast_units\.range"):
        run_analytics_steps(steps_day["emr"], steps_day["analytics"], storage, batch, bad_day,
                            steps=("demand_forecast",), poll_s=0.2, step_arguments=STEP_ARGUMENTS)

    for table in STEP_TABLES["demand_forecast"]:  # nothing of the step was written for that date
        assert _objects(s3, analytics_bucket, f"{table}/as_of_date={bad_day.isoformat()}/") == []
    results = [r for r in _table(s3, analytics_bucket, "quality_results/").to_pylist()
               if r["data_partition"] == f"as_of_date={bad_day.isoformat()}"]
    assert {r["dataset"] for r in results} == {"demand_forecast"}
    assert {r["rule_id"] for r in results if r["status"] == "failed"} == {"demand_forecast.forecast_units.range"}
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    (message,) = [json.loads(m["Body"]) for m in received]
    assert message["TopicArn"] == batch["QualityTopicArn"]
    assert message["Subject"] == f"Quality gate FAILED: retail-lake-dev demand_forecast {bad_day.isoformat()}"
    assert "FAILED error   demand_forecast.forecast_units.range" in message["Message"]
    assert "FAILED (the demand_forecast outputs stopped)" in message["Message"]


def test_emr_for_a_batch_day_reports_the_failing_step(steps_day) -> None:
    """What `retail-lake run-batch --emr` runs after the Glue jobs: the three steps through the API, with the stack
    outputs looked up by stage. For a date without customer_360 rows the segmentation step fails: the summary says
    which step and why instead of raising. (Last in this module: it adds runs, never rows.)"""
    from retail_lake.orchestration.analytics_steps import run_emr_for_batch_day

    twin = steps_day["twin"]
    empty_day = RUN_DATE - dt.timedelta(days=40)
    printed: list[str] = []
    summary = run_emr_for_batch_day(twin.client("cloudformation"), steps_day["emr"], steps_day["s3"], "dev",
                                    empty_day, steps_day["storage"], poll_s=0.2, progress=printed.append)
    assert summary["ok"] is False
    assert "customer_segmentation" in summary["error"] and "no customer_360 rows" in summary["error"]
    assert any("customer_segmentation" in line for line in printed)
    missing_stage = run_emr_for_batch_day(twin.client("cloudformation"), steps_day["emr"], steps_day["s3"], "qa",
                                          empty_day, steps_day["storage"], poll_s=0.2, progress=None)
    assert missing_stage["ok"] is False and "RetailLake-qa-Analytics is not deployed" in missing_stage["error"]
