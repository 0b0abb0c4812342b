"""The quality gate of the EMR steps: before a step writes what it computed for a date, every rule of each of its
tables that has a rule file (`retail_lake/contracts/rules/<table>.yaml`) is evaluated on those rows, with Deequ
(pydeequ and the jar the job configuration supplies) or, where the jar is missing and Great Expectations is
installed (the twin, laptops), with Great Expectations.

- an error-level rule failed: nothing of the step is written for that date (the previous partition, if any,
  stays), the results, the report, the metrics and the quality topic's message are published, and the step fails
  with `QualityGateFailed: ...` (the EMR job run ends FAILED, so the daily pipeline stops there);
- warnings only report: the tables are written.

    parser = argparse.ArgumentParser(...); add_arguments(parser)
    tables = {"customer_segments": df, ...}           # conformed to their declarations
    report = enforce(spark, "customer_segmentation", tables, run_date, output_path, args)   # raises on error
    ... write the tables ...

Runs on EMR's Python 3.9 (see emr_steps/README.md): no `match`, no package but pyspark, pydeequ, PyYAML, boto3.
"""

from __future__ import annotations

import argparse
import datetime as dt
from functools import lru_cache
from typing import Any, Mapping

from retail_lake.batch.schemas import EMR_TABLES
from retail_lake.quality.gate import (
    GateReport,
    QualityGateFailed,
    choose_engine,
    history_days,
    judge,
    new_run_id,
    publish_report,
    read_table,
    trailing_counts,
)
from retail_lake.quality.resolve import GateContext
from retail_lake.quality.results import METRICS_NAMESPACE, REPORTS_PREFIX, RESULTS_PREFIX
from retail_lake.quality.rules import rule_datasets, rules_for

AS_OF_DATE = "as_of_date"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The gate's arguments, shared by every step (the job driver passes them on AWS)."""
    group = parser.add_argument_group("quality gate")
    group.add_argument("--results_path", help=f"quality_results root (default: <output_path>/{RESULTS_PREFIX})")
    group.add_argument("--report_path", help=f"readable reports root (default: <output_path>/{REPORTS_PREFIX})")
    group.add_argument("--topic_arn", help="quality topic: a readable message when an error rule fails; without it "
                                           "(runs outside AWS) no metrics and no message are sent")
    group.add_argument("--pipeline", default="retail-lake", help="the Pipeline dimension of the metrics")
    group.add_argument("--metrics_namespace", default=METRICS_NAMESPACE)


@lru_cache(maxsize=None)
def gated_output_tables() -> tuple[str, ...]:
    """The EMR steps' tables that have a rule file, in declaration order."""
    with_rules = set(rule_datasets())
    return tuple(name for name in EMR_TABLES if name in with_rules)


def gated_tables(tables: Mapping[str, Any]) -> list[str]:
    """The tables among `tables` that have rules."""
    return [name for name in tables if name in gated_output_tables()]


def gate_outputs(spark: Any, step: str, tables: Mapping[str, Any], run_date: dt.date, output_path: str, *,
                 run_id: str | None = None, engine: str | None = None) -> GateReport:
    """Every rule of each gated table on the rows the step computed for `run_date` (each frame holds that date only,
    with its `as_of_date` column); the row-count band comes from the table's partitions already written."""
    engine = engine or choose_engine(spark)
    reports = []
    for name in gated_tables(tables):
        rules = rules_for(name)
        declared = EMR_TABLES[name]
        longest = history_days(rules)
        history: tuple[int, ...] = ()
        if longest:
            written = read_table(spark, f"{output_path.rstrip('/')}/{name}")
            if written is not None and AS_OF_DATE in written.columns:
                history = trailing_counts(written, run_date, longest, AS_OF_DATE)
        context = GateContext(run_date, history, tuple(f.name for f in declared.schema.fields))
        reports.append(judge(spark, name, tables[name], f"{AS_OF_DATE}={run_date.isoformat()}", context, engine,
                             rules))
    return GateReport(run_id or new_run_id(), run_date.isoformat(), engine, reports, dt.datetime.now(dt.timezone.utc),
                      guards=f"the {step} outputs", subject_of=f"the {step} outputs", label=step)


def enforce(spark: Any, step: str, tables: Mapping[str, Any], run_date: dt.date, output_path: str,
            args: argparse.Namespace, *, cloudwatch: Any = None, sns: Any = None) -> GateReport:
    """`gate_outputs`, then everything the run leaves behind (`retail_lake.quality.gate.publish_report`); raises
    `QualityGateFailed` when an error-level rule failed, before the step writes anything."""
    out = output_path.rstrip("/")
    report = gate_outputs(spark, step, tables, run_date, out)
    location = publish_report(spark, report, results_path=args.results_path or f"{out}/{RESULTS_PREFIX}",
                              report_path=args.report_path or f"{out}/{REPORTS_PREFIX}", topic_arn=args.topic_arn,
                              pipeline=args.pipeline, namespace=args.metrics_namespace, cloudwatch=cloudwatch, sns=sns)
    print(report.text())
    print(f"quality report: {location}")
    if report.failed:
        raise QualityGateFailed(report.headline())
    return report


def quality_summary(report: GateReport) -> dict[str, Any]:
    """What a step's last JSON line says about its gate."""
    summary = report.summary()
    return {"run_id": summary["run_id"], "engine": summary["engine"],
            "warnings": {name: d["warnings"] for name, d in summary["datasets"].items() if d["warnings"]}}
