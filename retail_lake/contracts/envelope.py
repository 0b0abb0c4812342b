"""Fields every event carries, whatever its record type."""

from retail_lake.contracts.fields import Field, LogicalType as T

# The envelope's `record_type` is the tag that routes an event to its contract; `schema_version` selects
# the contract's version. Both are checked by the validator; `record_type` is implied by the dataset
# an event is stored in, so it is not a stored column.
RECORD_TYPE_FIELD = "record_type"
SCHEMA_VERSION_FIELD = "schema_version"


def envelope_fields() -> tuple[Field, ...]:
    return (
        Field(SCHEMA_VERSION_FIELD, T.INT, description="version of the contract the event follows"),
        Field("event_id", T.STRING, min_length=1, max_length=64, description="unique id of the event"),
        Field("event_time", T.TIMESTAMP, description="when it happened, ISO 8601 with an offset"),
    )
