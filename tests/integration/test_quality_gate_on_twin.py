"""The quality gate on the embedded twin, deployed from the real dev cloud assembly: events stream into raw, the
batch day runs through `run_batch_day` (raw -> curated jobs, the gate job, the analytics job, all real Glue job
runs on local Spark). Warnings alone let analytics run; a failed error rule stops the day before analytics,
publishes the report to the encrypted quality topic (read here through an SQS subscription) and writes the results
and the report to the lake."""

from __future__ import annotations

import datetime as dt
import io
import json

import pyarrow.parquet as pq
import pytest

from retail_lake.batch.reference import REFERENCE_TABLES, reference_object_key
from retail_lake.generator import GeneratorConfig, generate, write_reference_data
from retail_lake.ingestion.producer import KinesisProducer
from retail_lake.orchestration.batch_day import QualityGateError, quality_report, run_batch_day
from retail_lake.reconcile import count_lake
from retail_lake.twin import Twin

pytestmark = pytest.mark.integration

STORAGE, INGESTION, BATCH = "RetailLake-dev-Storage", "RetailLake-dev-Ingestion", "RetailLake-dev-Batch"
RUN_DATE = dt.datetime.now(dt.timezone.utc).date()
# yesterday and today (raw is partitioned by arrival, today): the gate judges today's curated partitions
CONFIG = GeneratorConfig(events=2_000, seed=31, stores=4, skus=200, customers=600, days=2,
                         start_date=RUN_DATE - dt.timedelta(days=1), defect_rate=0.0,
                         defect_counts={"unknown_sku": 8, "late_event": 6})


def _keys(s3, bucket: str, prefix: str) -> list[str]:
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return sorted(keys)


def _runs(glue, job: str) -> list[dict]:
    return glue.get_job_runs(JobName=job)["JobRuns"]


@pytest.fixture(scope="module")
def lake(dev_assembly, tmp_path_factory: pytest.TempPathFactory):
    lines = list(generate(CONFIG))
    reference_dir = tmp_path_factory.mktemp("quality-reference")
    write_reference_data(CONFIG, reference_dir, formats=("parquet",))
    with Twin() as twin:
        if not twin.is_embedded:
            pytest.skip("Glue job runs execute on the embedded twin only")
        twin.deploy(dev_assembly)
        storage, batch = twin.outputs[STORAGE], twin.outputs[BATCH]
        s3, sqs, sns = twin.client("s3"), twin.client("sqs"), twin.client("sns")
        produced = KinesisProducer(twin.client("kinesis"), twin.outputs[INGESTION]["StreamName"]).send(lines)
        twin.settle(lambda: count_lake(s3, raw_bucket=storage["RawBucketName"],
                                       quarantine_bucket=storage["QuarantineBucketName"]).raw_total >= produced.events,
                    timeout=120)
        for table in REFERENCE_TABLES:
            s3.upload_file(str(reference_dir / f"{table}.parquet"), storage["RawBucketName"],
                           reference_object_key("reference/", table))
        queue_url = sqs.create_queue(QueueName="quality-alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=batch["QualityTopicArn"], Protocol="sqs", Endpoint=queue_arn)
        yield {"twin": twin, "s3": s3, "sqs": sqs, "glue": twin.client("glue"), "storage": storage, "batch": batch,
               "queue_url": queue_url}


def _messages(lake) -> list[dict]:
    received = lake["sqs"].receive_message(QueueUrl=lake["queue_url"], MaxNumberOfMessages=10,
                                           WaitTimeSeconds=1).get("Messages", [])
    return [json.loads(m["Body"]) for m in received]


def test_warnings_do_not_stop_analytics(lake) -> None:
    glue, batch, s3, storage = lake["glue"], lake["batch"], lake["s3"], lake["storage"]
    result = run_batch_day(glue, batch, RUN_DATE)
    assert [run.state for run in result.runs] == ["SUCCEEDED"] * 5
    gate_run = result.runs[3]
    assert gate_run.job == batch["QualityGateJobName"]
    # unknown SKUs went to quarantine between raw and curated, with the rule that caught them
    bad = _keys(s3, storage["QuarantineBucketName"], "curated/")
    assert bad and all(k.startswith(("curated/pos_sales/", "curated/clickstream/")) for k in bad if
                       k.endswith(".parquet"))
    # the results table holds one row per rule and dataset for this run, with the late arrivals as warnings
    keys = [k for k in _keys(s3, storage["AnalyticsBucketName"], f"quality_results/run_date={RUN_DATE}/")
            if k.endswith(".parquet")]
    rows = [r for k in keys for r in pq.read_table(io.BytesIO(
        s3.get_object(Bucket=storage["AnalyticsBucketName"], Key=k)["Body"].read())).to_pylist()]
    mine = [r for r in rows if r["run_id"] == gate_run.run_id]
    assert {r["dataset"] for r in mine} == {"pos_sales", "clickstream", "inventory_movements"}
    assert all(r["engine"] == "great_expectations" for r in mine)
    assert not [r for r in mine if r["level"] == "error" and r["status"] == "failed"]
    warnings = [r for r in mine if r["level"] == "warning" and r["status"] == "failed"]
    assert warnings
    assert _messages(lake) == []  # warnings only report
    report = quality_report(s3, storage, RUN_DATE.isoformat(), gate_run.run_id)
    assert report.startswith(f"Quality gate for business date {RUN_DATE}: PASSED")
    analytics = _keys(s3, storage["AnalyticsBucketName"], "daily_sales/")
    assert analytics


def test_a_failed_error_rule_stops_analytics_and_notifies_the_topic(lake) -> None:
    glue, batch, s3, storage = lake["glue"], lake["batch"], lake["s3"], lake["storage"]
    curated = storage["CuratedBucketName"]
    analytics_runs = len(_runs(glue, batch["CuratedToAnalyticsJobName"]))

    def write_the_partition_twice(what: str) -> None:
        # between curated and the gate, a second copy of today's sales lines lands in the partition
        if "quality gate" in what:
            for key in _keys(s3, curated, f"pos_sales/event_date={RUN_DATE}/"):
                if key.endswith(".parquet"):
                    s3.copy_object(Bucket=curated, Key=key.replace("part-", "copy-part-"),
                                   CopySource={"Bucket": curated, "Key": key})

    with pytest.raises(QualityGateError, match=rf"quality gate failed on {RUN_DATE}, analytics was not built: "
                                               r"1 error rule\(s\) failed .*pos_sales\.line_id\.unique") as caught:
        run_batch_day(glue, batch, RUN_DATE, progress=write_the_partition_twice)
    assert caught.value.run.state == "FAILED"
    assert caught.value.run.error.startswith("QualityGateFailed: ")
    assert len(_runs(glue, batch["CuratedToAnalyticsJobName"])) == analytics_runs  # analytics never started
    (message,) = _messages(lake)
    assert message["TopicArn"] == batch["QualityTopicArn"]
    assert message["Subject"] == f"Quality gate FAILED: retail-lake-dev {RUN_DATE}"
    assert "FAILED error   pos_sales.line_id.unique" in message["Message"]
    assert "failing row(s)" in message["Message"] and "e.g. event_id=" in message["Message"]
    report = quality_report(s3, storage, RUN_DATE.isoformat(), caught.value.run.run_id)
    assert report == message["Message"]
