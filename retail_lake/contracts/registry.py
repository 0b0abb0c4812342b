"""All event contracts the lake accepts, by record type and by dataset."""

from __future__ import annotations

from retail_lake.contracts.clickstream import CLICKSTREAM_V1
from retail_lake.contracts.fields import Contract
from retail_lake.contracts.inventory_movement import INVENTORY_MOVEMENT_V1
from retail_lake.contracts.pos_sale import POS_SALE_V1

CONTRACTS: tuple[Contract, ...] = (POS_SALE_V1, CLICKSTREAM_V1, INVENTORY_MOVEMENT_V1)


def _index() -> dict[str, Contract]:
    latest: dict[str, Contract] = {}
    for contract in CONTRACTS:
        current = latest.get(contract.record_type)
        if current is None or contract.version > current.version:
            latest[contract.record_type] = contract
    return latest


LATEST_BY_RECORD_TYPE: dict[str, Contract] = _index()
BY_DATASET: dict[str, Contract] = {c.dataset: c for c in LATEST_BY_RECORD_TYPE.values()}
DATASETS: tuple[str, ...] = tuple(BY_DATASET)


def contract_for_record_type(record_type: str) -> Contract:
    try:
        return LATEST_BY_RECORD_TYPE[record_type]
    except KeyError:
        known = ", ".join(sorted(LATEST_BY_RECORD_TYPE))
        raise KeyError(f"unknown record_type {record_type!r}; known record types: {known}") from None


def contract_for_dataset(dataset: str) -> Contract:
    try:
        return BY_DATASET[dataset]
    except KeyError:
        known = ", ".join(sorted(BY_DATASET))
        raise KeyError(f"unknown dataset {dataset!r}; known datasets: {known}") from None
