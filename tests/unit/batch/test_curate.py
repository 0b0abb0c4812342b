"""`curate`: the raw -> curated sequence of each dataset, with the counts a job reports."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from retail_lake.batch.curated import curate
from retail_lake.batch.reference import ReferenceDimensions
from tests.unit.batch.builders import line, raw_rows, ts

D = dt.date


@pytest.fixture(scope="module")
def ref(stores, products, customers) -> ReferenceDimensions:
    return ReferenceDimensions(stores=stores, products=products, customers=customers)


def test_pos_sales_are_deduped_dated_narrowed_to_the_window_exploded_and_conformed(spark, ref):
    raw = raw_rows(spark, "pos_sales", [
        # 23:30 in New York on March 1 (04:30 UTC March 2): in the window, two lines
        {"event_id": "s1", "transaction_id": "t1", "store_id": "ST0001", "customer_id": "C0000001",
         "event_time": ts("2026-03-02 04:30"), "ingest_arrival_time": ts("2026-03-02 04:31"),
         "line_items": [line("SKU-000001", 2, "12.99", "1.00"), line("SKU-999999", 1, "5.00")]},
        # a redelivery of s1 arriving later, with a different basket: the first arrival wins
        {"event_id": "s1", "transaction_id": "t1", "store_id": "ST0001", "customer_id": "C0000001",
         "event_time": ts("2026-03-02 04:30"), "ingest_arrival_time": ts("2026-03-02 09:00"),
         "line_items": [line("SKU-000002", 7, "49.99")]},
        # dated February 27 in Los Angeles: before the window, counted and left out
        {"event_id": "s2", "transaction_id": "t2", "store_id": "ST0002", "event_time": ts("2026-02-27 18:00"),
         "line_items": [line("SKU-000002", 1, "49.99")]},
    ])
    curation = curate("pos_sales", raw, ref, D(2026, 3, 1), D(2026, 3, 2))
    rows = sorted(curation.rows.collect(), key=lambda r: r.line_number)
    assert [(r.event_id, r.line_id, r.event_date, r.sku, r.quantity, r.gross_amount, r.net_amount) for r in rows] == [
        ("s1", "s1:1", D(2026, 3, 1), "SKU-000001", 2, Decimal("25.98"), Decimal("24.98")),
        ("s1", "s1:2", D(2026, 3, 1), "SKU-999999", 1, Decimal("5.00"), Decimal("5.00")),
    ]
    assert [(r.store_known, r.sku_known, r.customer_known, r.store_region) for r in rows] == [
        (True, True, True, "northeast"), (True, False, True, "northeast")]
    assert curation.counts() == {"rows_read": 3, "duplicates_dropped": 1, "events_outside_window": 1,
                                 "events_written": 1, "rows_written": 2}


def test_inventory_and_clickstream_get_their_own_dimensions(spark, ref):
    movements = raw_rows(spark, "inventory_movements", [
        {"event_id": "m1", "store_id": "ST0002", "sku": "SKU-000002", "delta": -1, "on_hand_after": 4,
         "event_time": ts("2026-03-01 20:00")}])
    clicks = raw_rows(spark, "clickstream", [
        {"event_id": "c1", "anonymous_id": "v1", "sku": "SKU-000001", "customer_id": "C0000009",
         "event_time": ts("2026-03-01 20:00")}])
    (movement,) = curate("inventory_movements", movements, ref, D(2026, 3, 1), D(2026, 3, 1)).rows.collect()
    assert (movement.store_known, movement.sku_known, movement.product_category) == (True, True, "home")
    assert "customer_known" not in movement.asDict()
    (click,) = curate("clickstream", clicks, ref, D(2026, 3, 1), D(2026, 3, 1)).rows.collect()
    assert (click.event_date, click.sku_known, click.customer_known) == (D(2026, 3, 1), True, False)
    assert "store_known" not in click.asDict()


def test_an_empty_raw_zone_curates_to_nothing_with_zero_counts(spark, ref):
    curation = curate("clickstream", raw_rows(spark, "clickstream", []), ref, D(2026, 3, 1), D(2026, 3, 1))
    assert curation.rows.count() == 0
    assert curation.counts() == {"rows_read": 0, "duplicates_dropped": 0, "events_outside_window": 0,
                                 "events_written": 0, "rows_written": 0}


def test_an_unknown_dataset_is_refused(spark, ref):
    with pytest.raises(ValueError, match="no curated steps for dataset 'returns'; known: clickstream"):
        curate("returns", raw_rows(spark, "clickstream", []), ref, D(2026, 3, 1), D(2026, 3, 1))
