"""Everything derived from a contract: validator, stored columns, Arrow, Spark and Glue schemas.

The stored (raw zone) shape differs from the wire shape only where privacy demands it:
- a CARD_NUMBER field `card_number` is stored as `card_brand` and `card_last4`, never as itself;
- EMAIL and PHONE fields are stored as `<name>_hash` (keyed hash, see `retail_lake.privacy`);
and every stored row gains the ingestion metadata columns in `INGEST_COLUMNS`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional

import msgspec
import pyarrow as pa

from retail_lake.contracts.envelope import RECORD_TYPE_FIELD
from retail_lake.contracts.fields import MONEY_PRECISION, MONEY_SCALE, Contract, Field, LogicalType, Privacy
from retail_lake.contracts.registry import CONTRACTS, LATEST_BY_RECORD_TYPE


@dataclass(frozen=True)
class Column:
    """A stored column: name, logical type, nullability and, for lists of structs, the struct's columns."""

    name: str
    type: LogicalType
    nullable: bool
    children: tuple["Column", ...] = ()
    description: str = ""


# Ingestion metadata the stream Lambda adds to every row it writes to the raw zone.
INGEST_COLUMNS: tuple[Column, ...] = (
    Column("ingest_time", LogicalType.TIMESTAMP, False, description="when the Lambda processed the event"),
    Column("ingest_arrival_time", LogicalType.TIMESTAMP, False, description="Kinesis approximate arrival"),
    Column("ingest_shard_id", LogicalType.STRING, False, description="Kinesis shard"),
    Column("ingest_sequence_number", LogicalType.STRING, False, description="Kinesis record sequence number"),
    Column("ingest_subsequence_number", LogicalType.INT, False, description="position in the aggregated record"),
)

# Hive-style partition columns of the raw zone (ingestion date and hour, UTC).
RAW_PARTITION_COLUMNS: tuple[Column, ...] = (
    Column("dt", LogicalType.STRING, False, description="ingestion date, YYYY-MM-DD (UTC)"),
    Column("hour", LogicalType.STRING, False, description="ingestion hour, HH (UTC)"),
)


def card_columns(field: Field) -> tuple[str, str]:
    prefix = field.name.removesuffix("_number")
    return f"{prefix}_brand", f"{prefix}_last4"


def hashed_column(field: Field) -> str:
    return f"{field.name}_hash"


def _stored_for_field(field: Field) -> tuple[Column, ...]:
    if field.privacy is Privacy.CARD_NUMBER:
        brand, last4 = card_columns(field)
        return (
            Column(brand, LogicalType.STRING, True, description="card brand derived from the card number"),
            Column(last4, LogicalType.STRING, True, description="last four digits of the card number"),
        )
    if field.privacy in (Privacy.EMAIL, Privacy.PHONE):
        return (Column(hashed_column(field), LogicalType.STRING, True, description=f"keyed hash of {field.name}"),)
    children = tuple(c for child in field.children for c in _stored_for_field(child))
    return (Column(field.name, field.type, not field.required, children, field.description),)


@functools.cache
def stored_columns(contract: Contract) -> tuple[Column, ...]:
    """Columns of the dataset's raw table, in order, without the partition columns."""
    columns = tuple(c for f in contract.fields for c in _stored_for_field(f))
    return columns + INGEST_COLUMNS


# ---------------------------------------------------------------------------------------------- Arrow


def _arrow_type(column: Column) -> pa.DataType:
    if column.type is LogicalType.STRING:
        return pa.string()
    if column.type is LogicalType.INT:
        return pa.int64()
    if column.type is LogicalType.MONEY:
        return pa.decimal128(MONEY_PRECISION, MONEY_SCALE)
    if column.type is LogicalType.TIMESTAMP:
        return pa.timestamp("us", tz="UTC")
    if column.type is LogicalType.STRUCT_LIST:
        return pa.list_(pa.struct([_arrow_field(c) for c in column.children]))
    raise TypeError(f"no Arrow type for {column.type}")


def _arrow_field(column: Column) -> pa.Field:
    return pa.field(column.name, _arrow_type(column), nullable=column.nullable)


@functools.cache
def arrow_schema(contract: Contract) -> pa.Schema:
    """Arrow/Parquet schema of the dataset's raw files."""
    return pa.schema(
        [_arrow_field(c) for c in stored_columns(contract)],
        metadata={
            b"retail_lake.record_type": contract.record_type.encode(),
            b"retail_lake.schema_version": str(contract.version).encode(),
        },
    )


# ---------------------------------------------------------------------------------------------- Glue / Hive


