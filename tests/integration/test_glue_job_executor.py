"""Glue job runs on the embedded twin: the fixture app's job (tests/integration/fixtures/glue_app), deployed from
its cloud assembly, runs its script from S3 on local Spark when started through boto3's `start_job_run`."""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from retail_lake.twin import Twin
from retail_lake.twin.deployer import BY_TWIN
from retail_lake.twin.executors.glue_jobs import GlueJobExecutor
from tests.integration.conftest import FIXTURES_DIR

pytestmark = pytest.mark.integration

SALES = [
    {"store_id": "S1", "sku": "A", "units": 2, "price": 1.25},
    {"store_id": "S1", "sku": "B", "units": 1, "price": 10.0},
    {"store_id": "S2", "sku": "A", "units": 5, "price": 1.25},
    {"store_id": "S3", "sku": "C", "units": 3, "price": 2.5},
]
EXPECTED = {"S1": (3, 12.5), "S2": (5, 6.25), "S3": (3, 7.5)}


@pytest.fixture(scope="module")
def glue_app():
    sys.path.insert(0, str(FIXTURES_DIR))
    try:
        from glue_app import app
    finally:
        sys.path.remove(str(FIXTURES_DIR))
    return app


@pytest.fixture(scope="module")
def twin(glue_app, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    outdir = tmp_path_factory.mktemp("glue-cdk.out")
    glue_app.build_app(str(outdir))
    with Twin() as twin:
        if not twin.is_embedded:
            pytest.skip("the Glue job executor runs on the embedded twin only")
        twin.deploy(outdir)
        yield twin


@pytest.fixture(scope="module")
def stack(twin: Twin, glue_app) -> dict[str, str]:
    return twin.outputs[glue_app.STACK_NAME]


def _put_sales(twin: Twin, bucket: str, prefix: str, rows: list[dict], parts: int = 2) -> None:
    s3 = twin.client("s3")
    for old in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=old["Key"])
    for part in range(parts):
        body = "\n".join(json.dumps(r) for r in rows[part::parts])
        s3.put_object(Bucket=bucket, Key=f"{prefix}part-{part}.json", Body=body.encode())


def _keys(twin: Twin, bucket: str, prefix: str) -> list[str]:
    contents = twin.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in contents)


