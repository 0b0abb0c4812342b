"""Airflow (MWAA) DAG of the retail-lake daily pipeline: one DAG run per business date starts the deployed Step
Functions state machine for that date and waits for its outcome. The state machine holds the pipeline (Glue jobs,
quality gate, EMR Serverless, catalog, views, warehouse), so Airflow and the EventBridge schedule run the very same
steps; turn the EventBridge schedule off for a stage whose pipeline Airflow schedules.

Business dates: the DAG's data interval is one day in the stage's time zone, and `ds` (its start) is the date run,
so the run scheduled on the morning of the 8th runs the 7th. Backfill by date with Airflow's own tools:

    airflow backfill create --dag-id retail_lake_daily --from-date 2026-11-01 --to-date 2026-11-07

Settings come from the environment's Airflow configuration (set by the CDK stack):
`retail_lake.state_machine_arn`, `retail_lake.time_zone` (AIRFLOW__RETAIL_LAKE__* variables).
"""

from __future__ import annotations

import datetime as dt
import os

import pendulum
from airflow.providers.amazon.aws.operators.step_function import StepFunctionStartExecutionOperator
from airflow.providers.amazon.aws.sensors.step_function import StepFunctionExecutionSensor
from airflow.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

STATE_MACHINE_ARN = os.environ.get("AIRFLOW__RETAIL_LAKE__STATE_MACHINE_ARN",
                                   "arn:aws:states:us-east-1:000000000000:stateMachine:not-configured")
TIME_ZONE = os.environ.get("AIRFLOW__RETAIL_LAKE__TIME_ZONE", "UTC")
SCHEDULE = os.environ.get("AIRFLOW__RETAIL_LAKE__SCHEDULE", "0 6 * * *")

with DAG(
    dag_id="retail_lake_daily",
    description="retail-lake: the daily pipeline state machine for each business date",
    schedule=CronDataIntervalTimetable(SCHEDULE, timezone=pendulum.timezone(TIME_ZONE)),
    start_date=pendulum.datetime(2026, 1, 1, tz=TIME_ZONE),
    catchup=False,  # backfill explicitly, by date range
    max_active_runs=4,  # different dates may run together; the state machine refuses the same date twice
    default_args={
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=10),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(hours=1),
    },
    tags=["retail-lake", "pipeline"],
) as dag:
    start = StepFunctionStartExecutionOperator(
        task_id="start_pipeline",
        state_machine_arn=STATE_MACHINE_ARN,
        # the date in the name, as `retail-lake run` names its executions; the try number keeps retries distinct
        name="daily-{{ ds }}-airflow-{{ ti.try_number }}-{{ ts_nodash | lower }}",
        state_machine_input={"run_date": "{{ ds }}"},
    )
    wait = StepFunctionExecutionSensor(
        task_id="wait_for_pipeline",
        execution_arn="{{ ti.xcom_pull(task_ids='start_pipeline') }}",
        poke_interval=60,
        timeout=12 * 3600,
        mode="reschedule",
    )
    start >> wait
