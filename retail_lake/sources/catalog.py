"""The curated tables the sources write, declared once for the Glue Data Catalog (`stacks/sources/source_tables.py`)
and for the tests that compare what the jobs wrote with the catalog:

- `operational_<table>` and `operational_<table>_history` (`curated/operational/<table>[_history]/`): the CDC
  merge's latest state and type-2 history, columns from `retail_lake.sources.operational_db.tables` (personal
  columns hold keyed pseudonyms);
- `<feed>` (`curated/file_drops/<feed>/`): the good rows of the supplier file drops, columns from
  `retail_lake.sources.file_drops.feeds`.

These tables are not partitioned: the merge rewrites a table whole, and a file drop adds one object per file.
The CDC landing bucket (DMS's clear-text change files) has no table, on purpose; neither has the file drops'
quarantine, which keeps each rejected line as it arrived for whoever fixes the supplier's file.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from retail_lake.sources.file_drops.feeds import FEEDS, Feed
from retail_lake.sources.file_drops.processing import CURATED_PREFIX as FILE_DROPS_PREFIX
from retail_lake.sources.operational_db.tables import TABLES, SourceTable, output_columns

OPERATIONAL_PREFIX = "operational/"
CDC_MERGE_JOB = "cdc-merge (Glue)"
FILE_DROP_FUNCTION = "file-drop (Lambda)"


@dataclass(frozen=True)
class SourceTableDefinition:
    """One curated table of a source: Parquet files directly under `prefix` of the curated bucket."""

    name: str
    prefix: str
    description: str
    columns: tuple[tuple[str, str, str], ...]  # (name, Glue/Hive type, comment)
    writer: str

    @property
    def column_types(self) -> list[tuple[str, str]]:
        return [(name, hive_type) for name, hive_type, _ in self.columns]

    def glue_columns(self) -> list[dict[str, str]]:
        return [{"name": name, "type": hive_type, "comment": comment[:255]} for name, hive_type, comment in self.columns]


def hive_type(arrow_type: pa.DataType) -> str:
    """The Glue/Hive type of an Arrow type the sources write."""
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    simple = {pa.string(): "string", pa.large_string(): "string", pa.bool_(): "boolean", pa.int8(): "tinyint",
              pa.int16(): "smallint", pa.int32(): "int", pa.int64(): "bigint", pa.float32(): "float",
              pa.float64(): "double", pa.date32(): "date"}
    if arrow_type not in simple:
        raise ValueError(f"no Glue type for the Arrow type {arrow_type}; add it to retail_lake.sources.catalog")
    return simple[arrow_type]


def operational_tables(source: SourceTable) -> list[SourceTableDefinition]:
    tables = [SourceTableDefinition(
        f"operational_{source.name}", f"{OPERATIONAL_PREFIX}{source.name}/",
        f"{source.description}: latest state, merged from DMS change data capture",
        tuple(output_columns(source)), CDC_MERGE_JOB)]
    if source.history:
        tables.append(SourceTableDefinition(
            f"operational_{source.name}_history", f"{OPERATIONAL_PREFIX}{source.name}_history/",
            f"{source.description}: type-2 history (valid_from / valid_to / is_current)",
            tuple(output_columns(source, history=True)), CDC_MERGE_JOB))
    return tables


def file_drop_table(feed: Feed) -> SourceTableDefinition:
    comments = {"source_file": "landing key of the dropped file", "source_line": "line of the row in that file"}
    return SourceTableDefinition(
        feed.name, f"{FILE_DROPS_PREFIX}{feed.name}/", f"Good rows of the {feed.name.replace('_', ' ')} file drops",
        tuple((f.name, hive_type(f.type), comments.get(f.name, "")) for f in feed.arrow_schema), FILE_DROP_FUNCTION)


def source_tables() -> tuple[SourceTableDefinition, ...]:
    return (*[d for source in TABLES for d in operational_tables(source)],
            *[file_drop_table(feed) for feed in FEEDS.values()])