def _read_totals(twin: Twin, bucket: str, prefix: str) -> dict[str, tuple[int, float]]:
    s3 = twin.client("s3")
    frames = [
        pd.read_parquet(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        for key in _keys(twin, bucket, prefix) if key.endswith(".parquet")
    ]
    table = pd.concat(frames)
    assert table["store_id"].is_unique, "doubled output rows"
    return {row.store_id: (int(row.units), float(row.revenue)) for row in table.itertuples()}


def _run(twin: Twin, job_name: str, arguments: dict[str, str] | None = None) -> dict:
    glue = twin.client("glue")
    run_id = glue.start_job_run(JobName=job_name, **({"Arguments": arguments} if arguments else {}))["JobRunId"]
    states = []
    deadline = time.monotonic() + 120
    while True:
        job_run = glue.get_job_run(JobName=job_name, RunId=run_id)["JobRun"]
        if not states or states[-1] != job_run["JobRunState"]:
            states.append(job_run["JobRunState"])
        if job_run["JobRunState"] in {"SUCCEEDED", "FAILED"} or time.monotonic() > deadline:
            job_run["observed_states"] = states
            return job_run
        time.sleep(0.1)


def test_job_is_provisioned_from_the_template(twin: Twin, stack: dict[str, str], glue_app) -> None:
    deployment = twin.deployments[-1]
    assert deployment.skipped == []
    (resource,) = deployment.stacks[glue_app.STACK_NAME].of_type("AWS::Glue::Job")
    assert (resource.physical_id, resource.created_by) == (glue_app.JOB_NAME, BY_TWIN)
    assert stack["JobName"] == glue_app.JOB_NAME
    job = twin.client("glue").get_job(JobName=glue_app.JOB_NAME)["Job"]
    assert job["Command"] == {"Name": "glueetl", "PythonVersion": "3", "ScriptLocation": stack["ScriptLocation"]}
    assert job["DefaultArguments"]["--input_path"] == f"s3://{stack['DataBucketName']}/input/"
    assert job["DefaultArguments"]["--output_path"] == f"s3://{stack['DataBucketName']}/output/store_totals/"
    assert (job["GlueVersion"], job["WorkerType"], job["NumberOfWorkers"], job["MaxRetries"]) == ("5.0", "G.1X", 2, 0)
    assert job["Role"].startswith("arn:aws:iam::")
    assert isinstance(twin.executor("glue"), GlueJobExecutor)  # deploying a job attached the executor


def test_run_succeeds_and_writes_its_output_to_s3(twin: Twin, stack: dict[str, str], glue_app) -> None:
    data = stack["DataBucketName"]
    _put_sales(twin, data, "input/", SALES)
    job_run = _run(twin, glue_app.JOB_NAME)
    assert job_run["JobRunState"] == "SUCCEEDED", job_run.get("ErrorMessage")
    assert "RUNNING" in job_run["observed_states"]
    assert job_run["observed_states"][-1] == "SUCCEEDED"
    assert "ErrorMessage" not in job_run
    assert job_run["CompletedOn"] >= job_run["StartedOn"]
    assert job_run["ExecutionTime"] >= 0
    assert _read_totals(twin, data, "output/store_totals/") == EXPECTED
    assert "output/store_totals/_SUCCESS" in _keys(twin, data, "output/store_totals/")
    assert not [k for k in _keys(twin, data, "") if k.endswith(".crc")]
    outcome = twin.executor("glue").runs[job_run["Id"]]
    assert outcome.staged[f"s3://{data}/input/"].endswith(f"/s3/{data}/input/")
    assert Path(outcome.log_path).read_text().count("wrote 3 stores") == 1


def test_run_arguments_override_the_defaults(twin: Twin, stack: dict[str, str], glue_app) -> None:
    data = stack["DataBucketName"]
    _put_sales(twin, data, "other-input/", SALES[:2], parts=1)
    before = _keys(twin, data, "output/store_totals/")
    job_run = _run(twin, glue_app.JOB_NAME, {
        "--input_path": f"s3://{data}/other-input/",
        "--output_path": f"s3://{data}/output/override/",
    })
    assert job_run["JobRunState"] == "SUCCEEDED", job_run.get("ErrorMessage")
    assert _read_totals(twin, data, "output/override/") == {"S1": (3, 12.5)}
    assert _keys(twin, data, "output/store_totals/") == before  # the default output was not touched


def test_failing_script_ends_failed_with_the_error_message(twin: Twin, stack: dict[str, str], glue_app) -> None:
    data = stack["DataBucketName"]
    job_run = _run(twin, glue_app.JOB_NAME, {
        "--fail_with": "store totals do not reconcile",
        "--output_path": f"s3://{data}/output/failed/",
    })
    assert job_run["JobRunState"] == "FAILED"
    assert job_run["ErrorMessage"] == "ValueError: store totals do not reconcile"
    assert job_run["CompletedOn"] >= job_run["StartedOn"]
    assert _keys(twin, data, "output/failed/") == []
    # a job whose script cannot even read its input fails too, and the executor keeps serving runs afterwards
    job_run = _run(twin, glue_app.JOB_NAME, {"--input_path": f"s3://{data}/no-such-prefix/"})
    assert job_run["JobRunState"] == "FAILED"
    assert job_run["ErrorMessage"].startswith("AnalysisException: [PATH_NOT_FOUND]")


def test_rerun_overwrites_without_stale_or_doubled_files(twin: Twin, stack: dict[str, str], glue_app) -> None:
    data = stack["DataBucketName"]
    output = "output/rerun/"
    _put_sales(twin, data, "input/", SALES)
    first = _run(twin, glue_app.JOB_NAME, {"--output_path": f"s3://{data}/{output}"})
    assert first["JobRunState"] == "SUCCEEDED", first.get("ErrorMessage")
    first_parts = {k for k in _keys(twin, data, output) if k.endswith(".parquet")}
    _put_sales(twin, data, "input/", [r for r in SALES if r["store_id"] != "S3"])
    second = _run(twin, glue_app.JOB_NAME, {"--output_path": f"s3://{data}/{output}"})
    assert second["JobRunState"] == "SUCCEEDED", second.get("ErrorMessage")
    second_parts = {k for k in _keys(twin, data, output) if k.endswith(".parquet")}
    assert len(second_parts) == 1 and not first_parts & second_parts  # Spark's new part file replaced the old one
    assert _read_totals(twin, data, output) == {"S1": EXPECTED["S1"], "S2": EXPECTED["S2"]}


def test_runs_are_serialized(twin: Twin, stack: dict[str, str], glue_app) -> None:
    data = stack["DataBucketName"]
    _put_sales(twin, data, "input/", SALES)
    glue = twin.client("glue")
    run_ids = [
        glue.start_job_run(JobName=glue_app.JOB_NAME, Arguments={"--output_path": f"s3://{data}/output/serial-{i}/"})[
            "JobRunId"
        ]
        for i in range(2)
    ]  # MaxConcurrentRuns=2: Glue accepts both; the twin runs them one after the other
    assert glue.get_job_run(JobName=glue_app.JOB_NAME, RunId=run_ids[1])["JobRun"]["JobRunState"] == "STARTING"
    executor = twin.executor("glue")
    first, second = (executor.wait(glue_app.JOB_NAME, run_id, timeout=120) for run_id in run_ids)
    assert (first["JobRunState"], second["JobRunState"]) == ("SUCCEEDED", "SUCCEEDED")
    outcomes = [executor.runs[run_id] for run_id in run_ids]
    assert outcomes[0].completed_on <= outcomes[1].started_on
    for i in range(2):
        assert _read_totals(twin, data, f"output/serial-{i}/") == EXPECTED


def test_staging_mirrors_prefixes_and_single_objects(twin: Twin, stack: dict[str, str], tmp_path: Path) -> None:
    from retail_lake.twin.executors.glue_jobs import S3Staging

    bucket, s3 = stack["DataBucketName"], twin.client("s3")
    for key in ("stage/a/1.txt", "stage/a/sub/2.txt", "stage/conf.json", "stage/ab/other.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    staging = S3Staging(s3, tmp_path / "s3")
    prefix = Path(staging.stage(f"s3://{bucket}/stage/a"))  # no trailing slash: still the "a/" prefix only
    conf = Path(staging.stage(f"s3://{bucket}/stage/conf.json"))
    nested = staging.stage(f"s3://{bucket}/stage/a/sub/")
    empty = staging.stage(f"s3://{bucket}/stage/new/")
    assert sorted(p.relative_to(prefix).as_posix() for p in prefix.rglob("*") if p.is_file()) == ["1.txt", "sub/2.txt"]
    assert conf.read_text() == "stage/conf.json" and nested == f"{prefix}/sub/" and not Path(empty).exists()
    (prefix / "1.txt").unlink()
    (prefix / "sub" / "2.txt").write_text("changed")
    Path(empty).mkdir()
    (Path(empty) / "x.txt").write_text("new")
    (Path(empty) / ".x.txt.crc").write_text("hadoop checksum")
    assert staging.sync_back() == (2, 1)
    assert _keys(twin, bucket, "stage/") == [
        "stage/a/sub/2.txt", "stage/ab/other.txt", "stage/conf.json", "stage/new/x.txt",
    ]
    assert s3.get_object(Bucket=bucket, Key="stage/a/sub/2.txt")["Body"].read() == b"changed"
