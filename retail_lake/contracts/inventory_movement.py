"""Inventory movement: a change in a store's on-hand units of one SKU."""

from retail_lake.contracts.envelope import envelope_fields
from retail_lake.contracts.fields import Contract, Field, LogicalType as T

MOVEMENT_REASONS = ("receipt", "sale", "shrink", "transfer", "adjustment")

INVENTORY_MOVEMENT_V1 = Contract(
    record_type="inventory_movement",
    version=1,
    dataset="inventory_movements",
    description="A receipt, sale, shrink, transfer or adjustment of one SKU's on-hand units at a store.",
    fields=envelope_fields()
    + (
        Field("store_id", T.STRING, pattern=r"^ST\d{4}$", description="store whose stock moved"),
        Field("sku", T.STRING, pattern=r"^SKU-\d{6}$", description="product that moved"),
        Field("delta", T.INT, nonzero=True, min_value=-100_000, max_value=100_000, description="signed change"),
        Field("reason", T.STRING, allowed=MOVEMENT_REASONS, description="why the stock moved"),
        Field("on_hand_after", T.INT, min_value=0, max_value=10_000_000, description="units on hand after the movement"),
        Field("reference_id", T.STRING, required=False, description="transaction, transfer or receipt id"),
    ),
    partition_key_fields=("store_id",),
)
