"""An EMR step as EMR on EC2 runs it: `spark-submit` (a `Type: Spark` step is `spark-submit <Args>` on the primary
node) with the `retail_lake` package zip as `--py-files` and the step's `--key value` arguments after the script, in
a separate Spark process, as emr_steps/README.md documents."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RUN_DATE = dt.date(2026, 3, 1)


def _package_zip(target: Path) -> Path:
    """A zip of retail_lake/ with the package at its root, as the stacks ship it (`--py-files`)."""
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted((REPO / "retail_lake").rglob("*.py")):
            archive.write(path, path.relative_to(REPO).as_posix())
    return target


def test_demand_forecast_runs_under_spark_submit_with_the_package_zip(tmp_path: Path) -> None:
    spark_submit = Path(sys.executable).with_name("spark-submit")
    assert spark_submit.exists(), "pyspark's spark-submit is not in the virtual environment (install the spark extra)"
    analytics, output = tmp_path / "analytics", tmp_path / "out"
    # two weeks of daily_sales for one store x SKU: 1..7 units by weekday, repeated
    for offset in range(14):
        day = RUN_DATE - dt.timedelta(days=13 - offset)
        folder = analytics / "daily_sales" / f"event_date={day.isoformat()}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"store_id": ["ST0001"], "sku": ["SKU-000001"],
                                 "units": pa.array([offset % 7 + 1], pa.int64())}), folder / "part-0.parquet")
    script = tmp_path / "steps" / "demand_forecast.py"  # the entry point alone, as deployed under emr/steps/
    script.parent.mkdir()
    shutil.copy(REPO / "emr_steps" / "demand_forecast.py", script)
    library = _package_zip(tmp_path / "retail_lake.zip")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1", "TZ": "UTC"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [str(spark_submit), "--master", "local[1]", "--conf", "spark.ui.enabled=false",
         "--conf", "spark.sql.session.timeZone=UTC", "--py-files", str(library), str(script),
         "--run_date", RUN_DATE.isoformat(), "--analytics_path", str(analytics), "--output_path", str(output)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {"step": "demand_forecast", "run_date": RUN_DATE.isoformat(),
                       "rows": {"demand_forecast": 7, "demand_forecast_backtest": 1,
                                "demand_forecast_backtest_summary": 1}}
    forecast = pq.read_table(output / "demand_forecast" / f"as_of_date={RUN_DATE.isoformat()}")
    by_day = dict(zip(forecast.column("forecast_date").to_pylist(), forecast.column("forecast_units").to_pylist()))
    # the same weekday last week: day T+h copies T+h-7, so the weekly pattern continues exactly
    assert by_day == {RUN_DATE + dt.timedelta(days=h): float((13 + h) % 7 + 1) for h in range(1, 8)}
    backtest = pq.read_table(output / "demand_forecast_backtest_summary" / f"as_of_date={RUN_DATE.isoformat()}")
    assert backtest.column("mae").to_pylist() == [0.0]
