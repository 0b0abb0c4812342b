"""A quality gate: evaluate every rule of each dataset on one partition, with Deequ when its jar is on the classpath
and Great Expectations otherwise, and decide: a failed error-level rule fails the gate (what it guards must not run
or be published), warnings only report. Then the outputs: the `quality_results` rows, the readable report, the
CloudWatch metrics and, on failure, the quality topic.

Two gates use it: between curated and analytics (`retail_lake.quality.curated_gate`, Glue job
`glue_jobs/quality_gate.py`) and on what each EMR step computed, before it is written
(`retail_lake.quality.output_gate`, the `emr_steps/` scripts). This module runs on EMR's Python 3.9 with pyspark,
pydeequ, PyYAML and boto3 (see emr_steps/README.md); Great Expectations is imported only when Deequ is missing.

    report = GateReport(run_id, run_date, engine, [DatasetReport(...), ...], evaluated_at, guards="analytics")
    publish_report(spark, report, results_path=..., report_path=..., topic_arn=..., pipeline=...)
    if report.failed: raise QualityGateFailed(report.headline())
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from dataclasses import dataclass, field
from typing import Any

from retail_lake.batch.partitions import path_not_found
from retail_lake.quality import deequ
from retail_lake.quality.resolve import GateContext, Resolved, resolve_all, schema_result, threshold_text
from retail_lake.quality.results import FAILED, PASSED, RuleResult, compliance, result_row
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
    guards: str = "analytics"  # what a failure stops: "analytics", "the customer_segmentation outputs", ...
    subject_of: str = "the curated data"  # what was judged, for the headline
    label: str = ""  # names the gate in the message subject (the EMR step); empty for the curated gate

    @property
    def failed(self) -> bool:
        return any(d.blocking for d in self.datasets)

    def rows(self) -> list[dict]:
        return [result_row(r, run_id=self.run_id, dataset=d.dataset, data_partition=d.partition,
                           evaluated_at=self.evaluated_at) for d in self.datasets for r in d.results]

    def headline(self) -> str:
        blocking = [(d.partition, r) for d in self.datasets for r in d.blocking]
        warnings = sum(len(d.warnings) for d in self.datasets)
        if blocking:  # a rule that failed on several partitions (dates of the window) is listed for each
            listed = "; ".join(f"{r.rule_id} ({_failing(r)}) on {partition}" for partition, r in blocking)
            rules = len({r.rule_id for _, r in blocking})
            return (f"{rules} error rule(s) failed on {self.subject_of} of {self.run_date}: {listed}. "
                    f"Stopped: {self.guards} (not written); see the quality report of run {self.run_id}.")
        return f"all error rules passed on {self.run_date}" + (f"; {warnings} warning(s)" if warnings else "")

    def summary(self) -> dict[str, Any]:
        """Counts for logs and the orchestrator: per dataset, the partitions judged, their rows, and the ids of the
        error and warning rules that failed on any of them."""
        datasets: dict[str, dict[str, Any]] = {}
        for d in self.datasets:
            entry = datasets.setdefault(d.dataset, {"partitions": [], "rows": 0, "errors": [], "warnings": []})
            entry["partitions"].append(d.partition)
            entry["rows"] += d.rows
            for key, failed in (("errors", d.blocking), ("warnings", d.warnings)):
                entry[key] += [r.rule_id for r in failed if r.rule_id not in entry[key]]
        return {"run_id": self.run_id, "run_date": self.run_date, "engine": self.engine, "failed": self.failed,
                "guards": self.guards, "datasets": datasets}

    def subject(self, pipeline: str = "retail-lake") -> str:
        state = "FAILED" if self.failed else "passed"
        return f"Quality gate {state}: {pipeline} {self.label + ' ' if self.label else ''}{self.run_date}"[:100]

    def text(self) -> str:
        """The run report for a person: every dataset, every failed rule with what was found, examples."""
        lines = [f"Quality gate for business date {self.run_date}: "
                 f"{f'FAILED ({self.guards} stopped)' if self.failed else 'PASSED'}",
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


GREAT_EXPECTATIONS = "great_expectations"  # `retail_lake.quality.expectations.ENGINE`


class NoQualityEngine(RuntimeError):
    """Neither engine can run in this Spark session."""


def choose_engine(spark: Any) -> str:
    """Deequ when its classes load in the session's JVM, otherwise Great Expectations when it is installed (here,
    the twin, laptops); on EMR and Glue without the jar neither is there: a clear error, never an unchecked run."""
    if deequ.deequ_available(spark):
        return deequ.ENGINE
    if importlib.util.find_spec(GREAT_EXPECTATIONS) is not None:
        return GREAT_EXPECTATIONS
    raise NoQualityEngine(
        f"the Deequ classes ({deequ.DEEQU_MAVEN_COORDINATE}) are not on this Spark session's classpath and "
        "great_expectations is not installed: pass the jar with the job (Glue --extra-jars, EMR --jars; see "
        "docs/quality.md) or install great_expectations")


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
    if prepared.isEmpty():
        return empty_partition_results(resolved, prepared.columns, engine)
    if engine == deequ.ENGINE:
        return deequ.evaluate(spark, prepared, resolved)
    from retail_lake.quality import expectations  # only where Deequ is missing (here, the twin; a job without the jar)

    return expectations.evaluate(to_pandas(prepared), resolved)


def empty_partition_results(resolved_rules: list[Resolved], columns: list[str], engine: str) -> list[RuleResult]:
    """A partition without rows, judged alike whichever the engine (Deequ fails its completeness, compliance and
    uniqueness constraints on no data, Great Expectations passes them): nothing to judge row by row, so per-value
    and uniqueness rules pass with 0 failing rows; the row-count band and the schema are judged; the newest-value
    freshness fails (there is no value)."""
    results = []
    for resolved in resolved_rules:
        rule, threshold = resolved.rule, threshold_text(resolved)
        failing: int | None = 0
        if rule.type == "schema":
            results.append(schema_result(resolved, columns, 0, engine))
            continue
        if rule.type == "row_count_anomaly":
            passed = resolved["min"] <= 0 and (resolved["max"] is None or resolved["max"] >= 0)
            observed, failing = "0", None
        elif rule.type == "freshness" and rule.scope == "dataset":
            passed, observed, failing = False, "no rows", None
        else:
            passed, observed = True, compliance(0, 0)
        results.append(RuleResult(rule.id, rule.level, rule.scope, rule.type, PASSED if passed else FAILED, observed,
                                  threshold, failing, 0, engine))
    return results


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
        judged = rule.column if rule.column and rule.column not in shown and rule.column in prepared.columns else None
        if judged and _is_text(prepared, judged):  # free text: by its length only
            shown = [*[F.col(c) for c in shown], F.length(F.col(judged)).alias(f"{judged}_length")]
        elif judged:  # a number, date or flag is shown as it is
            shown = [*shown, judged]
        selected = [F.col(c) if isinstance(c, str) else c for c in shown]
        if not selected:  # none of the table's columns may be shown (e.g. a key of pseudonymous ids): counts only
            continue
        examples[rule.id] = [{k: _plain(v) for k, v in row.asDict().items()}
                             for row in failing.select(*selected).limit(limit).collect()]
    return examples


def _is_text(df: Any, column: str) -> bool:
    from pyspark.sql import types as st

    return isinstance(df.schema[column].dataType, (st.StringType, st.BinaryType, st.ArrayType, st.MapType,
                                                   st.StructType))


def _plain(value: Any) -> Any:
    """A JSON-friendly value: dates and times as ISO text, decimals as text."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is not None and not isinstance(value, (str, int, float, bool)):
        return str(value)
    return value


