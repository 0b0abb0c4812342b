"""The quality gate between curated and analytics: evaluate every rule of each dataset on the curated partition
of one business date, with Deequ when its jar is on the classpath and Great Expectations otherwise, and
decide: a failed error-level rule fails the gate (analytics must not run), warnings only report.

    report = run_gate(spark, "2026-11-07", ["pos_sales", ...], curated_path, run_id="jr_...")
    write_results(spark, report, results_path); publish_metrics(cloudwatch, report, ...)
    if report.failed: notify(sns, topic_arn, report); raise QualityGateFailed(report.headline())

The Glue entry script `glue_jobs/quality_gate.py` does exactly that.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from retail_lake.batch.partitions import path_not_found
from retail_lake.quality import deequ, expectations
from retail_lake.quality.resolve import GateContext, resolve_all
from retail_lake.quality.results import RuleResult, result_row
from retail_lake.quality.row_checks import violation, with_helper_columns
from retail_lake.quality.rules import Rule, rules_for

EVENT_DATE = "event_date"
# Columns shown in examples of failing rows: identifiers that are pseudonymous or not personal, and the
# values rules judge. Never customer contacts, card data or free text (free text is shown by its length).
EXAMPLE_COLUMNS = ("event_id", "line_id", "store_id", "sku", "event_type", "device", "tender_type", "currency",
                   "reason", "quantity", "unit_price", "delta", "on_hand_after", "order_value", "event_time")
EXAMPLES_PER_RULE = 3


class QualityGateFailed(RuntimeError):
    """An error-level rule failed: downstream steps must not run. The message lists the failed rules."""


@dataclass
class DatasetReport:
    dataset: str
    partition: str
    rows: int
    results: list[RuleResult]
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # rule id -> example rows

    @property
    def blocking(self) -> list[RuleResult]:
        return [r for r in self.results if r.blocks]

    @property
    def warnings(self) -> list[RuleResult]:
        return [r for r in self.results if r.failed and r.level == "warning"]


@dataclass
class GateReport:
    run_id: str
    run_date: str
    engine: str
    datasets: list[DatasetReport]
    evaluated_at: dt.datetime

    @property
    def failed(self) -> bool:
        return any(d.blocking for d in self.datasets)

    def rows(self) -> list[dict]:
        return [result_row(r, run_id=self.run_id, dataset=d.dataset, data_partition=d.partition,
                           evaluated_at=self.evaluated_at) for d in self.datasets for r in d.results]

    def headline(self) -> str:
        blocking = [(d.dataset, r) for d in self.datasets for r in d.blocking]
        warnings = sum(len(d.warnings) for d in self.datasets)
        if blocking:
            listed = "; ".join(f"{r.rule_id} ({_failing(r)})" for _, r in blocking)
            return (f"{len(blocking)} error rule(s) failed on the curated data of {self.run_date}: {listed}. "
                    f"Analytics was not built; see the quality report of run {self.run_id}.")
        return f"all error rules passed on {self.run_date}" + (f"; {warnings} warning(s)" if warnings else "")

    def summary(self) -> dict[str, Any]:
        """Counts for logs and the orchestrator: per dataset, rows, failed error and warning rule ids."""
        return {"run_id": self.run_id, "run_date": self.run_date, "engine": self.engine, "failed": self.failed,
                "datasets": {d.dataset: {"rows": d.rows, "errors": [r.rule_id for r in d.blocking],
                                         "warnings": [r.rule_id for r in d.warnings]} for d in self.datasets}}

    def subject(self, pipeline: str = "retail-lake") -> str:
        state = "FAILED" if self.failed else "passed"
        return f"Quality gate {state}: {pipeline} {self.run_date}"[:100]

    def text(self) -> str:
        """The run report for a person: every dataset, every failed rule with what was found, examples."""
        lines = [f"Quality gate for business date {self.run_date}: "
                 f"{'FAILED (analytics stopped)' if self.failed else 'PASSED'}",
                 f"run {self.run_id} | engine {self.engine} | {self.evaluated_at.isoformat(timespec='seconds')}", ""]
        for report in self.datasets:
            passed = sum(not r.failed for r in report.results)
            lines.append(f"{report.dataset} ({report.partition}, {report.rows:,} rows): "
                         f"{passed}/{len(report.results)} rules passed")
            for result in report.results:
                if not result.failed:
                    continue
                lines.append(f"  FAILED {result.level:<7} {result.rule_id}: {_rule_text(report.dataset, result.rule_id)}")
                lines.append(f"         observed {result.observed_value}, threshold {result.threshold}"
                             + (f", {result.failing_rows:,} failing row(s)" if result.failing_rows else ""))
                for example in report.examples.get(result.rule_id, []):
                    lines.append("         e.g. " + ", ".join(f"{k}={v}" for k, v in example.items()))
            lines.append("")
        lines.append(f"All results: SELECT * FROM quality_results WHERE run_id = '{self.run_id}'")
        return "\n".join(lines)


def _failing(result: RuleResult) -> str:
    if result.failing_rows:
        return f"{result.failing_rows:,} failing rows"
    return f"observed {result.observed_value}, threshold {result.threshold}"


def _rule_text(dataset: str, rule_id: str) -> str:
    rule = next((r for r in rules_for(dataset) if r.id == rule_id), None)
    if rule is None:
        return ""
    return rule.description or rule.describe()


# ------------------------------------------------------------------------------------------ evaluation


def choose_engine(spark: Any) -> str:
    return deequ.ENGINE if deequ.deequ_available(spark) else expectations.ENGINE


def to_pandas(df: Any) -> Any:
    """The frame as pandas for Great Expectations: decimals as floats, timestamps as naive UTC."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as st

    columns = [F.col(f"`{f.name}`").cast("double").alias(f.name) if isinstance(f.dataType, st.DecimalType)
               else F.col(f"`{f.name}`") for f in df.schema.fields]
    return df.select(*columns).toPandas()


