"""The synthetic data generator: determinism, exact sizes and defects, and a realistic shape."""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import re

import msgspec
import pyarrow.parquet as pq
import pytest

from retail_lake.contracts.derive import event_validator
from retail_lake.generator import (
    DEFECT_CLASSES,
    GeneratorConfig,
    GeneratorConfigError,
    generate,
    products,
    promotions,
    write_jsonl,
    write_reference_data,
)
from retail_lake.privacy.cards import card_brand, luhn_valid
from retail_lake.generator.cli import add_generate_arguments, run_generate

DEFECTS = {
    "duplicate": 31,
    "malformed_json": 23,
    "missing_required_field": 19,
    "wrong_type": 17,
    "negative_quantity": 13,
    "unknown_sku": 11,
    "late_event": 29,
    "out_of_order": 37,
    "unknown_extra_field": 7,
    "raw_card_number": 5,
}
MEDIUM = GeneratorConfig(seed=11, events=80_000, stores=20, skus=1_000, customers=5_000, defect_counts=DEFECTS)


def quarantine_reason(error: msgspec.DecodeError) -> str:
    """How the stream Lambda classifies a decode error (see the brief of the stream transform)."""
    if not isinstance(error, msgspec.ValidationError):
        return "malformed_json"
    message = str(error)
    if message.startswith("Object missing required field"):
        return "missing_field"
    if message.startswith("Object contains unknown field"):
        return "unknown_field"
    if re.match(r"Expected `[^`]+`, got `[^`]+`", message):
        return "wrong_type"
    return "invalid_value"


DATASET_OF = {"PosSaleV1": "pos_sales", "ClickstreamV1": "clickstream", "InventoryMovementV1": "inventory_movements"}
# the record type survives in every broken line (it is the first field; truncation keeps at least a quarter)
RECORD_TYPE_TEXT = re.compile(rb"""record_type\W+(\w+)""")


class Parsed:
    """A generated file, decoded line by line and classified without the generator's help: in the whole stream
    and per dataset (late: arrives an hour or more behind the newest event seen before it; out of order: less)."""

    def __init__(self, lines: list[bytes]):
        decoder = event_validator()
        self.quarantined: collections.Counter = collections.Counter()
        self.quarantined_by_dataset: collections.Counter = collections.Counter()  # (dataset, reason)
        self.events: list = []  # decoded, first occurrence only
        self.duplicates = 0
        self.duplicates_by_dataset: collections.Counter = collections.Counter()
        self.late = self.out_of_order = 0
        self.late_by_dataset: collections.Counter = collections.Counter()
        self.out_of_order_by_dataset: collections.Counter = collections.Counter()
        seen: set[bytes] = set()
        running_max = None
        newest: dict[str, dt.datetime] = {}
        for line in lines:
            try:
                event = decoder.decode(line)
            except msgspec.DecodeError as error:
                reason = quarantine_reason(error)
                record_type = RECORD_TYPE_TEXT.search(line).group(1).decode()
                dataset = {"pos_sale": "pos_sales", "inventory_movement": "inventory_movements"}.get(record_type,
                                                                                                    record_type)
                self.quarantined[reason] += 1
                self.quarantined_by_dataset[dataset, reason] += 1
                continue
            dataset = DATASET_OF[type(event).__name__]
            if line in seen:
                self.duplicates += 1
                self.duplicates_by_dataset[dataset] += 1
                continue
            seen.add(line)
            self.events.append(event)
            t = event.event_time
            if running_max is not None and t < running_max:
                if running_max - t >= dt.timedelta(hours=1):
                    self.late += 1
                else:
                    self.out_of_order += 1
            else:
                running_max = t
            if dataset in newest and t < newest[dataset]:
                if newest[dataset] - t >= dt.timedelta(hours=1):
                    self.late_by_dataset[dataset] += 1
                else:
                    self.out_of_order_by_dataset[dataset] += 1
            else:
                newest[dataset] = t

    def of(self, record_type: str) -> list:
        return [e for e in self.events if type(e).__name__.lower().startswith(record_type.replace("_", ""))]


@pytest.fixture(scope="module")
def medium():
    stream = generate(MEDIUM)
    return stream, Parsed(list(stream))


@pytest.fixture(scope="module")
def catalog() -> set[str]:
    return {p.sku for p in products(MEDIUM)}


def test_same_seed_gives_identical_bytes_and_another_seed_differs():
    config = GeneratorConfig(seed=3, events=4_000, stores=8, skus=300, customers=800)
    first, second = list(generate(config)), list(generate(config))
    assert first == second
    assert list(generate(GeneratorConfig(seed=4, events=4_000, stores=8, skus=300, customers=800))) != first


