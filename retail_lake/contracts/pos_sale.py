"""POS sale: one completed transaction at a store register."""

from retail_lake.contracts.envelope import envelope_fields
from retail_lake.contracts.fields import Contract, Field, LogicalType as T, Privacy

TENDER_TYPES = ("cash", "card", "gift_card", "mobile_wallet")

LINE_ITEM = (
    Field("sku", T.STRING, pattern=r"^SKU-\d{6}$", description="product stock-keeping unit"),
    Field("quantity", T.INT, min_value=1, max_value=1000, description="units sold (returns are separate events)"),
    Field("unit_price", T.MONEY, min_value=0, max_value=100_000, description="shelf price per unit"),
    Field("discount", T.MONEY, min_value=0, max_value=100_000, description="total discount on the line"),
    Field("promotion_id", T.STRING, required=False, description="promotion that gave the discount"),
)

POS_SALE_V1 = Contract(
    record_type="pos_sale",
    version=1,
    dataset="pos_sales",
    description="A completed sale at a store register, with its line items and tender.",
    fields=envelope_fields()
    + (
        Field("transaction_id", T.STRING, min_length=1, max_length=64, description="register transaction id"),
        Field("store_id", T.STRING, pattern=r"^ST\d{4}$", description="store that made the sale"),
        Field("register_id", T.STRING, min_length=1, max_length=16, description="register within the store"),
        Field("customer_id", T.STRING, required=False, description="loyalty customer id, when known"),
        Field("customer_email", T.STRING, required=False, privacy=Privacy.EMAIL, description="e-receipt address"),
        Field("customer_phone", T.STRING, required=False, privacy=Privacy.PHONE, description="loyalty phone"),
        Field("tender_type", T.STRING, allowed=TENDER_TYPES, description="how the customer paid"),
        Field(
            "card_number",
            T.STRING,
            required=False,
            pattern=r"^\d{13,19}$",
            privacy=Privacy.CARD_NUMBER,
            description="PAN as the terminal sends it; never stored, only its brand and last four digits",
        ),
        Field("currency", T.STRING, pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code"),
        Field("line_items", T.STRUCT_LIST, children=LINE_ITEM, min_items=1, description="what was sold"),
    ),
    partition_key_fields=("store_id",),
)
