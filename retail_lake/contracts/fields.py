"""The vocabulary contracts are written in: a field, its logical type and its privacy class.

A contract is a list of `Field`s. Everything downstream (the msgspec validator the stream Lambda runs,
the Arrow/Parquet schema of the raw zone, the Spark schema of the Glue and EMR jobs, the Glue table
columns CDK declares) is derived from these declarations in `retail_lake.contracts.derive`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Sequence


class LogicalType(enum.Enum):
    STRING = "string"
    INT = "int"  # 64-bit integer
    MONEY = "money"  # decimal(12,2): exact to the cent
    TIMESTAMP = "timestamp"  # ISO 8601 with an offset, stored as UTC microseconds
    STRUCT_LIST = "struct_list"  # list of structs (line items)


MONEY_PRECISION = 12
MONEY_SCALE = 2


class Privacy(enum.Enum):
    """How a field's value is protected before it reaches any bucket."""

    NONE = "none"
    # A payment card number (PAN). Never stored: replaced by `<prefix>_brand` and `<prefix>_last4`.
    CARD_NUMBER = "card_number"
    # Personal data pseudonymized with a keyed hash: stored as `<name>_hash`.
    EMAIL = "email"
    PHONE = "phone"


@dataclass(frozen=True)
class Field:
    name: str
    type: LogicalType
    required: bool = True
    description: str = ""
    allowed: tuple[str, ...] | None = None  # enumerated string values
    min_value: int | float | None = None
    max_value: int | float | None = None
    pattern: str | None = None  # regular expression a string must match
    min_length: int | None = None
    max_length: int | None = None
    nonzero: bool = False  # integers that may be negative but never zero (inventory delta)
    privacy: Privacy = Privacy.NONE
    # Typed by people (search boxes, URLs): card numbers and personal data may turn up in any shape and
    # are masked/pseudonymized inside the text before it is stored.
    free_text: bool = False
    children: tuple["Field", ...] = ()  # the struct of a STRUCT_LIST
    min_items: int | None = None

    def __post_init__(self) -> None:
        if self.type is LogicalType.STRUCT_LIST and not self.children:
            raise ValueError(f"field {self.name!r}: a struct_list needs children")
        if self.allowed is not None and self.type is not LogicalType.STRING:
            raise ValueError(f"field {self.name!r}: allowed values apply to strings only")


@dataclass(frozen=True)
class Contract:
    """One versioned event contract.

    `record_type` is the value of the envelope's `record_type` field that routes an event to this
    contract; `dataset` names the lake table the events land in.
    """

    record_type: str
    version: int
    dataset: str
    description: str
    fields: tuple[Field, ...]
    event_id_field: str = "event_id"
    event_time_field: str = "event_time"
    partition_key_fields: tuple[str, ...] = ("store_id",)
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"contract {self.record_type} v{self.version} has no field {name!r}")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def fields_with_privacy(self, *kinds: Privacy) -> Sequence[Field]:
        return [f for f in self.fields if f.privacy in kinds]
