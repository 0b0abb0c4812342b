"""The batch benchmark's plumbing on a small lake: the real Glue scripts run, the counts come back, the copy floor
is measured, and the pandas baseline computes the same daily_sales as the Spark layer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import batch  # noqa: E402


def test_a_small_run_reports_every_figure_and_the_baseline_agrees(spark, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "start_spark", lambda driver_memory: spark)  # the suite's one session
    result = batch.run(4_000, seed=7, driver_memory="1g", workdir=tmp_path, baseline=True, floor=True)

    assert result["events"] == 4_000 and result["events_per_s"] > 0 and result["startup_s"] >= 0
    assert set(result["jobs_s"]) == {"raw_to_curated.pos_sales", "raw_to_curated.inventory_movements",
                                     "raw_to_curated.clickstream", "curated_to_analytics"}
    for dataset, counts in result["curated"].items():
        assert counts["rows_read"] == result["raw_rows"][dataset] > 0
    assert set(result["analytics"]) == {"daily_sales", "inventory_position", "customer_360", "web_sessions",
                                        "conversion_funnel"}
    assert set(result["copy_floor_jobs_s"]) == set(batch.DATASETS)
    assert result["copy_floor_events_per_s"] == round(4_000 / result["copy_floor_s"])
    check = result["baseline_check"]
    assert check["agree"], check
    assert check["spark_rows"] == result["analytics"]["daily_sales"] > 0
    assert not any(tmp_path.iterdir()), "the temporary lake is removed"


def test_the_command_line_forwards_the_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    from retail_lake import cli

    seen: list[list[str]] = []
    monkeypatch.setattr(batch, "main", lambda argv: seen.append(argv) or 0)
    assert cli.main(["bench", "batch", "--events", "10", "--no-baseline", "--no-floor", "--json"]) == 0
    argv = seen[0]
    assert argv[argv.index("--events") + 1] == "10"
    assert {"--no-baseline", "--no-floor", "--json"} <= set(argv)
