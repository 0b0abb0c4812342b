"""Independent computations the integration tests compare the batch layer's tables with."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

from retail_lake.generator import GeneratorConfig, reference_data

DailySalesKey = tuple[str, str, str]  # (event_date, store_id, sku)


def daily_sales_oracle(raw_sales: list[dict], config: GeneratorConfig, run_date: dt.date,
                       window_days: int = 4) -> dict[DailySalesKey, tuple]:
    """daily_sales recomputed in plain Python (Decimal) from the POS events that reached raw: the first copy of
    each event id, dated in its store's time zone, for the `window_days` event dates ending on `run_date`.
    Values: (units, gross_sales, discounts, net_sales, baskets)."""
    zones = {store.store_id: ZoneInfo(store.timezone) for store in reference_data(config).stores}
    window = {(run_date - dt.timedelta(days=d)).isoformat() for d in range(window_days)}
    totals: dict[DailySalesKey, list] = defaultdict(lambda: [0, Decimal("0"), Decimal("0"), set()])
    seen: set[str] = set()
    for sale in raw_sales:
        if sale["event_id"] in seen:
            continue
        seen.add(sale["event_id"])
        event_date = sale["event_time"].astimezone(zones[sale["store_id"]]).date().isoformat()
        if event_date not in window:
            continue
        for item in sale["line_items"]:
            line = totals[(event_date, sale["store_id"], item["sku"])]
            line[0] += item["quantity"]
            line[1] += item["quantity"] * item["unit_price"]
            line[2] += item["discount"]
            line[3].add(sale["transaction_id"])
    return {key: (units, gross, discounts, gross - discounts, len(baskets))
            for key, (units, gross, discounts, baskets) in totals.items()}


def daily_sales_rows(rows: list[dict]) -> dict[DailySalesKey, tuple]:
    """The daily_sales table's rows in the oracle's shape."""
    return {(str(row["event_date"]), row["store_id"], row["sku"]):
            (row["units"], row["gross_sales"], row["discounts"], row["net_sales"], row["baskets"]) for row in rows}
