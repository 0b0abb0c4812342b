"""Rule files: every dataset has one, each rule validates, and a broken file is refused with a clear reason."""

from __future__ import annotations

import pytest

from retail_lake.contracts.registry import BY_DATASET, DATASETS
from retail_lake.quality.rules import RULE_TYPES, RuleError, parse_rules, rules_for


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_dataset_has_valid_rules_for_its_contract_columns(dataset):
    rules = rules_for(dataset)
    assert rules and all(r.dataset == dataset and r.id.startswith(dataset + ".") for r in rules)
    assert len({r.id for r in rules}) == len(rules)
    contract_columns = {f.name for f in BY_DATASET[dataset].fields}
    line_columns = {"sku", "quantity", "unit_price", "line_id"} if dataset == "pos_sales" else set()
    for rule in rules:
        if rule.column:
            assert rule.column in contract_columns | line_columns, rule.id
    # every dataset is gated on its schema and its key, and quarantines unknown keys
    kinds = {(r.type, r.level) for r in rules}
    assert {("schema", "error"), ("uniqueness", "error"), ("referential_integrity", "error")} <= kinds


def test_all_rule_types_are_used_somewhere():
    used = {r.type for d in DATASETS for r in rules_for(d)}
    assert used == set(RULE_TYPES)


def _doc(**rule):
    return {"dataset": "pos_sales", "rules": [{"id": "pos_sales.x.y", "level": "error", "scope": "row", **rule}]}


@pytest.mark.parametrize(("rule", "message"), [
    ({"type": "completeness"}, "needs column"),
    ({"type": "nonsense", "column": "a"}, "type 'nonsense' is not one of"),
    ({"type": "uniqueness", "columns": ["a"]}, "has scope dataset, not 'row'"),
    ({"type": "range", "column": "a"}, "needs min, max or both"),
    ({"type": "pattern", "column": "a", "regex": "("}, "does not compile"),
    ({"type": "referential_integrity", "column": "a", "reference": "planets"}, "reference must be one of"),
    ({"type": "allowed_values", "column": "a", "values": []}, "non-empty list"),
    ({"type": "range", "column": "a", "min": 1, "colour": "red"}, "unknown parameter(s) colour"),
    ({"type": "freshness", "column": "event_time"}, "needs order_by"),
])
def test_broken_rules_are_refused_with_the_reason(rule, message):
    with pytest.raises(RuleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_rules(_doc(**rule), "rules.yaml")


def test_levels_and_ids_are_checked():
    with pytest.raises(RuleError, match="level 'fatal'"):
        parse_rules({"dataset": "pos_sales", "rules": [
            {"id": "pos_sales.a.b", "level": "fatal", "scope": "row", "type": "completeness", "column": "a"}]})
    with pytest.raises(RuleError, match="id must look like pos_sales"):
        parse_rules({"dataset": "pos_sales", "rules": [
            {"id": "clickstream.a.b", "level": "error", "scope": "row", "type": "completeness", "column": "a"}]})
    with pytest.raises(RuleError, match="no rule file for dataset 'nope'"):
        rules_for("nope")


@pytest.mark.parametrize("table", ["customer_segments", "product_affinity", "demand_forecast"])
def test_each_gated_emr_output_has_valid_rules_for_its_declared_columns(table):
    from retail_lake.batch.schemas import EMR_TABLES

    rules = rules_for(table)
    declared = {f.name for f in EMR_TABLES[table].schema.fields}
    for rule in rules:
        assert rule.scope == "dataset", rule.id  # nothing is quarantined after a model run: the whole output is judged
        for column in [rule.column, *(rule.params.get("columns") or [])]:
            assert column is None or column in declared, rule.id
    kinds = {(r.type, r.level) for r in rules}
    assert {("schema", "error"), ("uniqueness", "error"), ("row_count_anomaly", "warning")} <= kinds


def test_every_rule_file_is_a_contract_dataset_or_a_gated_emr_output():
    from retail_lake.quality.output_gate import gated_output_tables
    from retail_lake.quality.rules import rule_datasets

    assert set(rule_datasets()) == {*DATASETS, *gated_output_tables()}
