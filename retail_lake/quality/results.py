"""One result schema for every engine: a `RuleResult` per rule and partition, stored in the `quality_results`
table (Parquet under `s3://<analytics>/quality_results/run_date=<date>/`, registered in the Glue catalog).

Observed values and thresholds are text a person reads (`0.998750`, `between 900 and 2700`,
`2026-11-07T11:59:00`); numbers a query filters on are in `failing_rows` and `evaluated_rows`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

PASSED, FAILED = "passed", "failed"

# (name, Glue/Athena type, description): the table's columns, in order; `run_date` partitions it.
RESULT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("run_id", "string", "id of the gate run (the Glue job run id, or qg_<time> for an EMR step's gate)"),
    ("dataset", "string", "curated dataset, or the EMR step's output table"),
    ("data_partition", "string", "partition evaluated: event_date=2026-11-07, as_of_date=2026-11-07 (EMR outputs)"),
    ("rule_id", "string", "rule id from the dataset's rule file"),
    ("level", "string", "error or warning"),
    ("scope", "string", "row or dataset"),
    ("rule_type", "string", "completeness, uniqueness, range, ..."),
    ("status", "string", "passed or failed"),
    ("observed_value", "string", "what was measured"),
    ("threshold", "string", "what the rule asks"),
    ("failing_rows", "bigint", "rows that broke the rule (null for table-level measures)"),
    ("evaluated_rows", "bigint", "rows in the partition"),
    ("engine", "string", "deequ or great_expectations"),
    ("evaluated_at", "timestamp", "when the gate ran"),
)
PARTITION_COLUMN = ("run_date", "date", "business date the gate ran for")
RESULTS_TABLE = "quality_results"
RESULTS_PREFIX = "quality_results/"  # in the analytics bucket
REPORTS_PREFIX = "quality_reports/"  # in the analytics bucket: run_date=<d>/<run id>.txt
QUARANTINE_PREFIX = "curated/"  # in the quarantine bucket: curated/<dataset>/event_date=<d>/ (row rules)
METRICS_NAMESPACE = "RetailLake/Quality"


@dataclass(frozen=True)
class RuleResult:
    """What an engine found for one rule on one partition."""

    rule_id: str
    level: str
    scope: str
    rule_type: str
    status: str
    observed_value: str
    threshold: str
    failing_rows: int | None
    evaluated_rows: int
    engine: str

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    @property
    def blocks(self) -> bool:
        """A failed error-level rule: the gate fails."""
        return self.failed and self.level == "error"


def schema_text(missing: list[str], unexpected: list[str]) -> str:
    """What a schema rule observed: `as expected`, or the missing and the unexpected columns."""
    if not missing and not unexpected:
        return "as expected"
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if unexpected:
        parts.append("unexpected " + ", ".join(unexpected))
    return "; ".join(parts)


def compliance(failing: int, total: int) -> str:
    return f"{(1.0 if total == 0 else 1 - failing / total):.6f}"


def result_row(result: RuleResult, *, run_id: str, dataset: str, data_partition: str, evaluated_at) -> dict:
    return {**asdict(result), "run_id": run_id, "dataset": dataset, "data_partition": data_partition,
            "evaluated_at": evaluated_at}


def results_table_definition():
    """The quality_results table as a lake `TableDefinition` (registered by the Batch stack, analytics database)."""
    from pyspark.sql import types as st

    from retail_lake.batch.schemas import TableDefinition

    spark_types = {"string": st.StringType(), "bigint": st.LongType(), "timestamp": st.TimestampType()}
    columns = tuple(st.StructField(name, spark_types[glue_type], True, {"comment": comment})
                    for name, glue_type, comment in RESULT_COLUMNS)
    return TableDefinition(
        name=RESULTS_TABLE, zone="analytics",
        description="Data quality results: one row per rule, dataset partition and gate run",
        columns=columns,
        partition_key=st.StructField(PARTITION_COLUMN[0], st.DateType(), False, {"comment": PARTITION_COLUMN[2]}),
        writer="quality gate job",
    )
