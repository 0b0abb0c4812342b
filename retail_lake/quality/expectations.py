"""Great Expectations engine: each rule becomes one expectation (`expectation_for`, plain data: the
expectation class name and its keyword arguments), run on a pandas DataFrame with an ephemeral context.

Used wherever the Deequ jar is not on the Spark classpath (the local twin, tests, laptops). The frame must
hold the columns the rules read, decimals as floats, timestamps as naive UTC, and the helper columns
`retail_lake.quality.prepare` adds (arrival lag).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from retail_lake.quality.resolve import Resolved, lag_column, schema_result, threshold_text
from retail_lake.quality.results import FAILED, PASSED, RuleResult, compliance

ENGINE = "great_expectations"
_CONTEXT_LOCK = threading.Lock()
_CONTEXT: Any = None


def expectation_for(resolved: Resolved) -> tuple[str, dict[str, Any]]:
    """(Great Expectations class name, keyword arguments) checking `resolved.rule`."""
    rule, p = resolved.rule, resolved.rule.params
    column = rule.column
    if rule.type == "completeness":
        kwargs = {"column": column}
        if float(p["min_fraction"]) < 1:
            kwargs["mostly"] = float(p["min_fraction"])
        return "ExpectColumnValuesToNotBeNull", kwargs
    elif rule.type == "uniqueness":
        if len(p["columns"]) == 1:
            return "ExpectColumnValuesToBeUnique", {"column": p["columns"][0]}
        return "ExpectCompoundColumnsToBeUnique", {"column_list": list(p["columns"])}
    elif rule.type == "allowed_values":
        return "ExpectColumnValuesToBeInSet", {"column": column, "value_set": list(p["values"])}
    elif rule.type == "range":
        kwargs = {"column": column}
        if p["min"] is not None:
            kwargs["min_value"] = p["min"]
        if p["max"] is not None:
            kwargs["max_value"] = p["max"]
        return "ExpectColumnValuesToBeBetween", kwargs
    elif rule.type == "pattern":
        name = "ExpectColumnValuesToNotMatchRegex" if p["forbid"] else "ExpectColumnValuesToMatchRegex"
        return name, {"column": column, "regex": p["regex"]}
    elif rule.type == "referential_integrity":
        return "ExpectColumnValuesToBeInSet", {"column": rule.flag_column, "value_set": [True]}
    elif rule.type == "freshness" and rule.scope == "row":
        lag = float(p["min_lag_seconds"])
        if lag <= 0:
            return "ExpectColumnValuesToBeBetween", {"column": lag_column(rule), "max_value": 0}
        return "ExpectColumnValuesToBeBetween", {"column": lag_column(rule), "max_value": lag, "strict_max": True}
    elif rule.type == "freshness":
        return "ExpectColumnMaxToBeBetween", {"column": column, "min_value": resolved["min_time"]}
    elif rule.type == "row_count_anomaly":
        kwargs = {"min_value": resolved["min"]}
        if resolved["max"] is not None:
            kwargs["max_value"] = resolved["max"]
        return "ExpectTableRowCountToBeBetween", kwargs
    elif rule.type == "schema":
        return "ExpectTableColumnsToMatchSet", {"column_set": list(resolved["columns"]), "exact_match": True}
    raise ValueError(f"{rule.id}: no Great Expectations translation for type {rule.type!r}")


def _context() -> Any:
    """One ephemeral context per process (creating one costs more than validating a small frame)."""
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            _CONTEXT = context
        return _CONTEXT


def evaluate(frame: Any, resolved_rules: list[Resolved]) -> list[RuleResult]:
    """Validate the pandas `frame` against the rules; one `RuleResult` per rule, in the rules' order."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = _context()
    with _CONTEXT_LOCK:
        name = f"frame_{id(frame)}_{len(context.data_sources.all())}"
        source = context.data_sources.add_pandas(name)
    batch = source.add_dataframe_asset("frame").add_batch_definition_whole_dataframe("whole").get_batch(
        batch_parameters={"dataframe": frame})
    suite = gx.ExpectationSuite(name=f"{name}_suite")
    for index, resolved in enumerate(resolved_rules):
        class_name, kwargs = expectation_for(resolved)
        suite.add_expectation(getattr(gxe, class_name)(**kwargs, meta={"rule_index": index}))
    try:
        outcome = batch.validate(suite, result_format={"result_format": "SUMMARY"})
    finally:
        with _CONTEXT_LOCK:
            context.data_sources.delete(name)
    by_index = {int(r.expectation_config.meta["rule_index"]): r for r in outcome.results}
    total = len(frame)
    return [_result(resolved, by_index[i], total) for i, resolved in enumerate(resolved_rules)]


def _result(resolved: Resolved, validation: Any, total: int) -> RuleResult:
    rule = resolved.rule
    found = validation.result or {}
    if validation.exception_info and validation.exception_info.get("raised_exception"):
        message = validation.exception_info.get("exception_message") or "expectation raised"
        return RuleResult(rule.id, rule.level, rule.scope, rule.type, FAILED, f"error: {message}",
                          threshold_text(resolved), None, total, ENGINE)
    status = PASSED if validation.success else FAILED
    if rule.type == "schema":
        return schema_result(resolved, found.get("observed_value") or [], total, ENGINE, status)
    if rule.type == "row_count_anomaly":
        return RuleResult(rule.id, rule.level, rule.scope, rule.type, status, str(found.get("observed_value")),
                          threshold_text(resolved), None, total, ENGINE)
    if rule.type == "freshness" and rule.scope == "dataset":
        newest = found.get("observed_value")
        observed = "no rows" if newest is None or newest != newest else _iso(newest)  # NaT != NaT
        return RuleResult(rule.id, rule.level, rule.scope, rule.type, status, observed, threshold_text(resolved),
                          None, total, ENGINE)
    failing = int(found.get("unexpected_count") or 0)
    if rule.type == "completeness":
        failing = int(found.get("unexpected_count") or 0)  # nulls are what this expectation counts
    return RuleResult(rule.id, rule.level, rule.scope, rule.type, status, compliance(failing, total),
                      threshold_text(resolved), failing, total, ENGINE)


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
