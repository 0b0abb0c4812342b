"""Merge DMS change files into curated: the latest state of every table and a type-2 history for the tables that
keep one, as functions from DataFrames to DataFrames (the Glue job `glue_jobs/cdc_merge.py` only does I/O).

Order. Every change row has an order key `_order`: its change sequence (sorts in commit order, then statement
order within the transaction), or 35 zeros for full-load rows, which come before every change.

Idempotence. A table's watermark is the largest `_order` merged so far; `new_changes` keeps only the rows after
it, so merging the same change files again (or files already merged together with new ones) changes nothing.
The full load is merged only while a table has no watermark.

Personal data: the change rows arrive in clear text in the restricted CDC landing bucket; `protect_personal_data`
replaces every personal column the table declares (`retail_lake.sources.operational_db.tables`) with its keyed
pseudonym before anything else reads the rows, so curated (and every error message) holds pseudonyms only.

Latest state: per key, the last change wins; a delete removes the key; inserts and updates carry the whole row.
History (type 2): one version per key and commit (the transaction's last change of the row), valid from its commit
timestamp to the next change's (a delete closes the version and opens none); `is_current` marks the open one.
"""

from __future__ import annotations

from collections.abc import Sequence

import hashlib

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from retail_lake.batch.schemas import column_mismatch
from retail_lake.privacy.pseudonymize import PSEUDONYM_KINDS
from retail_lake.sources.cdc.layout import CHANGE_SEQ_COLUMN, CHANGE_SEQ_WIDTH, COMMIT_TS_COLUMN, OP_COLUMN
from retail_lake.sources.operational_db.tables import (
    CHANGE_SEQ,
    COMMIT_TS,
    IS_CURRENT,
    VALID_FROM,
    VALID_TO,
    SourceTable,
)
from retail_lake.sources.operational_db.tables import output_columns as _declared_columns

ORDER = "_order"
LOAD_ORDER = "0" * CHANGE_SEQ_WIDTH
HEADER_COLUMNS = (OP_COLUMN, COMMIT_TS_COLUMN, CHANGE_SEQ_COLUMN)


class ChangeFileError(ValueError):
    """Change rows the merge cannot apply: a missing header column, an unknown operation, a null key."""


def source_columns(changes: DataFrame) -> list[str]:
    """The table's own columns in a change file (everything but the DMS header columns)."""
    return [c for c in changes.columns if c not in HEADER_COLUMNS]


def with_order(changes: DataFrame) -> DataFrame:
    """Check the header columns and add `_order` (change sequence, or zeros for full-load rows)."""
    missing = [c for c in HEADER_COLUMNS if c not in changes.columns]
    if missing:
        raise ChangeFileError(f"change rows lack the column(s) {', '.join(missing)}; the DMS target endpoint must "
                              f"write {OP_COLUMN} (IncludeOpForFullLoad), the TimestampColumnName "
                              f"{COMMIT_TS_COLUMN!r} and the {CHANGE_SEQ_COLUMN!r} add-column of $AR_H_CHANGE_SEQ")
    seq = F.col(CHANGE_SEQ_COLUMN)
    return changes.withColumn(ORDER, F.when(seq.isNull() | (seq == ""), F.lit(LOAD_ORDER)).otherwise(seq))


def validate(changes: DataFrame, keys: Sequence[str]) -> None:
    """Raise `ChangeFileError` naming the problem when a row has an unknown Op or a null key (one pass)."""
    any_null = F.lit(False)
    for key in keys:
        any_null = any_null | F.col(key).isNull()
    bad_op = ~F.coalesce(F.col(OP_COLUMN).isin("I", "U", "D"), F.lit(False))
    counts = changes.agg(F.sum(bad_op.cast("int")).alias("ops"), F.sum(any_null.cast("int")).alias("keys")).first()
    if counts["ops"]:
        example = changes.where(bad_op).first()
        raise ChangeFileError(f"{counts['ops']} change row(s) with an unknown Op, e.g. Op {example[OP_COLUMN]!r}: "
                              "only I, U and D are known")
    if counts["keys"]:
        # the example names the header and key columns only: other columns may hold personal data
        example = changes.where(any_null).select(*HEADER_COLUMNS, *keys).first()
        raise ChangeFileError(f"{counts['keys']} change row(s) with a null key column ({', '.join(keys)}), e.g. "
                              f"{example.asDict()}")


def new_changes(changes: DataFrame, watermark: str | None) -> DataFrame:
    """The ordered change rows after `watermark` (all of them, full load included, when None)."""
    ordered = with_order(changes)
    return ordered if watermark is None else ordered.where(F.col(ORDER) > F.lit(watermark))


def watermark_after(changes: DataFrame, previous: str | None) -> str | None:
    """The watermark once `changes` (from `new_changes`) are merged."""
    top = changes.agg(F.max(ORDER)).first()[0]
    return top if top is not None and (previous is None or top > previous) else previous


NEXT_TS, NEXT_ORDER = "_next_ts", "_next_order"


def annotate(changes: DataFrame, keys: Sequence[str]) -> DataFrame:
    """Add, per key in commit order, the next change's commit timestamp and order (null for the key's last change):
    one window pass that both the latest state and the history read (cache the result when using both)."""
    if NEXT_TS in changes.columns:
        return changes
    by_key = Window.partitionBy(*keys).orderBy(ORDER)
    return (changes.withColumn(NEXT_TS, F.lead(COMMIT_TS_COLUMN).over(by_key))
            .withColumn(NEXT_ORDER, F.lead(ORDER).over(by_key)))


def _table_columns(changes: DataFrame) -> list[str]:
    return [c for c in source_columns(changes) if c not in (ORDER, NEXT_TS, NEXT_ORDER)]


