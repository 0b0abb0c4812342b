"""The quality rules on generated data, with Great Expectations running for real: every defect class the generator
injects is caught by the rule meant for it with the generator's exact counts, dataset by dataset (the generator
reports them per dataset), a clean lake passes every rule, and
the gate fails on error rules (with a readable report without personal data) but not on warnings."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from dataclasses import replace

import pandas as pd
import pytest
from pyspark.sql import functions as F

from retail_lake.batch import curated
from retail_lake.contracts.registry import BY_DATASET, DATASETS
from retail_lake.generator import DEFECT_CLASSES, GeneratorConfig
from retail_lake.generator.defects import LATE_THRESHOLD_MS
from retail_lake.quality import expectations
from retail_lake.quality.curated_gate import run_gate
from retail_lake.quality.gate import EVENT_DATE, evaluate_dataset
from retail_lake.quality.resolve import GateContext, resolve
from retail_lake.quality.row_checks import FAILED_RULES, event_key_for, split_rows, violation, with_helper_columns
from retail_lake.quality.rules import rules_for
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

# Where each class the generator injects is caught; every class has its test below, per dataset, against the
# generator's own count (`report["defects_by_dataset"]`).
CAUGHT_BY = {
    "duplicate": "{dataset} uniqueness rule (event_id, pos_sales: line_id) before the curated dedupe",
    "malformed_json": "stream contract: quarantine reason malformed_json",
    "missing_required_field": "stream contract: quarantine reason missing_field",
    "wrong_type": "stream contract: quarantine reason wrong_type",
    "negative_quantity": "stream contract: quarantine reason invalid_value",
    "unknown_extra_field": "stream contract: quarantine reason unknown_field",
    "unknown_sku": "{dataset}.sku.known (row, error: quarantined between raw and curated)",
    "late_event": "{dataset}.event_time.late (row, warning)",
    "out_of_order": "{dataset}.event_time.in_order (row, warning), which late events also break",
    "raw_card_number": "clickstream.search_query.no_card_number before the stream masks it",
}
STREAM_REASONS = {"malformed_json": "malformed_json", "missing_required_field": "missing_field",
                  "wrong_type": "wrong_type", "negative_quantity": "invalid_value",
                  "unknown_extra_field": "unknown_field"}
_RECORD_TYPE_TEXT = re.compile(r"""record_type\W+(\w+)""")


def _injected(lake, dataset: str, defect_class: str) -> int:
    return lake.report["defects_by_dataset"][dataset][defect_class]


def test_every_defect_class_of_the_generator_has_its_rule_and_every_dataset_gets_some(dirty):
    lake, _ = dirty
    assert set(CAUGHT_BY) == set(DEFECT_CLASSES)
    by_dataset = lake.report["defects_by_dataset"]
    assert set(by_dataset) == set(DATASETS)
    assert {c: sum(counts[c] for counts in by_dataset.values()) for c in DEFECT_CLASSES} == DEFECTS
    # the displaced classes land in every dataset at this size, so each dataset's arrival rules are exercised
    assert all(counts["late_event"] and counts["out_of_order"] for counts in by_dataset.values())
    # the generator's late threshold is the rules' one
    for dataset in DATASETS:
        assert _rule(dataset, f"{dataset}.event_time.late").params["min_lag_seconds"] * 1000 == LATE_THRESHOLD_MS


def test_the_stream_contract_quarantines_the_classes_it_owns_exactly(dirty):
    lake, _ = dirty
    # malformed JSON, missing fields, wrong types, negative quantities and unknown fields never reach raw
    assert dict(Counter(q["reason"] for q in lake.quarantine)) == lake.report["expected"]["quarantined"]
    dataset_of = {contract.record_type: contract.dataset for contract in BY_DATASET.values()}
    found = Counter((dataset_of[_RECORD_TYPE_TEXT.search(q["payload"]).group(1)], q["reason"])
                    for q in lake.quarantine)
    for dataset in DATASETS:
        for defect_class, reason in STREAM_REASONS.items():
            assert found[dataset, reason] == _injected(lake, dataset, defect_class), (dataset, defect_class)
    assert sum(found.values()) == len(lake.quarantine) == sum(DEFECTS[c] for c in STREAM_REASONS)


def _before_dedupe(lake, dataset: str):
    """The dataset's rows as the curated step shapes them, without its dedupe (pos_sales: one row per line)."""
    typed = curated.cast_to_contract(lake.raw[dataset], BY_DATASET[dataset])
    return curated.explode_pos_lines(typed) if dataset == "pos_sales" else typed


