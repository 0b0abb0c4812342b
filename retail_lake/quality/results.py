"""One result schema for every engine: a `RuleResult` per rule and partition, stored in the `quality_results`
table (Parquet under `s3://<analytics>/quality_results/run_date=<date>/`, registered in the Glue catalog).

Observed values and thresholds are text a person reads (`0.998750`, `between 900 and 2700`,
`2026-11-07T11:59:00`); numbers a query filters on are in `failing_rows` and `evaluated_rows`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pyarrow as pa

PASSED, FAILED = "passed", "failed"

# (name, Arrow type, Glue/Athena type, description): the table's columns, in order; `run_date` partitions it.
RESULT_COLUMNS: tuple[tuple[str, pa.DataType, str, str], ...] = (
    ("run_id", pa.string(), "string", "id of the gate run (the Glue job run id)"),
    ("dataset", pa.string(), "string", "curated dataset"),
    ("data_partition", pa.string(), "string", "partition evaluated, e.g. event_date=2026-11-07"),
    ("rule_id", pa.string(), "string", "rule id from the dataset's rule file"),
    ("level", pa.string(), "string", "error or warning"),
    ("scope", pa.string(), "string", "row or dataset"),
    ("rule_type", pa.string(), "string", "completeness, uniqueness, range, ..."),
    ("status", pa.string(), "string", "passed or failed"),
    ("observed_value", pa.string(), "string", "what was measured"),
    ("threshold", pa.string(), "string", "what the rule asks"),
    ("failing_rows", pa.int64(), "bigint", "rows that broke the rule (null for table-level measures)"),
    ("evaluated_rows", pa.int64(), "bigint", "rows in the partition"),
    ("engine", pa.string(), "string", "deequ or great_expectations"),
    ("evaluated_at", pa.timestamp("us", tz="UTC"), "timestamp", "when the gate ran"),
)
PARTITION_COLUMN = ("run_date", "date", "business date the gate ran for")
RESULTS_TABLE = "quality_results"
RESULTS_PREFIX = "quality_results/"  # in the analytics bucket
REPORTS_PREFIX = "quality_reports/"  # in the analytics bucket: run_date=<d>/<run id>.txt
QUARANTINE_PREFIX = "curated/"  # in the quarantine bucket: curated/<dataset>/event_date=<d>/ (row rules)
METRICS_NAMESPACE = "RetailLake/Quality"
ARROW_SCHEMA = pa.schema([(name, arrow_type) for name, arrow_type, _, _ in RESULT_COLUMNS])


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


def compliance(failing: int, total: int) -> str:
    return f"{(1.0 if total == 0 else 1 - failing / total):.6f}"


def results_table(rows: list[dict]) -> pa.Table:
    """Rows (each: the fields of `RuleResult` plus run_id, dataset, data_partition, evaluated_at) as Arrow."""
    return pa.Table.from_pylist([{name: row.get(name) for name in ARROW_SCHEMA.names} for row in rows],
                                schema=ARROW_SCHEMA)


def result_row(result: RuleResult, *, run_id: str, dataset: str, data_partition: str, evaluated_at) -> dict:
    return {**asdict(result), "run_id": run_id, "dataset": dataset, "data_partition": data_partition,
            "evaluated_at": evaluated_at}


def results_table_definition():
    """The quality_results table as a lake `TableDefinition` (registered by the Batch stack, analytics database)."""
    from pyspark.sql import types as st

    from retail_lake.batch.schemas import TableDefinition

    spark_types = {"string": st.StringType(), "bigint": st.LongType(), "timestamp": st.TimestampType()}
    columns = tuple(st.StructField(name, spark_types[glue_type], True, {"comment": comment})
                    for name, _, glue_type, comment in RESULT_COLUMNS)
    return TableDefinition(
        name=RESULTS_TABLE, zone="analytics",
        description="Data quality results: one row per rule, dataset partition and gate run",
        columns=columns,
        partition_key=st.StructField(PARTITION_COLUMN[0], st.DateType(), False, {"comment": PARTITION_COLUMN[2]}),
        writer="quality gate job",
    )