# ------------------------------------------------------------------------------------------ one partition


def daily_counts(table: Any, first: dt.date, last: dt.date, column: str = EVENT_DATE) -> dict[dt.date, int]:
    """Row count of each date (`column`) from `first` to `last` that has rows."""
    from pyspark.sql import functions as F

    rows = table.where(F.col(column).between(F.lit(first), F.lit(last))).groupBy(column).count().collect()
    return {r[column]: int(r["count"]) for r in rows}


def trailing_from(counts: dict[dt.date, int], day: dt.date, days: int) -> tuple[int, ...]:
    """Row counts of the `days` dates before `day` that have rows, newest first, from `daily_counts`."""
    first = day - dt.timedelta(days=days)
    return tuple(counts[d] for d in sorted(counts, reverse=True) if first <= d < day and counts[d])


def trailing_counts(table: Any, day: dt.date, days: int, column: str = EVENT_DATE) -> tuple[int, ...]:
    """Row counts of the `days` dates (`column`) before `day` that have rows, newest first."""
    counts = daily_counts(table, day - dt.timedelta(days=days), day - dt.timedelta(days=1), column)
    return trailing_from(counts, day, days)


def read_table(spark: Any, path: str) -> Any | None:
    """A partitioned Parquet table (partition columns included, schema from the files), or None when nothing is
    written there yet."""
    base = path.rstrip("/") + "/"
    try:
        return spark.read.option("basePath", base).parquet(base)
    except Exception as error:  # AnalysisException PATH_NOT_FOUND / UNABLE_TO_INFER_SCHEMA: nothing written yet
        if path_not_found(error) or "UNABLE_TO_INFER" in str(error):
            return None
        raise