def _hive_type(column: Column) -> str:
    if column.type is LogicalType.STRING:
        return "string"
    if column.type is LogicalType.INT:
        return "bigint"
    if column.type is LogicalType.MONEY:
        return f"decimal({MONEY_PRECISION},{MONEY_SCALE})"
    if column.type is LogicalType.TIMESTAMP:
        return "timestamp"
    if column.type is LogicalType.STRUCT_LIST:
        inner = ",".join(f"{c.name}:{_hive_type(c)}" for c in column.children)
        return f"array<struct<{inner}>>"
    raise TypeError(f"no Hive type for {column.type}")


def glue_columns(contract: Contract) -> list[dict[str, str]]:
    """Columns for a Glue table (`AWS::Glue::Table` StorageDescriptor.Columns), without partition keys."""
    return [
        {"name": c.name, "type": _hive_type(c), "comment": c.description[:255]} for c in stored_columns(contract)
    ]


def glue_partition_keys() -> list[dict[str, str]]:
    return [{"name": c.name, "type": _hive_type(c), "comment": c.description} for c in RAW_PARTITION_COLUMNS]


# ---------------------------------------------------------------------------------------------- Spark


def spark_ddl(contract: Contract) -> str:
    """The raw table's schema as a Spark DDL string (`StructType.fromDDL` accepts it)."""
    return ", ".join(f"`{c.name}` {_spark_type_ddl(c)}" for c in stored_columns(contract))


def _spark_type_ddl(column: Column) -> str:
    if column.type is LogicalType.STRUCT_LIST:
        inner = ", ".join(f"`{c.name}`: {_spark_type_ddl(c)}" for c in column.children)
        return f"ARRAY<STRUCT<{inner}>>"
    return _hive_type(column).upper()


def spark_schema(contract: Contract):
    """The raw table's schema as a pyspark `StructType` (pyspark is imported only when this is called)."""
    from pyspark.sql import types as st

    def spark_type(column: Column):
        if column.type is LogicalType.STRING:
            return st.StringType()
        if column.type is LogicalType.INT:
            return st.LongType()
        if column.type is LogicalType.MONEY:
            return st.DecimalType(MONEY_PRECISION, MONEY_SCALE)
        if column.type is LogicalType.TIMESTAMP:
            return st.TimestampType()
        if column.type is LogicalType.STRUCT_LIST:
            return st.ArrayType(
                st.StructType([st.StructField(c.name, spark_type(c), c.nullable) for c in column.children]), False
            )
        raise TypeError(f"no Spark type for {column.type}")

    return st.StructType([st.StructField(c.name, spark_type(c), c.nullable) for c in stored_columns(contract)])


# ---------------------------------------------------------------------------------------------- validator


class NonZeroError(ValueError):
    pass


MONEY_MAX = float(10 ** (MONEY_PRECISION - MONEY_SCALE)) - 10.0 ** -MONEY_SCALE


def _annotated(field: Field, struct_namespace: str) -> Any:
    constraints: dict[str, Any] = {}
    if field.type is LogicalType.STRING:
        if field.allowed is not None:
            base: Any = Literal[field.allowed]  # type: ignore[valid-type]
        else:
            base = str
            # Patterns are not checked here but column-wise on whole batches (see `pattern_rules`):
            # per event they would cost as much as the rest of the validation together.
            if field.min_length is not None:
                constraints["min_length"] = field.min_length
            if field.max_length is not None:
                constraints["max_length"] = field.max_length
    elif field.type is LogicalType.INT:
        base = int
    elif field.type is LogicalType.MONEY:
        base = float
        constraints["le"] = MONEY_MAX  # what decimal(12,2) holds; a field's own max_value may be lower
    elif field.type is LogicalType.TIMESTAMP:
        base = dt.datetime
        constraints["tz"] = True
    elif field.type is LogicalType.STRUCT_LIST:
        child = _struct_for(field.children, f"{struct_namespace}_{field.name}", tag=None)
        base = list[child]  # type: ignore[valid-type]
        if field.min_items is not None:
            constraints["min_length"] = field.min_items
    else:  # pragma: no cover - the enum is closed
        raise TypeError(field.type)
    if field.min_value is not None:
        constraints["ge"] = field.min_value
    if field.max_value is not None:
        constraints["le"] = field.max_value
    annotated = Annotated[base, msgspec.Meta(**constraints)] if constraints else base
    return annotated if field.required else Optional[annotated]


