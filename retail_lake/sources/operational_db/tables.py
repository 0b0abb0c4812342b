"""The replicated tables of the operational store, defined once: schema name, columns (with their lake types and
which hold personal data), primary keys, which tables keep a type-2 history in curated.

Derived from these declarations: the merge's pseudonymization of personal columns and the schema it writes
(`retail_lake.sources.cdc.merge`), the curated Glue tables (`retail_lake.sources.catalog`), and the reconciliation
with the database. `schema.sql` creates the tables in PostgreSQL; a test checks that its columns, types and primary
keys are the ones declared here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from retail_lake.privacy.pseudonymize import PSEUDONYM_KINDS

SCHEMA = "retail"
SCHEMA_FILE = Path(__file__).with_name("schema.sql")
PUBLICATION = "retail_lake_cdc"

# Kinds of personal data: each becomes a keyed HMAC-SHA256 pseudonym (`retail_lake.privacy.pseudonymize`) before it
# leaves the restricted CDC landing bucket, so nothing in the lake's shared zones holds it in clear text.
EMAIL, PHONE, NAME, STREET = "email", "phone", "name", "street"
PERSONAL_KINDS = tuple(PSEUDONYM_KINDS)


@dataclass(frozen=True)
class SourceColumn:
    name: str
    lake_type: str  # Glue/Hive type in the lake (DMS writes PostgreSQL types as these Parquet types)
    personal: str | None = None  # a kind of PERSONAL_KINDS: the lake holds only its pseudonym
    comment: str = ""


@dataclass(frozen=True)
class SourceTable:
    name: str
    keys: tuple[str, ...]
    columns: tuple[SourceColumn, ...]
    history: bool = False  # keep type-2 history (valid_from / valid_to / is_current) in curated
    description: str = ""

    @property
    def qualified(self) -> str:
        return f"{SCHEMA}.{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def personal_columns(self) -> dict[str, str]:
        """Column name -> kind of personal data, for the columns that hold some."""
        return {c.name: c.personal for c in self.columns if c.personal}


def _c(name: str, lake_type: str, personal: str | None = None, comment: str = "") -> SourceColumn:
    if personal is not None and personal not in PERSONAL_KINDS:
        raise ValueError(f"column {name}: no personal data kind {personal!r}; known: {', '.join(PERSONAL_KINDS)}")
    if personal is not None:
        comment = (comment + "; " if comment else "") + f"keyed HMAC-SHA256 pseudonym ({personal})"
    return SourceColumn(name, lake_type, personal, comment)


_TS = "timestamp"
TABLES: tuple[SourceTable, ...] = (
    SourceTable("stores", ("store_id",), (
        _c("store_id", "string"), _c("name", "string"), _c("city", "string"), _c("region", "string"),
        _c("latitude", "decimal(9,6)"), _c("longitude", "decimal(9,6)"), _c("timezone", "string"),
        _c("opened_on", "date"),
    ), description="Stores of the operational store"),
    SourceTable("customers", ("customer_id",), (
        _c("customer_id", "string"), _c("first_name", "string", NAME), _c("last_name", "string", NAME),
        _c("email", "string", EMAIL), _c("phone", "string", PHONE), _c("street", "string", STREET),
        _c("city", "string"), _c("postal_code", "string"), _c("loyalty_tier", "string"),
        _c("updated_at", _TS),
    ), history=True, description="Customers (names, e-mail, phone and street as keyed pseudonyms)"),
    SourceTable("products", ("product_id",), (
        _c("product_id", "string"), _c("name", "string"), _c("category", "string"), _c("brand", "string"),
        _c("unit_cost", "decimal(10,2)"), _c("list_price", "decimal(10,2)"), _c("active", "boolean"),
        _c("updated_at", _TS),
    ), history=True, description="Products with cost and list price"),
    SourceTable("online_orders", ("order_id",), (
        _c("order_id", "bigint"), _c("customer_id", "string"), _c("store_id", "string"), _c("status", "string"),
        _c("total_amount", "decimal(12,2)"), _c("ordered_at", _TS), _c("updated_at", _TS),
    ), description="Online orders and their status"),
    SourceTable("order_lines", ("order_id", "line_number"), (
        _c("order_id", "bigint"), _c("line_number", "int"), _c("product_id", "string"), _c("quantity", "int"),
        _c("unit_price", "decimal(10,2)"),
    ), description="Lines of the online orders"),
)
BY_NAME = {table.name: table for table in TABLES}

# What the CDC merge writes in curated besides a table's own columns: its latest state carries the commit of the
# row's last change; its type-2 history one version per row and commit.
COMMIT_TS, CHANGE_SEQ = "_commit_ts", "_change_seq"
VALID_FROM, VALID_TO, IS_CURRENT = "valid_from", "valid_to", "is_current"
STATE_COLUMNS = ((COMMIT_TS, "timestamp", "commit timestamp of the row's last change"),
                 (CHANGE_SEQ, "string", "DMS change sequence of the row's last change (zeros: the full load)"))
HISTORY_COLUMNS = ((VALID_FROM, "timestamp", "commit timestamp of this version"),
                   (VALID_TO, "timestamp", "commit timestamp of the next version or the delete; null while current"),
                   (IS_CURRENT, "boolean", "the row's current version"),
                   (CHANGE_SEQ, "string", "DMS change sequence of this version's change"))


def output_columns(source: SourceTable, history: bool = False) -> list[tuple[str, str, str]]:
    """(name, lake type, comment) of what the merge writes for `source`: its latest state, or its type-2 history."""
    own = [(c.name, c.lake_type, c.comment) for c in source.columns]
    return own + list(HISTORY_COLUMNS if history else STATE_COLUMNS)


def table(name: str) -> SourceTable:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a replicated table; known: {', '.join(BY_NAME)}") from None
