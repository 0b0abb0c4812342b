"""One dataset's rows of a batch as an Arrow table in the raw schema, with the column-wise checks.

The checks run on whole columns (RE2 inside Arrow, no Python per event) instead of event by event:
- string patterns of the contract (`pattern_rules`): rows that break one leave the table and go to
  quarantine with the rule's message;
- card numbers where they do not belong: one regular expression per string column flags the values that
  may hold one; only those are checked (Luhn) and masked. Free-text fields (search queries, URLs) get
  the loose rule (card numbers in any shape, glued to words, URL-encoded) and their emails and phone
  numbers are pseudonymized; identifiers get the strict rule (a card number standing alone), so that
  UUIDs and transaction ids are never mangled.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_lake.contracts.derive import arrow_schema, card_columns, hashed_column, pattern_rules
from retail_lake.contracts.fields import Contract, Field, LogicalType, Privacy
from retail_lake.ingestion.columnar import event_columns
from retail_lake.privacy.cards import LOOSE_RUN_RE2, mask_card_numbers_in_free_text, mask_pans
from retail_lake.privacy.pseudonymize import Pseudonymizer

_TIMESTAMP = pa.timestamp("us", tz="UTC")

# RE2 (no look-around, no back-references) form of `retail_lake.privacy.cards`' card-like candidate: it
# flags a superset of what that pattern finds, and the flagged values get the exact check in Python.
_EDGE_START, _EDGE_END = r"(?:^|[^\w-])", r"(?:$|[^\w-])"
CARD_LIKE_RE2 = (
    _EDGE_START
    + r"(?:\d{13,19}"
    + r"|\d{4} \d{4} \d{4} \d{4}(?: \d{3})?|\d{4}-\d{4}-\d{4}-\d{4}(?:-\d{3})?"
    + r"|\d{4} \d{6} \d{4,5}|\d{4}-\d{6}-\d{4,5})"
    + _EDGE_END
)


# Free text that may hold an email address or a phone number (9+ digits with separators).
PERSONAL_DATA_RE2 = r"@|\d[\d ().-]{7,}\d"


@dataclass
class RawTable:
    table: pa.Table  # rows that passed every check, in the raw schema
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (row index, message)
    card_numbers_masked: int = 0
    pseudonymized: int = 0


@functools.cache
def stored_fields(contract: Contract) -> tuple[tuple[Field, ...], dict[str, str]]:
    """Contract fields stored from the event itself, and the stored-column -> field-name renames."""
    fields, renames = [], {}
    for f in contract.fields:
        if f.privacy is Privacy.CARD_NUMBER:
            continue  # stored as brand + last four digits, computed by the transform
        stored = hashed_column(f) if f.privacy in (Privacy.EMAIL, Privacy.PHONE) else f.name
        renames[stored] = f.name
        fields.append(f)
    return tuple(fields), renames


@functools.cache
def _unconstrained_strings(contract: Contract) -> tuple[tuple[tuple[str, ...], bool], ...]:
    """(path, is free text) of the string fields a card number could hide in: no pattern, no enumeration,
    no privacy class (those are already constrained or replaced)."""

    def open_string(f: Field) -> bool:
        return f.type is LogicalType.STRING and not f.pattern and not f.allowed and f.privacy is Privacy.NONE

    paths: list[tuple[tuple[str, ...], bool]] = []
    for f in contract.fields:
        if open_string(f):
            paths.append(((f.name,), f.free_text))
        paths.extend(((f.name, child.name), child.free_text) for child in f.children if open_string(child))
    return tuple(paths)


def _nested(list_column: pa.Array, child: str) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """A list-of-struct column's child values, the row each value belongs to, and its index in the list."""
    parents = pc.list_parent_indices(list_column).to_numpy(zero_copy_only=False)
    values = pc.list_flatten(list_column).field(child)
    offsets = list_column.offsets.to_numpy(zero_copy_only=False)
    positions = np.arange(len(parents)) - offsets[parents] if len(parents) else np.zeros(0, dtype=np.int64)
    return values, parents, positions


