"""The quality rules on generated data, with Great Expectations running for real: every defect class the generator
injects is caught by the rule meant for it with the generator's exact counts, a clean lake passes every rule, and
the gate fails on error rules (with a readable report without personal data) but not on warnings."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from collections import Counter

import pandas as pd
import pytest
from pyspark.sql import functions as F

from retail_lake.contracts.registry import DATASETS
from retail_lake.generator import GeneratorConfig
from retail_lake.quality import expectations
from retail_lake.quality.gate import EVENT_DATE, evaluate_dataset, run_gate
from retail_lake.quality.resolve import GateContext, resolve
from retail_lake.quality.row_checks import FAILED_RULES, event_key_for, split_rows, violation, with_helper_columns
from retail_lake.quality.rules import parse_rules, rules_for
from tests.unit.batch.quality_lake import build_lake

DEFECTS = {"duplicate": 10, "malformed_json": 6, "missing_required_field": 6, "wrong_type": 6,
           "negative_quantity": 6, "unknown_sku": 12, "late_event": 10, "out_of_order": 10,
           "unknown_extra_field": 6, "raw_card_number": 8}
DIRTY = GeneratorConfig(events=3_000, seed=11, stores=4, skus=200, customers=500, days=3, defect_rate=0.0,
                        defect_counts=DEFECTS)
CLEAN = replace(DIRTY.with_no_defects(), events=1_500)


def _rule(dataset: str, rule_id: str):
    (rule,) = [r for r in rules_for(dataset) if r.id == rule_id]
    return rule


@pytest.fixture(scope="module")
def dirty(spark, tmp_path_factory):
    lake = build_lake(spark, DIRTY, tmp_path_factory.mktemp("dirty-reference"))
    splits = {}
    for dataset in DATASETS:
        split = split_rows(lake.curated_rows(dataset), rules_for(dataset), event_key=event_key_for(dataset))
        split.flagged.cache()
        splits[dataset] = split
    yield lake, splits
    for split in splits.values():
        split.flagged.unpersist()


@pytest.fixture(scope="module")
def clean(spark, tmp_path_factory):
    return build_lake(spark, CLEAN, tmp_path_factory.mktemp("clean-reference"))


def _events(df) -> int:
    return df.select("event_id").distinct().count()


# ------------------------------------------------------------------------------------------ defect classes


def test_the_stream_contract_quarantines_the_classes_it_owns_exactly(dirty):
    lake, _ = dirty
    # malformed JSON, missing fields, wrong types, negative quantities and unknown fields never reach raw
    assert dict(Counter(q["reason"] for q in lake.quarantine)) == lake.report["expected"]["quarantined"]
    assert lake.report["expected"]["quarantined"] == {"malformed_json": 6, "missing_field": 6, "wrong_type": 6,
                                                      "invalid_value": 6, "unknown_field": 6}


def test_duplicates_break_event_id_uniqueness_in_raw_and_are_gone_in_curated(dirty):
    lake, splits = dirty
    # the raw rows of all datasets, keyed as the curated tables are (clickstream and inventory: event_id)
    raw = pd.concat([lake.raw[d].select("event_id").toPandas() for d in DATASETS], ignore_index=True)
    rule = parse_rules({"dataset": "clickstream", "rules": [
        {"id": "clickstream.event_id.unique", "level": "error", "scope": "dataset", "type": "uniqueness",
         "columns": ["event_id"]}]})[0]
    (result,) = expectations.evaluate(raw, [resolve(rule, GateContext(dt.date(2026, 11, 3)))])
    # each injected duplicate is a second copy of one clean event: both copies share the key
    assert result.status == "failed" and result.failing_rows == 2 * lake.report["defects"]["duplicate"] == 20
    for dataset in DATASETS:
        (unique,) = [r for r in rules_for(dataset) if r.type == "uniqueness"]
        (after,) = expectations.evaluate(splits[dataset].good.select(*unique.params["columns"]).toPandas(),
                                         [resolve(unique, GateContext(dt.date(2026, 11, 3)))])
        assert after.status == "passed" and after.failing_rows == 0, dataset


def test_unknown_skus_are_quarantined_by_the_referential_integrity_rules_exactly(dirty):
    lake, splits = dirty
    by_rule = Counter()
    for dataset, split in splits.items():
        counts = split.counts()
        by_rule.update(counts["quarantined_by_rule"])
        # every event is in exactly one place: curated or quarantine
        total = _events(split.flagged)
        assert _events(split.good) + counts["events_quarantined"] == total, dataset
        assert split.good.join(split.bad.select("event_id"), "event_id", "left_semi").count() == 0
        assert set(split.bad.columns) == set(split.good.columns) | {FAILED_RULES, "quality_reason"}
    assert dict(by_rule) == {"pos_sales.sku.known": by_rule["pos_sales.sku.known"],
                             "clickstream.sku.known": by_rule["clickstream.sku.known"]}
    assert sum(by_rule.values()) == lake.report["expected"]["unknown_skus"] == 12
    bad_pos = splits["pos_sales"].bad
    assert {tuple(r[FAILED_RULES]) for r in bad_pos.select(FAILED_RULES).collect()} == {("pos_sales.sku.known",)}


def _lagging_events(splits, suffix: str) -> tuple[int, int]:
    """(events failing the rule by the Spark predicate, rows failing it in Great Expectations)."""
    events = rows = 0
    for dataset, split in splits.items():
        rule = _rule(dataset, f"{dataset}.event_time.{suffix}")
        prepared = with_helper_columns(split.good, [rule])
        events += _events(prepared.where(violation(rule)))
        (result,) = evaluate_dataset(None, split.good, (rule,), GateContext(dt.date(2026, 11, 3)),
                                     engine=expectations.ENGINE)
        assert result.failing_rows == prepared.where(violation(rule)).count(), rule.id
        rows += result.failing_rows
    return events, rows


def test_late_events_are_caught_by_the_late_arrival_rules_exactly(dirty):
    lake, splits = dirty
    events, _ = _lagging_events(splits, "late")
    assert events == lake.report["expected"]["late_events"] == 10


def test_out_of_order_events_are_caught_where_their_dataset_shows_them(dirty):
    lake, splits = dirty
    events, _ = _lagging_events(splits, "in_order")
    late, out_of_order = lake.report["expected"]["late_events"], lake.report["expected"]["out_of_order"]
    # the generator moves an event behind the next few events of the whole stream; a dataset's rule sees it
    # only when one of those is of the same dataset. An independent count of that view:
    visible = 0
    for dataset, split in splits.items():
        rows = sorted(split.good.select("event_id", "event_time", "ingest_arrival_time", "ingest_sequence_number")
                      .distinct().collect(), key=lambda r: (r[2], len(r[3]), r[3]))
        newest = None
        for row in rows:
            visible += newest is not None and row["event_time"] < newest
            newest = row["event_time"] if newest is None else max(newest, row["event_time"])
    assert events == visible
    assert late < events <= late + out_of_order


def test_card_numbers_in_search_text_break_the_pattern_rule_before_masking_and_never_after(dirty):
    lake, splits = dirty
    rule = _rule("clickstream", "clickstream.search_query.no_card_number")
    typed = [json.loads(line) for line in lake.lines if '"record_type":"clickstream"' in line and
             '"search_query"' in line]
    before = pd.DataFrame({"search_query": [event.get("search_query") for event in typed]})
    (found,) = expectations.evaluate(before, [resolve(rule, GateContext(dt.date(2026, 11, 3)))])
    assert found.failing_rows == lake.report["expected"]["card_numbers_in_free_text"] == 8
    (after,) = expectations.evaluate(splits["clickstream"].good.select("search_query").toPandas(),
                                     [resolve(rule, GateContext(dt.date(2026, 11, 3)))])
    assert after.status == "passed" and after.failing_rows == 0


# ------------------------------------------------------------------------------------------ the gate


def _write_curated(frames: dict, path) -> None:
    for dataset, frame in frames.items():
        frame.write.mode("overwrite").partitionBy(EVENT_DATE).parquet(str(path / dataset))


def test_a_clean_lake_passes_every_rule(spark, clean, tmp_path):
    frames = {}
    for dataset in DATASETS:
        split = split_rows(clean.curated_rows(dataset), rules_for(dataset), event_key=event_key_for(dataset))
        assert split.counts()["events_quarantined"] == 0, dataset
        frames[dataset] = split.good
    _write_curated(frames, tmp_path)
    # the last day, judged against the two before it (and the few hours of the day before the first in stores
    # west of UTC, which the median of the trailing days leaves aside)
    day = CLEAN.end_date.isoformat()
    report = run_gate(spark, day, list(DATASETS), str(tmp_path), run_id="jr_clean", engine=expectations.ENGINE)
    failed = [(d.dataset, r.rule_id, r.observed_value) for d in report.datasets for r in d.results if r.failed]
    assert failed == []
    assert not report.failed and report.engine == "great_expectations"
    assert {d.dataset: len(d.results) for d in report.datasets} == {d: len(rules_for(d)) for d in DATASETS}
    assert all(d.rows > 0 for d in report.datasets)
    rows = report.rows()
    assert {r["run_id"] for r in rows} == {"jr_clean"} and {r["data_partition"] for r in rows} == {f"event_date={day}"}


def test_an_error_rule_fails_the_gate_with_a_readable_report_without_personal_data(spark, dirty, tmp_path):
    lake, splits = dirty
    # the sales as they would be if the row rules had not run: unknown SKUs reach curated
    frames = {"pos_sales": splits["pos_sales"].flagged.drop(FAILED_RULES)}
    _write_curated(frames, tmp_path)
    day = splits["pos_sales"].bad.select(F.max(EVENT_DATE)).first()[0].isoformat()
    report = run_gate(spark, day, ["pos_sales"], str(tmp_path), run_id="jr_dirty", engine=expectations.ENGINE)
    assert report.failed
    (pos,) = report.datasets
    blocking = {r.rule_id: r for r in pos.blocking}
    assert set(blocking) == {"pos_sales.sku.known"}
    unknown_lines = splits["pos_sales"].bad.where(F.col(EVENT_DATE) == F.lit(day)).count()
    assert blocking["pos_sales.sku.known"].failing_rows == unknown_lines > 0
    text = report.text()
    assert "FAILED (analytics stopped)" in text and "pos_sales.sku.known" in text
    assert f"{unknown_lines:,} failing row(s)" in text and "e.g. event_id=" in text and "sku=SKU-9" in text
    assert report.headline().startswith("1 error rule(s) failed on the curated data of " + day)
    examples = json.dumps(pos.examples)
    for personal in ("customer_email", "customer_phone", "card_last4", "customer_id", "register_id"):
        assert personal not in examples


def test_warnings_alone_do_not_fail_the_gate(spark, dirty, tmp_path):
    _, splits = dirty
    _write_curated({"clickstream": splits["clickstream"].good}, tmp_path)
    day = splits["clickstream"].good.select(F.max(EVENT_DATE)).first()[0].isoformat()
    report = run_gate(spark, day, ["clickstream"], str(tmp_path), run_id="jr_warn", engine=expectations.ENGINE)
    (click,) = report.datasets
    assert click.warnings and not click.blocking and not report.failed
    assert report.headline().startswith(f"all error rules passed on {day}; ")
