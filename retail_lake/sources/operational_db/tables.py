"""The replicated tables of the operational store, defined once: schema name, primary keys, which tables keep a
type-2 history in curated. The columns come from the database itself (`schema.sql`); a test checks that the
keys here are the primary keys there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SCHEMA = "retail"
SCHEMA_FILE = Path(__file__).with_name("schema.sql")
PUBLICATION = "retail_lake_cdc"


@dataclass(frozen=True)
class SourceTable:
    name: str
    keys: tuple[str, ...]
    history: bool = False  # keep type-2 history (valid_from / valid_to / is_current) in curated

    @property
    def qualified(self) -> str:
        return f"{SCHEMA}.{self.name}"


TABLES: tuple[SourceTable, ...] = (
    SourceTable("stores", ("store_id",)),
    SourceTable("customers", ("customer_id",), history=True),
    SourceTable("products", ("product_id",), history=True),
    SourceTable("online_orders", ("order_id",)),
    SourceTable("order_lines", ("order_id", "line_number")),
)
BY_NAME = {table.name: table for table in TABLES}


def table(name: str) -> SourceTable:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a replicated table; known: {', '.join(BY_NAME)}") from None