def _failing_rows(
    contract: Contract, columns: dict[str, pa.Array], sub_cent_amounts: dict[tuple[str, ...], np.ndarray]
) -> dict[int, str]:
    failures: dict[int, str] = {}
    for path, bad in sub_cent_amounts.items():
        if not bad.any():
            continue
        message = "Expected an amount in whole cents (at most 2 decimals)"
        if len(path) == 1:
            for row in np.flatnonzero(bad):
                failures.setdefault(int(row), f"{message} - at `$.{path[0]}`")
        else:
            _, parents, positions = _nested(columns[path[0]], path[1])
            for item in np.flatnonzero(bad):
                location = f"$.{path[0]}[{int(positions[item])}].{path[1]}"
                failures.setdefault(int(parents[item]), f"{message} - at `{location}`")
    for rule in pattern_rules(contract):
        if len(rule.path) == 1:
            values = columns[rule.path[0]]
            ok = pc.match_substring_regex(values, rule.pattern)
            bad = np.flatnonzero(~ok.fill_null(True).to_numpy(zero_copy_only=False))
            for row in bad:
                failures.setdefault(int(row), rule.message())
        else:
            values, parents, positions = _nested(columns[rule.path[0]], rule.path[1])
            ok = pc.match_substring_regex(values, rule.pattern)
            for item in np.flatnonzero(~ok.fill_null(True).to_numpy(zero_copy_only=False)):
                location = f"$.{rule.path[0]}[{int(positions[item])}].{rule.path[1]}"
                failures.setdefault(int(parents[item]), rule.message(location))
    return failures


def _protect_strings(
    contract: Contract, columns: dict[str, pa.Array], events: list[Any], pseudonymizer: Pseudonymizer
) -> tuple[int, int, set[str]]:
    """Mask card numbers (and, in free text, pseudonymize emails and phone numbers) in the events' open
    string fields. Returns cards masked, values pseudonymized and the top-level fields changed."""
    masked_total = pseudonymized = 0
    changed: set[str] = set()

    def protect(text: str, free_text: bool) -> tuple[str, int, int]:
        if free_text:
            text, cards = mask_card_numbers_in_free_text(text)
            scrubbed = pseudonymizer.scrub_text(text)
            return scrubbed, cards, int(scrubbed != text)
        text, cards = mask_pans(text)
        return text, cards, 0

    for path, free_text in _unconstrained_strings(contract):
        pattern = f"{LOOSE_RUN_RE2}|{PERSONAL_DATA_RE2}" if free_text else CARD_LIKE_RE2
        if len(path) == 1:
            values = columns[path[0]]
        else:
            values, parents, positions = _nested(columns[path[0]], path[1])
        flagged = pc.match_substring_regex(values, pattern).fill_null(False)
        for index in np.flatnonzero(flagged.to_numpy(zero_copy_only=False)):
            if len(path) == 1:
                holder, name = events[index], path[0]
            else:
                holder, name = getattr(events[parents[index]], path[0])[positions[index]], path[1]
            text, cards, personal = protect(getattr(holder, name), free_text)
            if cards or personal:
                setattr(holder, name, text)
                masked_total += cards
                pseudonymized += personal
                changed.add(path[0])
    return masked_total, pseudonymized, changed


def build_raw_table(rows, *, shard_id: str, ingest_time: dt.datetime, pseudonymizer: Pseudonymizer) -> RawTable:
    """`rows` is a `DatasetRows`: validated events plus their privacy and ingestion metadata."""
    contract: Contract = rows.contract
    target = arrow_schema(contract)
    fields, renames = stored_fields(contract)
    sub_cent_amounts: dict[tuple[str, ...], np.ndarray] = {}
    columns = event_columns(fields, rows.events, sub_cent_amounts)
    failures = _failing_rows(contract, columns, sub_cent_amounts)
    masked, pseudonymized, changed = _protect_strings(contract, columns, rows.events, pseudonymizer)
    if changed:
        columns.update(event_columns(tuple(f for f in fields if f.name in changed), rows.events))
    n = len(rows.events)
    extra = {
        "ingest_time": pa.array(np.full(n, int(ingest_time.timestamp() * 1_000_000), dtype="datetime64[us]"),
                                type=_TIMESTAMP),
        "ingest_arrival_time": pa.array(
            (np.asarray(rows.arrival_times, dtype=np.float64) * 1_000_000).astype("datetime64[us]"), type=_TIMESTAMP
        ),
        "ingest_shard_id": pa.array([shard_id] * n, type=pa.string()),
        "ingest_sequence_number": pa.array(rows.sequence_numbers, type=pa.string()),
        "ingest_subsequence_number": pa.array(rows.subsequence_numbers, type=pa.int64()),
    }
    card_fields = contract.fields_with_privacy(Privacy.CARD_NUMBER)
    if card_fields:
        brand_column, last4_column = card_columns(card_fields[0])
        extra[brand_column] = pa.array(rows.card_brand, type=pa.string())
        extra[last4_column] = pa.array(rows.card_last4, type=pa.string())
    arrays = [extra[f.name] if f.name in extra else columns[renames[f.name]] for f in target]
    table = pa.Table.from_arrays(arrays, schema=target)
    if failures:
        keep = np.ones(n, dtype=bool)
        keep[list(failures)] = False
        table = table.filter(pa.array(keep))
    return RawTable(table, sorted(failures.items()), masked, pseudonymized)
