"""Why an event was quarantined: a closed set of reason codes, and how validator errors map onto them."""

from __future__ import annotations

import msgspec

MALFORMED_JSON = "malformed_json"
MISSING_FIELD = "missing_field"
WRONG_TYPE = "wrong_type"
INVALID_VALUE = "invalid_value"
UNKNOWN_FIELD = "unknown_field"
UNKNOWN_RECORD_TYPE = "unknown_record_type"
UNSUPPORTED_VERSION = "unsupported_version"
NOT_AN_OBJECT = "not_an_object"

REASONS = (
    MALFORMED_JSON,
    MISSING_FIELD,
    WRONG_TYPE,
    INVALID_VALUE,
    UNKNOWN_FIELD,
    UNKNOWN_RECORD_TYPE,
    UNSUPPORTED_VERSION,
    NOT_AN_OBJECT,
)


def classify(error: msgspec.DecodeError) -> str:
    """Map a msgspec decode/validation error to a reason code."""
    if not isinstance(error, msgspec.ValidationError):
        return MALFORMED_JSON
    message = str(error)
    if message.startswith("Object missing required field `record_type`"):
        return UNKNOWN_RECORD_TYPE
    if message.startswith("Object missing required field"):
        return MISSING_FIELD
    if message.startswith("Object contains unknown field"):
        return UNKNOWN_FIELD
    if message.endswith("at `$.record_type`"):
        return UNKNOWN_RECORD_TYPE
    if message.endswith("at `$.schema_version`") and message.startswith("Invalid enum value"):
        return UNSUPPORTED_VERSION
    if message.startswith("Expected `object`, got") and " - at `" not in message:
        return NOT_AN_OBJECT
    if message.startswith("Expected `") and "`, got `" in message:
        return WRONG_TYPE
    return INVALID_VALUE
