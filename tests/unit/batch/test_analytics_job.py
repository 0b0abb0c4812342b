"""The curated -> analytics entry script on a lake where some curated datasets have no partitions yet: the
missing ones read as empty tables, the others still produce their gold tables."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds

from retail_lake.batch.catalog import curated_table, read_curated
from retail_lake.batch.reference import REFERENCE_TABLES
from tests.unit.batch.builders import raw_rows, run_glue_script, ts
from tests.unit.batch.test_partitions import _run_raw_to_curated

def _run_curated_to_analytics(curated: Path, raw: Path, analytics: Path, run_date: str) -> dict:
    return run_glue_script("curated_to_analytics.py", {
        "JOB_NAME": "test", "run_date": run_date, "curated_path": f"{curated}/",
        "reference_path": f"{raw}/reference/", "analytics_path": f"{analytics}/"}, "ANALYTICS_SUMMARY")


def test_read_curated_gives_the_declared_schema_for_a_missing_or_empty_dataset(spark, tmp_path):
    table = curated_table("clickstream")
    assert read_curated(spark, str(tmp_path), "clickstream").schema == table.schema  # no folder
    (tmp_path / "clickstream").mkdir()
    empty = read_curated(spark, str(tmp_path), "clickstream")  # a folder without partitions
    assert empty.schema == table.schema and empty.count() == 0


def test_gold_tables_from_a_lake_with_only_inventory_movements(spark, stores, products, customers, tmp_path):
    raw, curated, analytics = tmp_path / "raw", tmp_path / "curated", tmp_path / "analytics"
    for name, frame in zip(REFERENCE_TABLES, (stores, products, customers)):
        frame.write.parquet(str(raw / "reference" / name))
    movements = [{"event_id": f"m{i}", "store_id": "ST0002", "sku": "SKU-000001", "delta": -1, "on_hand_after": 9 - i,
                  "reason": "sale", "event_time": ts(f"2026-03-02 1{i}:00"), "ingest_arrival_time": ts(f"2026-03-02 1{i}:00")}
                 for i in range(3)]
    raw_rows(spark, "inventory_movements", movements).write.parquet(
        str(raw / "inventory_movements" / "dt=2026-03-02" / "hour=10"))
    assert _run_raw_to_curated(raw, curated, "2026-03-02")["events_written"] == 3
    (curated / "clickstream").mkdir()  # the web shop's job ran but wrote nothing; no sales folder at all

    summary = _run_curated_to_analytics(curated, raw, analytics, "2026-03-02")

    assert summary["analytics"] == {"daily_sales": 0, "web_sessions": 0, "conversion_funnel": 0,
                                    "customer_360": 0, "inventory_position": 1}
    position = ds.dataset(analytics / "inventory_position", format="parquet", partitioning="hive").to_table()
    (row,) = position.to_pylist()
    assert (row["store_id"], row["sku"], row["on_hand"]) == ("ST0002", "SKU-000001", 7)
    assert (row["units_sold_28d"], row["days_of_cover"], row["stockout"]) == (0, None, False)
