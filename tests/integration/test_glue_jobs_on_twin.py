"""The batch layer's Glue jobs on the embedded twin, deployed from the real dev cloud assembly: generated events go
through the streaming path into raw, the reference dimensions are loaded beside them, then the raw -> curated jobs
(one per dataset) and the curated -> analytics job are started through boto3 and really run on local Spark."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retail_lake.batch.reference import REFERENCE_TABLES, reference_object_key
from retail_lake.contracts.registry import DATASETS
from retail_lake.generator import GeneratorConfig, generate, write_reference_data
from retail_lake.ingestion.producer import KinesisProducer
from retail_lake.reconcile import count_lake
from retail_lake.twin import Twin

pytestmark = pytest.mark.integration

STORAGE, INGESTION, BATCH = "RetailLake-dev-Storage", "RetailLake-dev-Ingestion", "RetailLake-dev-Batch"
ANALYTICS_TABLES = ("daily_sales", "inventory_position", "customer_360", "web_sessions", "conversion_funnel")
# Raw files are partitioned by arrival (today, UTC): the events are generated for the two days before, so that all
# of them (in any store's time zone) fall in the event dates a run for today rewrites (today - 3 .. today).
RUN_DATE = dt.datetime.now(dt.timezone.utc).date()
CONFIG = GeneratorConfig(events=3_000, seed=23, stores=8, skus=300, customers=1_500, days=2,
                         start_date=RUN_DATE - dt.timedelta(days=2), defect_rate=0.0, defect_counts={"duplicate": 60})


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
            table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
        parts.append(table)
    return pa.concat_tables(parts, promote_options="default") if parts else pa.table({})


def _summary(twin: Twin, run_id: str, marker: str) -> dict:
    log = Path(twin.executor("glue").runs[run_id].log_path).read_text()
    (line,) = [line for line in log.splitlines() if line.startswith(marker + " ")]
    return json.loads(line.removeprefix(marker + " "))


@pytest.fixture(scope="module")
def batch_day(dev_assembly, tmp_path_factory: pytest.TempPathFactory):
    lines = list(generate(CONFIG))
    reference_dir = tmp_path_factory.mktemp("reference")
    write_reference_data(CONFIG, reference_dir, formats=("parquet",))
    with Twin() as twin:
        if not twin.is_embedded:
            pytest.skip("Glue job runs execute on the embedded twin only")
        deployment = twin.deploy(dev_assembly)
        storage, batch = twin.outputs[STORAGE], twin.outputs[BATCH]
        s3, glue = twin.client("s3"), twin.client("glue")
        raw_bucket = storage["RawBucketName"]
        produced = KinesisProducer(twin.client("kinesis"), twin.outputs[INGESTION]["StreamName"]).send(lines)
        twin.settle(lambda: count_lake(s3, raw_bucket=raw_bucket,
                                       quarantine_bucket=storage["QuarantineBucketName"]).raw_total >= produced.events,
                    timeout=120)
        for table in REFERENCE_TABLES:
            key = reference_object_key("reference/", table)
            s3.upload_file(str(reference_dir / f"{table}.parquet"), raw_bucket, key)
        raw = {dataset: _table(s3, raw_bucket, f"{dataset}/") for dataset in DATASETS}

        executor, arguments = twin.executor("glue"), {"--run_date": RUN_DATE.isoformat()}
        started = time.monotonic()
        runs = {}
        for dataset in DATASETS:
            job = batch[f"RawToCurated{''.join(p.title() for p in dataset.split('_'))}JobName"]
            runs[dataset] = (job, glue.start_job_run(JobName=job, Arguments=arguments)["JobRunId"])
        results = {dataset: executor.wait(job, run_id, timeout=240) for dataset, (job, run_id) in runs.items()}
        analytics_job = batch["CuratedToAnalyticsJobName"]
        analytics_run = glue.start_job_run(JobName=analytics_job, Arguments=arguments)["JobRunId"]
        results["analytics"] = executor.wait(analytics_job, analytics_run, timeout=240)
        print(f"batch day: {time.monotonic() - started:.1f} s; runs: "
              + ", ".join(f"{name} {job_run['ExecutionTime']} s" for name, job_run in results.items()))
        for name, job_run in results.items():
            assert job_run["JobRunState"] == "SUCCEEDED", (name, job_run.get("ErrorMessage"))
        yield {
            "twin": twin, "s3": s3, "storage": storage, "batch": batch, "deployment": deployment, "raw": raw,
            "runs": runs, "analytics_run": analytics_run,
            "summaries": {d: _summary(twin, run_id, "CURATED_SUMMARY") for d, (_, run_id) in runs.items()},
            "analytics_summary": _summary(twin, analytics_run, "ANALYTICS_SUMMARY"),
        }


def test_job_code_is_deployed_by_the_bucket_deployments(batch_day) -> None:
    s3, artifacts = batch_day["s3"], batch_day["storage"]["ArtifactsBucketName"]
    assert _objects(s3, artifacts, "glue/scripts/") == [
        "glue/scripts/cdc_merge.py", "glue/scripts/curated_to_analytics.py", "glue/scripts/quality_gate.py",
        "glue/scripts/raw_to_curated.py"]
    key = batch_day["batch"]["GlueLibraryKey"]
    assert key.startswith("glue/library/") and key.endswith(".zip")
    library = f"s3://{artifacts}/{key}"
    body = s3.get_object(Bucket=artifacts, Key=key)["Body"].read()
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert "retail_lake/batch/curated.py" in names and not [n for n in names if "__pycache__" in n]
    job = batch_day["twin"].client("glue").get_job(JobName=batch_day["batch"]["CuratedToAnalyticsJobName"])["Job"]
    assert job["DefaultArguments"]["--extra-py-files"] == library
    assert job["Command"]["ScriptLocation"] == f"s3://{artifacts}/glue/scripts/curated_to_analytics.py"
    skipped = {resource_type for _, _, resource_type in batch_day["deployment"].skipped}
    assert "Custom::CDKBucketDeployment" not in skipped


def test_curated_rows_are_raw_rows_less_duplicates(batch_day) -> None:
    s3, curated = batch_day["s3"], batch_day["storage"]["CuratedBucketName"]
    for dataset in DATASETS:
        raw = batch_day["raw"][dataset]
        distinct = len(set(raw.column("event_id").to_pylist()))
        summary = batch_day["summaries"][dataset]
        assert summary["rows_read"] == raw.num_rows > 0, dataset
        assert summary["duplicates_dropped"] == raw.num_rows - distinct, dataset
        assert (summary["events_written"], summary["events_outside_window"]) == (distinct, 0), dataset
        table = _table(s3, curated, f"{dataset}/")
        assert table.num_rows == summary["rows_written"], dataset
        event_ids = table.column("event_id").to_pylist()
        assert len(set(event_ids)) == distinct, dataset
        if dataset != "pos_sales":  # POS sales become one curated row per sale line
            assert len(event_ids) == distinct, dataset
        dates = set(table.column("event_date").to_pylist())
        window = {(RUN_DATE - dt.timedelta(days=d)).isoformat() for d in range(4)}
        assert dates and dates <= window, (dataset, dates)
    total_duplicates = sum(s["duplicates_dropped"] for s in batch_day["summaries"].values())
    assert total_duplicates == CONFIG.defect_counts["duplicate"]


def test_analytics_tables_are_written(batch_day) -> None:
    s3, analytics = batch_day["s3"], batch_day["storage"]["AnalyticsBucketName"]
    written = batch_day["analytics_summary"]["analytics"]
    assert set(written) == set(ANALYTICS_TABLES)
    tables = {name: _table(s3, analytics, f"{name}/") for name in ANALYTICS_TABLES}
    for name, table in tables.items():
        assert table.num_rows == written[name] > 0, name
    curated_lines = _table(s3, batch_day["storage"]["CuratedBucketName"], "pos_sales/")
    assert sum(tables["daily_sales"].column("units").to_pylist()) == sum(curated_lines.column("quantity").to_pylist())
    assert set(tables["inventory_position"].column("as_of_date").to_pylist()) == {RUN_DATE.isoformat()}
    assert set(tables["customer_360"].column("as_of_date").to_pylist()) == {RUN_DATE.isoformat()}
    funnel_sessions = sum(tables["conversion_funnel"].column("sessions").to_pylist())
    assert funnel_sessions == tables["web_sessions"].num_rows


def test_rerunning_a_day_rewrites_the_same_partitions(batch_day) -> None:
    twin, s3, curated = batch_day["twin"], batch_day["s3"], batch_day["storage"]["CuratedBucketName"]
    job, _ = batch_day["runs"]["inventory_movements"]
    before = _table(s3, curated, "inventory_movements/").sort_by("event_id")
    run_id = twin.client("glue").start_job_run(JobName=job, Arguments={"--run_date": RUN_DATE.isoformat()})["JobRunId"]
    assert twin.executor("glue").wait(job, run_id, timeout=240)["JobRunState"] == "SUCCEEDED"
    after = _table(s3, curated, "inventory_movements/").sort_by("event_id")
    assert after.num_rows == before.num_rows and after.equals(before)


def test_daily_sales_equals_an_independent_computation_over_raw_to_the_cent(batch_day) -> None:
    """The oracle: daily_sales recomputed in plain Python (Decimal) from the POS events that reached raw,
    deduplicated by event id, dated in each store's time zone."""
    from tests.integration.oracles import daily_sales_oracle, daily_sales_rows

    expected = daily_sales_oracle(batch_day["raw"]["pos_sales"].to_pylist(), CONFIG, RUN_DATE)
    table = _table(batch_day["s3"], batch_day["storage"]["AnalyticsBucketName"], "daily_sales/")
    actual = daily_sales_rows(table.to_pylist())
    assert len(actual) == len(expected) > 50
    assert actual == expected


def test_run_batch_command_reruns_the_day_with_the_same_results(batch_day, capsys) -> None:
    """`retail-lake run-batch` goes through the same AWS APIs (here the twin's endpoint, set process-wide)."""
    from retail_lake.cli import main as cli_main

    s3, analytics = batch_day["s3"], batch_day["storage"]["AnalyticsBucketName"]
    before = _table(s3, analytics, "daily_sales/").sort_by([("event_date", "ascending"), ("store_id", "ascending"),
                                                            ("sku", "ascending")])
    assert cli_main(["run-batch", "--date", RUN_DATE.isoformat(), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(summary["runs"]) >= 4  # the three curated runs and the analytics run (and any gate between them)
    assert [run["state"] for run in summary["runs"]] == ["SUCCEEDED"] * len(summary["runs"])
    assert summary["analytics"]["daily_sales"] == before.num_rows
    after = _table(s3, analytics, "daily_sales/").sort_by([("event_date", "ascending"), ("store_id", "ascending"),
                                                           ("sku", "ascending")])
    assert after.equals(before)