@pytest.mark.parametrize("events", [1, 57, 3_001])
def test_total_lines_is_exactly_the_events_asked(events):
    stream = generate(GeneratorConfig(events=events, stores=4, skus=200, customers=300))
    assert len(list(stream)) == events == stream.report.total_lines


def test_every_defect_class_has_exactly_the_count_asked(medium, catalog):
    stream, parsed = medium
    assert stream.report.defects == DEFECTS
    assert stream.report.total_lines == MEDIUM.events
    assert parsed.quarantined == {
        "malformed_json": DEFECTS["malformed_json"],
        "missing_field": DEFECTS["missing_required_field"],
        "wrong_type": DEFECTS["wrong_type"],
        "invalid_value": DEFECTS["negative_quantity"],
        "unknown_field": DEFECTS["unknown_extra_field"],
    }
    assert parsed.duplicates == DEFECTS["duplicate"]
    assert parsed.late == DEFECTS["late_event"]
    assert parsed.out_of_order == DEFECTS["out_of_order"]
    unknown = sum(
        1 for e in parsed.events
        if any(item.sku not in catalog for item in getattr(e, "line_items", ()))
        or (getattr(e, "sku", None) is not None and e.sku not in catalog)
    )
    assert unknown == DEFECTS["unknown_sku"]
    cards_in_text = [e.search_query for e in parsed.of("clickstream") if e.search_query and re.search(r"\d{12,19}", e.search_query)]
    assert len(cards_in_text) == DEFECTS["raw_card_number"]
    assert all(luhn_valid(q) and card_brand(q) in {"visa", "mastercard", "amex", "discover"} for q in cards_in_text)


STREAM_REASON = {"malformed_json": "malformed_json", "missing_required_field": "missing_field",
                 "wrong_type": "wrong_type", "negative_quantity": "invalid_value", "unknown_extra_field": "unknown_field"}


def test_the_report_counts_every_defect_class_per_dataset_exactly(medium, catalog):
    stream, parsed = medium
    by_dataset = stream.report.defects_by_dataset
    assert set(by_dataset) == set(DATASET_OF.values())
    for defect_class, total in DEFECTS.items():
        assert sum(counts[defect_class] for counts in by_dataset.values()) == total, defect_class
    for dataset, counts in by_dataset.items():
        found = {
            "duplicate": parsed.duplicates_by_dataset[dataset],
            **{c: parsed.quarantined_by_dataset[dataset, reason] for c, reason in STREAM_REASON.items()},
            "unknown_sku": sum(
                1 for e in parsed.events if DATASET_OF[type(e).__name__] == dataset
                and (any(item.sku not in catalog for item in getattr(e, "line_items", ()))
                     or (getattr(e, "sku", None) is not None and e.sku not in catalog))),
            # a displaced event arrives behind the newest event of its own dataset
            "late_event": parsed.late_by_dataset[dataset],
            "out_of_order": parsed.out_of_order_by_dataset[dataset],
            "raw_card_number": sum(
                1 for e in parsed.events if DATASET_OF[type(e).__name__] == dataset
                and getattr(e, "search_query", None) and re.search(r"\d{12,19}", e.search_query)),
        }
        assert found == counts, dataset
    # classes tied to one kind of event
    assert by_dataset["clickstream"]["negative_quantity"] == by_dataset["inventory_movements"]["negative_quantity"] == 0
    assert by_dataset["inventory_movements"]["unknown_sku"] == 0
    assert by_dataset["pos_sales"]["raw_card_number"] == by_dataset["inventory_movements"]["raw_card_number"] == 0
    # every dataset got displaced events of both kinds at this size
    assert all(c["late_event"] > 0 and c["out_of_order"] > 0 for c in by_dataset.values())


