"""Rewriting a window of date partitions: no stale partition survives, nothing outside the window is touched;
and the raw -> curated entry script, rerun after its raw data changed, leaves no stale rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from retail_lake.batch.partitions import overwrite_window, stale_partitions
from retail_lake.batch.reference import REFERENCE_TABLES
from tests.unit.batch.builders import raw_rows, run_glue_script, ts

D = dt.date


def test_stale_partitions_are_the_window_dates_not_written():
    existing = ["2026-02-28", "2026-03-01", "2026-03-02", "2026-03-03", "__HIVE_DEFAULT_PARTITION__"]
    assert stale_partitions(existing, ["2026-03-01"], D(2026, 3, 1), D(2026, 3, 2)) == ["2026-03-02"]
    assert stale_partitions(existing, [], D(2026, 3, 1), D(2026, 3, 3)) == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert stale_partitions([], [], D(2026, 3, 1), D(2026, 3, 3)) == []
    with pytest.raises(ValueError, match="empty window"):
        stale_partitions(existing, [], D(2026, 3, 2), D(2026, 3, 1))


def _dates(spark, rows: list[tuple[str, int]]):
    return spark.createDataFrame([(D.fromisoformat(d), v) for d, v in rows], "event_date date, value int")


def _read(path: Path) -> list[tuple[str, int]]:
    table = ds.dataset(path, format="parquet", partitioning="hive").to_table()
    return sorted(zip([str(v) for v in table.column("event_date").to_pylist()], table.column("value").to_pylist()))


def test_overwrite_window_replaces_the_window_and_removes_its_dates_left_without_rows(spark, tmp_path):
    table = tmp_path / "daily"
    overwrite_window(_dates(spark, [("2026-02-28", 1), ("2026-03-01", 2), ("2026-03-02", 3), ("2026-03-03", 4)]),
                     str(table), "event_date", D(2026, 2, 28), D(2026, 3, 3))
    result = overwrite_window(_dates(spark, [("2026-03-01", 20), ("2026-03-01", 21)]), str(table), "event_date",
                              D(2026, 3, 1), D(2026, 3, 2))
    assert (result.rows, result.partitions, result.removed) == (2, ("2026-03-01",), ("2026-03-02",))
    assert _read(table) == [("2026-02-28", 1), ("2026-03-01", 20), ("2026-03-01", 21), ("2026-03-03", 4)]
    assert spark.conf.get("spark.sql.sources.partitionOverwriteMode").lower() == "static"  # restored

    empty = overwrite_window(_dates(spark, []), str(table), "event_date", D(2026, 2, 1), D(2026, 3, 1))
    assert (empty.rows, empty.removed) == (0, ("2026-02-28", "2026-03-01"))
    assert _read(table) == [("2026-03-03", 4)]


def _run_raw_to_curated(raw: Path, curated: Path, run_date: str) -> dict:
    return run_glue_script("raw_to_curated.py", {
        "JOB_NAME": "test", "dataset": "inventory_movements", "run_date": run_date,
        "raw_path": f"{raw}/inventory_movements/", "reference_path": f"{raw}/reference/",
        "curated_path": f"{curated}/inventory_movements/",
        "quarantine_path": f"{curated}/_quarantine/inventory_movements/"}, "CURATED_SUMMARY")


def test_rerunning_raw_to_curated_after_raw_changed_leaves_no_stale_rows(spark, stores, products, customers,
                                                                         tmp_path):
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    for name, frame in zip(REFERENCE_TABLES, (stores, products, customers)):
        frame.write.parquet(str(raw / "reference" / name))

    def movement(event_id: str, when: str) -> dict:
        return {"event_id": event_id, "store_id": "ST0002", "sku": "SKU-000001", "delta": -1, "on_hand_after": 3,
                "reason": "sale", "event_time": ts(when), "ingest_arrival_time": ts(when)}

    day_1 = raw / "inventory_movements" / "dt=2026-03-01" / "hour=20"
    day_2 = raw / "inventory_movements" / "dt=2026-03-02" / "hour=20"
    raw_rows(spark, "inventory_movements", [movement("m1", "2026-03-01 20:00")]).write.parquet(str(day_1))
    raw_rows(spark, "inventory_movements", [movement("m2", "2026-03-02 20:00")]).write.parquet(str(day_2))
    first = _run_raw_to_curated(raw, curated, "2026-03-02")
    table = curated / "inventory_movements"
    assert (first["events_written"], first["stale_partitions_removed"]) == (2, [])
    assert sorted(p.name for p in table.glob("event_date=*")) == ["event_date=2026-03-01", "event_date=2026-03-02"]

    rerun = _run_raw_to_curated(raw, curated, "2026-03-02")  # same raw: same partitions, same rows
    assert rerun == first

    # the day's raw partition was withdrawn (say, replayed after a fix into an earlier one): its event date
    # must not keep the rows of the first run
    for part in day_2.iterdir():
        part.unlink()
    day_2.rmdir()
    changed = _run_raw_to_curated(raw, curated, "2026-03-02")
    assert (changed["events_written"], changed["stale_partitions_removed"]) == (1, ["2026-03-02"])
    assert sorted(p.name for p in table.glob("event_date=*")) == ["event_date=2026-03-01"]
    rows = ds.dataset(table, format="parquet", partitioning="hive").to_table()
    assert rows.column("event_id").to_pylist() == ["m1"]
