"""Deequ engine (pydeequ inside the Glue and EMR Spark jobs on AWS): each rule becomes one Deequ `Check` with
one constraint (`constraint_for`, plain data: the `Check` method, its arguments and the assertion on the
metric), verified with `VerificationSuite`; failing row counts come from Deequ's row-level results (one
boolean column per check).

The jar is supplied by the job configuration (`DEEQU_MAVEN_COORDINATE`, through `--extra-jars` from the
artifacts bucket or `spark.jars.packages`) and pydeequ by `--additional-python-modules`; `deequ_available`
tells whether this Spark session has it. Schema rules compare `DataFrame.columns` (Deequ has no constraint
for a column set).
"""

from __future__ import annotations

import os
from typing import Any

from retail_lake.quality.resolve import Resolved, lag_column, schema_result, threshold_text
from retail_lake.quality.results import FAILED, PASSED, RuleResult, compliance

ENGINE = "deequ"
# Deequ for Spark 3.5 / Scala 2.12 (Glue 5.0, EMR 7) and the pydeequ release that drives it.
DEEQU_MAVEN_COORDINATE = "com.amazon.deequ:deequ:2.0.21-spark-3.5"
PYDEEQU_VERSION = "1.7.0"
DEEQU_CHECK_CLASS = "com.amazon.deequ.checks.Check"


def _sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)


def constraint_for(resolved: Resolved) -> dict[str, Any] | None:
    """The Deequ constraint for a rule: {"method", "args", "assertion"} where `assertion` is
    (operator, value) applied to the metric (None: the method asserts itself). None for schema rules."""
    rule, p = resolved.rule, resolved.rule.params
    column = rule.column
    exact = ("==", 1.0)
    if rule.type == "completeness":
        if float(p["min_fraction"]) >= 1:
            return {"method": "isComplete", "args": [column], "assertion": None}
        return {"method": "hasCompleteness", "args": [column], "assertion": (">=", float(p["min_fraction"]))}
    elif rule.type == "uniqueness":
        return {"method": "hasUniqueness", "args": [list(p["columns"])], "assertion": exact}
    elif rule.type == "allowed_values":
        return {"method": "isContainedIn", "args": [column, [str(v) for v in p["values"]]], "assertion": None}
    elif rule.type == "range":
        bounds = []
        if p["min"] is not None:
            bounds.append(f"{column} >= {p['min']!r}")
        if p["max"] is not None:
            bounds.append(f"{column} <= {p['max']!r}")
        predicate = f"{column} IS NULL OR ({' AND '.join(bounds)})"
        return {"method": "satisfies", "args": [predicate, rule.id], "assertion": exact}
    elif rule.type == "pattern":
        if p["forbid"]:
            predicate = f"{column} IS NULL OR NOT ({column} RLIKE {_sql_literal(p['regex'])})"
            return {"method": "satisfies", "args": [predicate, rule.id], "assertion": exact}
        return {"method": "hasPattern", "args": [column, p["regex"]], "assertion": exact}
    elif rule.type == "referential_integrity":
        flag = rule.flag_column
        return {"method": "satisfies", "args": [f"{flag} IS NULL OR {flag}", rule.id], "assertion": exact}
    elif rule.type == "freshness" and rule.scope == "row":
        lag, lag_seconds = lag_column(rule), float(p["min_lag_seconds"])
        bound = f"{lag} <= 0" if lag_seconds <= 0 else f"{lag} < {lag_seconds!r}"
        return {"method": "satisfies", "args": [f"{lag} IS NULL OR {bound}", rule.id], "assertion": exact}
    elif rule.type == "freshness":
        seconds = _epoch(resolved["min_time"])
        return {"method": "hasMax", "args": [f"_epoch_seconds_{column}"], "assertion": (">=", seconds)}
    elif rule.type == "row_count_anomaly":
        if resolved["max"] is None:
            return {"method": "hasSize", "args": [], "assertion": (">=", resolved["min"])}
        return {"method": "hasSize", "args": [], "assertion": ("between", (resolved["min"], resolved["max"]))}
    elif rule.type == "schema":
        return None
    raise ValueError(f"{rule.id}: no Deequ translation for type {rule.type!r}")


def _epoch(value) -> float:
    import datetime as dt

    return value.replace(tzinfo=dt.timezone.utc).timestamp()


