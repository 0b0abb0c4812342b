"""How the Deequ engine turns a verification into `RuleResult`s (the jar cannot run here, so pydeequ's
`VerificationSuite` and `VerificationResult` are stood in for, returning Spark frames shaped as pydeequ's are: one
row per check with `check`, `constraint_status`, `constraint_message`; the data plus one boolean column per check
named by its description, the rule id). Checked: the status mapping, failing rows counted from the row-level
results, the schema rule judged from the columns, and the py4j callback server shut down even when Deequ fails."""

from __future__ import annotations

import datetime as dt
import sys
import types

import pytest

from retail_lake.quality import deequ
from retail_lake.quality.resolve import GateContext, resolve_all
from retail_lake.quality.rules import parse_rules

RULES = parse_rules({"dataset": "pos_sales", "rules": [
    {"id": "pos_sales.sku.complete", "level": "error", "scope": "row", "type": "completeness", "column": "sku"},
    {"id": "pos_sales.line_id.unique", "level": "error", "scope": "dataset", "type": "uniqueness",
     "columns": ["line_id"]},
    {"id": "pos_sales.rows.anomaly", "level": "warning", "scope": "dataset", "type": "row_count_anomaly"},
    {"id": "pos_sales.schema.expected", "level": "error", "scope": "dataset", "type": "schema",
     "columns": ["line_id", "sku", "quantity"]},
]})


class _Check:
    def __init__(self, spark, level, description):
        self.description = description

    def __getattr__(self, method):
        return lambda *args: self


def _stand_in(monkeypatch, spark, statuses: dict[str, tuple[str, str]], row_level: dict[str, list[bool]],
              fail: bool = False) -> tuple[list[str], list[str]]:
    """pydeequ stand-ins answering `statuses` (rule id -> (status, message)) and `row_level` (rule id -> per row)."""
    added: list[str] = []

    class Suite:
        def __init__(self, session):
            pass

        def onData(self, frame):  # noqa: N802 - pydeequ's names
            self.frame = frame
            return self

        def addCheck(self, check):  # noqa: N802
            added.append(check.description)
            return self

        def run(self):
            if fail:
                raise RuntimeError("Deequ failed")
            return "outcome"

    class Result:
        @staticmethod
        def checkResultsAsDataFrame(session, outcome):  # noqa: N802
            return session.createDataFrame(
                [(rule_id, "Error", status, "constraint", status, message)
                 for rule_id, (status, message) in statuses.items()],
                "check string, check_level string, check_status string, constraint string, "
                "constraint_status string, constraint_message string")

        @staticmethod
        def rowLevelResultsAsDataFrame(session, outcome, frame):  # noqa: N802
            rows = frame.collect()
            names = list(row_level)
            data = [(*row, *(row_level[name][i] for name in names)) for i, row in enumerate(rows)]
            schema = ", ".join([f"{f.name} {f.dataType.simpleString()}" for f in frame.schema.fields]
                               + [f"`{name}` boolean" for name in names])
            return session.createDataFrame(data, schema)

    checks = types.ModuleType("pydeequ.checks")
    checks.Check, checks.CheckLevel = _Check, types.SimpleNamespace(Error="Error", Warning="Warning")
    verification = types.ModuleType("pydeequ.verification")
    verification.VerificationSuite, verification.VerificationResult = Suite, Result
    monkeypatch.setitem(sys.modules, "pydeequ", types.ModuleType("pydeequ"))
    monkeypatch.setitem(sys.modules, "pydeequ.checks", checks)
    monkeypatch.setitem(sys.modules, "pydeequ.verification", verification)
    shutdowns: list[str] = []
    monkeypatch.setattr(spark.sparkContext._gateway, "shutdown_callback_server", lambda: shutdowns.append("down"))
    return added, shutdowns


def _frame(spark):
    return spark.createDataFrame([("L1", "A", 1), ("L1", None, 2), ("L3", "C", 3), ("L4", None, 4)],
                                 "line_id string, sku string, quantity int")


def test_statuses_and_failing_rows_come_from_the_check_and_row_level_results(spark, monkeypatch):
    frame = _frame(spark)
    added, shutdowns = _stand_in(
        monkeypatch, spark,
        {"pos_sales.sku.complete": ("Failure", "Value: 0.5 does not meet the constraint requirement!"),
         "pos_sales.line_id.unique": ("Failure", "Value: 0.5 does not meet the constraint requirement!"),
         "pos_sales.rows.anomaly": ("Success", "")},
        {"pos_sales.sku.complete": [True, False, True, False], "pos_sales.line_id.unique": [False, False, True, True],
         "pos_sales.rows.anomaly": [True] * 4})
    context = GateContext(dt.date(2026, 11, 7), (4, 4, 4))
    results = {r.rule_id: r for r in deequ.evaluate(spark, frame, resolve_all(RULES, context))}

    assert added == ["pos_sales.sku.complete", "pos_sales.line_id.unique", "pos_sales.rows.anomaly"]  # not schema
    complete, unique = results["pos_sales.sku.complete"], results["pos_sales.line_id.unique"]
    assert (complete.status, complete.failing_rows, complete.observed_value) == ("failed", 2, "0.500000")
    assert (unique.status, unique.failing_rows, unique.evaluated_rows) == ("failed", 2, 4)
    anomaly = results["pos_sales.rows.anomaly"]
    assert (anomaly.status, anomaly.failing_rows, anomaly.observed_value) == ("passed", None, "ok")
    schema = results["pos_sales.schema.expected"]
    assert (schema.status, schema.observed_value) == ("passed", "as expected")
    assert {r.engine for r in results.values()} == {"deequ"} and shutdowns == ["down"]


def test_the_callback_server_is_shut_down_when_deequ_fails(spark, monkeypatch):
    _, shutdowns = _stand_in(monkeypatch, spark, {}, {}, fail=True)
    with pytest.raises(RuntimeError, match="Deequ failed"):
        deequ.evaluate(spark, _frame(spark), resolve_all(RULES, GateContext(dt.date(2026, 11, 7))))
    assert shutdowns == ["down"]