def latest_state(state: DataFrame | None, changes: DataFrame, keys: Sequence[str]) -> DataFrame:
    """The table after applying `changes` (ordered, from `new_changes`) to `state` (None: empty)."""
    annotated = annotate(changes, keys)
    columns = _table_columns(annotated)
    last = annotated.where(F.col(NEXT_ORDER).isNull())
    upserts = last.where(F.col(OP_COLUMN) != "D").select(
        *columns, F.col(COMMIT_TS_COLUMN).alias(COMMIT_TS), F.col(ORDER).alias(CHANGE_SEQ))
    if state is None:
        return upserts
    untouched = state.join(last.select(*keys), on=list(keys), how="left_anti")
    return untouched.unionByName(upserts)


def history(previous: DataFrame | None, changes: DataFrame, keys: Sequence[str]) -> DataFrame:
    """The type-2 history after `changes` (ordered, from `new_changes`): `previous` with the current versions of
    changed keys closed at their first new commit, plus one version per key and commit.

    Commit timestamps never decrease along a key's changes, so a change followed by one of the same commit is
    superseded within its transaction, and a kept change's version ends at the next change's commit."""
    annotated = annotate(changes, keys)
    columns = _table_columns(annotated)
    kept = annotated.where(F.col(NEXT_TS).isNull() | (F.col(NEXT_TS) != F.col(COMMIT_TS_COLUMN)))
    versions = kept.where(F.col(OP_COLUMN) != "D").select(
        *columns,
        F.col(COMMIT_TS_COLUMN).alias(VALID_FROM),
        F.col(NEXT_TS).alias(VALID_TO),
        F.col(NEXT_TS).isNull().alias(IS_CURRENT),
        F.col(ORDER).alias(CHANGE_SEQ),
    )
    if previous is None:
        return versions
    first_new = annotated.groupBy(*keys).agg(F.min(COMMIT_TS_COLUMN).alias("_first_ts"))
    joined = previous.join(first_new, on=list(keys), how="left")
    closing = F.col(IS_CURRENT) & F.col("_first_ts").isNotNull()
    unchanged = joined.select(
        *[c for c in previous.columns if c not in (VALID_TO, IS_CURRENT)],
        F.when(closing, F.col("_first_ts")).otherwise(F.col(VALID_TO)).alias(VALID_TO),
        F.when(closing, F.lit(False)).otherwise(F.col(IS_CURRENT)).alias(IS_CURRENT),
    )
    return unchanged.unionByName(versions)


def _hmac_sha256_hex(message: Column, key: bytes) -> Column:
    """HMAC-SHA256 (RFC 2104) of a binary column as lowercase hex, in Spark SQL (no Python workers): the same
    digest as `hmac.digest(key, message, "sha256").hex()`."""
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner_pad, outer_pad = bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)
    inner = F.unhex(F.sha2(F.concat(F.lit(inner_pad), message), 256))
    return F.sha2(F.concat(F.lit(outer_pad), inner), 256)


def pseudonym_column(column: str, kind: str, key: bytes) -> Column:
    """Spark's equal of `Pseudonymizer(key).of_kind(kind, v)` (same normalization, same digest)."""
    value = F.col(column)
    normalization = PSEUDONYM_KINDS.get(kind)
    if normalization == "trim_lower":
        normalized = F.lower(F.regexp_replace(value, r"^\s+|\s+$", ""))
    elif normalization == "digits":
        normalized = F.regexp_replace(value, "[^0-9]", "")
    else:
        raise ValueError(f"no pseudonym kind {kind!r}; known: {', '.join(PSEUDONYM_KINDS)}")
    message = F.concat(F.lit(f"{kind}:".encode()), F.encode(normalized, "UTF-8"))
    return F.when(value.isNull(), F.lit(None).cast("string")).otherwise(_hmac_sha256_hex(message, key))


def protect_personal_data(changes: DataFrame, table: SourceTable, key: bytes) -> DataFrame:
    """Replace the personal columns `table` declares by their keyed pseudonyms (nulls stay null). A declared
    personal column missing from the change rows is an error: it may arrive under another name in clear text."""
    if len(key) < 16:
        raise ValueError("the pseudonymization key must be at least 16 bytes; rotate the secret to a longer one")
    missing = [c for c in table.personal_columns if c not in changes.columns]
    if missing:
        raise ChangeFileError(f"{table.name}: the change rows lack the personal column(s) {', '.join(missing)}; "
                              "declare renamed columns in retail_lake/sources/operational_db/tables.py")
    return changes.withColumns({column: pseudonym_column(column, kind, key)
                                for column, kind in table.personal_columns.items()})


class TableSchemaError(ValueError):
    """Merged rows whose columns are not the ones the table declares."""


def output_columns(table: SourceTable, history: bool = False) -> list[tuple[str, str]]:
    """(name, lake type) of what the merge writes for `table`: its latest state, or its type-2 history."""
    return [(name, lake_type) for name, lake_type, _ in _declared_columns(table, history)]


def conform(frame: DataFrame, table: SourceTable, history: bool = False) -> DataFrame:
    """`frame` with exactly the declared columns, in order and declared types (what the catalog tables say); a
    missing or an undeclared column is an error naming both, never dropped or filled silently."""
    declared = output_columns(table, history)
    missing, extra = column_mismatch(frame.columns, [n for n, _ in declared])
    if missing or extra:
        raise TableSchemaError(
            f"{table.name}{'_history' if history else ''}: the merged rows do not match the table's declaration in "
            f"retail_lake/sources/operational_db/tables.py (missing: {', '.join(missing) or 'none'}; undeclared: "
            f"{', '.join(extra) or 'none'}); change the declaration (and schema.sql) with the database")
    return frame.select([F.col(n).cast(t).alias(n) for n, t in declared])
