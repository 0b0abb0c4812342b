"""The Athena benchmark's plumbing on a small lake: the real batch layer's gold tables and the quality gate's
results reach the twin's buckets whole, every named query is timed, and the DuckDB baseline sees the same data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import athena, batch
from retail_lake.serving import catalog
from retail_lake.twin.executors.glue_jobs import local_spark_session

pytestmark = pytest.mark.integration

GOLD = ("daily_sales", "inventory_position", "customer_360", "web_sessions", "conversion_funnel")


def test_a_small_run_times_every_named_query_over_the_batch_layers_tables(
        dev_assembly: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stopped: list[Any] = []
    monkeypatch.setattr(batch, "start_spark", lambda driver_memory: local_spark_session())  # the suite's session
    monkeypatch.setattr(athena, "stop_spark", stopped.append)  # ... which must outlive the benchmark

    result = athena.run(4_000, runs=2, assembly=dev_assembly, workdir=tmp_path)

    assert len(stopped) == 1, "the batch layer's session is stopped before the twin starts"
    assert set(result["queries"]) == set(catalog.named_queries())
    for name, figures in result["queries"].items():
        assert 0 < figures["p50_s"] <= figures["p95_s"], name
        assert figures["cold_s"] > 0 and figures["baseline_duckdb_in_memory_s"] >= 0, name
    for table in GOLD:  # every row the analytics job wrote is in the twin's bucket
        assert result["gold_rows"][table] == result["analytics"][table] > 0, table
    assert result["gold_rows"]["quality_results"] == result["quality_gate"]["rules"] > 0
    assert result["gold_rows"]["dim_store"] > 0 and result["gold_rows"]["dim_product"] > 0
    assert result["queries"]["top_skus"]["rows"] == min(20, result["gold_rows"]["dim_product"])
    parts = result["setup_parts_s"]
    assert {"generate", "stream_transform", "batch_layer", "quality_gate", "twin_deploy"} <= set(parts)
    assert not any(tmp_path.iterdir()), "the temporary lake is removed"
