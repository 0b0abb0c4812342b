"""A small lake built in memory for the quality tests: generated lines go through the stream Lambda's batch
logic (one Kinesis record per line, arrival in line order), then the curated steps; no twin needed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from retail_lake.batch import curated
from retail_lake.batch.reference import ReferenceDimensions
from retail_lake.contracts.registry import DATASETS
from retail_lake.generator import GeneratorConfig, generate, write_reference_data
from retail_lake.ingestion.stream_transform import RawBatch
from retail_lake.privacy.pseudonymize import Pseudonymizer

START = dt.datetime(2026, 11, 3, tzinfo=dt.timezone.utc)


@dataclass
class QualityLake:
    report: dict
    lines: list[str]
    raw: dict  # dataset -> Spark DataFrame in the raw schema
    quarantine: list[dict]  # the stream Lambda's quarantine records
    ref: ReferenceDimensions

    def curated_rows(self, dataset: str):
        """The curated step's rows (before the row rules), every event date."""
        return curated.curate(dataset, self.raw[dataset], self.ref, dt.date(2000, 1, 1), dt.date(2100, 1, 1)).rows


def build_lake(spark, config: GeneratorConfig, directory: Path) -> QualityLake:
    stream = generate(config)
    batch = RawBatch(Pseudonymizer(b"quality-tests-key-0123456789"), shard_id="shardId-000000000000",
                     ingest_time=START)
    base = START.timestamp()
    for index, line in enumerate(stream.lines):
        batch.add_record(str(10**20 + index), base + index / 1000, line.encode())
    tables = batch.tables()
    raw = {}
    for dataset in DATASETS:
        table: pa.Table = tables[dataset]
        raw[dataset] = spark.createDataFrame(table.to_pandas(), schema=_spark_schema(spark, table))
    write_reference_data(config, directory, formats=("parquet",))
    ref = ReferenceDimensions(**{name: spark.read.parquet(str(directory / f"{name}.parquet"))
                                 for name in ("stores", "products", "customers")})
    return QualityLake(stream.report.to_dict(), stream.lines, raw, batch.quarantine, ref)


def _spark_schema(spark, table: pa.Table):
    from retail_lake.batch.curated import as_nullable
    from retail_lake.contracts.derive import spark_schema
    from retail_lake.contracts.registry import BY_DATASET

    for dataset, contract in BY_DATASET.items():
        schema = as_nullable(spark_schema(contract))
        if set(schema.fieldNames()) == set(table.column_names):
            from pyspark.sql import types as st

            return st.StructType([schema[name] for name in table.column_names])
    raise AssertionError(f"no contract has the columns {table.column_names}")