def evaluate_dataset(spark: Any, df: Any, rules: tuple[Rule, ...], context: GateContext,
                     engine: str | None = None) -> list[RuleResult]:
    """Every rule on one partition's rows (a Spark DataFrame), with `engine` (default: `choose_engine`)."""
    engine = engine or choose_engine(spark)
    prepared = with_helper_columns(df, rules)
    helpers = [c for c in prepared.columns if c not in df.columns]
    if context.expected_columns is not None:
        context = GateContext(context.partition_date, context.trailing_counts,
                              tuple(context.expected_columns) + tuple(helpers))
    resolved = resolve_all(rules, context)
    if engine == deequ.ENGINE:
        return deequ.evaluate(spark, prepared, resolved)
    return expectations.evaluate(to_pandas(prepared), resolved)


def failing_examples(df: Any, rules: tuple[Rule, ...], results: list[RuleResult],
                     limit: int = EXAMPLES_PER_RULE) -> dict[str, list[dict[str, Any]]]:
    """Up to `limit` failing rows per failed rule, reduced to `EXAMPLE_COLUMNS` (free text by its length)."""
    from pyspark.sql import functions as F

    by_id = {r.id: r for r in rules}
    prepared = with_helper_columns(df, rules)
    examples: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        rule = by_id.get(result.rule_id)
        if rule is None or not result.failed:
            continue
        if rule.row_judged:
            failing = prepared.where(violation(rule))
        elif rule.type == "uniqueness":
            key = [F.col(c) for c in rule.params["columns"]]
            dupes = prepared.groupBy(*key).count().where(F.col("count") > 1).drop("count")
            failing = prepared.join(dupes, on=list(rule.params["columns"]), how="left_semi")
        else:
            continue
        shown = [c for c in EXAMPLE_COLUMNS if c in prepared.columns]
        free_text = rule.column if rule.column and rule.column not in shown and rule.column in prepared.columns else None
        selected = [F.col(c) for c in shown]
        if free_text:
            selected.append(F.length(F.col(free_text)).alias(f"{free_text}_length"))
        examples[rule.id] = [{k: _plain(v) for k, v in row.asDict().items()}
                             for row in failing.select(*selected).limit(limit).collect()]
    return examples


def _plain(value: Any) -> Any:
    """A JSON-friendly value: dates and times as ISO text, decimals as text."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is not None and not isinstance(value, (str, int, float, bool)):
        return str(value)
    return value


# ------------------------------------------------------------------------------------------ reading curated


def curated_columns(spark: Any, dataset: str) -> tuple[str, ...]:
    """The columns the curated step writes for `dataset` (run on empty frames), with `event_date`."""
    from pyspark.sql import types as st

    from retail_lake.batch import curated
    from retail_lake.batch.reference import ReferenceDimensions
    from retail_lake.contracts.derive import spark_schema
    from retail_lake.contracts.registry import BY_DATASET

    def empty(columns: list[str]):
        return spark.createDataFrame([], st.StructType([st.StructField(c, st.StringType()) for c in columns]))

    dimension_columns = {name: [key, *attributes.values()] for name, (key, _, attributes) in curated.DIMENSIONS.items()}
    dimension_columns["stores"].append("timezone")
    ref = ReferenceDimensions(**{name: empty(columns) for name, columns in dimension_columns.items()})
    raw = spark.createDataFrame([], spark_schema(BY_DATASET[dataset]))
    day = dt.date(2000, 1, 1)
    return tuple(curated.curate(dataset, raw, ref, day, day).rows.columns)


def read_curated(spark: Any, curated_path: str, dataset: str) -> Any | None:
    """The dataset's curated table (partition column `event_date` included), or None when it has no data. The schema
    is read from the files, not the declaration (`retail_lake.batch.catalog.read_curated`): the schema rule judges
    what was written."""
    base = f"{curated_path.rstrip('/')}/{dataset}"
    try:
        return spark.read.option("basePath", base + "/").parquet(base + "/")
    except Exception as error:  # AnalysisException PATH_NOT_FOUND / UNABLE_TO_INFER_SCHEMA: nothing written yet
        if path_not_found(error) or "UNABLE_TO_INFER" in str(error):
            return None
        raise


def trailing_counts(table: Any, day: dt.date, days: int) -> tuple[int, ...]:
    """Row counts of the `days` event dates before `day` that have rows, newest first."""
    from pyspark.sql import functions as F

    first = day - dt.timedelta(days=days)
    rows = (table.where(F.col(EVENT_DATE).between(F.lit(first), F.lit(day - dt.timedelta(days=1))))
            .groupBy(EVENT_DATE).count().collect())
    return tuple(int(r["count"]) for r in sorted(rows, key=lambda r: r[EVENT_DATE], reverse=True))


def run_gate(spark: Any, run_date: str, datasets: list[str], curated_path: str, *, run_id: str,
             engine: str | None = None) -> GateReport:
    """Evaluate each dataset's rules on its curated partition `event_date=<run_date>`."""
    from pyspark.sql import functions as F

    day = dt.date.fromisoformat(run_date)
    engine = engine or choose_engine(spark)
    reports = []
    for dataset in datasets:
        rules = rules_for(dataset)
        expected = curated_columns(spark, dataset)
        table = read_curated(spark, curated_path, dataset)
        if table is None:
            from pyspark.sql import types as st

            table = spark.createDataFrame([], st.StructType([st.StructField(c, st.StringType()) for c in expected]))
            partition, history = table, ()
        else:
            partition = table.where(F.col(EVENT_DATE) == F.lit(day))
            longest = max([int(r.params["trailing_days"]) for r in rules if r.type == "row_count_anomaly"] or [0])
            history = trailing_counts(table, day, longest) if longest else ()
        partition = partition.cache()
        context = GateContext(day, history, expected)
        results = evaluate_dataset(spark, partition, rules, context, engine)
        examples = failing_examples(partition, rules, results)
        reports.append(DatasetReport(dataset, f"{EVENT_DATE}={run_date}", results[0].evaluated_rows if results else 0,
                                     results, examples))
        partition.unpersist()
    return GateReport(run_id, run_date, engine, reports, dt.datetime.now(dt.timezone.utc))


