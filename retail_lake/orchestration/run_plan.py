"""What one execution of the daily pipeline does, decided once at its start: the business date, the raw -> curated
jobs of the datasets asked for, the EMR Serverless job drivers, the Athena views and the poll interval.

The state machine's first task (the `begin_run` Lambda) calls `build_run_plan` with the execution's input and the
deployed names (from its environment); every later state reads the plan (`$.run`), so the definition holds no
date arithmetic and no per-dataset copy of a state.

Input of an execution (every key optional):

    {"run_date": "2026-11-07",            # default: yesterday in the stage's time zone
     "datasets": ["pos_sales", ...],      # default: every dataset with a raw -> curated job
     "backfill": false,                   # true: the jobs replay every raw partition up to run_date
     "poll_seconds": 30,                  # wait between status polls of EMR Serverless and Athena (1..300)
     "emr": true,                         # false: skip the EMR Serverless steps
     "emr_arguments": {"demand_forecast": {"--season": 1}}}   # extra arguments of EMR steps
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Mapping, Sequence
from zoneinfo import ZoneInfo

from retail_lake.orchestration.analytics_steps import STEPS

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEFAULT_POLL_SECONDS = 30
_EXECUTION_NAME_MAX = 80


class InvalidRunInput(ValueError):
    """The execution's input cannot be run: the message names the key, the value and what is allowed."""


