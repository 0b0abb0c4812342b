"""What each rule type is translated into: a Great Expectations expectation, a Deequ constraint (and the pydeequ
Check calls it makes), a Glue Data Quality (DQDL) rule. One rule per type, with exact expected outputs."""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import sys
import types

import pytest

from retail_lake.quality import deequ, dqdl, expectations
from retail_lake.quality.resolve import GateContext, resolve
from retail_lake.quality.rules import parse_rules

DAY = dt.date(2026, 11, 7)
CONTEXT = GateContext(DAY, trailing_counts=(1000, 1200, 800), expected_columns=("event_id", "sku"))
ORDER = ["ingest_arrival_time", "ingest_sequence_number"]

RULES = {r.id.split(".", 1)[1]: r for r in parse_rules({"dataset": "pos_sales", "rules": [
    {"id": "pos_sales.event_id.complete", "level": "error", "scope": "row", "type": "completeness",
     "column": "event_id"},
    {"id": "pos_sales.customer_id.mostly", "level": "warning", "scope": "dataset", "type": "completeness",
     "column": "customer_id", "min_fraction": 0.9},
    {"id": "pos_sales.line_id.unique", "level": "error", "scope": "dataset", "type": "uniqueness",
     "columns": ["line_id"]},
    {"id": "pos_sales.line.unique", "level": "error", "scope": "dataset", "type": "uniqueness",
     "columns": ["event_id", "line_number"]},
    {"id": "pos_sales.tender_type.allowed", "level": "error", "scope": "row", "type": "allowed_values",
     "column": "tender_type", "values": ["cash", "card"]},
    {"id": "pos_sales.quantity.range", "level": "error", "scope": "row", "type": "range", "column": "quantity",
     "min": 1, "max": 1000},
    {"id": "pos_sales.currency.pattern", "level": "error", "scope": "row", "type": "pattern", "column": "currency",
     "regex": "^[A-Z]{3}$"},
    {"id": "pos_sales.search.no_card", "level": "error", "scope": "row", "type": "pattern", "column": "search",
     "regex": "\\d{13}", "forbid": True},
    {"id": "pos_sales.sku.known", "level": "error", "scope": "row", "type": "referential_integrity",
     "column": "sku", "reference": "products"},
    {"id": "pos_sales.event_time.in_order", "level": "warning", "scope": "row", "type": "freshness",
     "column": "event_time", "order_by": ORDER},
    {"id": "pos_sales.event_time.late", "level": "warning", "scope": "row", "type": "freshness",
     "column": "event_time", "order_by": ORDER, "min_lag_seconds": 3600},
    {"id": "pos_sales.event_time.fresh", "level": "warning", "scope": "dataset", "type": "freshness",
     "column": "event_time", "max_age_hours": 12},
    {"id": "pos_sales.row_count.anomaly", "level": "warning", "scope": "dataset", "type": "row_count_anomaly",
     "trailing_days": 7, "max_deviation": 0.5},
    {"id": "pos_sales.schema.columns", "level": "error", "scope": "dataset", "type": "schema"},
]})}

