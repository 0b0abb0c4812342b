"""Run the batch layer for one business date through the AWS APIs: the raw -> curated Glue job of every
dataset, then the curated -> analytics job, each started with `StartJobRun` and watched with `GetJobRun`.

The same calls run against an AWS account, LocalStack or the embedded twin: only the clients' endpoint
differs. Job names come from the Batch stack's outputs, never built by hand.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pyarrow.parquet as pq

from retail_lake.batch.schemas import GOLD_TABLES
from retail_lake.contracts.registry import DATASETS

TERMINAL_STATES = {"SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR", "EXPIRED"}
ANALYTICS_TABLES = tuple(GOLD_TABLES)


class BatchRunError(RuntimeError):
    pass


class QualityGateError(BatchRunError):
    """The quality gate failed an error-level rule on the curated data: analytics was not built."""

    def __init__(self, message: str, run: "JobRunResult") -> None:
        super().__init__(message)
        self.run = run


QUALITY_GATE_OUTPUT = "QualityGateJobName"
QUALITY_GATE_FAILED = "QualityGateFailed:"  # how the gate job's error message starts


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def raw_to_curated_job(batch_outputs: dict[str, str], dataset: str) -> str:
    key = f"RawToCurated{_pascal(dataset)}JobName"
    try:
        return batch_outputs[key]
    except KeyError:
        raise BatchRunError(f"the Batch stack has no output {key}: is it deployed for this stage?") from None


@dataclass
class JobRunResult:
    job: str
    run_id: str
    state: str
    seconds: float
    error: str | None = None


@dataclass
class BatchDayResult:
    run_date: str
    runs: list[JobRunResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(run.state == "SUCCEEDED" for run in self.runs)


def run_job(glue, job: str, arguments: dict[str, str], *, timeout_s: float = 1800, poll_s: float = 0.5,
            wait: Callable[[float], None] | None = None) -> JobRunResult:
    """Start one Glue job run and wait for it to end."""
    started = time.monotonic()
    run_id = glue.start_job_run(JobName=job, Arguments=arguments)["JobRunId"]
    while True:
        run = glue.get_job_run(JobName=job, RunId=run_id, PredecessorsIncluded=False)["JobRun"]
        state = run["JobRunState"]
        if state in TERMINAL_STATES:
            return JobRunResult(job, run_id, state, time.monotonic() - started, run.get("ErrorMessage"))
        if time.monotonic() - started > timeout_s:
            raise BatchRunError(f"Glue job {job} run {run_id} still {state} after {timeout_s:.0f}s")
        (wait or time.sleep)(poll_s)


def run_batch_day(glue, batch_outputs: dict[str, str], run_date: dt.date | str, *, backfill: bool = False,
                  progress: Callable[[str], None] | None = None) -> BatchDayResult:
    """raw -> curated for every dataset, the quality gate on the curated partitions the run rewrote (a failed
    error-level rule raises `QualityGateError` and analytics does not run), then curated -> analytics. With `backfill`, the
    raw -> curated runs read every raw partition and rewrite every event date found (replaying history);
    otherwise they rewrite the run window of `run_date` (see retail_lake.batch.windows)."""
    run_date = run_date if isinstance(run_date, str) else run_date.isoformat()
    result = BatchDayResult(run_date)
    arguments = {"--run_date": run_date}
    if backfill:
        arguments["--backfill"] = "true"
    steps = [(raw_to_curated_job(batch_outputs, dataset), dataset, arguments) for dataset in DATASETS]
    if QUALITY_GATE_OUTPUT not in batch_outputs:
        raise BatchRunError(f"the Batch stack has no output {QUALITY_GATE_OUTPUT}: is it deployed for this stage?")
    # the gate judges the curated partitions the run rewrote (the date's window, or every date on a backfill); a
    # failed error-level rule stops the day before analytics
    gate_arguments = {"--date": run_date, **({"--backfill": "true"} if backfill else {})}
    steps.append((batch_outputs[QUALITY_GATE_OUTPUT], "quality gate", gate_arguments))
    steps.append((batch_outputs["CuratedToAnalyticsJobName"], "analytics", arguments))
    for job, what, job_arguments in steps:
        if progress:
            progress(f"{job} ({what}, {run_date}{', backfill' if backfill else ''})")
        run = run_job(glue, job, job_arguments)
        result.runs.append(run)
        if run.state != "SUCCEEDED" and what == "quality gate" and QUALITY_GATE_FAILED in (run.error or ""):
            reason = (run.error or "").split(QUALITY_GATE_FAILED, 1)[1].strip()
            raise QualityGateError(f"quality gate failed on {run_date}, analytics was not built: {reason} "
                                   f"(gate job {job}, run {run.run_id})", run)
        if run.state != "SUCCEEDED":
            raise BatchRunError(f"Glue job {job} ({what}) on {run_date} ended {run.state}: {run.error}")
    return result


def quality_report(s3, storage_outputs: dict[str, str], run_date: str, run_id: str) -> str | None:
    """The readable report a quality gate run wrote (`quality_reports/run_date=<date>/<run id>.txt` in the
    analytics bucket), or None when it is not there."""
    from retail_lake.quality.results import REPORTS_PREFIX

    key = f"{REPORTS_PREFIX}run_date={run_date}/{run_id}.txt"
    try:
        return s3.get_object(Bucket=storage_outputs["AnalyticsBucketName"], Key=key)["Body"].read().decode()
    except Exception:  # NoSuchKey: the gate failed before writing its report
        return None


def quality_gate_summary(s3, storage_outputs: dict[str, str], run_dates: list[str]) -> list[dict[str, Any]]:
    """What the quality gates found on the given business dates, one row per dataset (the curated datasets and the
    EMR steps' gated tables), from the `quality_results` table: the latest gate run of the dataset, its engine, how
    many rules it evaluated on how many partitions, the checks (a rule on a partition) passed and failed by level,
    and the rows the failed checks caught."""
    from retail_lake.quality.results import FAILED, PASSED, RESULTS_PREFIX

    rows: list[dict[str, Any]] = []
    for run_date in sorted(set(run_dates)):
        table = read_table(s3, storage_outputs["AnalyticsBucketName"], f"{RESULTS_PREFIX}run_date={run_date}/")
        if table is not None:
            rows.extend({**row, "run_date": run_date} for row in table.to_pylist())
    latest: dict[str, tuple[Any, str]] = {}
    for row in rows:  # a dataset judged again (a rerun of the date) is reported by its last gate run
        key = (row["evaluated_at"], row["run_id"])
        if row["dataset"] not in latest or key > latest[row["dataset"]]:
            latest[row["dataset"]] = key
    summary = []
    for dataset in sorted(latest):
        results = [r for r in rows if r["dataset"] == dataset and (r["evaluated_at"], r["run_id"]) == latest[dataset]]
        failed = [r for r in results if r["status"] == FAILED]
        summary.append({
            "dataset": dataset,
            "run_date": results[0]["run_date"],
            "partitions": len({r["data_partition"] for r in results}),
            "engine": results[0]["engine"],
            "rules": len({r["rule_id"] for r in results}),
            "checks": len(results),  # a rule on one partition
            "passed": sum(1 for r in results if r["status"] == PASSED),
            "failed_errors": sum(1 for r in failed if r["level"] == "error"),
            "failed_warnings": sum(1 for r in failed if r["level"] == "warning"),
            "failing_rows": sum(r["failing_rows"] or 0 for r in failed),
            "failed": [{key: r[key] for key in ("rule_id", "level", "data_partition", "observed_value", "threshold",
                                                "failing_rows")}
                       for r in sorted(failed, key=lambda r: (r["level"], r["rule_id"], r["data_partition"]))],
        })
    return summary


def stack_outputs(cloudformation, stack_name: str) -> dict[str, str]:
    """A deployed stack's outputs by key, with a clear error when the stack is not there."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as error:  # botocore ClientError: the stack does not exist
        raise BatchRunError(f"stack {stack_name} is not deployed in this account/region ({error}); "
                            "deploy it with `npx cdk deploy --all -c stage=<stage>`") from None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


# ---------------------------------------------------------------------------------------------- reading back


def read_table(s3, bucket: str, prefix: str, columns: list[str] | None = None):
    """All Parquet files under a prefix as one Arrow table (partition columns from the paths are not
    added), or None when there are none."""
    import pyarrow as pa

    tables = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".parquet"):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                tables.append(pq.read_table(io.BytesIO(body), columns=columns))
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="default")


