"""Writes the reference tables as CSV and/or Parquet files, one per table, under a directory."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from retail_lake.generator.config import GeneratorConfig
from retail_lake.generator.reference import reference_data

FORMATS = ("csv", "parquet")


def reference_tables(config: GeneratorConfig) -> dict[str, pa.Table]:
    """The reference tables as Arrow tables: stores, products, customers, promotions."""
    ref = reference_data(config)
    tables = {}
    for name, rows in (
        ("stores", ref.stores), ("products", ref.products), ("customers", ref.customers),
        ("promotions", ref.promotions),
    ):
        columns = [f.name for f in dataclasses.fields(type(rows[0]))] if rows else []
        tables[name] = pa.table({c: [getattr(r, c) for r in rows] for c in columns})
    return tables


def write_reference_data(config: GeneratorConfig, directory: str | Path,
                         formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write `<table>.csv` / `<table>.parquet` under `directory`; returns the files written."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown reference formats {sorted(unknown)}; use {', '.join(FORMATS)}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in reference_tables(config).items():
        if "csv" in formats:
            path = out / f"{name}.csv"
            pa_csv.write_csv(table, path)
            written.append(path)
        if "parquet" in formats:
            path = out / f"{name}.parquet"
            pq.write_table(table, path)
            written.append(path)
    return written
