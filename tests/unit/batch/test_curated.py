"""Raw -> curated functions on small exact fixtures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from retail_lake.batch.curated import (
    as_nullable,
    cast_to_contract,
    conform_keys,
    dedupe_by_event_id,
    explode_pos_lines,
    with_event_date,
)
from retail_lake.contracts.derive import spark_schema
from retail_lake.contracts.registry import DATASETS, contract_for_dataset
from tests.unit.batch.builders import line, raw_rows, ts

D = dt.date


# ------------------------------------------------------------------------------------------- cast


def test_cast_to_contract_gives_the_contract_columns_and_types(spark):
    contract = contract_for_dataset("inventory_movements")
    raw = spark.createDataFrame(
        [("1", "e1", "2026-03-01T10:00:00Z", "ST0001", "SKU-000001", "-2", "sale", "5", None,
          "2026-03-01T10:00:01Z", "2026-03-01T10:00:00.5Z", "shardId-0", "42", "0", "2026-03-01", "10")],
        "schema_version string, event_id string, event_time string, store_id string, sku string, delta string, "
        "reason string, on_hand_after string, reference_id string, ingest_time string, "
        "ingest_arrival_time string, ingest_shard_id string, ingest_sequence_number string, "
        "ingest_subsequence_number string, dt string, hour string",
    )
    curated = cast_to_contract(raw, contract)
    expected = as_nullable(spark_schema(contract))
    assert [(f.name, f.dataType) for f in curated.schema.fields] == [(f.name, f.dataType) for f in expected.fields]
    row = curated.collect()[0]
    assert (row.delta, row.on_hand_after, row.event_time) == (-2, 5, dt.datetime(2026, 3, 1, 10, 0))


@pytest.mark.parametrize("dataset", DATASETS)
def test_cast_to_contract_is_a_no_op_on_raw_schema_data(spark, dataset):
    contract = contract_for_dataset(dataset)
    raw = raw_rows(spark, dataset, [])
    assert cast_to_contract(raw, contract).schema == as_nullable(spark_schema(contract))


def test_cast_to_contract_names_the_missing_columns(spark):
    raw = spark.createDataFrame([("e1",)], "event_id string")
    missing = r"pos_sales: input lacks column\(s\) schema_version, event_time, .*line_items"
    with pytest.raises(ValueError, match=missing):
        cast_to_contract(raw, contract_for_dataset("pos_sales"))


# ------------------------------------------------------------------------------------------- dedupe

# Kinesis sequence numbers are decimal strings longer than any Spark number: 55 digits < 56 digits.
SEQ_55 = "4959033827149025660855969253836157109592157598913658889"
SEQ_56 = "49590338271490256608559692538361571095921575989136588898"


def _copies(spark):
    arrival, later = ts("2026-03-01 10:00:05"), ts("2026-03-01 10:00:09")
    rows = [
        # register_id marks which copy survives; real copies are byte-identical
        {"event_id": "e1", "register_id": "later-arrival", "ingest_arrival_time": later,
         "ingest_sequence_number": "1"},
        {"event_id": "e1", "register_id": "bigger-sequence", "ingest_arrival_time": arrival,
         "ingest_sequence_number": SEQ_56},
        {"event_id": "e1", "register_id": "kept", "ingest_arrival_time": arrival,
         "ingest_sequence_number": SEQ_55, "ingest_subsequence_number": 1},
        {"event_id": "e1", "register_id": "later-subsequence", "ingest_arrival_time": arrival,
         "ingest_sequence_number": SEQ_55, "ingest_subsequence_number": 3},
        {"event_id": "e2", "register_id": "only", "ingest_arrival_time": later, "ingest_sequence_number": "9"},
        # a retry of e2 written twice by a retried Lambda batch, arriving a day later
        {"event_id": "e2", "register_id": "retry", "ingest_arrival_time": ts("2026-03-02 08:00"),
         "ingest_sequence_number": "10"},
        {"event_id": "e2", "register_id": "retry", "ingest_arrival_time": ts("2026-03-02 08:00"),
         "ingest_sequence_number": "10"},
    ]
    for row in rows:
        row.setdefault("event_time", ts("2026-03-01 10:00"))
    return raw_rows(spark, "pos_sales", rows)


def test_dedupe_keeps_exactly_the_first_arrival_of_each_event(spark):
    kept = dedupe_by_event_id(_copies(spark))
    assert sorted((r.event_id, r.register_id) for r in kept.collect()) == [("e1", "kept"), ("e2", "only")]
    assert kept.columns == _copies(spark).columns


def test_dedupe_is_deterministic_whatever_the_input_order(spark):
    copies = _copies(spark)
    shuffled = copies.orderBy(F.col("register_id").desc()).repartition(3)
    reversed_ = copies.orderBy(F.col("ingest_arrival_time").desc(), F.col("ingest_sequence_number").asc())
    results = [sorted(dedupe_by_event_id(df).collect()) for df in (copies, shuffled, reversed_)]
    assert results[0] == results[1] == results[2]


def test_dedupe_needs_the_ingestion_columns(spark):
    with pytest.raises(ValueError, match="missing ingest_arrival_time"):
        dedupe_by_event_id(spark.createDataFrame([("e1",)], "event_id string"))


# ------------------------------------------------------------------------------------------- event date


def _pos_events(spark):
    return raw_rows(spark, "pos_sales", [
        # 23:30 in New York (EST) is 04:30 UTC the next day: the sale belongs to March 1
        {"event_id": "ny-late-evening", "store_id": "ST0001", "event_time": ts("2026-03-02 04:30")},
        # 00:30 EDT on March 9 (daylight saving started March 8): with EST it would be 23:30 March 8
        {"event_id": "ny-after-dst", "store_id": "ST0001", "event_time": ts("2026-03-09 04:30")},
        # 15:30 in Los Angeles
        {"event_id": "la-afternoon", "store_id": "ST0002", "event_time": ts("2026-03-01 23:30")},
        # ingested four days after it happened: still dated by its event time
        {"event_id": "late", "store_id": "ST0002", "event_time": ts("2026-02-27 18:00"),
         "ingest_arrival_time": ts("2026-03-03 09:00"), "ingest_time": ts("2026-03-03 09:00")},
        # a store missing from the dimension: dated in UTC (and flagged by conform_keys)
        {"event_id": "unknown-store", "store_id": "ST9999", "event_time": ts("2026-03-02 04:30")},
    ])


EXPECTED_POS_DATES = {
    "ny-late-evening": D(2026, 3, 1),
    "ny-after-dst": D(2026, 3, 9),
    "la-afternoon": D(2026, 3, 1),
    "late": D(2026, 2, 27),
    "unknown-store": D(2026, 3, 2),
}


def test_store_events_are_dated_in_the_store_time_zone(spark, stores):
    pos = _pos_events(spark)
    dated = with_event_date(pos, stores)
    assert dated.columns == [*pos.columns, "event_date"]
    assert {r.event_id: r.event_date for r in dated.collect()} == EXPECTED_POS_DATES


def test_event_date_does_not_depend_on_the_session_time_zone(spark, stores):
    spark.conf.set("spark.sql.session.timeZone", "Asia/Tokyo")
    try:
        dated = {r.event_id: r.event_date for r in with_event_date(_pos_events(spark), stores).collect()}
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert dated == EXPECTED_POS_DATES


def test_clickstream_is_dated_in_utc(spark):
    clicks = raw_rows(spark, "clickstream", [
        {"event_id": "c1", "event_time": ts("2026-03-02 04:30")},
        {"event_id": "c2", "event_time": ts("2026-03-01 23:59:59.999999")},
    ])
    assert {r.event_id: r.event_date for r in with_event_date(clicks).collect()} == {
        "c1": D(2026, 3, 2), "c2": D(2026, 3, 1),
    }


def test_store_data_without_stores_is_refused(spark):
    with pytest.raises(ValueError, match="pass the stores dimension"):
        with_event_date(_pos_events(spark))


# ------------------------------------------------------------------------------------------- POS lines


def test_explode_pos_lines_gives_one_row_per_line_with_exact_amounts(spark):
    pos = raw_rows(spark, "pos_sales", [
        {"event_id": "e1", "transaction_id": "T1", "store_id": "ST0001", "event_time": ts("2026-03-01 15:00"),
         "line_items": [line("SKU-000001", 3, "0.10", "0.01"), line("SKU-000002", 2, "49.99", "10.00", "PROMO-1")]},
        {"event_id": "e2", "transaction_id": "T2", "store_id": "ST0001", "event_time": ts("2026-03-01 16:00"),
         "line_items": [line("SKU-000001", 1000, "99999.99")]},
    ])
    lines = explode_pos_lines(pos)
    assert "line_items" not in lines.columns
    got = [
        (r.line_id, r.transaction_id, r.line_number, r.sku, r.quantity, r.gross_amount, r.discount, r.net_amount,
         r.promotion_id)
        for r in lines.orderBy("line_id").collect()
    ]
    assert got == [
        ("e1:1", "T1", 1, "SKU-000001", 3, Decimal("0.30"), Decimal("0.01"), Decimal("0.29"), None),
        ("e1:2", "T1", 2, "SKU-000002", 2, Decimal("99.98"), Decimal("10.00"), Decimal("89.98"), "PROMO-1"),
        ("e2:1", "T2", 1, "SKU-000001", 1000, Decimal("99999990.00"), Decimal("0.00"), Decimal("99999990.00"), None),
    ]
    assert {f.name: f.dataType.simpleString() for f in lines.schema.fields if f.name.endswith("_amount")} == {
        "gross_amount": "decimal(12,2)", "net_amount": "decimal(12,2)",
    }


# ------------------------------------------------------------------------------------------- conformed keys


def test_conform_keys_flags_unknown_keys_and_keeps_every_row(spark, stores, products, customers):
    pos = raw_rows(spark, "pos_sales", [
        {"event_id": "e1", "transaction_id": "T1", "store_id": "ST0001", "customer_id": "C0000001",
         "event_time": ts("2026-03-01 15:00"),
         "line_items": [line("SKU-000001", 1, "12.99"), line("SKU-999999", 1, "5.00")]},
        {"event_id": "e2", "transaction_id": "T2", "store_id": "ST9999", "customer_id": None,
         "event_time": ts("2026-03-01 16:00"), "line_items": [line("SKU-000002", 1, "49.99")]},
    ])
    duplicated_products = products.unionByName(products)  # a dimension with repeated keys must not multiply rows
    lines = explode_pos_lines(pos)
    conformed = conform_keys(lines, stores=stores, products=duplicated_products, customers=customers)
    assert conformed.columns == [
        *lines.columns, "store_region", "store_format", "store_known",
        "product_category", "product_brand", "product_list_price", "product_unit_cost", "sku_known",
        "customer_loyalty_tier", "customer_home_store_id", "customer_known",
    ]
    got = {
        r.line_id: (r.store_known, r.store_region, r.sku_known, r.product_category, r.product_list_price,
                    r.customer_known, r.customer_loyalty_tier)
        for r in conformed.collect()
    }
    assert got == {
        "e1:1": (True, "northeast", True, "home", Decimal("12.99"), True, "gold"),
        "e1:2": (True, "northeast", False, None, None, True, "gold"),
        "e2:1": (False, None, True, "home", Decimal("49.99"), None, None),
    }
    assert not {"email", "phone", "first_name", "last_name"} & set(conformed.columns)


def test_conform_keys_refuses_a_dimension_whose_key_the_data_lacks(spark, stores):
    clicks = raw_rows(spark, "clickstream", [])
    with pytest.raises(ValueError, match="stores given but the data has no store_id"):
        conform_keys(clicks, stores=stores)
