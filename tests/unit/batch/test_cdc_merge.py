"""The CDC merge on small exact change sets: commit order, deletes, type-2 history, idempotence."""

from __future__ import annotations

import datetime as dt

import pytest

from retail_lake.sources.cdc import merge

SCHEMA = "Op string, commit_ts timestamp, change_seq string, customer_id string, city string, tier string"
T0 = dt.datetime(2026, 11, 1, 8, 0)


def _ts(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def _seq(lsn: int, index: int = 0) -> str:
    return f"{lsn:020d}{index:015d}"


def _changes(spark, rows):
    return spark.createDataFrame(rows, SCHEMA)


def _state_rows(frame):
    return sorted((r.customer_id, r.city, r.tier) for r in frame.collect())


def _history_rows(frame):
    return sorted((r.customer_id, r.city, r.valid_from, r.valid_to, r.is_current) for r in frame.collect())


@pytest.fixture(scope="module")
def load(spark):
    return _changes(spark, [
        ("I", _ts(0), "", "C1", "Boston", "gold"),
        ("I", _ts(0), "", "C2", "Denver", "none"),
        ("I", _ts(0), "", "C3", "Miami", "silver"),
    ])


@pytest.fixture(scope="module")
def cdc(spark):
    # out of file order on purpose: the merge orders by change sequence, not by row position
    return _changes(spark, [
        ("U", _ts(30), _seq(300), "C1", "Austin", "gold"),
        ("U", _ts(10), _seq(100), "C1", "Chicago", "gold"),
        ("D", _ts(20), _seq(200), "C2", None, None),
        ("U", _ts(20), _seq(200, 1), "C3", "Miami", "gold"),
        ("U", _ts(20), _seq(200, 2), "C3", "Seattle", "gold"),  # same transaction: its last image wins
        ("I", _ts(40), _seq(400), "C4", "Denver", "none"),
        ("U", _ts(50), _seq(500), "C1", "New York", "platinum"),
    ])


def test_latest_state_applies_changes_in_commit_order_and_deletes(spark, load, cdc):
    first = merge.new_changes(load, None)
    state = merge.latest_state(None, first, ["customer_id"])
    assert _state_rows(state) == [("C1", "Boston", "gold"), ("C2", "Denver", "none"), ("C3", "Miami", "silver")]
    state = merge.latest_state(state, merge.new_changes(cdc, merge.watermark_after(first, None)), ["customer_id"])
    assert _state_rows(state) == [("C1", "New York", "platinum"), ("C3", "Seattle", "gold"), ("C4", "Denver", "none")]
    assert {r.customer_id: r._change_seq for r in state.collect()}["C1"] == _seq(500)


def test_history_keeps_every_version_of_a_customer_changed_several_times(spark, load, cdc):
    first = merge.new_changes(load, None)
    hist = merge.history(None, first, ["customer_id"])
    hist = merge.history(hist, merge.new_changes(cdc, merge.watermark_after(first, None)), ["customer_id"])
    rows = _history_rows(hist)
    c1 = [r for r in rows if r[0] == "C1"]
    assert c1 == [
        ("C1", "Austin", _ts(30), _ts(50), False),
        ("C1", "Boston", _ts(0), _ts(10), False),
        ("C1", "Chicago", _ts(10), _ts(30), False),
        ("C1", "New York", _ts(50), None, True),
    ]
    # a delete closes the version and opens none
    assert [r for r in rows if r[0] == "C2"] == [("C2", "Denver", _ts(0), _ts(20), False)]
    # two changes in one transaction make one version, with the transaction's last image
    assert [r for r in rows if r[0] == "C3"] == [("C3", "Miami", _ts(0), _ts(20), False),
                                                 ("C3", "Seattle", _ts(20), None, True)]
    assert sum(1 for r in rows if r[4]) == 3  # one current version per live key: C1, C3, C4


def test_merging_the_same_change_files_again_changes_nothing(spark, load, cdc):
    files = load.unionByName(cdc)
    fresh = merge.new_changes(files, None)
    watermark = merge.watermark_after(fresh, None)
    state = merge.latest_state(None, fresh, ["customer_id"])
    hist = merge.history(None, fresh, ["customer_id"])
    again = merge.new_changes(files, watermark)
    assert again.count() == 0
    assert merge.watermark_after(again, watermark) == watermark
    assert _state_rows(merge.latest_state(state, again, ["customer_id"])) == _state_rows(state)
    assert _history_rows(merge.history(hist, again, ["customer_id"])) == _history_rows(hist)


def test_bad_change_rows_are_refused_with_the_reason(spark):
    with pytest.raises(merge.ChangeFileError, match="Op 'X'"):
        merge.validate(merge.new_changes(_changes(spark, [("X", _ts(1), _seq(1), "C1", "a", "b")]), None),
                       ["customer_id"])
    with pytest.raises(merge.ChangeFileError, match="null key"):
        merge.validate(merge.new_changes(_changes(spark, [("U", _ts(1), _seq(1), None, "a", "b")]), None),
                       ["customer_id"])
    with pytest.raises(merge.ChangeFileError, match="change_seq"):
        merge.new_changes(spark.createDataFrame([("I", "C1")], "Op string, customer_id string"), None)


def test_personal_columns_reach_curated_as_keyed_pseudonyms(spark):
    from retail_lake.privacy.pseudonymize import Pseudonymizer
    from retail_lake.sources.operational_db.tables import table

    customers = table("customers")
    key = b"a-test-key-of-32-bytes-0123456789" * 3  # longer than a SHA-256 block: hashed first, as HMAC does
    header = "Op string, commit_ts timestamp, change_seq string, "
    rows = spark.createDataFrame(
        [("I", _ts(0), "", "C1", " Ann ", "LEE", "Ann.Lee@Example.com", "+1 212 555 0100", "12 Main St", "Boston"),
         ("D", _ts(1), _seq(1), "C2", None, None, None, None, None, None)],
        header + "customer_id string, first_name string, last_name string, email string, phone string, "
                 "street string, city string")
    protected = {r.customer_id: (r.first_name, r.last_name, r.email, r.phone, r.street, r.city)
                 for r in merge.protect_personal_data(rows, customers, key).collect()}
    pseudonymizer = Pseudonymizer(key)
    assert protected == {
        "C1": (pseudonymizer.name("ann"), pseudonymizer.name("Lee"), pseudonymizer.email("ann.lee@example.com"),
               pseudonymizer.phone("+12125550100"), pseudonymizer.street("12 MAIN ST"), "Boston"),
        "C2": (None, None, None, None, None, None)}
    assert pseudonymizer.name("Lee") == pseudonymizer.of_kind("name", "lee") != pseudonymizer.street("lee")
    # a personal column the table declares but the change rows lack (renamed at the source?) stops the merge
    with pytest.raises(merge.ChangeFileError, match="street"):
        merge.protect_personal_data(rows.drop("street"), customers, key)


def test_a_null_key_error_shows_no_personal_values(spark):
    rows = spark.createDataFrame([("U", _ts(1), _seq(1), None, "ann.lee@example.com")],
                                 "Op string, commit_ts timestamp, change_seq string, customer_id string, email string")
    with pytest.raises(merge.ChangeFileError, match="null key") as error:
        merge.validate(merge.new_changes(rows, None), ["customer_id"])
    assert "ann.lee" not in str(error.value)


def test_what_the_merge_writes_is_conformed_to_the_declared_columns(spark):
    from retail_lake.sources.operational_db.tables import table

    stores = table("stores")
    row = ("S1", "Downtown", "Boston", "east", "42.360100", "-71.058900", "America/New_York", dt.date(2020, 1, 1),
           _ts(0), _seq(1))
    frame = spark.createDataFrame([row], "store_id string, name string, city string, region string, latitude string, "
                                         "longitude string, timezone string, opened_on date, _commit_ts timestamp, "
                                         "_change_seq string")
    conformed = merge.conform(frame, stores)
    assert [(f.name, f.dataType.simpleString()) for f in conformed.schema] == merge.output_columns(stores)
    with pytest.raises(merge.TableSchemaError, match="missing: latitude; undeclared: lat"):
        merge.conform(frame.withColumnRenamed("latitude", "lat"), stores)
