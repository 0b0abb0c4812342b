import msgspec
import pyarrow as pa
import pytest

from retail_lake.contracts import CONTRACTS, DATASETS, POS_SALE_V1, Privacy, contract_for_dataset, contract_for_record_type
from retail_lake.contracts.derive import (
    INGEST_COLUMNS,
    arrow_schema,
    event_validator,
    glue_columns,
    glue_partition_keys,
    spark_ddl,
    spark_schema,
    stored_columns,
)
from retail_lake.ingestion import reasons
from tests import factories as f

DECODER = event_validator()


def reason_of(payload: bytes) -> str:
    with pytest.raises(msgspec.DecodeError) as caught:
        DECODER.decode(payload)
    return reasons.classify(caught.value)


def test_three_datasets_are_registered_with_versions():
    assert set(DATASETS) == {"pos_sales", "clickstream", "inventory_movements"}
    assert all(c.version == 1 for c in CONTRACTS)
    assert contract_for_record_type("pos_sale") is POS_SALE_V1
    with pytest.raises(KeyError, match="known record types"):
        contract_for_record_type("returns")
    with pytest.raises(KeyError, match="known datasets"):
        contract_for_dataset("nope")


@pytest.mark.parametrize("event", [f.pos_sale(), f.click(), f.inventory()], ids=["pos", "click", "inventory"])
def test_valid_events_decode(event):
    decoded = DECODER.decode(f.line(event))
    assert decoded.event_id == event["event_id"]


def test_pos_sale_fields_follow_the_contract():
    decoded = DECODER.decode(f.line(f.pos_sale()))
    assert [item.sku for item in decoded.line_items] == ["SKU-000001", "SKU-000002"]
    assert decoded.event_time.utcoffset().total_seconds() == 3600


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"record_type": "pos_sale", ', reasons.MALFORMED_JSON),
        (b"not json at all", reasons.MALFORMED_JSON),
        (b"[1, 2]", reasons.NOT_AN_OBJECT),
        (f.line({k: v for k, v in f.pos_sale().items() if k != "store_id"}), reasons.MISSING_FIELD),
        (f.line(f.inventory(delta="-2")), reasons.WRONG_TYPE),
        (f.line(f.pos_sale(store_id=17)), reasons.WRONG_TYPE),
        (f.line(f.pos_sale(line_items=[{**f.pos_sale()["line_items"][0], "quantity": -1}])), reasons.INVALID_VALUE),
        (f.line(f.inventory(delta=0)), reasons.INVALID_VALUE),
        (f.line(f.inventory(reason="theft")), reasons.INVALID_VALUE),
        (f.line(f.pos_sale(store_id="store-1")), reasons.INVALID_VALUE),
        (f.line(f.pos_sale(event_time="2026-11-03T14:05:09")), reasons.INVALID_VALUE),
        (f.line(f.pos_sale(line_items=[])), reasons.INVALID_VALUE),
        (f.line(f.click(coupon="X")), reasons.UNKNOWN_FIELD),
        (f.line(f.click(record_type="returns")), reasons.UNKNOWN_RECORD_TYPE),
        (f.line({k: v for k, v in f.click().items() if k != "record_type"}), reasons.UNKNOWN_RECORD_TYPE),
        (f.line(f.click(schema_version=2)), reasons.UNSUPPORTED_VERSION),
    ],
)
def test_invalid_events_are_classified(payload, reason):
    assert reason_of(payload) == reason


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.dataset)
def test_every_derived_schema_has_the_same_columns(contract):
    names = [c.name for c in stored_columns(contract)]
    assert arrow_schema(contract).names == names
    assert [c["name"] for c in glue_columns(contract)] == names
    assert spark_schema(contract).fieldNames() == names
    assert spark_ddl(contract).count("`") >= 2 * len(names)
    assert [c.name for c in INGEST_COLUMNS] == names[-len(INGEST_COLUMNS):]
    assert [k["name"] for k in glue_partition_keys()] == ["dt", "hour"]


def test_privacy_fields_never_appear_as_themselves():
    names = arrow_schema(POS_SALE_V1).names
    assert "card_number" not in names
    assert {"card_brand", "card_last4"} <= set(names)
    assert "customer_email" not in names and "customer_email_hash" in names
    assert "customer_phone" not in names and "customer_phone_hash" in names
    for contract in CONTRACTS:
        for field in contract.fields_with_privacy(Privacy.CARD_NUMBER, Privacy.EMAIL, Privacy.PHONE):
            assert field.name not in [c["name"] for c in glue_columns(contract)]


def test_types_map_consistently():
    schema = arrow_schema(POS_SALE_V1)
    assert schema.field("event_time").type == pa.timestamp("us", tz="UTC")
    item = schema.field("line_items").type.value_type
    assert item.field("unit_price").type == pa.decimal128(12, 2)
    glue = {c["name"]: c["type"] for c in glue_columns(POS_SALE_V1)}
    assert glue["line_items"] == (
        "array<struct<sku:string,quantity:bigint,unit_price:decimal(12,2),discount:decimal(12,2),promotion_id:string>>"
    )
    assert glue["event_time"] == "timestamp"
    spark = spark_schema(POS_SALE_V1)
    assert spark["line_items"].dataType.elementType["unit_price"].dataType.simpleString() == "decimal(12,2)"


def test_contract_reference_doc_is_current():
    from pathlib import Path

    from retail_lake.contracts.docs import render_markdown

    committed = (Path(__file__).resolve().parents[2] / "docs" / "contracts.md").read_text()
    assert committed == render_markdown(), "run: python -m retail_lake.contracts.docs > docs/contracts.md"


def test_no_number_field_can_hold_a_card_number():
    """A 13-19 digit card number must not fit any integer or money field (it would be stored as-is)."""
    from retail_lake.contracts.derive import MONEY_MAX
    from retail_lake.contracts.fields import LogicalType

    def numbers(fields):
        for field in fields:
            if field.type in (LogicalType.INT, LogicalType.MONEY):
                yield field
            yield from numbers(field.children)

    for contract in CONTRACTS:
        for field in numbers(contract.fields):
            if field.name == "schema_version":
                continue  # a literal version number
            ceiling = field.max_value if field.max_value is not None else (
                MONEY_MAX if field.type is LogicalType.MONEY else None)
            assert ceiling is not None and ceiling < 10**12, f"{contract.dataset}.{field.name}"
