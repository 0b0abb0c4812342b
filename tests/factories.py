"""Small, exact event fixtures for the tests (independent of the generator)."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

VISA = "4111111111111111"
AMEX = "378282246310005"

_POS: dict[str, Any] = {
    "record_type": "pos_sale",
    "schema_version": 1,
    "event_id": "evt-pos-1",
    "event_time": "2026-11-03T14:05:09.250+01:00",
    "transaction_id": "T-0001",
    "store_id": "ST0001",
    "register_id": "R02",
    "customer_id": "C0000042",
    "customer_email": "Jane.Doe@Example.com",
    "customer_phone": "+1 (555) 010-1234",
    "tender_type": "card",
    "card_number": VISA,
    "currency": "USD",
    "line_items": [
        {"sku": "SKU-000001", "quantity": 2, "unit_price": 19.99, "discount": 0, "promotion_id": None},
        {"sku": "SKU-000002", "quantity": 1, "unit_price": 5.5, "discount": 0.5, "promotion_id": "PROMO-7"},
    ],
}
_CLICK: dict[str, Any] = {
    "record_type": "clickstream",
    "schema_version": 1,
    "event_id": "evt-click-1",
    "event_time": "2026-11-03T13:00:00Z",
    "session_id": "sess-1",
    "anonymous_id": "anon-1",
    "customer_id": None,
    "event_type": "search",
    "sku": None,
    "search_query": "red shoes",
    "page_url": "https://shop.example.com/search",
    "referrer": "https://www.example.org/",
    "device": "mobile_web",
    "order_id": None,
    "order_value": None,
}
_INVENTORY: dict[str, Any] = {
    "record_type": "inventory_movement",
    "schema_version": 1,
    "event_id": "evt-inv-1",
    "event_time": "2026-11-03T14:05:10Z",
    "store_id": "ST0001",
    "sku": "SKU-000001",
    "delta": -2,
    "reason": "sale",
    "on_hand_after": 40,
    "reference_id": "T-0001",
}


def pos_sale(**overrides: Any) -> dict[str, Any]:
    event = copy.deepcopy(_POS)
    event.update(overrides)
    return event


def click(**overrides: Any) -> dict[str, Any]:
    event = copy.deepcopy(_CLICK)
    event.update(overrides)
    return event


def inventory(**overrides: Any) -> dict[str, Any]:
    event = copy.deepcopy(_INVENTORY)
    event.update(overrides)
    return event


def line(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def kinesis_event(records: list[tuple[str, bytes]], *, shard_id: str = "shardId-000000000000",
                  arrival: float = 1_762_178_400.0) -> dict[str, Any]:
    """A Kinesis Lambda event: one entry per (sequence number, data)."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "ST0001",
                    "sequenceNumber": sequence_number,
                    "data": base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": arrival + index,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{sequence_number}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/stream-transform",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/retail-events",
            }
            for index, (sequence_number, data) in enumerate(records)
        ]
    }
