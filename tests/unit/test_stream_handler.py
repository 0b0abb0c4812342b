"""The stream-transform Lambda on an in-memory AWS (moto): routing, privacy, idempotence, partial failures."""

import importlib
import io
import json
import sys
from types import SimpleNamespace

import boto3
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from retail_lake.ingestion.kpl import RecordAggregator
from retail_lake.ingestion.stream_transform import RawBatch
from tests import factories as f

SECRET_KEY = "stream-handler-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def lake():
    env = {
        "RAW_BUCKET": "raw-test",
        "QUARANTINE_BUCKET": "quarantine-test",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "RetailLakeTest",
        "POWERTOOLS_SERVICE_NAME": "stream-transform",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    patch = pytest.MonkeyPatch()
    for k, v in env.items():
        patch.setenv(k, v)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="raw-test")
        s3.create_bucket(Bucket="quarantine-test")
        arn = boto3.client("secretsmanager").create_secret(Name="pseudo", SecretString=SECRET_KEY)["ARN"]
        patch.setenv("PSEUDONYMIZATION_SECRET_ARN", arn)
        sys.modules.pop("lambdas.stream_transform.handler", None)
        handler = importlib.import_module("lambdas.stream_transform.handler")
        yield SimpleNamespace(handler=handler, s3=s3)
    patch.undo()


@pytest.fixture(autouse=True)
def empty_buckets(lake):
    for bucket in ("raw-test", "quarantine-test"):
        for obj in lake.s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            lake.s3.delete_object(Bucket=bucket, Key=obj["Key"])


CONTEXT = SimpleNamespace(
    function_name="stream-transform", function_version="$LATEST", memory_limit_in_mb=1024,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:stream-transform",
    aws_request_id="req-1", get_remaining_time_in_millis=lambda: 60_000,
)


def aggregate(lines):
    aggregator = RecordAggregator()
    for line in lines:
        assert aggregator.add_user_record("ST0001", line) is None
    return aggregator.clear_and_get().get_contents()[2]


def invoke(lake, records):
    return lake.handler.handler(f.kinesis_event(records), CONTEXT)


def objects(lake, bucket):
    keys = [o["Key"] for o in lake.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: lake.s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in sorted(keys)}


def raw_rows(lake):
    rows = {}
    for key, body in objects(lake, "raw-test").items():
        rows.setdefault(key.split("/")[0], []).extend(pq.read_table(io.BytesIO(body)).to_pylist())
    return rows


def quarantined(lake):
    return [json.loads(line) for body in objects(lake, "quarantine-test").values() for line in body.splitlines()]


def all_text(lake):
    """Every string stored anywhere, decoded (Parquet values and quarantine lines), plus raw bytes."""
    texts = [json.dumps(rows, default=str) for rows in raw_rows(lake).values()]
    texts += [json.dumps(q) for q in quarantined(lake)]
    texts += [body.decode("latin-1") for b in ("raw-test", "quarantine-test") for body in objects(lake, b).values()]
    return "\n".join(texts)


def test_valid_events_land_in_their_dataset_partition_with_protected_fields(lake):
    response = invoke(lake, [("100", aggregate([f.line(f.pos_sale()), f.line(f.click()), f.line(f.inventory())]))])
    assert response == {"batchItemFailures": []}
    keys = list(objects(lake, "raw-test"))
    assert keys == [
        "clickstream/dt=2025-11-03/hour=14/shardId-000000000000-100.parquet",
        "inventory_movements/dt=2025-11-03/hour=14/shardId-000000000000-100.parquet",
        "pos_sales/dt=2025-11-03/hour=14/shardId-000000000000-100.parquet",
    ]
    sale = raw_rows(lake)["pos_sales"][0]
    assert sale["card_brand"] == "visa" and sale["card_last4"] == "1111"
    assert "card_number" not in sale
    assert len(sale["customer_email_hash"]) == 64 and sale["customer_phone_hash"] != sale["customer_email_hash"]
    assert [str(i["unit_price"]) for i in sale["line_items"]] == ["19.99", "5.50"]
    assert sale["event_time"].isoformat() == "2026-11-03T13:05:09.250000+00:00"
    assert sale["ingest_sequence_number"] == "100" and sale["ingest_subsequence_number"] == 0
    stored = all_text(lake)
    assert f.VISA not in stored and "Jane.Doe" not in stored.lower() and "jane.doe" not in stored.lower()
    assert objects(lake, "quarantine-test") == {}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"record_type":"pos_sale","card_number":"4111111111111111",', "malformed_json"),
        (f.line({k: v for k, v in f.pos_sale().items() if k != "register_id"}), "missing_field"),
        (f.line(f.inventory(on_hand_after="40")), "wrong_type"),
        (f.line(f.pos_sale(line_items=[{**f.pos_sale()["line_items"][0], "quantity": -3}])), "invalid_value"),
        (f.line(f.pos_sale(card_number="4111111111111112")), "invalid_value"),
        (f.line(f.click(loyalty_card="4111111111111111")), "unknown_field"),
        (f.line(f.click(schema_version=9)), "unsupported_version"),
    ],
)
def test_each_invalid_kind_is_quarantined_with_its_reason_and_masked(lake, payload, reason):
    response = invoke(lake, [("200", aggregate([payload, f.line(f.click())]))])
    assert response == {"batchItemFailures": []}
    [entry] = quarantined(lake)
    assert entry["reason"] == reason and entry["detail"]
    assert entry["kinesis_sequence_number"] == "200" and entry["kinesis_subsequence_number"] == 0
    assert len(raw_rows(lake)["clickstream"]) == 1
    stored = all_text(lake)
    assert "4111111111111111" not in stored and "4111111111111112" not in stored
    assert "jane.doe@example.com" not in stored.lower() and "010-1234" not in stored


