"""Clickstream: one interaction on the web shop or the mobile app."""

from retail_lake.contracts.envelope import envelope_fields
from retail_lake.contracts.fields import Contract, Field, LogicalType as T

CLICK_EVENT_TYPES = ("page_view", "search", "add_to_cart", "remove_from_cart", "checkout", "purchase")
DEVICES = ("desktop", "mobile_web", "tablet", "ios_app", "android_app")

CLICKSTREAM_V1 = Contract(
    record_type="clickstream",
    version=1,
    dataset="clickstream",
    description="A page view, search, cart change, checkout or purchase on the web shop or the app.",
    fields=envelope_fields()
    + (
        Field("session_id", T.STRING, min_length=1, max_length=64, description="client session id"),
        Field("anonymous_id", T.STRING, min_length=1, max_length=64, description="device/browser cookie id"),
        Field("customer_id", T.STRING, required=False, description="known customer id once logged in"),
        Field("event_type", T.STRING, allowed=CLICK_EVENT_TYPES, description="what the visitor did"),
        Field("sku", T.STRING, required=False, pattern=r"^SKU-\d{6}$", description="product involved, if any"),
        Field("search_query", T.STRING, required=False, max_length=256, free_text=True,
              description="free text typed in search"),
        Field("page_url", T.STRING, min_length=1, max_length=2048, free_text=True,
              description="page the event happened on"),
        Field("referrer", T.STRING, required=False, max_length=2048, free_text=True,
              description="referring URL or campaign"),
        Field("device", T.STRING, allowed=DEVICES, description="device class"),
        Field("order_id", T.STRING, required=False, description="order placed, on purchase events"),
        Field("order_value", T.MONEY, required=False, min_value=0, description="order total, on purchase events"),
    ),
    partition_key_fields=("session_id",),
)