def history_days(rules: tuple[Rule, ...]) -> int:
    """How many trailing days the row-count rules look back (0: none)."""
    return max([int(r.params["trailing_days"]) for r in rules if r.type == "row_count_anomaly"] or [0])


def judge(spark: Any, dataset: str, partition: Any, partition_label: str, context: GateContext, engine: str,
          rules: tuple[Rule, ...] | None = None) -> DatasetReport:
    """Every rule of `dataset` on the rows of one partition (a Spark DataFrame), with failing examples."""
    rules = rules if rules is not None else rules_for(dataset)
    owned = not partition.is_cached  # a frame the caller persisted stays persisted
    if owned:
        partition = partition.cache()
    try:
        results = evaluate_dataset(spark, partition, rules, context, engine)
        examples = failing_examples(partition, rules, results)
    finally:
        if owned:
            partition.unpersist()
    return DatasetReport(dataset, partition_label, results[0].evaluated_rows if results else 0, results, examples)


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
    """CloudWatch datapoints: per dataset and level, failed rules and failing rows (over the partitions judged);
    per gate, failed (0/1)."""
    data = []
    by_dataset: dict[str, list[RuleResult]] = {}
    for partition in report.datasets:  # a dataset judged on several partitions: one datapoint of their sum
        by_dataset.setdefault(partition.dataset, []).extend(partition.results)
    for dataset, results in by_dataset.items():
        for level in ("error", "warning"):
            failed = [r for r in results if r.failed and r.level == level]
            dims = [{"Name": "Pipeline", "Value": pipeline}, {"Name": "Dataset", "Value": dataset},
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


def publish_report(spark: Any, report: GateReport, *, results_path: str, report_path: str, topic_arn: str | None,
                   pipeline: str, namespace: str, cloudwatch: Any = None, sns: Any = None) -> str:
    """Everything a gate run leaves behind, in this order: its rows in `quality_results`, the readable report (its
    location is returned), the CloudWatch metrics and, when an error rule failed, the report on the quality topic.
    Without `topic_arn` (a run outside AWS) metrics and the message are skipped, and the report says so."""
    write_results(spark, report, results_path)
    location = write_report(report, report_path)
    if not topic_arn:
        print(f"quality gate {report.run_id}: no topic given, CloudWatch metrics and the quality message were not sent")
        return location
    if cloudwatch is None or (sns is None and report.failed):
        import boto3

        # the topic's region: a job run's environment need not name one (EMR Serverless)
        region = topic_arn.split(":")[3] if topic_arn.startswith("arn:") and topic_arn.count(":") >= 5 else None
        cloudwatch = cloudwatch or boto3.client("cloudwatch", region_name=region)
        sns = sns or boto3.client("sns", region_name=region)
    publish_metrics(cloudwatch, report, namespace, pipeline)
    if report.failed:
        notify(sns, topic_arn, report, pipeline)
    return location