# ------------------------------------------------------------------------------------------ outputs


def write_results(spark: Any, report: GateReport, results_path: str) -> str:
    """Append the report's rows to the quality_results table (`<results_path>/run_date=<date>/`)."""
    from retail_lake.quality.results import RESULT_COLUMNS, results_table_definition

    schema = results_table_definition().data_schema
    rows = [tuple(row[name] for name, *_ in RESULT_COLUMNS) for row in report.rows()]
    target = f"{results_path.rstrip('/')}/run_date={report.run_date}"
    spark.createDataFrame(rows, schema).coalesce(1).write.mode("append").parquet(target)
    return target


def metric_data(report: GateReport, pipeline: str) -> list[dict[str, Any]]:
    """CloudWatch datapoints: per dataset and level, failed rules and failing rows; per gate, failed (0/1)."""
    data = []
    for dataset in report.datasets:
        for level in ("error", "warning"):
            failed = [r for r in dataset.results if r.failed and r.level == level]
            dims = [{"Name": "Pipeline", "Value": pipeline}, {"Name": "Dataset", "Value": dataset.dataset},
                    {"Name": "Level", "Value": level}]
            data.append({"MetricName": "FailedRules", "Dimensions": dims, "Value": len(failed), "Unit": "Count"})
            data.append({"MetricName": "FailingRows", "Dimensions": dims,
                         "Value": sum(r.failing_rows or 0 for r in failed), "Unit": "Count"})
    data.append({"MetricName": "GateFailed", "Dimensions": [{"Name": "Pipeline", "Value": pipeline}],
                 "Value": 1 if report.failed else 0, "Unit": "Count"})
    return [{**d, "Timestamp": report.evaluated_at} for d in data]


def publish_metrics(cloudwatch: Any, report: GateReport, namespace: str, pipeline: str) -> int:
    data = metric_data(report, pipeline)
    for start in range(0, len(data), 20):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start:start + 20])
    return len(data)


def notify(sns: Any, topic_arn: str, report: GateReport, pipeline: str) -> str:
    """Publish the readable report to the quality topic; returns the message id."""
    return sns.publish(TopicArn=topic_arn, Subject=report.subject(pipeline), Message=report.text())["MessageId"]


def parse_datasets(value: str) -> list[str]:
    """`--datasets` as a list, each a known dataset (clear error otherwise)."""
    from retail_lake.contracts.registry import DATASETS

    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in DATASETS]
    if not names or unknown:
        raise ValueError(f"--datasets {value!r}: unknown {', '.join(unknown) or '(none given)'}; "
                         f"pass a comma list of {', '.join(DATASETS)}")
    return names


def new_run_id() -> str:
    return "qg_" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")


def write_report(report: GateReport, report_path: str) -> str:
    """The readable report as `<report_path>/run_date=<date>/<run id>.txt` (S3 or a local path)."""
    target = f"{report_path.rstrip('/')}/run_date={report.run_date}/{report.run_id}.txt"
    if target.startswith(("s3://", "s3a://")):
        import boto3

        bucket, _, key = target.split("://", 1)[1].partition("/")
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=report.text().encode())
    else:
        from pathlib import Path

        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(report.text())
    return target