def assertion_function(assertion: tuple[str, Any] | None):
    """The Python callable pydeequ passes to Deequ for an (operator, value) assertion."""
    if assertion is None:
        return None
    op, value = assertion
    if op == "==":
        return lambda metric: metric == value
    if op == ">=":
        return lambda metric: metric >= value
    if op == "between":
        low, high = value
        return lambda metric: low <= metric <= high
    raise ValueError(f"unknown assertion operator {op!r}")


def deequ_on_classpath(spark: Any) -> bool:
    """Whether the Deequ classes load in this Spark session's JVM. Jars added with `--jars` / `spark.jars` (EMR) or
    `--extra-jars` (Glue) are on the thread's context class loader, not the one `Class.forName(name)` uses from
    py4j, so the lookup names that loader."""
    jvm = spark.sparkContext._jvm
    try:
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        jvm.java.lang.Class.forName(DEEQU_CHECK_CLASS, False, loader)
    except Exception:  # py4j's Py4JJavaError (ClassNotFoundException) or Py4JError: not there
        return False
    return True


def deequ_available(spark: Any) -> bool:
    """Whether the Deequ classes load in this Spark session's JVM and pydeequ imports."""
    if not deequ_on_classpath(spark):
        return False
    os.environ.setdefault("SPARK_VERSION", spark.version.rsplit(".", 1)[0])
    try:
        import pydeequ  # noqa: F401
    except ImportError:
        return False
    return True


def build_check(spark: Any, resolved: Resolved) -> Any:
    """A pydeequ `Check` holding the rule's constraint (error or warning level)."""
    from pydeequ.checks import Check, CheckLevel

    rule = resolved.rule
    spec = constraint_for(resolved)
    level = CheckLevel.Error if rule.is_error else CheckLevel.Warning
    check = Check(spark, level, rule.id)
    method = getattr(check, spec["method"])
    assertion = assertion_function(spec["assertion"])
    if spec["method"] == "hasSize":
        return method(assertion)
    if assertion is None:
        return method(*spec["args"])
    return method(*spec["args"], assertion)


def evaluate(spark: Any, frame: Any, resolved_rules: list[Resolved]) -> list[RuleResult]:
    """Verify the Spark `frame` with Deequ; one `RuleResult` per rule. The frame holds rows (an empty partition is
    judged without an engine: `retail_lake.quality.gate.evaluate_dataset`)."""
    try:
        return _evaluate(spark, frame, resolved_rules)
    finally:
        # pydeequ starts py4j's callback server for the assertion functions; left running it keeps the driver's
        # Python process alive after the job's last line (the run would never end). pydeequ restarts it when needed.
        spark.sparkContext._gateway.shutdown_callback_server()


def _evaluate(spark: Any, frame: Any, resolved_rules: list[Resolved]) -> list[RuleResult]:
    from pydeequ.verification import VerificationResult, VerificationSuite

    total = frame.count()
    checked = [r for r in resolved_rules if r.rule.type != "schema"]
    suite = VerificationSuite(spark).onData(frame)
    for resolved in checked:
        suite = suite.addCheck(build_check(spark, resolved))
    outcome = suite.run()
    statuses = {row["check"]: row for row in
                VerificationResult.checkResultsAsDataFrame(spark, outcome).collect()}
    row_level = VerificationResult.rowLevelResultsAsDataFrame(spark, outcome, frame)
    row_judged = [r.rule.id for r in checked if r.rule.row_judged or r.rule.type == "uniqueness"]
    failing = {}
    if row_judged:
        from pyspark.sql import functions as F

        counts = row_level.agg(*[F.sum(F.when(~F.col(f"`{rid}`"), 1).otherwise(0)).alias(rid.replace(".", "_"))
                                 for rid in row_judged]).first()
        failing = {rid: int(counts[rid.replace(".", "_")] or 0) for rid in row_judged}
    results = []
    for resolved in resolved_rules:
        rule = resolved.rule
        if rule.type == "schema":
            results.append(schema_result(resolved, frame.columns, total, ENGINE))
            continue
        row = statuses[rule.id]
        status = PASSED if row["constraint_status"] == "Success" else FAILED
        count = failing.get(rule.id)
        observed = compliance(count, total) if count is not None else row["constraint_message"] or "ok"
        results.append(RuleResult(rule.id, rule.level, rule.scope, rule.type, status, observed,
                                  threshold_text(resolved), count, total, ENGINE))
    return results
