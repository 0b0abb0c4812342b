"""Builders for small exact raw-zone fixtures."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import runpy
import sys
from decimal import Decimal
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from retail_lake.batch.curated import as_nullable
from retail_lake.contracts.derive import spark_schema
from retail_lake.contracts.registry import contract_for_dataset


def ts(text: str) -> dt.datetime:
    """An aware UTC datetime from 'YYYY-MM-DD HH:MM[:SS[.ffffff]]'."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)


_INGEST_DEFAULTS = {
    "ingest_time": ts("2026-03-01 00:00"),
    "ingest_shard_id": "shardId-000000000000",
    "ingest_sequence_number": "1",
    "ingest_subsequence_number": 0,
}


def raw_rows(spark: SparkSession, dataset: str, rows: list[dict]) -> DataFrame:
    """A DataFrame in the dataset's raw schema (nullable, as Parquet reads it): columns not given are null,
    ingestion columns defaulted, `ingest_arrival_time` defaulting to the event time."""
    schema = as_nullable(spark_schema(contract_for_dataset(dataset)))
    names = schema.fieldNames()
    full = []
    for row in rows:
        values = {**_INGEST_DEFAULTS, "schema_version": 1, **row}
        values.setdefault("ingest_arrival_time", values.get("event_time"))
        unknown = set(values) - set(names)
        assert not unknown, f"fixture has columns outside the {dataset} schema: {unknown}"
        full.append(tuple(values.get(name) for name in names))
    return spark.createDataFrame(full, schema)


def line(sku: str, quantity: int, unit_price: str, discount: str = "0.00", promotion_id: str | None = None) -> dict:
    """A POS line item."""
    return {"sku": sku, "quantity": quantity, "unit_price": Decimal(unit_price), "discount": Decimal(discount),
            "promotion_id": promotion_id}


GLUE_JOBS = Path(__file__).resolve().parents[3] / "glue_jobs"


def run_glue_script(script: str, arguments: dict[str, str], summary: str) -> dict:
    """Run `glue_jobs/<script>` in-process with the argv Glue passes (`--key value`); return the JSON of the line
    it printed starting with `summary` (e.g. `CURATED_SUMMARY`)."""
    argv = [str(GLUE_JOBS / script), *[part for key, value in arguments.items() for part in (f"--{key}", value)]]
    saved, out = sys.argv, io.StringIO()
    sys.argv = argv
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(argv[0], run_name="__main__")
    finally:
        sys.argv = saved
    (line,) = [x for x in out.getvalue().splitlines() if x.startswith(summary + " ")]
    return json.loads(line.split(" ", 1)[1])