def load_reference_data(s3, raw_bucket: str, config, directory: Path, prefix: str = "reference/") -> list[str]:
    """Write the generator's reference dimensions (stores, products, customers) as Parquet and load them into
    the lake where the batch jobs read them: `s3://<raw>/reference/<table>/<table>.parquet`."""
    from retail_lake.batch.reference import REFERENCE_TABLES, reference_object_key
    from retail_lake.generator import write_reference_data

    write_reference_data(config, directory, formats=("parquet",))
    keys = []
    for table in REFERENCE_TABLES:
        key = reference_object_key(prefix, table)
        s3.put_object(Bucket=raw_bucket, Key=key, Body=(Path(directory) / f"{table}.parquet").read_bytes())
        keys.append(key)
    return keys


def lake_summary(s3, storage_outputs: dict[str, str]) -> dict[str, Any]:
    """Row counts of the curated datasets (events, i.e. distinct event ids), of the events the row-level quality
    rules sent to quarantine (`quality_quarantined`) and of each analytics table."""
    from retail_lake.quality.results import QUARANTINE_PREFIX

    curated, analytics, quarantined = {}, {}, {}
    for dataset in DATASETS:
        table = read_table(s3, storage_outputs["CuratedBucketName"], f"{dataset}/", columns=["event_id"])
        curated[dataset] = 0 if table is None else len(set(table.column("event_id").to_pylist()))
        bad = read_table(s3, storage_outputs["QuarantineBucketName"], f"{QUARANTINE_PREFIX}{dataset}/",
                         columns=["event_id"])
        quarantined[dataset] = 0 if bad is None else len(set(bad.column("event_id").to_pylist()))
    for name in ANALYTICS_TABLES:
        table = read_table(s3, storage_outputs["AnalyticsBucketName"], f"{name}/")
        analytics[name] = 0 if table is None else table.num_rows
    return {"curated": curated, "quality_quarantined": quarantined, "analytics": analytics}
