"""A synthetic analytics zone shaped exactly like the batch layer's output, for exercising the serving layer
without running Spark: the gold tables the Glue job writes (`daily_sales`, `inventory_position`,
`customer_360`, `web_sessions`, `conversion_funnel`, columns and types from `retail_lake.batch.schemas`), the
`quality_results` of the quality gates, and the reference dimensions (stores, products from the generator).

Sale lines are drawn at random (seeded) and aggregated with pandas the way the gold job aggregates them, so the
tables agree with each other (units in `daily_sales` and `units_sold_28d`, revenue in the funnel). Used by the
serving tests, the notebooks' tests and `bench/athena.py --synthetic`; the real tables come from `retail-lake demo`,
the deployed pipeline or `bench/athena.py` without that flag.

    lake = SampleLake.build(SampleSize(sale_lines=5_000, days=4))
    lake.write(s3, analytics_bucket="...", raw_bucket="...")   # Parquet at the jobs' keys
    lake.tables["daily_sales"]                                  # the same data, as Arrow (partition column last)
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from retail_lake.batch.analytics import RFM_SEGMENTS
from retail_lake.generator import GeneratorConfig
from retail_lake.generator.reference_writer import reference_tables

QUALITY_DATASETS = ("pos_sales", "inventory_movements", "clickstream")
CHANNELS = ("app", "web")


@dataclass(frozen=True)
class SampleSize:
    sale_lines: int = 5_000
    days: int = 4
    stores: int = 6
    skus: int = 60
    customers: int = 400
    sessions_per_day: int = 300
    seed: int = 7
    start_date: dt.date = dt.date(2026, 11, 1)

    @classmethod
    def for_events(cls, events: int, seed: int = 7) -> SampleSize:
        """The size of the gold tables `events` generator events produce with the generator's default reference
        sizes over a week (about 60% of events are POS sale lines; sessions follow the clickstream share)."""
        return cls(sale_lines=int(events * 0.6), days=7, stores=50, skus=2_000, customers=20_000,
                   sessions_per_day=max(1, int(events * 0.3 / 7 / 8)), seed=seed)


@dataclass
class SampleLake:
    size: SampleSize
    tables: dict[str, pa.Table] = field(default_factory=dict)  # analytics tables, partition column included
    reference: dict[str, pa.Table] = field(default_factory=dict)  # stores, products
    partition_keys: dict[str, str] = field(default_factory=dict)

    @property
    def last_date(self) -> dt.date:
        return self.size.start_date + dt.timedelta(days=self.size.days - 1)

    @classmethod
    def build(cls, size: SampleSize = SampleSize()) -> SampleLake:
        rng = np.random.default_rng(size.seed)
        config = GeneratorConfig(seed=size.seed, stores=size.stores, skus=size.skus, customers=size.customers,
                                 days=size.days, start_date=size.start_date)
        reference = reference_tables(config)
        reference = {name: reference[name] for name in ("stores", "products")}
        lake = cls(size, reference=reference)
        store_ids = np.array(reference["stores"].column("store_id").to_pylist())
        skus = np.array(reference["products"].column("sku").to_pylist())
        prices = np.round(np.array(reference["products"].column("list_price").to_pylist()) * 100).astype(np.int64)
        lines = _sale_lines(rng, size, store_ids, skus, prices)
        lake._add("daily_sales", _daily_sales(lines), "event_date")
        lake._add("inventory_position", _inventory(rng, lines, store_ids, skus, lake.last_date), "as_of_date")
        lake._add("customer_360", _customers(rng, lines, lake.last_date), "as_of_date")
        sessions = _sessions(rng, size)
        lake._add("web_sessions", sessions, "event_date")
        lake._add("conversion_funnel", _funnel(sessions), "event_date")
        lake._add("quality_results", _quality(rng, size), "run_date")
        return lake

    def _add(self, name: str, table: pa.Table, partition_key: str) -> None:
        self.tables[name] = table
        self.partition_keys[name] = partition_key

    def write(self, s3: Any, *, analytics_bucket: str, raw_bucket: str, reference_prefix: str = "reference/") -> int:
        """Put every table at the keys the jobs write (`<table>/<key>=<value>/part-00000.parquet`, the partition
        column in the path only) and the reference tables at `<prefix><table>/<table>.parquet`; returns objects."""
        written = 0
        for name, table in self.tables.items():
            key = self.partition_keys[name]
            values = table.column(key).to_pylist()
            frame_index: dict[Any, list[int]] = {}
            for position, value in enumerate(values):
                frame_index.setdefault(value, []).append(position)
            data = table.drop_columns([key])
            for value, positions in sorted(frame_index.items()):
                part = data.take(pa.array(positions))
                s3.put_object(Bucket=analytics_bucket, Key=f"{name}/{key}={value}/part-00000.snappy.parquet",
                              Body=_parquet(part))
                written += 1
        for name, table in self.reference.items():
            s3.put_object(Bucket=raw_bucket, Key=f"{reference_prefix}{name}/{name}.parquet", Body=_parquet(table))
            written += 1
        return written

    def frame(self, name: str) -> pd.DataFrame:
        """A table as pandas (decimals as Decimal objects, dates as datetime.date)."""
        source = self.reference[name] if name in self.reference else self.tables[name]
        return source.to_pandas(date_as_object=True)


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="snappy")
    return buffer.getvalue()


def _money(cents: Any) -> pa.Array:
    return pa.array([None if c is None else Decimal(int(c)).scaleb(-2) for c in cents], pa.decimal128(18, 2))


def _sale_lines(rng: np.random.Generator, size: SampleSize, stores: np.ndarray, skus: np.ndarray,
                prices: np.ndarray) -> pd.DataFrame:
    n = size.sale_lines
    popularity = 1.0 / np.arange(1, len(skus) + 1)
    sku_index = rng.choice(len(skus), size=n, p=popularity / popularity.sum())
    quantity = rng.integers(1, 4, size=n)
    gross = prices[sku_index] * quantity
    discount = np.where(rng.random(n) < 0.2, (gross * rng.integers(5, 30, size=n)) // 100, 0)
    transactions = max(1, n // 3)
    transaction = rng.integers(0, transactions, size=n)
    customers = rng.integers(0, size.customers, size=transactions)
    known = rng.random(transactions) < 0.7
    return pd.DataFrame({
        "event_date": [size.start_date + dt.timedelta(days=int(d)) for d in rng.integers(0, size.days, size=n)],
        "store_id": stores[rng.integers(0, len(stores), size=n)],
        "sku": skus[sku_index],
        "transaction_id": [f"T{t:09d}" for t in transaction],
        "customer_id": [f"C{customers[t]:06d}" if known[t] else None for t in transaction],
        "quantity": quantity,
        "gross_cents": gross,
        "discount_cents": discount,
    })


def _daily_sales(lines: pd.DataFrame) -> pa.Table:
    grouped = lines.groupby(["event_date", "store_id", "sku"], sort=True).agg(
        units=("quantity", "sum"), gross=("gross_cents", "sum"), discount=("discount_cents", "sum"),
        baskets=("transaction_id", "nunique")).reset_index()
    net = grouped["gross"] - grouped["discount"]
    average = [int((Decimal(int(c)) / int(b)).quantize(Decimal(1), rounding="ROUND_HALF_UP"))
               for c, b in zip(net, grouped["baskets"])]
    return pa.table({
        "store_id": pa.array(grouped["store_id"], pa.string()),
        "sku": pa.array(grouped["sku"], pa.string()),
        "units": pa.array(grouped["units"], pa.int64()),
        "gross_sales": _money(grouped["gross"]),
        "discounts": _money(grouped["discount"]),
        "net_sales": _money(net),
        "baskets": pa.array(grouped["baskets"], pa.int64()),
        "average_basket": _money(average),
        "event_date": pa.array(grouped["event_date"], pa.date32()),
    })


def _inventory(rng: np.random.Generator, lines: pd.DataFrame, stores: np.ndarray, skus: np.ndarray,
               as_of: dt.date) -> pa.Table:
    window = lines[lines["event_date"] > as_of - dt.timedelta(days=28)]
    sold = window.groupby(["store_id", "sku"])["quantity"].sum()
    pairs = pd.MultiIndex.from_product([stores, skus[: max(1, len(skus) // 2)]], names=["store_id", "sku"])
    pairs = pairs.union(sold.index)
    n = len(pairs)
    on_hand = rng.integers(0, 60, size=n)
    on_hand[rng.random(n) < 0.08] = 0
    unknown = rng.random(n) < 0.02
    units = sold.reindex(pairs, fill_value=0).to_numpy()
    cover = []
    for have, moved, missing in zip(on_hand, units, unknown):
        if missing or moved == 0:
            cover.append(None)
        else:
            cover.append((Decimal(int(have)) * 28 / Decimal(int(moved))).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP"))
    on_hand_values = [None if missing else int(v) for v, missing in zip(on_hand, unknown)]
    moved_at = dt.datetime.combine(as_of, dt.time(18, 0))
    return pa.table({
        "store_id": pa.array(pairs.get_level_values(0), pa.string()),
        "sku": pa.array(pairs.get_level_values(1), pa.string()),
        "on_hand": pa.array(on_hand_values, pa.int64()),
        "units_sold_28d": pa.array(units, pa.int64()),
        "days_of_cover": pa.array(cover, pa.decimal128(12, 2)),
        "stockout": pa.array([None if v is None else v == 0 for v in on_hand_values], pa.bool_()),
        "last_movement_time": pa.array([None if v is None else moved_at for v in on_hand_values], pa.timestamp("us")),
        "as_of_date": pa.array([as_of] * n, pa.date32()),
    })


def _customers(rng: np.random.Generator, lines: pd.DataFrame, as_of: dt.date) -> pa.Table:
    known = lines.dropna(subset=["customer_id"])
    known = known.assign(net=known["gross_cents"] - known["discount_cents"])
    per = known.groupby("customer_id").agg(first=("event_date", "min"), last=("event_date", "max"),
                                           transactions=("transaction_id", "nunique"), net=("net", "sum"))
    n = len(per)
    segments = [name for name, _, _ in RFM_SEGMENTS]
    segment = rng.choice(segments, size=n, p=_segment_weights(len(segments)))
    scores = rng.integers(1, 6, size=(n, 3))
    average = [int((Decimal(int(c)) / int(t)).quantize(Decimal(1), rounding="ROUND_HALF_UP"))
               for c, t in zip(per["net"], per["transactions"])]
    return pa.table({
        "customer_id": pa.array(per.index, pa.string()),
        "first_purchase_date": pa.array(per["first"], pa.date32()),
        "last_purchase_date": pa.array(per["last"], pa.date32()),
        "recency_days": pa.array([(as_of - d).days for d in per["last"]], pa.int32()),
        "frequency": pa.array(per["transactions"], pa.int64()),
        "monetary": _money(per["net"]),
        "r_score": pa.array(scores[:, 0], pa.int32()),
        "f_score": pa.array(scores[:, 1], pa.int32()),
        "m_score": pa.array(scores[:, 2], pa.int32()),
        "rfm_score": pa.array(["".join(map(str, row)) for row in scores], pa.string()),
        "segment": pa.array(segment, pa.string()),
        "lifetime_transactions": pa.array(per["transactions"], pa.int64()),
        "lifetime_value": _money(per["net"]),
        "average_basket": _money(average),
        "as_of_date": pa.array([as_of] * n, pa.date32()),
    })


def _segment_weights(count: int) -> np.ndarray:
    weights = np.linspace(2.0, 1.0, count)
    return weights / weights.sum()


def _sessions(rng: np.random.Generator, size: SampleSize) -> pa.Table:
    n = size.sessions_per_day * size.days
    day = rng.integers(0, size.days, size=n)
    start = [dt.datetime.combine(size.start_date + dt.timedelta(days=int(d)), dt.time(0)) +
             dt.timedelta(seconds=int(s)) for d, s in zip(day, rng.integers(0, 86_000, size=n))]
    duration = rng.integers(5, 1_800, size=n)
    cart = rng.random(n) < 0.35
    checkout = cart & (rng.random(n) < 0.6)
    purchase = checkout & (rng.random(n) < 0.7)
    revenue = np.where(purchase, rng.integers(500, 25_000, size=n), 0)
    device = rng.choice(["ios_app", "android_app", "desktop_web", "mobile_web"], size=n)
    anonymous = [f"A{i:07d}" for i in rng.integers(0, n, size=n)]
    return pa.table({
        "session_id": pa.array([f"{a}:{i}" for i, a in enumerate(anonymous)], pa.string()),
        "anonymous_id": pa.array(anonymous, pa.string()),
        "customer_id": pa.array([None] * n, pa.string()),
        "session_start": pa.array(start, pa.timestamp("us")),
        "session_end": pa.array([s + dt.timedelta(seconds=int(d)) for s, d in zip(start, duration)], pa.timestamp("us")),
        "duration_seconds": pa.array(duration, pa.int64()),
        "events": pa.array(rng.integers(1, 30, size=n), pa.int64()),
        "pages": pa.array(rng.integers(1, 20, size=n), pa.int64()),
        "added_to_cart": pa.array(cart, pa.bool_()),
        "checked_out": pa.array(checkout, pa.bool_()),
        "purchased": pa.array(purchase, pa.bool_()),
        "orders": pa.array(purchase.astype(np.int64), pa.int64()),
        "revenue": _money(revenue),
        "device": pa.array(device, pa.string()),
        "channel": pa.array(["app" if d.endswith("_app") else "web" for d in device], pa.string()),
        "event_date": pa.array([s.date() for s in start], pa.date32()),
    })


def _funnel(sessions: pa.Table) -> pa.Table:
    frame = sessions.select(["event_date", "channel", "added_to_cart", "checked_out", "purchased"]).to_pandas(
        date_as_object=True)
    frame["revenue_cents"] = [int(v * 100) for v in sessions.column("revenue").to_pylist()]
    grouped = frame.groupby(["event_date", "channel"], sort=True).agg(
        sessions=("channel", "size"), cart=("added_to_cart", "sum"), checkout=("checked_out", "sum"),
        purchase=("purchased", "sum"), revenue=("revenue_cents", "sum")).reset_index()
    rate = [(Decimal(int(p)) / int(s)).quantize(Decimal("0.0001"), rounding="ROUND_HALF_UP")
            for p, s in zip(grouped["purchase"], grouped["sessions"])]
    return pa.table({
        "channel": pa.array(grouped["channel"], pa.string()),
        "sessions": pa.array(grouped["sessions"], pa.int64()),
        "sessions_with_add_to_cart": pa.array(grouped["cart"], pa.int64()),
        "sessions_with_checkout": pa.array(grouped["checkout"], pa.int64()),
        "sessions_with_purchase": pa.array(grouped["purchase"], pa.int64()),
        "revenue": _money(grouped["revenue"]),
        "conversion_rate": pa.array(rate, pa.decimal128(7, 4)),
        "event_date": pa.array(grouped["event_date"], pa.date32()),
    })


def _quality(rng: np.random.Generator, size: SampleSize) -> pa.Table:
    rows = []
    for offset in range(size.days):
        run_date = (size.start_date + dt.timedelta(days=offset)).isoformat()
        for dataset in QUALITY_DATASETS:
            for number in range(6):
                failed = rng.random() < 0.3
                level = "error" if number % 3 == 0 else "warning"
                rows.append({
                    "run_id": f"jr_{run_date}_{dataset}", "dataset": dataset, "data_partition": f"event_date={run_date}",
                    "rule_id": f"{dataset}.rule_{number}", "level": level, "scope": "row",
                    "rule_type": "completeness", "status": "failed" if failed else "passed",
                    "observed_value": "0.990000" if failed else "1.000000", "threshold": ">= 0.999",
                    "failing_rows": int(rng.integers(1, 50)) if failed else (None if number == 5 else 0),
                    "evaluated_rows": 1000, "engine": "great_expectations",
                    "evaluated_at": dt.datetime.combine(size.start_date, dt.time(6)) + dt.timedelta(days=offset),
                    "run_date": run_date,
                })
    schema = pa.schema([
        ("run_id", pa.string()), ("dataset", pa.string()), ("data_partition", pa.string()), ("rule_id", pa.string()),
        ("level", pa.string()), ("scope", pa.string()), ("rule_type", pa.string()), ("status", pa.string()),
        ("observed_value", pa.string()), ("threshold", pa.string()), ("failing_rows", pa.int64()),
        ("evaluated_rows", pa.int64()), ("engine", pa.string()), ("evaluated_at", pa.timestamp("us", tz="UTC")),
        ("run_date", pa.string()),
    ])
    return pa.Table.from_pylist(rows, schema=schema)
