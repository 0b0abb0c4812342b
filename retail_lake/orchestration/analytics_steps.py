"""Run the EMR steps for one business date through the AWS APIs: customer segmentation, product affinity and the
demand forecast, each one EMR Serverless job run (`StartJobRun`) on the analytics application, watched with
`GetJobRun`.

The same calls run against an AWS account or the embedded twin (which really runs the entry points on local
Spark): only the client's endpoint differs. Every location comes from the stacks' outputs, never built by hand:

- AnalyticsCluster: `EmrApplicationId`, `EmrJobRoleArn`, `EmrStepsUri` (`s3://<artifacts>/emr/steps/`, where the
  entry points are deployed), `EmrLibraryKey` (the `retail_lake` package zip, passed as `--py-files`),
  `EmrPythonDepsKey` (the driver's Python packages zip, unpacked by `spark.archives` as
  `retail_lake.batch.emr_python.EMR_PYTHON_DEPS_ALIAS`), `EmrDeequJarKey` (the Deequ jar, `--jars`) and
  `EmrQualityPipeline` (the pipeline name of the quality metrics, `--pipeline`);
- Storage: `CuratedBucketName`, `AnalyticsBucketName` (inputs and the output root) and `ArtifactsBucketName`;
- Batch: `QualityTopicArn` (the topic the steps' quality gates notify, `--topic_arn`).

The steps read what the batch day wrote (curated `pos_sales`, analytics `customer_360` and `daily_sales`): run
`retail_lake.orchestration.batch_day.run_batch_day` for the date first.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from retail_lake.batch.emr_python import EMR_PYTHON_DEPS_ALIAS
from retail_lake.quality.results import REPORTS_PREFIX, RESULTS_PREFIX

TERMINAL_STATES = frozenset({"SUCCESS", "FAILED", "CANCELLED"})

# step -> (entry point under EmrStepsUri, input argument, Storage output naming the input bucket)
STEPS: dict[str, tuple[str, str, str]] = {
    "customer_segmentation": ("customer_segmentation.py", "--analytics_path", "AnalyticsBucketName"),
    "product_affinity": ("product_affinity.py", "--curated_path", "CuratedBucketName"),
    "demand_forecast": ("demand_forecast.py", "--analytics_path", "AnalyticsBucketName"),
}
# what each step writes under the output root (the analytics zone), partitioned by as_of_date
STEP_TABLES: dict[str, tuple[str, ...]] = {
    "customer_segmentation": ("customer_segments", "customer_segment_profiles"),
    "product_affinity": ("product_affinity",),
    "demand_forecast": ("demand_forecast", "demand_forecast_backtest", "demand_forecast_backtest_summary"),
}


class AnalyticsStepError(RuntimeError):
    pass


@dataclass
class StepRun:
    step: str
    run_id: str
    state: str
    seconds: float = 0.0
    error: str | None = None


@dataclass
class AnalyticsStepsResult:
    run_date: str
    application_id: str
    runs: dict[str, StepRun] = field(default_factory=dict)

    @property
    def states(self) -> dict[str, str]:
        return {step: run.state for step, run in self.runs.items()}

    @property
    def ok(self) -> bool:
        return all(run.state == "SUCCESS" for run in self.runs.values())


def _output(outputs: Mapping[str, str], key: str, stack: str) -> str:
    try:
        return outputs[key]
    except KeyError:
        raise AnalyticsStepError(f"the {stack} stack has no output {key}: is it deployed (and up to date) for "
                                 "this stage?") from None


def step_job_driver(step: str, analytics_outputs: Mapping[str, str], storage_outputs: Mapping[str, str],
                    batch_outputs: Mapping[str, str], run_date: str,
                    extra_arguments: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `jobDriver` of one step's run: entry point, `--key value` arguments (the inputs, the output root and
    where the step's quality gate writes and notifies), `--py-files` the package zip, `--jars` the Deequ jar and
    `spark.archives` the driver's Python packages."""
    if step not in STEPS:
        raise AnalyticsStepError(f"unknown EMR step {step!r}; the steps are {sorted(STEPS)}")
    script, input_argument, input_bucket = STEPS[step]
    steps_uri = _output(analytics_outputs, "EmrStepsUri", "AnalyticsCluster")
    library_key = _output(analytics_outputs, "EmrLibraryKey", "AnalyticsCluster")
    python_deps_key = _output(analytics_outputs, "EmrPythonDepsKey", "AnalyticsCluster")
    deequ_jar_key = _output(analytics_outputs, "EmrDeequJarKey", "AnalyticsCluster")
    topic_arn = _output(batch_outputs, "QualityTopicArn", "Batch")
    artifacts = _output(storage_outputs, "ArtifactsBucketName", "Storage")
    analytics = _output(storage_outputs, "AnalyticsBucketName", "Storage")
    arguments = {
        "--run_date": run_date,
        input_argument: f"s3://{_output(storage_outputs, input_bucket, 'Storage')}/",
        "--output_path": f"s3://{analytics}/",
        "--results_path": f"s3://{analytics}/{RESULTS_PREFIX}",
        "--report_path": f"s3://{analytics}/{REPORTS_PREFIX}",
        "--topic_arn": topic_arn,
    }
    if analytics_outputs.get("EmrQualityPipeline"):
        arguments["--pipeline"] = analytics_outputs["EmrQualityPipeline"]
    for key, value in (extra_arguments or {}).items():
        arguments[key if key.startswith("--") else f"--{key}"] = str(value)
    return {"sparkSubmit": {
        "entryPoint": f"{steps_uri.rstrip('/')}/{script}",
        "entryPointArguments": [item for pair in arguments.items() for item in pair],
        "sparkSubmitParameters": f"--py-files s3://{artifacts}/{library_key} --jars s3://{artifacts}/{deequ_jar_key} "
                                 f"--conf spark.archives=s3://{artifacts}/{python_deps_key}#{EMR_PYTHON_DEPS_ALIAS}",
    }}