def test_card_number_typed_into_free_text_is_masked_in_raw(lake):
    invoke(lake, [("300", aggregate([f.line(f.click(search_query="card 4111 1111 1111 1111 lost"))]))])
    [row] = raw_rows(lake)["clickstream"]
    assert row["search_query"] == "card **** **** **** 1111 lost"
    assert "4111 1111 1111 1111" not in all_text(lake)


def test_redelivered_batch_overwrites_instead_of_duplicating(lake):
    records = [("400", aggregate([f.line(f.pos_sale(event_id=f"e{i}")) for i in range(5)]))]
    invoke(lake, records)
    first = objects(lake, "raw-test")
    invoke(lake, records)
    assert list(objects(lake, "raw-test")) == list(first)
    assert len(raw_rows(lake)["pos_sales"]) == 5


def test_duplicate_events_are_kept_for_curated_to_drop(lake):
    sale = f.line(f.pos_sale())
    invoke(lake, [("500", aggregate([sale, sale]))])
    assert [r["event_id"] for r in raw_rows(lake)["pos_sales"]] == ["evt-pos-1", "evt-pos-1"]


def test_unexpected_error_on_one_event_fails_only_that_record(lake, monkeypatch):
    original = RawBatch._route

    def explode_on_poison(self, payloads, *args):
        if any(b"poison" in payload for payload in payloads):
            raise RuntimeError("unexpected")
        return original(self, payloads, *args)

    monkeypatch.setattr(RawBatch, "_route", explode_on_poison)
    records = [
        ("601", aggregate([f.line(f.click(event_id="a1")), f.line(f.click(event_id="a2"))])),
        ("602", aggregate([f.line(f.click(event_id="b1")), f.line(f.click(event_id="poison"))])),
        ("603", aggregate([f.line(f.click(event_id="c1"))])),
    ]
    response = invoke(lake, records)
    assert response == {"batchItemFailures": [{"itemIdentifier": "602"}]}
    # Records before the failure are written; the failed record (even its good first event) and the
    # ones after it are redelivered by Kinesis from 602, so writing them now would duplicate them.
    assert [r["event_id"] for r in raw_rows(lake)["clickstream"]] == ["a1", "a2"]