def test_duplicates_break_the_uniqueness_rule_of_their_dataset_exactly_and_are_gone_in_curated(dirty):
    lake, splits = dirty
    for dataset in DATASETS:
        (unique,) = [r for r in rules_for(dataset) if r.type == "uniqueness"]
        key = list(unique.params["columns"])
        rows = _before_dedupe(lake, dataset).select(*dict.fromkeys(["event_id", *key])).cache()
        context = GateContext(dt.date(2026, 11, 3))
        (result,) = expectations.evaluate(rows.select(*key).toPandas(), [resolve(unique, context)])
        repeated = rows.join(rows.groupBy(*key).count().where(F.col("count") > 1).drop("count"), key, "left_semi")
        # every row of a repeated key fails; each injected copy repeats the keys of one event once
        assert result.failing_rows == repeated.count(), dataset
        assert _events(repeated) == _injected(lake, dataset, "duplicate") > 0, dataset
        if dataset != "pos_sales":
            assert result.failing_rows == 2 * _injected(lake, dataset, "duplicate")
        # after the curated dedupe no key repeats
        assert splits[dataset].good.groupBy(*key).count().where(F.col("count") > 1).count() == 0, dataset
        rows.unpersist()


def test_unknown_skus_are_quarantined_by_the_referential_integrity_rule_of_their_dataset_exactly(dirty):
    lake, splits = dirty
    for dataset, split in splits.items():
        counts = split.counts()
        injected = _injected(lake, dataset, "unknown_sku")
        # the only events quarantined between raw and curated are the unknown SKUs, by their dataset's rule
        assert counts["quarantined_by_rule"] == ({f"{dataset}.sku.known": injected} if injected else {}), dataset
        assert counts["events_quarantined"] == injected
        # every event is in exactly one place: curated or quarantine
        total = _events(split.flagged)
        assert _events(split.good) + counts["events_quarantined"] == total, dataset
        assert split.good.join(split.bad.select("event_id"), "event_id", "left_semi").count() == 0
        assert set(split.bad.columns) == set(split.good.columns) | {FAILED_RULES, "quality_reason"}
    assert _injected(lake, "pos_sales", "unknown_sku") > 0 and _injected(lake, "clickstream", "unknown_sku") > 0
    bad_pos = splits["pos_sales"].bad
    assert {tuple(r[FAILED_RULES]) for r in bad_pos.select(FAILED_RULES).collect()} == {("pos_sales.sku.known",)}


def _lagging(split, rule) -> set[str]:
    """Event ids failing `rule` on the dataset's curated rows (every event date), by the Spark predicate; Great
    Expectations, as the gate runs it, must count the same rows."""
    prepared = with_helper_columns(split.good, [rule])
    failing = prepared.where(violation(rule))
    (result,) = evaluate_dataset(None, split.good, (rule,), GateContext(dt.date(2026, 11, 3)),
                                 engine=expectations.ENGINE)
    assert result.failing_rows == failing.count(), rule.id
    return {r["event_id"] for r in failing.select("event_id").distinct().collect()}


def test_late_and_out_of_order_events_are_caught_by_the_arrival_rules_of_their_dataset_exactly(dirty):
    lake, splits = dirty
    for dataset, split in splits.items():
        late = _lagging(split, _rule(dataset, f"{dataset}.event_time.late"))
        behind = _lagging(split, _rule(dataset, f"{dataset}.event_time.in_order"))
        assert len(late) == _injected(lake, dataset, "late_event") > 0, dataset
        # a late event also arrived out of order: the in-order rule catches both classes, nothing else
        assert late <= behind, dataset
        assert len(behind - late) == _injected(lake, dataset, "out_of_order") > 0, dataset