def run_analytics_steps(
    emr_serverless_client,
    analytics_outputs: Mapping[str, str],
    storage_outputs: Mapping[str, str],
    batch_outputs: Mapping[str, str],
    run_date: dt.date | str,
    wait: bool = True,
    *,
    steps: tuple[str, ...] = tuple(STEPS),
    step_arguments: Mapping[str, Mapping[str, Any]] | None = None,
    timeout_s: float = 3600,
    poll_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str], None] | None = None,
) -> AnalyticsStepsResult:
    """Start one EMR Serverless job run per step for `run_date` (all at once: they read the batch day's tables and
    write disjoint ones), then, with `wait`, poll `GetJobRun` until every run is SUCCESS, FAILED or CANCELLED.
    Raises `AnalyticsStepError` naming each step that did not succeed (with the run's `stateDetails`) and where its
    driver log is. `step_arguments[step]` adds or overrides that step's arguments (`{"--k": 5}`). Without `wait`,
    returns right after the submissions with the states `StartJobRun` left (SUBMITTED)."""
    run_date = run_date if isinstance(run_date, str) else run_date.isoformat()
    application_id = _output(analytics_outputs, "EmrApplicationId", "AnalyticsCluster")
    role_arn = _output(analytics_outputs, "EmrJobRoleArn", "AnalyticsCluster")
    result = AnalyticsStepsResult(run_date, application_id)
    started = time.monotonic()
    for step in steps:
        driver = step_job_driver(step, analytics_outputs, storage_outputs, batch_outputs, run_date,
                                 (step_arguments or {}).get(step))
        if progress:
            progress(f"{step} ({run_date}): {driver['sparkSubmit']['entryPoint']}")
        response = emr_serverless_client.start_job_run(
            applicationId=application_id, executionRoleArn=role_arn, name=f"{step.replace('_', '-')}-{run_date}",
            jobDriver=driver,
        )
        result.runs[step] = StepRun(step, response["jobRunId"], "SUBMITTED")
    if not wait:
        return result

    pending = dict(result.runs)
    while pending:
        for step, run in list(pending.items()):
            job_run = emr_serverless_client.get_job_run(applicationId=application_id, jobRunId=run.run_id)["jobRun"]
            run.state = job_run["state"]
            if run.state in TERMINAL_STATES:
                run.seconds = time.monotonic() - started
                run.error = job_run.get("stateDetails") or None
                del pending[step]
        if not pending:
            break
        if time.monotonic() - started > timeout_s:
            still = ", ".join(f"{step} ({run.run_id}) {run.state}" for step, run in pending.items())
            raise AnalyticsStepError(f"EMR Serverless runs on {application_id} still not done after "
                                     f"{timeout_s:.0f}s: {still}")
        sleep(poll_s)

    failed = [run for run in result.runs.values() if run.state != "SUCCESS"]
    if failed:
        details = "; ".join(f"{run.step} (run {run.run_id}) ended {run.state}: {run.error or 'no details'}"
                            for run in failed)
        raise AnalyticsStepError(
            f"EMR steps for {run_date} on application {application_id} did not all succeed: {details} "
            "(driver logs: <EMR log URI>/applications/<application id>/jobs/<run id>/SPARK_DRIVER/stdout.gz)")
    return result


