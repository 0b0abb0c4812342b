"""File drops: schema check, exactly the bad rows quarantined with their reason, each file processed once."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import boto3
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from retail_lake.sources.file_drops.feeds import FEEDS, feed_of_key
from retail_lake.sources.file_drops.processing import Buckets, parse_file, process_object

PRICES = FEEDS["supplier_price_lists"]
GOOD_AND_BAD = (
    "supplier_id,product_id,unit_cost,currency,valid_from\n"
    "SUP-0001,SKU-000001,7.15,USD,2026-11-01\n"
    "SUP-0001,SKU-000002,abc,USD,2026-11-01\n"          # line 3: not a number
    "SUP-0001,SKU-000003,3.10,XYZ,2026-11-01\n"         # line 4: unknown currency
    "SUP-0001,SKU-000004,3.10,USD\n"                    # line 5: a field missing
    "SUP-0001,SKU-000001,7.20,USD,2026-11-01\n"         # line 6: same key as line 2
    "\n"
    "SUP-0002,SKU-000005,12.5,EUR,2026-11-15\n"
    "SUP-0002,BAD-1,1.00,EUR,2026-11-15\n"              # line 9: product id pattern
    "SUP-0002,SKU-000006,1.001,EUR,2026-11-15\n"        # line 10: 3 decimals
).encode()


def test_parse_keeps_good_rows_and_quarantines_exactly_the_bad_ones() -> None:
    parsed = parse_file(PRICES, "landing/supplier_price_lists/acme.csv", GOOD_AND_BAD)
    assert [(r["product_id"], r["unit_cost"], r["source_line"]) for r in parsed.rows] == [
        ("SKU-000001", Decimal("7.15"), 2), ("SKU-000005", Decimal("12.50"), 8)]
    assert [(r.line, r.reason) for r in parsed.rejects] == [
        (3, "invalid_value"), (4, "invalid_value"), (5, "wrong_field_count"), (6, "duplicate_key"),
        (9, "invalid_value"), (10, "invalid_value")]
    assert "unit_cost 'abc' is not a number" in parsed.rejects[0].detail
    assert parsed.rejects[3].raw == "SUP-0001,SKU-000001,7.20,USD,2026-11-01"
    assert parsed.table().num_rows == 2


def test_a_wrong_header_quarantines_the_whole_file() -> None:
    body = b"supplier,product,cost\nSUP-0001,SKU-000001,1.00\n"
    parsed = parse_file(PRICES, "landing/supplier_price_lists/x.csv", body)
    assert parsed.rows == [] and [r.reason for r in parsed.rejects] == ["bad_header", "bad_header"]
    assert "expected the header supplier_id,product_id" in parsed.rejects[0].detail
    assert [r.reason for r in parse_file(PRICES, "k", b"\xff\xfe bad").rejects] == ["not_utf8"]


def test_keys_outside_a_feed_are_not_files_to_process() -> None:
    assert feed_of_key("landing/product_catalog_updates/2026-11-20.csv").name == "product_catalog_updates"
    assert feed_of_key("landing/unknown_feed/a.csv") is None
    assert feed_of_key("elsewhere/supplier_price_lists/a.csv") is None


@pytest.fixture
def s3(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in ("landing", "curated", "quarantine"):
            client.create_bucket(Bucket=bucket)
        yield client


def _keys(s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_a_file_dropped_twice_is_processed_once(s3) -> None:
    buckets = Buckets("landing", "curated", "quarantine")
    s3.put_object(Bucket="landing", Key="landing/supplier_price_lists/acme.csv", Body=GOOD_AND_BAD)
    first = process_object(s3, buckets, "landing/supplier_price_lists/acme.csv")
    assert (first["status"], first["rows"], first["rejected"]) == ("processed", 2, 6)
    curated_before = {k: s3.head_object(Bucket="curated", Key=k)["ETag"] for k in _keys(s3, "curated")}
    # dropped again, under the same name and under another
    s3.put_object(Bucket="landing", Key="landing/supplier_price_lists/acme.csv", Body=GOOD_AND_BAD)
    s3.put_object(Bucket="landing", Key="landing/supplier_price_lists/acme-resent.csv", Body=GOOD_AND_BAD)
    assert process_object(s3, buckets, "landing/supplier_price_lists/acme.csv")["status"] == "duplicate"
    assert process_object(s3, buckets, "landing/supplier_price_lists/acme-resent.csv")["status"] == "duplicate"
    assert {k: s3.head_object(Bucket="curated", Key=k)["ETag"] for k in _keys(s3, "curated")} == curated_before
    (data_key,) = [k for k in curated_before if k.endswith(".parquet")]
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket="curated", Key=data_key)["Body"].read()))
    assert table.num_rows == 2
    (quarantine_key,) = _keys(s3, "quarantine")
    lines = [json.loads(line) for line in s3.get_object(Bucket="quarantine", Key=quarantine_key)["Body"].read()
             .decode().splitlines()]
    assert [(q["line"], q["reason"]) for q in lines] == [(3, "invalid_value"), (4, "invalid_value"),
                                                         (5, "wrong_field_count"), (6, "duplicate_key"),
                                                         (9, "invalid_value"), (10, "invalid_value")]


def test_a_changed_file_under_the_same_name_is_processed_again(s3) -> None:
    buckets = Buckets("landing", "curated", "quarantine")
    key = "landing/product_catalog_updates/catalog.csv"
    header = "product_id,name,category,brand,list_price,active\n"
    s3.put_object(Bucket="landing", Key=key, Body=(header + "SKU-000001,Towel,home,Acme,12.99,true\n").encode())
    assert process_object(s3, buckets, key)["status"] == "processed"
    s3.put_object(Bucket="landing", Key=key, Body=(header + "SKU-000001,Towel,home,Acme,11.99,true\n").encode())
    second = process_object(s3, buckets, key)
    assert second["status"] == "processed" and second["rows"] == 1
    assert len([k for k in _keys(s3, "curated") if k.endswith(".parquet")]) == 2