def test_all_records_failing_fails_the_invocation(lake, monkeypatch):
    monkeypatch.setattr(RawBatch, "_route", lambda self, *a: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(Exception, match="All records failed"):
        invoke(lake, [("700", aggregate([f.line(f.click())]))])
    assert objects(lake, "raw-test") == {}


def test_stray_card_number_is_found_among_card_payments_and_quarantined_cards(lake):
    """The per-record digit-run balance must not let a stray card number through when the same record
    also carries card payments and a quarantined card number."""
    lines = [
        f.line(f.pos_sale(event_id="s1")),
        b'{"broken": "4111111111111111"',
        f.line(f.click(event_id="c1", search_query=f"gift for {f.AMEX}")),
        f.line(f.pos_sale(event_id="s2", card_number=f.AMEX)),
    ]
    invoke(lake, [("800", aggregate(lines))])
    rows = raw_rows(lake)
    assert rows["clickstream"][0]["search_query"] == "gift for ***********0005"
    assert [(r["card_brand"], r["card_last4"]) for r in rows["pos_sales"]] == [("visa", "1111"), ("amex", "0005")]
    stored = all_text(lake)
    assert f.AMEX not in stored and f.VISA not in stored


def test_pattern_violations_found_column_wise_are_quarantined_with_their_location(lake):
    bad_sku = f.pos_sale(event_id="bad-sku", line_items=[
        f.pos_sale()["line_items"][0], {**f.pos_sale()["line_items"][1], "sku": "sku 2"}])
    lines = [f.line(f.pos_sale(event_id="ok")), f.line(bad_sku), f.line(f.inventory(store_id="Store 9"))]
    assert invoke(lake, [("900", aggregate(lines))]) == {"batchItemFailures": []}
    assert [r["event_id"] for r in raw_rows(lake)["pos_sales"]] == ["ok"]
    assert "inventory_movements" not in raw_rows(lake)
    entries = {e["event_id"]: e for e in quarantined(lake)}
    assert entries["bad-sku"]["reason"] == "invalid_value"
    assert entries["bad-sku"]["detail"].endswith("at `$.line_items[1].sku`")
    assert entries["evt-inv-1"]["detail"].endswith("at `$.store_id`")
    assert entries["bad-sku"]["kinesis_subsequence_number"] == 1
    assert f.VISA not in json.dumps(entries)


def test_bisected_retry_leaves_no_stale_object_behind(lake):
    """A failed invocation that had already written its objects is retried in halves (bisect on error):
    the first half overwrites the same keys and deletes those of datasets it has no rows of."""
    click_record = ("100", aggregate([f.line(f.click(event_id="c1"))]))
    sale_record = ("200", aggregate([f.line(f.pos_sale(event_id="s1")), b"{broken"]))
    invoke(lake, [click_record, sale_record])  # wrote clickstream, pos_sales and quarantine under ...-100
    invoke(lake, [click_record])  # the first half of the bisected retry
    invoke(lake, [sale_record])  # the second half
    rows = raw_rows(lake)
    assert [r["event_id"] for r in rows["clickstream"]] == ["c1"]
    assert [r["event_id"] for r in rows["pos_sales"]] == ["s1"]
    assert [q["reason"] for q in quarantined(lake)] == ["malformed_json"]


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("page_url", "https://shop.example.com/pay?cc%3D4111111111111111&x=1",
         "https://shop.example.com/pay?cc%3D************1111&x=1"),
        ("search_query", "card_4111111111111111", "card_************1111"),
        ("search_query", "4111.1111.1111.1111 lost", "****.****.****.1111 lost"),
        ("referrer", "https://e.com/?q=4111+1111+1111+1111", "https://e.com/?q=****+****+****+1111"),
    ],
)
def test_card_numbers_in_any_shape_are_masked_in_free_text(lake, field, value, stored):
    invoke(lake, [("1000", aggregate([f.line(f.click(**{field: value}))]))])
    assert raw_rows(lake)["clickstream"][0][field] == stored


def test_emails_and_phones_typed_into_free_text_are_pseudonymized(lake):
    invoke(lake, [("1100", aggregate([f.line(f.click(search_query="mail jane.doe@example.com or +1 555 010 1234"))]))])
    query = raw_rows(lake)["clickstream"][0]["search_query"]
    assert "jane.doe" not in query and "010 1234" not in query
    assert query.startswith("mail <email:") and "<phone:" in query


def test_identifiers_with_digit_groups_are_stored_untouched(lake):
    ids = {"event_id": "44624316-7514-40ed-a4d3-867742977044", "session_id": "867742-9770-4493-8111"}
    invoke(lake, [("1200", aggregate([f.line(f.click(**ids))]))])
    row = raw_rows(lake)["clickstream"][0]
    assert {k: row[k] for k in ids} == ids


@pytest.mark.parametrize(
    "payload",
    [
        b'{"record_type":"pos_sale","card_number":"%B4111111111111111^DOE/JANE^2512101000"}',
        b'{"record_type":"pos_sale","card_number":"4111111111111111x"',
        b'{"record_type":"pos_sale","card_number":"\\u0034111111111111111"',
        b'{"record_type":"pos_sale","card_number":"4111111111111112","x":',
    ],
)
def test_quarantined_payloads_lose_card_numbers_in_any_shape(lake, payload):
    invoke(lake, [("1300", aggregate([payload]))])
    [entry] = quarantined(lake)
    text = json.dumps(entry)
    for secret in ("4111111111111111", "4111111111111112", "DOE/JANE", "\\u0034111"):
        assert secret not in text


def test_amounts_with_a_fraction_of_a_cent_are_quarantined_not_rounded(lake):
    sale = f.pos_sale(event_id="sub-cent", line_items=[{**f.pos_sale()["line_items"][0], "unit_price": 19.999}])
    invoke(lake, [("1400", aggregate([f.line(sale), f.line(f.pos_sale(event_id="ok"))]))])
    assert [r["event_id"] for r in raw_rows(lake)["pos_sales"]] == ["ok"]
    [entry] = quarantined(lake)
    assert entry["reason"] == "invalid_value" and entry["detail"].endswith("at `$.line_items[0].unit_price`")


def test_a_card_number_cannot_hide_in_a_number_field(lake):
    invoke(lake, [("1500", aggregate([f.line(f.inventory(on_hand_after=4111111111111111))]))])
    assert [q["reason"] for q in quarantined(lake)] == ["invalid_value"]
    assert "4111111111111111" not in json.dumps(quarantined(lake))