def test_displaced_events_keep_clear_of_the_late_threshold_in_their_dataset():
    from retail_lake.generator.defects import LATE_THRESHOLD_MS, LATE_MIN_MS, OUT_OF_ORDER_MAX_MS

    config = GeneratorConfig(events=6_000, seed=5, stores=4, skus=200, customers=300, days=2, defect_rate=0.0,
                             defect_counts={"late_event": 40, "out_of_order": 60})
    decoder = event_validator()
    newest: dict[str, dt.datetime] = {}
    behind = []
    for line in generate(config):
        event = decoder.decode(line)
        dataset = DATASET_OF[type(event).__name__]
        if dataset in newest and event.event_time < newest[dataset]:
            behind.append((newest[dataset] - event.event_time) // dt.timedelta(milliseconds=1))
        else:
            newest[dataset] = event.event_time
    assert len(behind) == 100
    late = [ms for ms in behind if ms >= LATE_THRESHOLD_MS]
    assert len(late) == 40 and min(late) >= LATE_MIN_MS == LATE_THRESHOLD_MS + 1_000
    assert all(0 < ms <= OUT_OF_ORDER_MAX_MS == LATE_THRESHOLD_MS - 1_000 for ms in behind if ms < LATE_THRESHOLD_MS)


def test_report_expectations_match_what_decoding_finds(medium):
    stream, parsed = medium
    expected = stream.report.expected
    assert dict(parsed.quarantined) == {k: v for k, v in expected["quarantined"].items() if v}
    assert expected["raw"] == len(parsed.events) + parsed.duplicates
    assert expected["duplicates"] == parsed.duplicates
    assert expected["card_numbers_in_free_text"] == DEFECTS["raw_card_number"]
    by_type = collections.Counter(type(e).__name__ for e in parsed.events)
    raw_by_type = expected["raw_by_record_type"]
    assert sum(raw_by_type.values()) == expected["raw"]
    assert by_type["PosSaleV1"] <= raw_by_type["pos_sale"]


def test_clean_stream_decodes_entirely_and_is_in_event_time_order():
    stream = generate(GeneratorConfig(events=5_000, stores=6, skus=300, customers=500).with_no_defects())
    decoder = event_validator()
    times = [decoder.decode(line).event_time for line in stream]
    assert times == sorted(times)
    assert sum(stream.report.defects.values()) == 0


def test_clickstream_funnel_converts_at_realistic_rates(medium):
    _, parsed = medium
    sessions: dict[str, set[str]] = collections.defaultdict(set)
    for e in parsed.of("clickstream"):
        sessions[e.session_id].add(e.event_type)
    n = len(sessions)
    assert n > 5_000
    purchase = sum("purchase" in kinds for kinds in sessions.values()) / n
    add_to_cart = sum("add_to_cart" in kinds for kinds in sessions.values()) / n
    assert 0.02 <= purchase <= 0.04
    assert 0.08 <= add_to_cart <= 0.12
    purchases = [e for e in parsed.of("clickstream") if e.event_type == "purchase"]
    assert all(e.order_id and e.order_value > 0 for e in purchases)


def test_inventory_is_consistent_with_itself_and_with_sales(medium, catalog):
    _, parsed = medium
    by_item = collections.defaultdict(list)
    for position, e in enumerate(parsed.of("inventory_movement")):
        by_item[(e.store_id, e.sku)].append((e.event_time, position, e))
    for movements in by_item.values():
        movements.sort(key=lambda m: (m[0], m[1]))
        previous = None
        for _, _, e in movements:
            assert e.on_hand_after >= 0
            if previous is not None:
                assert e.on_hand_after == previous + e.delta, (e.store_id, e.sku)
            previous = e.on_hand_after
    sold = collections.Counter(
        (s.transaction_id, item.sku, item.quantity)
        for s in parsed.of("pos_sale") for item in s.line_items if item.sku in catalog
    )
    moved = collections.Counter(
        (m.reference_id, m.sku, -m.delta) for m in parsed.of("inventory_movement") if m.reason == "sale"
    )
    # the stream ends mid-flight: the last sales may not have their movements yet
    assert sum((sold - moved).values()) <= 50
    assert not moved - sold
    reasons = collections.Counter(m.reason for m in parsed.of("inventory_movement"))
    assert set(reasons) == {"sale", "receipt", "shrink", "transfer", "adjustment"}


def test_sku_popularity_is_skewed(medium):
    _, parsed = medium
    units = collections.Counter()
    for sale in parsed.of("pos_sale"):
        for item in sale.line_items:
            units[item.sku] += item.quantity
    ranked = sorted(units.values(), reverse=True)
    top = ranked[: MEDIUM.skus // 10]
    assert sum(top) / sum(ranked) > 0.30


def test_night_hours_are_quieter_than_midday(medium):
    _, parsed = medium
    store_hours = collections.Counter(s.event_time.hour for s in parsed.of("pos_sale"))  # store-local clock
    assert sum(store_hours[h] for h in range(0, 5)) == 0
    assert sum(store_hours[h] for h in range(11, 15)) > 0.2 * sum(store_hours.values())
    web_utc = collections.Counter(e.event_time.astimezone(dt.timezone.utc).hour for e in parsed.of("clickstream"))
    # 08-11 UTC is the middle of the night across the US; 17-20 UTC is the middle of its day
    assert sum(web_utc[h] for h in range(8, 11)) * 3 < sum(web_utc[h] for h in range(17, 20))


def test_card_numbers_are_luhn_valid_with_real_brand_prefixes(medium):
    _, parsed = medium
    pans = [s.card_number for s in parsed.of("pos_sale") if s.tender_type == "card"]
    assert pans and all(luhn_valid(p) for p in pans)
    brands = collections.Counter(card_brand(p) for p in pans)
    assert set(brands) == {"visa", "mastercard", "amex", "discover"}
    assert all(len(p) == 15 for p in pans if p[:2] in ("34", "37"))
    assert all(s.card_number is None for s in parsed.of("pos_sale") if s.tender_type != "card")


def test_promotions_discount_their_skus_on_their_days(medium):
    _, parsed = medium
    promos = {p.promotion_id: p for p in promotions(MEDIUM)}
    promoted = 0
    for sale in parsed.of("pos_sale"):
        for item in sale.line_items:
            if item.promotion_id is None:
                assert item.discount == 0
                continue
            promoted += 1
            promo = promos[item.promotion_id]
            assert promo.sku == item.sku and promo.start_date <= sale.event_time.date() <= promo.end_date
            expected = round(item.unit_price * item.quantity * promo.discount_pct / 100, 2)
            assert abs(item.discount - expected) <= 0.011
    assert promoted > 0


def test_loyalty_sales_carry_customer_contacts(medium):
    _, parsed = medium
    sales = parsed.of("pos_sale")
    known = [s for s in sales if s.customer_id]
    assert 0.3 < len(known) / len(sales) < 0.6
    assert any(s.customer_email and "@" in s.customer_email for s in known)
    assert any(s.customer_phone and s.customer_phone.startswith("+1") for s in known)
    assert all(s.customer_email is None and s.customer_phone is None for s in sales if not s.customer_id)


def test_defect_counts_follow_the_rate_by_default():
    stream = generate(GeneratorConfig(events=20_000, stores=6, skus=300, customers=500, defect_rate=0.004))
    assert stream.report.defects == {c: 80 for c in DEFECT_CLASSES}
    assert len(list(stream)) == 20_000


def test_bad_configs_are_rejected_with_a_reason():
    with pytest.raises(GeneratorConfigError, match="skus"):
        GeneratorConfig(skus=900_000)
    with pytest.raises(GeneratorConfigError, match="unknown defect classes"):
        GeneratorConfig(defect_counts={"typo": 1})
    with pytest.raises(GeneratorConfigError, match="no room"):
        generate(GeneratorConfig(events=5, defect_counts={"duplicate": 5}))


def test_default_start_date_does_not_depend_on_today():
    assert GeneratorConfig().start_date == dt.date(2026, 11, 1)
    config = GeneratorConfig(events=500, stores=3, skus=100, customers=200, days=2, start_date=dt.date(2027, 3, 14))
    decoder = event_validator()
    dates = {decoder.decode(line).event_time.date() for line in generate(config.with_no_defects())}
    assert dates <= {dt.date(2027, 3, 13), dt.date(2027, 3, 14), dt.date(2027, 3, 15), dt.date(2027, 3, 16)}


def test_reference_data_is_written_as_csv_and_parquet(tmp_path):
    config = GeneratorConfig(stores=5, skus=50, customers=40)
    files = write_reference_data(config, tmp_path)
    assert sorted(f.name for f in files) == sorted(
        f"{t}.{ext}" for t in ("stores", "products", "customers", "promotions") for ext in ("csv", "parquet")
    )
    stores = pq.read_table(tmp_path / "stores.parquet")
    assert stores.num_rows == 5 and stores.column("store_id").to_pylist()[0] == "ST0001"
    customers = pq.read_table(tmp_path / "customers.parquet").to_pylist()
    assert len(customers) == 40 and all(re.fullmatch(r"\+1\d{10}", c["phone"]) for c in customers)
    assert (tmp_path / "products.csv").read_text().splitlines()[1].startswith('"SKU-000001"')


def test_write_jsonl_and_the_cli_command(tmp_path, capsys):
    out = tmp_path / "events.jsonl"
    parser = add_generate_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--events", "2000", "--seed", "9", "--out", str(out), "--stores", "4", "--skus", "200",
                              "--customers", "300", "--defect-count", "duplicate=3"])
    assert run_generate(args) == 0
    assert len(out.read_bytes().splitlines()) == 2000
    report = json.loads((tmp_path / "events.jsonl.report.json").read_text())
    assert report["defects"]["duplicate"] == 3 and report["total_lines"] == 2000
    assert "wrote 2000 events" in capsys.readouterr().out
    again = write_jsonl(GeneratorConfig(events=2000, seed=9, stores=4, skus=200, customers=300,
                                        defect_counts={"duplicate": 3}), tmp_path / "again.jsonl")
    assert (tmp_path / "again.jsonl").read_bytes() == out.read_bytes()
    assert again.to_dict() == report
