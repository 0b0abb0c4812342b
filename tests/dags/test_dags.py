"""DAG integrity: the DAG folder parsed by Airflow with the Amazon provider (the separate .venv-airflow that
`make test` installs from requirements/airflow*.txt): no import errors, the expected task graph, no cycle, retries
set, and the same state machine and execution naming as `retail-lake run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_PYTHON = REPO_ROOT / ".venv-airflow" / "bin" / "python"
ARN = "arn:aws:states:eu-west-1:111111111111:stateMachine:RetailLake-dev-daily-pipeline"


@pytest.fixture(scope="module")
def dag_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not AIRFLOW_PYTHON.exists():
        pytest.fail(f"{AIRFLOW_PYTHON} is missing: run `make airflow` (make test does) to create the DAG test "
                    "environment from requirements/airflow.txt")
    home = tmp_path_factory.mktemp("airflow-home")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "AWS_ENDPOINT"))}
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
                "AIRFLOW__RETAIL_LAKE__STATE_MACHINE_ARN": ARN, "AIRFLOW__RETAIL_LAKE__TIME_ZONE": "Europe/London",
                "PYTHONPATH": ""})
    result = subprocess.run([str(AIRFLOW_PYTHON), str(Path(__file__).with_name("inspect_dags.py")),
                             str(REPO_ROOT / "dags")], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_dag_imports_without_error(dag_report) -> None:
    assert dag_report["import_errors"] == {}
    assert set(dag_report["dags"]) == {"retail_lake_daily"}


def test_the_daily_dag_starts_the_state_machine_then_waits_for_it(dag_report) -> None:
    dag = dag_report["dags"]["retail_lake_daily"]
    assert dag["cycle"] is None
    tasks = dag["tasks"]
    assert {name: task["downstream"] for name, task in tasks.items()} == {
        "start_pipeline": ["wait_for_pipeline"], "wait_for_pipeline": []}
    assert tasks["start_pipeline"]["operator"] == "StepFunctionStartExecutionOperator"
    assert tasks["wait_for_pipeline"]["operator"] == "StepFunctionExecutionSensor"
    assert all(task["module"].startswith("airflow.providers.amazon.") for task in tasks.values())
    assert all(task["retries"] >= 1 for task in tasks.values())
    start = tasks["start_pipeline"]["templated"]
    assert start["state_machine_arn"] == ARN
    assert start["name"].startswith("daily-{{ ds }}-")  # the business date in the execution name
    assert "{{ ds }}" in start["state_machine_input"] and "run_date" in start["state_machine_input"]
    assert tasks["wait_for_pipeline"]["templated"]["execution_arn"] == "{{ ti.xcom_pull(task_ids='start_pipeline') }}"


def test_one_run_per_business_date_in_the_stages_time_zone(dag_report) -> None:
    dag = dag_report["dags"]["retail_lake_daily"]
    assert dag["timetable"] == "CronDataIntervalTimetable"  # ds = the interval's start: the day being run
    assert dag["catchup"] is False and dag["max_active_runs"] >= 1


def test_the_execution_names_are_the_ones_the_cli_recognizes() -> None:
    from retail_lake.orchestration.run_plan import run_date_of_execution

    assert run_date_of_execution("daily-2026-11-07-airflow-1-20261107t060000") == "2026-11-07"
    assert run_date_of_execution("daily-2026-11-07") == "2026-11-07"
    assert run_date_of_execution("daily-2026-11-07-attempt-3") == "2026-11-07"
    assert run_date_of_execution("manual") is None
    assert sys.version_info >= (3, 11)
