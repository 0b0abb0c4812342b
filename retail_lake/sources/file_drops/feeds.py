"""The file-drop feeds and their columns, written once: the parser, the Parquet schema and the docs derive from
these definitions."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

import pyarrow as pa

LANDING_PREFIX = "landing/"
CURRENCIES = ("USD", "EUR", "GBP", "CAD")
_PRODUCT_ID = re.compile(r"^SKU-\d{6}$")
_SUPPLIER_ID = re.compile(r"^SUP-\d{4}$")


class FieldError(ValueError):
    """A value a column does not accept; the message is the quarantine detail."""


def _text(pattern: re.Pattern[str] | None = None, max_length: int = 200) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = value.strip()
        if not value:
            raise FieldError("is empty")
        if len(value) > max_length:
            raise FieldError(f"is longer than {max_length} characters")
        if pattern is not None and not pattern.match(value):
            raise FieldError(f"{value!r} does not match {pattern.pattern}")
        return value
    return parse


def _money(value: str) -> Decimal:
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise FieldError(f"{value!r} is not a number") from None
    if not amount.is_finite() or amount < 0 or amount > Decimal("1000000"):
        raise FieldError(f"{value!r} is not an amount between 0 and 1,000,000")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise FieldError(f"{value!r} has more than 2 decimal places")
    return amount.quantize(Decimal("0.01"))


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise FieldError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value.strip() not in options:
            raise FieldError(f"{value!r} is not one of {', '.join(options)}")
        return value.strip()
    return parse


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise FieldError(f"{value!r} is not true or false")
    return lowered == "true"


@dataclass(frozen=True)
class Column:
    name: str
    arrow_type: pa.DataType
    parse: Callable[[str], Any]


@dataclass(frozen=True)
class Feed:
    name: str
    columns: tuple[Column, ...]
    keys: tuple[str, ...]  # a key seen twice in one file: the later rows are quarantined as duplicates

    @property
    def header(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([(c.name, c.arrow_type) for c in self.columns]
                         + [("source_file", pa.string()), ("source_line", pa.int32())])


FEEDS: dict[str, Feed] = {feed.name: feed for feed in (
    Feed("supplier_price_lists", (
        Column("supplier_id", pa.string(), _text(_SUPPLIER_ID)),
        Column("product_id", pa.string(), _text(_PRODUCT_ID)),
        Column("unit_cost", pa.decimal128(10, 2), _money),
        Column("currency", pa.string(), _choice(CURRENCIES)),
        Column("valid_from", pa.date32(), _date),
    ), keys=("supplier_id", "product_id", "valid_from")),
    Feed("product_catalog_updates", (
        Column("product_id", pa.string(), _text(_PRODUCT_ID)),
        Column("name", pa.string(), _text()),
        Column("category", pa.string(), _text(max_length=50)),
        Column("brand", pa.string(), _text(max_length=50)),
        Column("list_price", pa.decimal128(10, 2), _money),
        Column("active", pa.bool_(), _boolean),
    ), keys=("product_id",)),
)}


def feed_of_key(key: str) -> Feed | None:
    """`landing/<feed>/<file>.csv` -> the feed, or None for a key outside a known feed."""
    if not key.startswith(LANDING_PREFIX):
        return None
    parts = key[len(LANDING_PREFIX):].split("/")
    return FEEDS.get(parts[0]) if len(parts) >= 2 and parts[-1] else None