def default_run_date(now: dt.datetime, time_zone: str) -> str:
    """Yesterday in `time_zone` at the instant `now` (an aware datetime)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return (now.astimezone(ZoneInfo(time_zone)).date() - dt.timedelta(days=1)).isoformat()


def parse_run_date(value: Any) -> str:
    if not isinstance(value, str) or not _DATE.match(value):
        raise InvalidRunInput(f"run_date is {value!r}; it must be a date written YYYY-MM-DD, e.g. 2026-11-07")
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise InvalidRunInput(f"run_date is {value!r}, which is not a calendar date") from None


def execution_name(run_date: str, attempt: int = 1) -> str:
    """The execution name for a date: `daily-2026-11-07`, then `daily-2026-11-07-attempt-2`, ... Standard
    workflows keep names unique (for 90 days), so two starts with the same name cannot both run."""
    run_date = parse_run_date(run_date)
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    return f"daily-{run_date}" if attempt == 1 else f"daily-{run_date}-attempt-{attempt}"


def run_date_of_execution(name: str) -> str | None:
    match = re.match(r"^daily-(\d{4}-\d{2}-\d{2})(-attempt-\d+|-airflow-[A-Za-z0-9_-]+)?$", name)
    return match.group(1) if match else None


def _datasets(value: Any, curated_jobs: Mapping[str, str]) -> list[str]:
    if value is None:
        return list(curated_jobs)
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InvalidRunInput(f"datasets is {value!r}; it must be a non-empty list of dataset names")
    unknown = [v for v in value if v not in curated_jobs]
    if unknown:
        raise InvalidRunInput(f"unknown datasets {unknown}; the datasets are {sorted(curated_jobs)}")
    return [d for d in curated_jobs if d in value]  # deployment order, no repeats


def _bool(value: Any, key: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidRunInput(f"{key} is {value!r}; it must be true or false")


def _poll_seconds(value: Any) -> int:
    if value is None:
        return DEFAULT_POLL_SECONDS
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 300:
        raise InvalidRunInput(f"poll_seconds is {value!r}; it must be an integer from 1 to 300")
    return value


def _emr_arguments(value: Any) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
            step in STEPS and isinstance(arguments, dict)
            and all(isinstance(k, str) and isinstance(v, (str, int, float)) and not isinstance(v, bool)
                    for k, v in arguments.items())
            for step, arguments in value.items()):
        raise InvalidRunInput(f"emr_arguments is {value!r}; it must map EMR steps ({', '.join(STEPS)}) to "
                              "{\"--argument\": value} objects")
    return value


def emr_step_drivers(emr: Mapping[str, str], run_date: str, steps: Sequence[str] = tuple(STEPS),
                     extra_arguments: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict]:
    """The `StartJobRun` parameters (aws-sdk casing) of every EMR Serverless step for `run_date`.

    `emr` holds the deployed locations: `steps_uri`, `library_key`, `python_deps_key`, `deequ_jar_key`,
    `quality_topic_arn`, `artifacts_bucket`, `curated_bucket`, `analytics_bucket` (and, optional,
    `quality_pipeline`). The driver is the one `retail-lake run-batch`'s EMR path submits
    (`analytics_steps.step_job_driver`), recased for the Step Functions aws-sdk integration."""
    from retail_lake.orchestration.analytics_steps import step_job_driver

    # the stack outputs each location is; a location missing here is reported under its output's name
    analytics_outputs = {output: emr[key] for output, key in (
        ("EmrStepsUri", "steps_uri"), ("EmrLibraryKey", "library_key"), ("EmrPythonDepsKey", "python_deps_key"),
        ("EmrDeequJarKey", "deequ_jar_key"), ("EmrQualityPipeline", "quality_pipeline")) if emr.get(key)}
    storage_outputs = {output: emr[key] for output, key in (
        ("ArtifactsBucketName", "artifacts_bucket"), ("CuratedBucketName", "curated_bucket"),
        ("AnalyticsBucketName", "analytics_bucket")) if emr.get(key)}
    batch_outputs = {"QualityTopicArn": emr["quality_topic_arn"]} if emr.get("quality_topic_arn") else {}
    drivers = []
    for step in steps:
        submit = step_job_driver(step, analytics_outputs, storage_outputs, batch_outputs, run_date,
                                 (extra_arguments or {}).get(step))["sparkSubmit"]
        drivers.append({
            "step": step,
            "name": f"{step.replace('_', '-')}-{run_date}",
            "job_driver": {"SparkSubmit": {
                "EntryPoint": submit["entryPoint"],
                "EntryPointArguments": submit["entryPointArguments"],
                "SparkSubmitParameters": submit["sparkSubmitParameters"],
            }},
        })
    return drivers


def build_run_plan(
    execution_input: Mapping[str, Any] | None,
    *,
    now: dt.datetime,
    time_zone: str,
    curated_jobs: Mapping[str, str],
    emr: Mapping[str, str] | None = None,
    views: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """The plan of one execution (see the module doc). Raises `InvalidRunInput` for input that cannot run."""
    execution_input = dict(execution_input or {})
    allowed = ("run_date", "datasets", "backfill", "poll_seconds", "emr", "emr_arguments")
    unknown = sorted(set(execution_input) - set(allowed))
    if unknown:
        raise InvalidRunInput(f"unknown input keys {unknown}; allowed: {', '.join(allowed)}")
    emr_arguments = _emr_arguments(execution_input.get("emr_arguments"))
    requested = execution_input.get("run_date")
    run_date = parse_run_date(requested) if requested is not None else default_run_date(now, time_zone)
    datasets = _datasets(execution_input.get("datasets"), curated_jobs)
    backfill = _bool(execution_input.get("backfill"), "backfill")
    return {
        "run_date": run_date,
        "backfill": "true" if backfill else "false",
        "datasets_csv": ",".join(datasets),
        "curated": [{"dataset": d, "job_name": curated_jobs[d], "run_date": run_date,
                     "backfill": "true" if backfill else "false"} for d in datasets],
        "emr_steps": [{**driver, "poll_seconds": _poll_seconds(execution_input.get("poll_seconds"))}
                      for driver in (emr_step_drivers(emr, run_date, extra_arguments=emr_arguments)
                                     if emr and _bool(execution_input.get("emr", True), "emr") else [])],
        "views": [{**dict(view), "poll_seconds": _poll_seconds(execution_input.get("poll_seconds"))}
                  for view in views],
        "poll_seconds": _poll_seconds(execution_input.get("poll_seconds")),
    }