def step_table_counts(s3, analytics_bucket: str, run_date: dt.date | str) -> dict[str, int]:
    """Rows each step table holds for `run_date` (its `as_of_date=<run_date>/` partition), read back from S3."""
    from retail_lake.orchestration.batch_day import read_table

    run_date = run_date if isinstance(run_date, str) else run_date.isoformat()
    counts = {}
    for tables in STEP_TABLES.values():
        for table in tables:
            data = read_table(s3, analytics_bucket, f"{table}/as_of_date={run_date}/")
            counts[table] = 0 if data is None else data.num_rows
    return counts


def forecast_backtest(s3, analytics_bucket: str, run_date: dt.date | str) -> dict[str, Any] | None:
    """The pooled backtest error of the demand forecast as of `run_date` (`demand_forecast_backtest_summary`):
    series, points, MAE, WAPE and the method; None when the step has not written it."""
    from retail_lake.orchestration.batch_day import read_table

    run_date = run_date if isinstance(run_date, str) else run_date.isoformat()
    data = read_table(s3, analytics_bucket, f"demand_forecast_backtest_summary/as_of_date={run_date}/")
    if data is None or data.num_rows == 0:
        return None
    row = data.to_pylist()[0]
    return {key: (row[key].isoformat() if isinstance(row.get(key), dt.date) else row.get(key))
            for key in ("series", "points", "mae", "wape", "method", "backtest_start", "backtest_end")}


def run_emr_for_batch_day(cloudformation, emr_serverless_client, s3, stage: str, run_date: dt.date | str,
                          storage_outputs: Mapping[str, str], *, poll_s: float = 5.0,
                          progress: Callable[[str], None] | None = print) -> dict[str, Any]:
    """`retail-lake run-batch --emr`: the three steps for `run_date` after the day's Glue jobs, on the stage's
    AnalyticsCluster stack. Returns `ok`, each step's `state` and `run_id`, the rows each step table holds for the
    date (`tables`), the forecast's `backtest`, or `error` (what failed and where its driver log is)."""
    from retail_lake.orchestration.batch_day import BatchRunError, stack_outputs

    run_date = run_date if isinstance(run_date, str) else run_date.isoformat()
    try:
        analytics = stack_outputs(cloudformation, f"RetailLake-{stage}-Analytics")
        batch = stack_outputs(cloudformation, f"RetailLake-{stage}-Batch")
        result = run_analytics_steps(emr_serverless_client, analytics, storage_outputs, batch, run_date, poll_s=poll_s,
                                     progress=(lambda what: progress(f"emr-serverless: {what} ...")) if progress
                                     else None)
    except (AnalyticsStepError, BatchRunError) as error:
        return {"ok": False, "error": str(error)}
    bucket = storage_outputs["AnalyticsBucketName"]
    summary = {"ok": result.ok, "application_id": result.application_id,
               "runs": {step: {"run_id": run.run_id, "state": run.state, "seconds": round(run.seconds, 1)}
                        for step, run in result.runs.items()},
               "tables": step_table_counts(s3, bucket, run_date), "backtest": forecast_backtest(s3, bucket, run_date)}
    if progress:
        progress("emr: " + ", ".join(f"{step} {run.state}" for step, run in result.runs.items())
                 + "; " + ", ".join(f"{k} {v:,}" for k, v in summary["tables"].items()))
    return summary