EXPECTED = {
    # rule: (Great Expectations, Deequ constraint, DQDL)
    "event_id.complete": (
        ("ExpectColumnValuesToNotBeNull", {"column": "event_id"}),
        {"method": "isComplete", "args": ["event_id"], "assertion": None},
        'IsComplete "event_id"'),
    "customer_id.mostly": (
        ("ExpectColumnValuesToNotBeNull", {"column": "customer_id", "mostly": 0.9}),
        {"method": "hasCompleteness", "args": ["customer_id"], "assertion": (">=", 0.9)},
        'Completeness "customer_id" >= 0.9'),
    "line_id.unique": (
        ("ExpectColumnValuesToBeUnique", {"column": "line_id"}),
        {"method": "hasUniqueness", "args": [["line_id"]], "assertion": ("==", 1.0)},
        'IsUnique "line_id"'),
    "line.unique": (
        ("ExpectCompoundColumnsToBeUnique", {"column_list": ["event_id", "line_number"]}),
        {"method": "hasUniqueness", "args": [["event_id", "line_number"]], "assertion": ("==", 1.0)},
        'IsPrimaryKey "event_id" "line_number"'),
    "tender_type.allowed": (
        ("ExpectColumnValuesToBeInSet", {"column": "tender_type", "value_set": ["cash", "card"]}),
        {"method": "isContainedIn", "args": ["tender_type", ["cash", "card"]], "assertion": None},
        'ColumnValues "tender_type" in ["cash", "card"]'),
    "quantity.range": (
        ("ExpectColumnValuesToBeBetween", {"column": "quantity", "min_value": 1, "max_value": 1000}),
        {"method": "satisfies", "args": ["quantity IS NULL OR (quantity >= 1 AND quantity <= 1000)",
                                         "pos_sales.quantity.range"], "assertion": ("==", 1.0)},
        '(ColumnValues "quantity" >= 1) and (ColumnValues "quantity" <= 1000)'),
    "currency.pattern": (
        ("ExpectColumnValuesToMatchRegex", {"column": "currency", "regex": "^[A-Z]{3}$"}),
        {"method": "hasPattern", "args": ["currency", "^[A-Z]{3}$"], "assertion": ("==", 1.0)},
        'ColumnValues "currency" matches "^[A-Z]{3}$"'),
    "search.no_card": (
        ("ExpectColumnValuesToNotMatchRegex", {"column": "search", "regex": "\\d{13}"}),
        {"method": "satisfies", "args": ["search IS NULL OR NOT (search RLIKE '\\\\d{13}')",
                                         "pos_sales.search.no_card"], "assertion": ("==", 1.0)},
        'ColumnValues "search" not matches "\\\\d{13}"'),
    "sku.known": (
        ("ExpectColumnValuesToBeInSet", {"column": "sku_known", "value_set": [True]}),
        {"method": "satisfies", "args": ["sku_known IS NULL OR sku_known", "pos_sales.sku.known"],
         "assertion": ("==", 1.0)},
        'ColumnValues "sku_known" in ["true"]'),
    "event_time.in_order": (
        ("ExpectColumnValuesToBeBetween", {"column": "_lag_seconds_event_time", "max_value": 0}),
        {"method": "satisfies", "args": ["_lag_seconds_event_time IS NULL OR _lag_seconds_event_time <= 0",
                                         "pos_sales.event_time.in_order"], "assertion": ("==", 1.0)},
        None),
    "event_time.late": (
        ("ExpectColumnValuesToBeBetween", {"column": "_lag_seconds_event_time", "max_value": 3600.0,
                                           "strict_max": True}),
        {"method": "satisfies", "args": ["_lag_seconds_event_time IS NULL OR _lag_seconds_event_time < 3600.0",
                                         "pos_sales.event_time.late"], "assertion": ("==", 1.0)},
        None),
    "event_time.fresh": (
        ("ExpectColumnMaxToBeBetween", {"column": "event_time", "min_value": dt.datetime(2026, 11, 7, 12)}),
        {"method": "hasMax", "args": ["_epoch_seconds_event_time"],
         "assertion": (">=", dt.datetime(2026, 11, 7, 12, tzinfo=dt.timezone.utc).timestamp())},
        'DataFreshness "event_time" <= 36 hours'),
    "row_count.anomaly": (
        # median of the trailing days (1000, 1200, 800): 1000, +/- 50%
        ("ExpectTableRowCountToBeBetween", {"min_value": 500, "max_value": 1500}),
        {"method": "hasSize", "args": [], "assertion": ("between", (500, 1500))},
        "RowCount between 0.5*avg(last(7)) and 1.5*avg(last(7))"),
    "schema.columns": (
        ("ExpectTableColumnsToMatchSet", {"column_set": ["event_id", "sku"], "exact_match": True}),
        None,
        None),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_great_expectations_translation(name):
    assert expectations.expectation_for(resolve(RULES[name], CONTEXT)) == EXPECTED[name][0]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_deequ_translation(name):
    assert deequ.constraint_for(resolve(RULES[name], CONTEXT)) == EXPECTED[name][1]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dqdl_translation(name):
    assert dqdl.dqdl_rule(RULES[name]) == EXPECTED[name][2]


def test_every_great_expectations_class_exists_and_accepts_its_arguments():
    import great_expectations.expectations as gxe

    for name in EXPECTED:
        class_name, kwargs = expectations.expectation_for(resolve(RULES[name], CONTEXT))
        expectation = getattr(gxe, class_name)(**kwargs)  # pydantic validates the arguments
        assert expectation.expectation_type


def test_row_count_without_history_asks_only_the_minimum():
    resolved = resolve(RULES["row_count.anomaly"], GateContext(DAY))
    assert expectations.expectation_for(resolved) == ("ExpectTableRowCountToBeBetween", {"min_value": 1})
    assert deequ.constraint_for(resolved)["assertion"] == (">=", 1)


def _pydeequ_check_signatures() -> dict[str, inspect.Signature]:
    """The signatures of pydeequ's `Check` methods, read from the pinned pydeequ the EMR jobs get (the built
    packages folder, requirements/emr-python.txt) without importing it (it wants a JVM and Python 3.9's pandas)."""
    from stacks.dependency_builds import EMR_PYTHON_DEPS

    source = EMR_PYTHON_DEPS.verified().site_dir / "pydeequ" / "checks.py"
    tree = ast.parse(source.read_text())
    (check,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Check"]
    signatures = {}
    for method in check.body:
        if isinstance(method, ast.FunctionDef) and not method.name.startswith("_"):
            arguments = method.args
            arguments.defaults = [ast.Constant(None) for _ in arguments.defaults]  # values need pydeequ's names
            stub = ast.Module(body=[ast.FunctionDef(name=method.name, args=arguments, body=[ast.Pass()],
                                                    decorator_list=[], returns=None)],
                              type_ignores=[])
            namespace: dict = {}
            exec(compile(ast.fix_missing_locations(stub), str(source), "exec"), namespace)
            signatures[method.name] = inspect.signature(namespace[method.name])
    return signatures


PYDEEQU_CHECK = _pydeequ_check_signatures()


class _FakeCheck:
    """Records the pydeequ Check calls `deequ.build_check` makes (the jar cannot run here); each call must bind to
    the real method's signature, so a wrong name or argument count fails."""

    def __init__(self, spark, level, description):
        self.level, self.description, self.calls = level, description, []

    def __getattr__(self, method):
        def call(*args):
            assert method in PYDEEQU_CHECK, f"pydeequ's Check has no method {method}"
            PYDEEQU_CHECK[method].bind(self, *args)  # TypeError when the arguments do not fit
            self.calls.append((method, args))
            return self
        return call


@pytest.fixture
def fake_pydeequ(monkeypatch):
    checks = types.ModuleType("pydeequ.checks")
    checks.Check = _FakeCheck
    checks.CheckLevel = types.SimpleNamespace(Error="Error", Warning="Warning")
    monkeypatch.setitem(sys.modules, "pydeequ", types.ModuleType("pydeequ"))
    monkeypatch.setitem(sys.modules, "pydeequ.checks", checks)


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if EXPECTED[n][1] is not None))
def test_the_pydeequ_check_gets_the_constraint_and_an_assertion_that_judges_like_it(fake_pydeequ, name):
    rule = RULES[name]
    check = deequ.build_check(None, resolve(rule, CONTEXT))
    assert (check.description, check.level) == (rule.id, "Error" if rule.is_error else "Warning")
    ((method, args),) = check.calls
    spec = EXPECTED[name][1]
    assert method == spec["method"]
    if spec["assertion"] is None:
        assert list(args) == spec["args"]
        return
    *given, assertion = args
    assert given == spec["args"]
    op, value = spec["assertion"]
    if op == "==":
        assert assertion(1.0) and not assertion(0.999)
    elif op == ">=":
        assert assertion(value) and not assertion(value - 0.001)
    else:
        low, high = value
        assert assertion(low) and assertion(high) and not assertion(low - 1) and not assertion(high + 1)


def test_deequ_jar_matches_spark_35_and_pydeequ_is_pinned():
    assert deequ.DEEQU_MAVEN_COORDINATE == "com.amazon.deequ:deequ:2.0.21-spark-3.5"
    assert deequ.PYDEEQU_VERSION == "1.7.0"


def test_a_ruleset_lists_what_dqdl_cannot_express():
    document, gate_only = dqdl.ruleset(list(RULES.values()))
    assert document.startswith("Rules = [\n    IsComplete \"event_id\",")
    assert document.endswith("\n]")
    assert gate_only == ["pos_sales.event_time.in_order", "pos_sales.event_time.late", "pos_sales.schema.columns"]


def test_the_recording_check_refuses_what_pydeequ_would():
    check = _FakeCheck(None, "Error", "x")
    with pytest.raises(TypeError):
        check.hasSize()  # hasSize(assertion, hint=None)
    with pytest.raises(AssertionError, match="no method hasUniquness"):
        check.hasUniquness(["a"], lambda v: v == 1)
    assert len(PYDEEQU_CHECK) > 30 and "isContainedIn" in PYDEEQU_CHECK