def _struct_for(fields: tuple[Field, ...], name: str, tag: str | None, version: int | None = None):
    definitions: list[tuple] = []
    nonzero = [f.name for f in fields if f.nonzero]
    for f in fields:
        if version is not None and f.name == "schema_version":
            definitions.append((f.name, Literal[version]))  # type: ignore[valid-type]
            continue
        annotated = _annotated(f, name)
        definitions.append((f.name, annotated) if f.required else (f.name, annotated, None))
    # msgspec wants fields without defaults first
    definitions.sort(key=lambda d: len(d) == 3)
    namespace: dict[str, Any] = {}
    if nonzero:

        def __post_init__(self, _names=tuple(nonzero)):  # noqa: N807 - msgspec hook name
            for attr in _names:
                if getattr(self, attr) == 0:
                    raise NonZeroError(f"Expected `{attr}` to be non-zero")

        namespace["__post_init__"] = __post_init__
    return msgspec.defstruct(
        name,
        definitions,
        namespace=namespace,
        tag_field=RECORD_TYPE_FIELD if tag is not None else None,
        tag=tag,
        forbid_unknown_fields=True,
        gc=False,  # plain data, no reference cycles: not tracked by the cyclic collector (faster batches)
    )


@functools.cache
def event_struct(contract: Contract) -> type:
    """The msgspec Struct an incoming event of this contract decodes into (unknown fields are errors)."""
    return _struct_for(
        contract.fields, f"{contract.record_type.title().replace('_', '')}V{contract.version}",
        tag=contract.record_type, version=contract.version,
    )


@functools.cache
def event_decoder() -> msgspec.json.Decoder:
    """One decoder for every record type: routes on `record_type` and validates the event's structure
    (types, required and unknown fields, enumerations, ranges, lengths) in C. String patterns are the
    other half of the validation: `pattern_rules` (column-wise, for batches) or `validate_event` (one
    event at a time)."""
    structs = tuple(event_struct(c) for c in LATEST_BY_RECORD_TYPE.values())
    union = structs[0] if len(structs) == 1 else functools.reduce(lambda a, b: a | b, structs)
    return msgspec.json.Decoder(union)


def contract_of(event: msgspec.Struct) -> Contract:
    return _CONTRACT_BY_STRUCT[type(event)]


_CONTRACT_BY_STRUCT: dict[type, Contract] = {}
for _contract in CONTRACTS:
    if LATEST_BY_RECORD_TYPE[_contract.record_type] is _contract:
        _CONTRACT_BY_STRUCT[event_struct(_contract)] = _contract


# ---------------------------------------------------------------------------------------------- patterns


@dataclass(frozen=True)
class PatternRule:
    """A string field that must match a pattern; `path` is (top-level field,) or (list field, child)."""

    path: tuple[str, ...]
    pattern: str
    required: bool

    @property
    def location(self) -> str:
        if len(self.path) == 1:
            return f"$.{self.path[0]}"
        return f"$.{self.path[0]}[].{self.path[1]}"

    def message(self, location: str | None = None) -> str:
        # the same wording msgspec uses for its own pattern constraint
        return f"Expected `str` matching regex {self.pattern!r} - at `{location or self.location}`"


@functools.cache
def pattern_rules(contract: Contract) -> tuple[PatternRule, ...]:
    """Pattern constraints of a contract, except card numbers (checked, with their checksum, where they
    are reduced to brand and last four digits)."""
    rules = []
    for f in contract.fields:
        if f.pattern and f.privacy is not Privacy.CARD_NUMBER:
            rules.append(PatternRule((f.name,), f.pattern, f.required))
        for child in f.children:
            if child.pattern:
                rules.append(PatternRule((f.name, child.name), child.pattern, child.required))
    return tuple(rules)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def pattern_violation(event: msgspec.Struct) -> str | None:
    """The first pattern a decoded event breaks, as a validation message, or None."""
    contract = contract_of(event)
    for rule in pattern_rules(contract):
        if len(rule.path) == 1:
            value = getattr(event, rule.path[0])
            if value is not None and not _compiled(rule.pattern).search(value):
                return rule.message()
        else:
            for index, item in enumerate(getattr(event, rule.path[0]) or ()):
                value = getattr(item, rule.path[1])
                if value is not None and not _compiled(rule.pattern).search(value):
                    return rule.message(f"$.{rule.path[0]}[{index}].{rule.path[1]}")
    card = contract.fields_with_privacy(Privacy.CARD_NUMBER)
    for f in card:
        value = getattr(event, f.name)
        if value is not None and f.pattern and not _compiled(f.pattern).search(value):
            return PatternRule((f.name,), f.pattern, f.required).message()
    return None


def validate_event(payload: bytes | str) -> msgspec.Struct:
    """Full validation of one event (structure, then patterns); raises `msgspec.ValidationError` or
    `msgspec.DecodeError` like the decoder does."""
    event = event_decoder().decode(payload)
    violation = pattern_violation(event)
    if violation is not None:
        raise msgspec.ValidationError(violation)
    return event


class EventValidator:
    """`validate_event` behind the decoder's interface (`.decode(payload)`)."""

    decode = staticmethod(validate_event)


def event_validator() -> EventValidator:
    return EventValidator()
