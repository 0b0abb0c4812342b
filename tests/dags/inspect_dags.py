"""Run with the Airflow environment's Python (.venv-airflow): parse the DAG folder as Airflow's scheduler does and
print, as one JSON object, the import errors and every DAG's task graph, retries, schedule and cycle check."""

from __future__ import annotations

import json
import sys


def main(dag_folder: str) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dag_folder)
    report = {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dags": {}}
    for dag_id, dag in bag.dags.items():
        try:
            dag.topological_sort() if hasattr(dag, "topological_sort") else None
            from airflow.utils.dag_cycle_tester import check_cycle

            check_cycle(dag)
            cycle = None
        except Exception as error:  # AirflowDagCycleException
            cycle = str(error)
        timetable = dag.timetable
        report["dags"][dag_id] = {
            "tasks": {task.task_id: {
                "operator": type(task).__name__,
                "module": type(task).__module__,
                "downstream": sorted(task.downstream_task_ids),
                "retries": task.retries,
                "templated": {field: str(getattr(task, field)) for field in task.template_fields
                              if field in ("name", "state_machine_input", "execution_arn", "state_machine_arn")},
            } for task in dag.tasks},
            "cycle": cycle,
            "catchup": dag.catchup,
            "timetable": type(timetable).__name__,
            "summary": getattr(timetable, "summary", ""),
            "max_active_runs": dag.max_active_runs,
        }
    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1])
