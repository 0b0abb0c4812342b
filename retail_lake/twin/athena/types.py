"""Types across the three worlds of a query on the twin: Glue (Hive) column types, Arrow, and what Athena reports.

Athena names result types in Trino's words (`varchar`, `bigint`, `decimal` with precision and scale, `timestamp`,
`array`, `row`); the Glue catalog stores Hive's (`string`, `bigint`, `decimal(18,2)`, `array<string>`,
`struct<...>`). Values come back from GetQueryResults as strings, printed the way Athena prints them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from typing import Any

import pyarrow as pa

_DECIMAL = re.compile(r"^decimal\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
_CHAR = re.compile(r"^(var)?char\s*\(\s*\d+\s*\)$")

_HIVE_PRIMITIVES: dict[str, pa.DataType] = {
    "string": pa.string(), "varchar": pa.string(), "char": pa.string(),
    "bigint": pa.int64(), "int": pa.int32(), "integer": pa.int32(), "smallint": pa.int16(), "tinyint": pa.int8(),
    "double": pa.float64(), "float": pa.float32(), "real": pa.float32(),
    "boolean": pa.bool_(), "date": pa.date32(), "timestamp": pa.timestamp("us"), "binary": pa.binary(),
}


def hive_to_arrow(hive_type: str) -> pa.DataType | None:
    """The Arrow type of a Glue column type; None for complex types (array/map/struct), which are read as the
    files hold them."""
    text = hive_type.strip().lower()
    if text in _HIVE_PRIMITIVES:
        return _HIVE_PRIMITIVES[text]
    if _CHAR.match(text):
        return pa.string()
    match = _DECIMAL.match(text)
    if match:
        return pa.decimal128(int(match.group(1)), int(match.group(2)))
    if text == "decimal":
        return pa.decimal128(10, 0)
    return None


def arrow_to_hive(arrow_type: pa.DataType) -> str:
    """The Glue (Hive) column type for an Arrow type (views and CTAS tables are catalogued with these)."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return f"array<{arrow_to_hive(arrow_type.value_type)}>"
    if pa.types.is_struct(arrow_type):
        fields = ",".join(f"{f.name}:{arrow_to_hive(f.type)}" for f in arrow_type)
        return f"struct<{fields}>"
    if pa.types.is_map(arrow_type):
        return f"map<{arrow_to_hive(arrow_type.key_type)},{arrow_to_hive(arrow_type.item_type)}>"
    return _simple_name(arrow_type, hive=True)


def athena_type(arrow_type: pa.DataType) -> str:
    """The type name Athena reports in ColumnInfo.Type."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "varchar"
    if pa.types.is_decimal(arrow_type):
        return "decimal"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return "array"
    if pa.types.is_struct(arrow_type):
        return "row"
    if pa.types.is_map(arrow_type):
        return "map"
    return _simple_name(arrow_type, hive=False)


def _simple_name(arrow_type: pa.DataType, *, hive: bool) -> str:
    names = {
        pa.int64(): "bigint", pa.int32(): "int" if hive else "integer", pa.int16(): "smallint",
        pa.int8(): "tinyint", pa.uint8(): "smallint", pa.uint16(): "int" if hive else "integer",
        pa.uint32(): "bigint", pa.float64(): "double", pa.float32(): "float" if hive else "real",
        pa.bool_(): "boolean", pa.date32(): "date", pa.binary(): "binary" if hive else "varbinary",
        pa.null(): "string" if hive else "unknown",
    }
    if arrow_type in names:
        return names[arrow_type]
    raise TypeError(f"no Athena type for Arrow type {arrow_type}")


# ColumnInfo.Precision as Athena reports it for types without a declared precision.
_PRECISION = {"varchar": 2147483647, "bigint": 19, "integer": 10, "smallint": 5, "tinyint": 3, "double": 17,
              "real": 7, "boolean": 0, "date": 0, "timestamp": 3, "varbinary": 1073741824}


def column_info(name: str, arrow_type: pa.DataType) -> dict[str, Any]:
    kind = athena_type(arrow_type)
    precision, scale = _PRECISION.get(kind, 0), 0
    if pa.types.is_decimal(arrow_type):
        precision, scale = arrow_type.precision, arrow_type.scale
    return {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name, "Label": name, "Type": kind,
            "Precision": precision, "Scale": scale, "Nullable": "UNKNOWN", "CaseSensitive": kind == "varchar"}


def format_value(value: Any) -> str | None:
    """A value as Athena prints it in GetQueryResults and the result CSV; None for SQL NULL."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="milliseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return " ".join(f"{b:02x}" for b in value)
    if isinstance(value, list):
        return "[" + ", ".join(_nested(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_nested(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple) and all(isinstance(item, tuple) and len(item) == 2 for item in value):
        return "{" + ", ".join(f"{k}={_nested(v)}" for k, v in value) + "}"  # Arrow maps as key/value pairs
    return str(value)


def _nested(value: Any) -> str:
    text = format_value(value)
    return "null" if text is None else text
