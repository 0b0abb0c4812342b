"""Validated events (msgspec Structs) to Arrow arrays, column by column, as the contract describes them.

Values are pulled out with `operator.attrgetter` and transposed with `zip` (both in C), and each column
is converted by Arrow in one call, so the per-event Python work is a single tuple build.
"""

from __future__ import annotations

import functools
import itertools
import operator
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from retail_lake.contracts.fields import MONEY_PRECISION, MONEY_SCALE, Field, LogicalType

_MONEY = pa.decimal128(MONEY_PRECISION, MONEY_SCALE)
_TIMESTAMP = pa.timestamp("us", tz="UTC")


def sub_cent(amounts: pa.Array) -> np.ndarray:
    """Which amounts have a fraction of a cent (19.999): they would be rounded, so they are refused.
    The tolerance covers binary floating point only (19.99 * 100 is 1998.9999999999998)."""
    cents = amounts.to_numpy(zero_copy_only=False) * 100.0
    with np.errstate(invalid="ignore"):
        return np.abs(cents - np.round(cents)) > 1e-6 + np.abs(cents) * 1e-13


def _array(field: Field, values: Sequence[Any], path: tuple[str, ...], checks: dict | None) -> pa.Array:
    kind = field.type
    if kind is LogicalType.STRING:
        return pa.array(values, pa.string())
    if kind is LogicalType.INT:
        return pa.array(values, pa.int64())
    if kind is LogicalType.MONEY:
        amounts = pa.array(values, pa.float64())
        if checks is not None:
            checks[path] = sub_cent(amounts)
        # Arrow rounds each float to the nearest cent (19.99 stays 19.99, 0.1 + 0.2 becomes 0.30).
        return amounts.cast(_MONEY)
    if kind is LogicalType.TIMESTAMP:
        return pa.array(values, _TIMESTAMP)
    if kind is LogicalType.STRUCT_LIST:
        return _list_of_structs(field, values, path, checks)
    raise TypeError(f"no Arrow conversion for {kind}")


@functools.cache
def _getter(names: tuple[str, ...]):
    if len(names) == 1:
        single = operator.attrgetter(names[0])
        return lambda obj: (single(obj),)
    return operator.attrgetter(*names)


def _columns(fields: Sequence[Field], objects: Sequence[Any], prefix: tuple[str, ...], checks) -> list[pa.Array]:
    names = tuple(f.name for f in fields)
    if not objects:
        return [_array(f, [], (*prefix, f.name), checks) for f in fields]
    transposed = zip(*map(_getter(names), objects))
    return [_array(f, values, (*prefix, f.name), checks) for f, values in zip(fields, transposed)]


def _list_of_structs(field: Field, lists: Sequence[Any], path: tuple[str, ...], checks) -> pa.Array:
    lengths = [0 if items is None else len(items) for items in lists]
    offsets = pa.array([0, *itertools.accumulate(lengths)], pa.int32())
    items = [item for group in lists if group is not None for item in group]
    children = _columns(field.children, items, path, checks)
    structs = pa.StructArray.from_arrays(children, names=[c.name for c in field.children])
    mask = pa.array([group is None for group in lists]) if any(group is None for group in lists) else None
    return pa.ListArray.from_arrays(offsets, structs, mask=mask)


def event_columns(
    fields: Sequence[Field], events: Sequence[Any], sub_cent_amounts: dict | None = None
) -> dict[str, pa.Array]:
    """Arrow arrays of the given (top-level) fields of the events, by field name. With a dict for
    `sub_cent_amounts`, it receives, per money field path ((field,) or (list field, child)), a boolean
    array of the values with a fraction of a cent (per row, or per list item for nested fields)."""
    return dict(zip((f.name for f in fields), _columns(fields, events, (), sub_cent_amounts)))
