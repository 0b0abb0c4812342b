"""Athena's failure shape: `Status.State` FAILED with `StateChangeReason` and `AthenaError`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# AthenaError.ErrorCategory: 1 system, 2 user, 3 other.
SYSTEM, USER, OTHER = 1, 2, 3
# AthenaError.ErrorType values the twin reports (Athena's error catalog groups user errors in the 1000s).
ERROR_TYPES = {
    "SYNTAX_ERROR": 1100,
    "TABLE_NOT_FOUND": 1101,
    "SCHEMA_NOT_FOUND": 1102,
    "COLUMN_NOT_FOUND": 1103,
    "TYPE_MISMATCH": 1104,
    "FUNCTION_NOT_FOUND": 1105,
    "NOT_SUPPORTED": 1200,
    "INVALID_TABLE_PROPERTY": 1201,
    "ALREADY_EXISTS": 1202,
    "HIVE_BAD_DATA": 1300,
    "EXCEEDED_BYTES_SCANNED_LIMIT": 1400,
    "GENERIC_USER_ERROR": 1000,
    "GENERIC_INTERNAL_ERROR": 200,
}


@dataclass
class AthenaQueryError(Exception):
    """A query failure as Athena reports it: `code` (Trino's error name, which starts the message) and a message
    a user can act on."""

    code: str
    message: str
    category: int = USER
    retryable: bool = False

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    @property
    def error_type(self) -> int:
        return ERROR_TYPES.get(self.code, ERROR_TYPES["GENERIC_USER_ERROR"])

    def athena_error(self) -> dict[str, Any]:
        return {"ErrorCategory": self.category, "ErrorType": self.error_type, "Retryable": self.retryable,
                "ErrorMessage": str(self)}