def test_card_numbers_in_search_text_break_the_pattern_rule_before_masking_and_never_after(dirty):
    lake, splits = dirty
    rule = _rule("clickstream", "clickstream.search_query.no_card_number")
    typed = [json.loads(line) for line in lake.lines if '"record_type":"clickstream"' in line and
             '"search_query"' in line]
    before = pd.DataFrame({"search_query": [event.get("search_query") for event in typed]})
    (found,) = expectations.evaluate(before, [resolve(rule, GateContext(dt.date(2026, 11, 3)))])
    assert found.failing_rows == _injected(lake, "clickstream", "raw_card_number") == DEFECTS["raw_card_number"]
    assert lake.report["expected"]["card_numbers_in_free_text"] == DEFECTS["raw_card_number"]
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
        # every rule judged row by row (warnings included) passes on every event date of the dataset
        row_rules = [r for r in rules_for(dataset) if r.row_judged]
        failing = with_helper_columns(split.good, row_rules).agg(
            *[F.sum(violation(r).cast("int")).alias(r.id) for r in row_rules], F.count(F.lit(1)).alias("rows")).first()
        assert failing["rows"] > 0 and {r.id: failing[r.id] for r in row_rules} == {r.id: 0 for r in row_rules}
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


def test_the_gate_judges_every_partition_of_the_window_the_run_rewrote(spark, dirty, tmp_path):
    """Late events rewrite the dates before the business date and analytics rebuilds them: the gate judges each of
    them that has rows, so unknown SKUs on an earlier date of the window stop analytics too."""
    from retail_lake.batch.windows import run_window
    from retail_lake.quality.gate import metric_data

    _, splits = dirty
    _write_curated({"pos_sales": splits["pos_sales"].flagged.drop(FAILED_RULES)}, tmp_path)
    bad = {r[EVENT_DATE]: r["count"] for r in splits["pos_sales"].bad.groupBy(EVENT_DATE).count().collect()}
    dates = sorted(r[EVENT_DATE] for r in splits["pos_sales"].flagged.select(EVENT_DATE).distinct().collect())
    run_date = dates[-1] + dt.timedelta(days=1)  # the morning after: its own partition is empty
    window = run_window(run_date)
    judged = [d for d in dates if d >= window.first_event_date] + [run_date]
    assert len(judged) >= 3 and any(bad.get(d) for d in judged[:-1])

    only_the_date = run_gate(spark, run_date.isoformat(), ["pos_sales"], str(tmp_path), run_id="jr_day",
                             engine=expectations.ENGINE)
    assert [d.partition for d in only_the_date.datasets] == [f"event_date={run_date}"] and not only_the_date.failed

    report = run_gate(spark, run_date.isoformat(), ["pos_sales"], str(tmp_path), run_id="jr_window",
                      engine=expectations.ENGINE, first_date=window.first_rewritten(backfill=False))
    assert [d.partition for d in report.datasets] == [f"event_date={d}" for d in judged]
    assert report.failed
    caught = {d.partition: {r.rule_id: r.failing_rows for r in d.blocking} for d in report.datasets}
    assert caught == {f"event_date={d}": ({"pos_sales.sku.known": bad[d]} if bad.get(d) else {}) for d in judged}
    # the message names each partition the rule failed on
    assert report.headline().startswith(f"1 error rule(s) failed on the curated data of {run_date}: " + "; ".join(
        f"pos_sales.sku.known ({bad[d]:,} failing rows) on event_date={d}" for d in judged if bad.get(d)))
    assert report.summary()["datasets"]["pos_sales"]["partitions"] == [f"event_date={d}" for d in judged]
    assert report.summary()["datasets"]["pos_sales"]["errors"] == ["pos_sales.sku.known"]
    # one datapoint per dataset and level, summed over the partitions
    errors = {d["MetricName"]: d["Value"] for d in metric_data(report, "retail-lake")
              if {"Name": "Level", "Value": "error"} in d.get("Dimensions", [])}
    assert errors == {"FailedRules": sum(1 for d in judged if bad.get(d)),
                      "FailingRows": sum(bad.get(d, 0) for d in judged)}

    backfill = run_gate(spark, run_date.isoformat(), ["pos_sales"], str(tmp_path), run_id="jr_all",
                        engine=expectations.ENGINE, first_date=window.first_rewritten(backfill=True))
    assert [d.partition for d in backfill.datasets] == [f"event_date={d}" for d in [*dates, run_date]]
