"""Reference data, generated before any event: stores, products, customers and the promotions calendar.

The tables are deterministic functions of the config (seed and sizes); the events refer to them, and the
batch layer loads them into the lake (see `reference_writer`).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import numpy as np

from retail_lake.generator.config import GeneratorConfig
from retail_lake.generator.seeding import rng_for
from retail_lake.generator.vocabulary import (
    CATEGORIES,
    CATEGORY_WEIGHTS,
    CITIES,
    CITY_WEIGHTS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
)

STORE_FORMATS = ("flagship", "standard", "express")
_FORMAT_SHARE = np.array([0.06, 0.60, 0.34])
_FORMAT_MEDIAN_SQFT = np.array([120_000.0, 45_000.0, 12_000.0])
_FORMAT_HOURS = ((9, 22), (7, 22), (6, 23))
_FORMAT_REGISTERS = (16, 8, 3)
LOYALTY_TIERS = ("bronze", "silver", "gold", "platinum")
_TIER_SHARE = np.array([0.55, 0.28, 0.13, 0.04])
ZIPF_EXPONENT = 1.07
# Fraction of the catalog on promotion on an average day, and how much a promotion lifts a SKU's sales.
PROMO_SHARE = 0.04
PROMO_LIFT = 3.0
PROMO_DISCOUNTS = (10, 15, 20, 25, 30, 40)


@dataclass(frozen=True)
class Store:
    store_id: str
    name: str
    region: str
    city: str
    state: str
    format: str
    size_sqft: int
    traffic_weight: float  # relative transaction volume; the chain's average store is 1.0
    timezone: str
    latitude: float
    longitude: float
    opens_at_hour: int
    closes_at_hour: int
    registers: int


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: str
    brand: str
    list_price: float
    unit_cost: float
    popularity_rank: int  # 1 = best seller


@dataclass(frozen=True)
class Customer:
    customer_id: str
    first_name: str
    last_name: str
    email: str
    phone: str  # E.164
    home_store_id: str
    loyalty_tier: str
    signup_date: dt.date


@dataclass(frozen=True)
class Promotion:
    promotion_id: str
    sku: str
    start_date: dt.date
    end_date: dt.date  # inclusive
    discount_pct: int


@dataclass(frozen=True)
class ReferenceData:
    """The reference tables, column-wise (numpy) for the event generators and row-wise for everyone else."""

    stores: tuple[Store, ...]
    products: tuple[Product, ...]
    customers: tuple[Customer, ...]
    promotions: tuple[Promotion, ...]
    store_weight: np.ndarray  # (stores,) traffic weight, mean 1
    store_format: np.ndarray  # (stores,) index into STORE_FORMATS
    price_cents: np.ndarray  # (skus,)
    popularity: np.ndarray  # (skus,) selling probability, sums to 1
    customer_home_store: np.ndarray  # (customers,) store index
    promo_pct_by_day: np.ndarray  # (days, skus) discount percent on that day, 0 = none
    promo_index_by_day: np.ndarray  # (days, skus) index into `promotions`, -1 = none

    @property
    def store_ids(self) -> list[str]:
        return [s.store_id for s in self.stores]

    @property
    def sku_ids(self) -> list[str]:
        return [p.sku for p in self.products]


def store_id(index: int) -> str:
    return f"ST{index + 1:04d}"


def sku_id(index: int) -> str:
    return f"SKU-{index + 1:06d}"


def customer_id(index: int) -> str:
    return f"C{index + 1:07d}"


def _stores(config: GeneratorConfig) -> tuple[tuple[Store, ...], np.ndarray, np.ndarray]:
    rng = rng_for(config, "stores")
    n = config.stores
    fmt = rng.choice(3, size=n, p=_FORMAT_SHARE)
    if n >= 3:
        fmt[0] = 0  # every chain has a flagship
    sqft = _FORMAT_MEDIAN_SQFT[fmt] * rng.lognormal(0.0, 0.25, size=n)
    weight = (sqft / _FORMAT_MEDIAN_SQFT[1]) ** 0.7 * rng.lognormal(0.0, 0.3, size=n)
    weight = weight / weight.mean()
    city_w = np.array(CITY_WEIGHTS, dtype=float)
    city = rng.choice(len(CITIES), size=n, p=city_w / city_w.sum())
    jitter = rng.uniform(-0.12, 0.12, size=(n, 2))
    stores = []
    for i in range(n):
        name, state, region, tz, lat, lon, _ = CITIES[city[i]]
        f = int(fmt[i])
        opens, closes = _FORMAT_HOURS[f]
        stores.append(
            Store(
                store_id=store_id(i),
                name=f"{name} {STORE_FORMATS[f].title()} {i + 1}",
                region=region,
                city=name,
                state=state,
                format=STORE_FORMATS[f],
                size_sqft=int(round(sqft[i], -2)),
                traffic_weight=round(float(weight[i]), 4),
                timezone=tz,
                latitude=round(float(lat + jitter[i, 0]), 5),
                longitude=round(float(lon + jitter[i, 1]), 5),
                opens_at_hour=opens,
                closes_at_hour=closes,
                registers=_FORMAT_REGISTERS[f],
            )
        )
    return tuple(stores), weight, fmt


def _products(config: GeneratorConfig) -> tuple[tuple[Product, ...], np.ndarray, np.ndarray]:
    rng = rng_for(config, "products")
    n = config.skus
    cat_w = np.array(CATEGORY_WEIGHTS, dtype=float)
    cat = rng.choice(len(CATEGORIES), size=n, p=cat_w / cat_w.sum())
    picks = rng.integers(0, 1 << 30, size=(n, 3))
    spread = rng.standard_normal(n)
    endings = rng.choice(np.array([99, 49, 79, 29]), size=n, p=[0.6, 0.2, 0.12, 0.08])
    margin_u = rng.random(n)
    rank = rng.permutation(n) + 1
    popularity = 1.0 / rank.astype(float) ** ZIPF_EXPONENT
    popularity /= popularity.sum()
    price_cents = np.empty(n, dtype=np.int64)
    products = []
    for i in range(n):
        name, median, sigma, (m_lo, m_hi), brands, nouns, adjectives = CATEGORIES[cat[i]]
        dollars = max(0, int(median * np.exp(sigma * spread[i])))
        cents = dollars * 100 + int(endings[i])
        margin = m_lo + (m_hi - m_lo) * margin_u[i]
        price_cents[i] = cents
        brand = brands[picks[i, 0] % len(brands)]
        products.append(
            Product(
                sku=sku_id(i),
                name=f"{brand} {adjectives[picks[i, 1] % len(adjectives)]} {nouns[picks[i, 2] % len(nouns)]}".title(),
                category=name,
                brand=brand,
                list_price=cents / 100,
                unit_cost=round(cents * (1 - margin)) / 100,
                popularity_rank=int(rank[i]),
            )
        )
    return tuple(products), price_cents, popularity


def _customers(config: GeneratorConfig, stores: tuple[Store, ...], store_weight: np.ndarray):
    rng = rng_for(config, "customers")
    n = config.customers
    first = rng.integers(0, len(FIRST_NAMES), size=n)
    last = rng.integers(0, len(LAST_NAMES), size=n)
    style = rng.integers(0, 5, size=n)
    suffix = rng.integers(1, 100, size=n)
    dom_p = np.array([d[1] for d in EMAIL_DOMAINS])
    domain = rng.choice(len(EMAIL_DOMAINS), size=n, p=dom_p / dom_p.sum())
    home = rng.choice(len(stores), size=n, p=store_weight / store_weight.sum())
    exchange = rng.integers(200, 1000, size=n)
    line = rng.integers(0, 10_000, size=n)
    tier = rng.choice(len(LOYALTY_TIERS), size=n, p=_TIER_SHARE)
    signup_days = rng.integers(0, 5 * 365, size=n)
    area_by_city = {c[0]: c[6] for c in CITIES}
    customers = []
    for i in range(n):
        f, l_ = FIRST_NAMES[first[i]], LAST_NAMES[last[i]]
        fl, ll = f.lower(), l_.lower()
        s = style[i]
        if s == 0:
            local = f"{fl}.{ll}"
        elif s == 1:
            local = f"{fl}.{ll}{suffix[i]}"
        elif s == 2:
            local = f"{fl[0]}{ll}{suffix[i]}"
        elif s == 3:
            local = f"{fl}_{ll}{1960 + suffix[i] % 45}"
        else:
            local = f"{ll}.{fl}{i % 1000}"
        home_store = stores[home[i]]
        customers.append(
            Customer(
                customer_id=customer_id(i),
                first_name=f,
                last_name=l_,
                email=f"{local}@{EMAIL_DOMAINS[domain[i]][0]}",
                phone=f"+1{area_by_city[home_store.city]}{exchange[i]}{line[i]:04d}",
                home_store_id=home_store.store_id,
                loyalty_tier=LOYALTY_TIERS[tier[i]],
                signup_date=config.start_date - dt.timedelta(days=int(signup_days[i]) + 1),
            )
        )
    return tuple(customers), home


def _promotions(config: GeneratorConfig, popularity: np.ndarray):
    rng = rng_for(config, "promotions")
    n_skus, n_days = config.skus, config.days
    mean_len = 4.0
    n_promos = max(1, int(round(n_skus * PROMO_SHARE * n_days / mean_len)))
    # promotions favour sellers, but not only the very top: mix popularity with uniform choice
    p = 0.5 * popularity + 0.5 / n_skus
    skus = rng.choice(n_skus, size=n_promos, p=p / p.sum())
    lengths = rng.integers(2, 7, size=n_promos)
    starts = rng.integers(-3, n_days, size=n_promos)
    pct = rng.choice(np.array(PROMO_DISCOUNTS), size=n_promos)
    pct_by_day = np.zeros((n_days, n_skus), dtype=np.int64)
    index_by_day = np.full((n_days, n_skus), -1, dtype=np.int64)
    promotions = []
    for k in range(n_promos):
        sku, first, last = int(skus[k]), max(0, int(starts[k])), min(n_days - 1, int(starts[k] + lengths[k] - 1))
        if last < first or (index_by_day[first : last + 1, sku] >= 0).any():
            continue  # outside the window, or overlapping a promotion of the same SKU
        pct_by_day[first : last + 1, sku] = pct[k]
        index_by_day[first : last + 1, sku] = len(promotions)
        promotions.append(
            Promotion(
                promotion_id=f"PROMO-{len(promotions) + 1:05d}",
                sku=sku_id(sku),
                start_date=config.start_date + dt.timedelta(days=first),
                end_date=config.start_date + dt.timedelta(days=last),
                discount_pct=int(pct[k]),
            )
        )
    return tuple(promotions), pct_by_day, index_by_day


def reference_data(config: GeneratorConfig) -> ReferenceData:
    """The reference tables of `config` (they depend only on the seed, the sizes and the dates)."""
    return _reference_data(
        GeneratorConfig(
            seed=config.seed, stores=config.stores, skus=config.skus, customers=config.customers,
            days=config.days, start_date=config.start_date,
        )
    )


@functools.lru_cache(maxsize=4)
def _reference_data(config: GeneratorConfig) -> ReferenceData:
    stores, weight, fmt = _stores(config)
    products, price_cents, popularity = _products(config)
    customers, home = _customers(config, stores, weight)
    promotions, pct_by_day, index_by_day = _promotions(config, popularity)
    return ReferenceData(
        stores=stores,
        products=products,
        customers=customers,
        promotions=promotions,
        store_weight=weight,
        store_format=fmt,
        price_cents=price_cents,
        popularity=popularity,
        customer_home_store=home,
        promo_pct_by_day=pct_by_day,
        promo_index_by_day=index_by_day,
    )


def stores(config: GeneratorConfig) -> tuple[Store, ...]:
    return reference_data(config).stores


def products(config: GeneratorConfig) -> tuple[Product, ...]:
    return reference_data(config).products


def customers(config: GeneratorConfig) -> tuple[Customer, ...]:
    return reference_data(config).customers


def promotions(config: GeneratorConfig) -> tuple[Promotion, ...]:
    return reference_data(config).promotions
