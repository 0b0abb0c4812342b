"""Pydantic models for the naive baseline, built from the same contracts (same checks, per event)."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import pydantic

from retail_lake.contracts import LATEST_BY_RECORD_TYPE
from retail_lake.contracts.fields import Field, LogicalType


def _annotation(field: Field, name: str):
    constraints = {}
    if field.type is LogicalType.STRING:
        base = Literal[field.allowed] if field.allowed else str  # type: ignore[valid-type]
        if field.pattern:
            constraints["pattern"] = field.pattern
    elif field.type is LogicalType.INT:
        base = pydantic.StrictInt
    elif field.type is LogicalType.MONEY:
        base = float
    elif field.type is LogicalType.TIMESTAMP:
        base = pydantic.AwareDatetime
    else:
        child = _model(field.children, f"{name}_{field.name}", None)
        base = list[child]  # type: ignore[valid-type]
    if field.min_value is not None:
        constraints["ge"] = field.min_value
    if field.max_value is not None:
        constraints["le"] = field.max_value
    annotated = Annotated[base, pydantic.Field(**constraints)] if constraints else base
    return (annotated, ...) if field.required else (Optional[annotated], None)


def _model(fields, name: str, record_type: str | None):
    definitions = {f.name: _annotation(f, name) for f in fields}
    if record_type is not None:
        definitions["record_type"] = (Literal[record_type], ...)  # type: ignore[valid-type]
    return pydantic.create_model(name, __config__=pydantic.ConfigDict(extra="forbid"), **definitions)


MODELS = {rt: _model(c.fields, f"Naive_{rt}", rt) for rt, c in LATEST_BY_RECORD_TYPE.items()}
