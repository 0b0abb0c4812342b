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
    """A zip of retail_lake/ with the package at its root, data files (the rule files) included, as the stacks ship
    it (`--py-files`): the step reads its rules from inside the zip."""
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted((REPO / "retail_lake").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
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
    quality = summary.pop("quality")
    assert summary == {"step": "demand_forecast", "run_date": RUN_DATE.isoformat(),
                       "rows": {"demand_forecast": 7, "demand_forecast_backtest": 1,
                                "demand_forecast_backtest_summary": 1}}
    # the output gate ran (no Deequ jar here: Great Expectations) and passed
    assert quality["engine"] == "great_expectations" and quality["warnings"] == {}
    results = pq.read_table(output / "quality_results").to_pylist()
    assert {r["dataset"] for r in results} == {"demand_forecast"} and {r["status"] for r in results} == {"passed"}
    forecast = pq.read_table(output / "demand_forecast" / f"as_of_date={RUN_DATE.isoformat()}")
    by_day = dict(zip(forecast.column("forecast_date").to_pylist(), forecast.column("forecast_units").to_pylist()))
    # the same weekday last week: day T+h copies T+h-7, so the weekly pattern continues exactly
    assert by_day == {RUN_DATE + dt.timedelta(days=h): float((13 + h) % 7 + 1) for h in range(1, 8)}
    backtest = pq.read_table(output / "demand_forecast_backtest_summary" / f"as_of_date={RUN_DATE.isoformat()}")
    assert backtest.column("mae").to_pylist() == [0.0]


def _class_file(binary_name: str) -> bytes:
    """A minimal valid class file (Java 8 format): public class `binary_name` extends Object, no members."""
    import struct

    def utf8(text: str) -> bytes:
        return b"\x01" + struct.pack(">H", len(text)) + text.encode()

    pool = [b"\x07\x00\x02", utf8(binary_name), b"\x07\x00\x04", utf8("java/lang/Object")]
    return (b"\xca\xfe\xba\xbe" + struct.pack(">HHH", 0, 52, len(pool) + 1) + b"".join(pool)
            + struct.pack(">HHHHHHH", 0x0021, 1, 3, 0, 0, 0, 0))


def test_the_deequ_classes_are_found_when_the_job_adds_the_jar(tmp_path: Path) -> None:
    """`--jars` (EMR) and `--extra-jars` (Glue) put a jar on the context class loader, which py4j's plain
    `Class.forName` does not search: the gate must find Deequ there, or it would never pick the Deequ engine. A jar
    holding a class of Deequ's name stands in for the real one (which these machines cannot download)."""
    from retail_lake.quality.deequ import DEEQU_CHECK_CLASS

    jar = tmp_path / "deequ-stand-in.jar"
    with zipfile.ZipFile(jar, "w") as archive:
        binary_name = DEEQU_CHECK_CLASS.replace(".", "/")
        archive.writestr(binary_name + ".class", _class_file(binary_name))
    probe = tmp_path / "probe.py"
    probe.write_text("import json\nfrom pyspark.sql import SparkSession\n"
                     "from retail_lake.quality.deequ import deequ_on_classpath\n"
                     "spark = SparkSession.builder.getOrCreate()\n"
                     "jvm = spark.sparkContext._jvm\n"
                     "try:\n    jvm.java.lang.Class.forName(%r)\n    plain = True\n"
                     "except Exception:\n    plain = False\n"
                     "print(json.dumps({'found': deequ_on_classpath(spark), 'plain_for_name': plain}))\n"
                     "spark.stop()\n" % DEEQU_CHECK_CLASS)
    spark_submit = Path(sys.executable).with_name("spark-submit")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1"}
    found = {}
    for label, extra in (("with the jar", ["--jars", str(jar)]), ("without", [])):
        result = subprocess.run(
            [str(spark_submit), "--master", "local[1]", "--conf", "spark.ui.enabled=false", *extra, str(probe)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stderr[-4000:]
        found[label] = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["with the jar"] == {"found": True, "plain_for_name": False}  # the lookup py4j's loader would miss
    assert found["without"] == {"found": False, "plain_for_name": False}
