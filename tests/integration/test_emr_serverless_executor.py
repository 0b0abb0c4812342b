"""EMR Serverless job runs on the embedded twin: the fixture app's application (tests/integration/fixtures/emr_app),
deployed from its cloud assembly, runs an entry point from S3 on local Spark when started through boto3's
`start_job_run`, and reports its state through `get_job_run`."""

from __future__ import annotations

import gzip
import io
import json
import sys
import time
from collections.abc import Iterator

import pandas as pd
import pytest

from retail_lake.twin import Twin
from retail_lake.twin.deployer import BY_TWIN
from retail_lake.twin.executors.emr_serverless import EmrServerlessExecutor, entry_point_arguments
from tests.integration.conftest import FIXTURES_DIR

pytestmark = pytest.mark.integration

SALES = [
    {"store_id": "S1", "sku": "A", "units": 2, "price": 1.25},
    {"store_id": "S1", "sku": "B", "units": 1, "price": 10.0},
    {"store_id": "S2", "sku": "A", "units": 5, "price": 1.25},
]
EXPECTED = {"S1": (3, 12.5), "S2": (5, 6.25)}


@pytest.fixture(scope="module")
def emr_app():
    sys.path.insert(0, str(FIXTURES_DIR))
    try:
        from emr_app import app
    finally:
        sys.path.remove(str(FIXTURES_DIR))
    return app


@pytest.fixture(scope="module")
def twin(emr_app, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    outdir = tmp_path_factory.mktemp("emr-cdk.out")
    emr_app.build_app(str(outdir))
    with Twin() as twin:
        if not twin.is_embedded:
            pytest.skip("the EMR Serverless executor runs on the embedded twin only")
        twin.deploy(outdir)
        yield twin


@pytest.fixture(scope="module")
def stack(twin: Twin, emr_app) -> dict[str, str]:
    return twin.outputs[emr_app.STACK_NAME]


def _keys(twin: Twin, bucket: str, prefix: str) -> list[str]:
    contents = twin.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in contents)


def _run(twin: Twin, stack: dict[str, str], arguments: list[str]) -> dict:
    emr = twin.client("emr-serverless")
    app_id = stack["ApplicationId"]
    run_id = emr.start_job_run(
        applicationId=app_id, executionRoleArn=stack["JobRoleArn"], name="store-totals",
        jobDriver={"sparkSubmit": {"entryPoint": stack["ScriptLocation"], "entryPointArguments": arguments}},
    )["jobRunId"]
    states, deadline = [], time.monotonic() + 120
    while True:
        job_run = emr.get_job_run(applicationId=app_id, jobRunId=run_id)["jobRun"]
        if not states or states[-1] != job_run["state"]:
            states.append(job_run["state"])
        if job_run["state"] in {"SUCCESS", "FAILED"} or time.monotonic() > deadline:
            job_run["observed_states"] = states
            return job_run
        time.sleep(0.1)


def test_application_is_provisioned_from_the_template(twin: Twin, stack: dict[str, str], emr_app) -> None:
    deployment = twin.deployments[-1]
    assert deployment.skipped == []
    (resource,) = deployment.stacks[emr_app.STACK_NAME].of_type("AWS::EMRServerless::Application")
    assert (resource.physical_id, resource.created_by) == (stack["ApplicationId"], BY_TWIN)
    application = twin.client("emr-serverless").get_application(applicationId=stack["ApplicationId"])["application"]
    assert application["arn"] == stack["ApplicationArn"]
    assert (application["name"], application["releaseLabel"]) == (emr_app.APPLICATION_NAME, emr_app.RELEASE_LABEL)
    assert application["type"].upper() == "SPARK"
    assert application["autoStopConfiguration"] == {"enabled": True, "idleTimeoutMinutes": 5}
    assert application["maximumCapacity"] == {"cpu": "4 vCPU", "memory": "16 GB"}
    log_uri = f"s3://{stack['ArtifactsBucketName']}/{emr_app.LOGS_PREFIX}"
    assert application["monitoringConfiguration"] == {"s3MonitoringConfiguration": {"logUri": log_uri}}
    assert isinstance(twin.executor("emr-serverless"), EmrServerlessExecutor)  # deploying it attached the executor


def test_run_succeeds_and_writes_its_output_to_s3(twin: Twin, stack: dict[str, str], emr_app) -> None:
    data, s3 = stack["DataBucketName"], twin.client("s3")
    s3.put_object(Bucket=data, Key="input/part-0.json", Body="\n".join(json.dumps(r) for r in SALES).encode())
    job_run = _run(twin, stack, ["--input", f"s3://{data}/input/", "--output", f"s3://{data}/output/totals/"])
    assert job_run["state"] == "SUCCESS", job_run.get("stateDetails")
    assert job_run["observed_states"][0] in {"SUBMITTED", "RUNNING"} and "RUNNING" in job_run["observed_states"]
    assert job_run["endedAt"] >= job_run["startedAt"] >= job_run["createdAt"]
    assert job_run["releaseLabel"] == emr_app.RELEASE_LABEL and job_run["executionRole"] == stack["JobRoleArn"]
    parts = [k for k in _keys(twin, data, "output/totals/") if k.endswith(".parquet")]
    table = pd.concat(pd.read_parquet(io.BytesIO(s3.get_object(Bucket=data, Key=k)["Body"].read())) for k in parts)
    assert {r.store_id: (int(r.units), float(r.revenue)) for r in table.itertuples()} == EXPECTED
    log_key = f"{emr_app.LOGS_PREFIX}applications/{stack['ApplicationId']}/jobs/{job_run['jobRunId']}/SPARK_DRIVER/stdout.gz"
    body = s3.get_object(Bucket=stack["ArtifactsBucketName"], Key=log_key)["Body"].read()
    assert "wrote 2 stores" in gzip.decompress(body).decode()
    listed = twin.client("emr-serverless").list_job_runs(applicationId=stack["ApplicationId"])["jobRuns"]
    assert {r["id"]: r["state"] for r in listed}[job_run["jobRunId"]] == "SUCCESS"


def test_failing_entry_point_ends_failed_with_the_message(twin: Twin, stack: dict[str, str]) -> None:
    data = stack["DataBucketName"]
    job_run = _run(twin, stack, ["--input", f"s3://{data}/input/", "--output", f"s3://{data}/output/failed/",
                                 "--fail_with", "store totals do not reconcile"])
    assert job_run["state"] == "FAILED"
    assert job_run["stateDetails"] == "ValueError: store totals do not reconcile"
    assert _keys(twin, data, "output/failed/") == []
    # arguments the twin cannot pass as --key value pairs fail the run at once, with the reason
    job_run = _run(twin, stack, [f"s3://{data}/input/"])
    assert job_run["state"] == "FAILED" and "--key value pairs" in job_run["stateDetails"]


def test_entry_point_arguments_are_key_value_pairs() -> None:
    assert entry_point_arguments(["--a", "1", "--b", "-2"]) == {"--a": "1", "--b": "-2"}
    assert entry_point_arguments(None) == {}
    for bad in (["--a"], ["x", "y"], ["--a", "1", "--a", "2"]):
        with pytest.raises(ValueError):
            entry_point_arguments(bad)
