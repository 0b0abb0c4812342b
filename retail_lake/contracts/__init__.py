"""Retail event contracts, written once; see `fields` for the vocabulary and `derive` for what follows."""

from retail_lake.contracts.clickstream import CLICKSTREAM_V1
from retail_lake.contracts.fields import Contract, Field, LogicalType, Privacy
from retail_lake.contracts.inventory_movement import INVENTORY_MOVEMENT_V1
from retail_lake.contracts.pos_sale import POS_SALE_V1
from retail_lake.contracts.registry import (
    BY_DATASET,
    CONTRACTS,
    DATASETS,
    LATEST_BY_RECORD_TYPE,
    contract_for_dataset,
    contract_for_record_type,
)

__all__ = [
    "BY_DATASET",
    "CLICKSTREAM_V1",
    "CONTRACTS",
    "DATASETS",
    "INVENTORY_MOVEMENT_V1",
    "LATEST_BY_RECORD_TYPE",
    "POS_SALE_V1",
    "Contract",
    "Field",
    "LogicalType",
    "Privacy",
    "contract_for_dataset",
    "contract_for_record_type",
]
