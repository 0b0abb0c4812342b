"""The operational store's workload: create the schema, seed it, then apply a realistic, seeded stream of
changes, a few statements per transaction, as the retailer's applications would:

- price changes (list price and cost of a product), product discontinuations (`active` off);
- customer address changes and loyalty-tier changes, new customers, customers erased on request (delete);
- new online orders with their lines, order status changes (placed -> paid -> shipped -> delivered),
  cancellations, a line removed from an open order, cancelled orders purged (delete, lines cascade).

    create_schema(conn); seed(conn, Scale(customers=200)); apply_changes(conn, 500, seed=7)

The same seed gives the same database and the same changes.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from retail_lake.sources.operational_db.tables import SCHEMA, SCHEMA_FILE

_FIRST = ("Ann", "Ben", "Carla", "Dev", "Eva", "Femi", "Gus", "Hana", "Ivan", "Jo", "Kai", "Lena", "Mo", "Nia")
_LAST = ("Lee", "Ng", "Silva", "Khan", "Meyer", "Rossi", "Okafor", "Haddad", "Novak", "Berg", "Ito", "Park")
_STREETS = ("Main St", "Oak Ave", "Pine Rd", "Elm St", "Lake Dr", "Hill Rd", "Cedar Ln", "Bay St")
_CITIES = (("New York", "northeast", 40.7128, -74.006, "America/New_York"),
           ("Boston", "northeast", 42.3601, -71.0589, "America/New_York"),
           ("Chicago", "midwest", 41.8781, -87.6298, "America/Chicago"),
           ("Denver", "west", 39.7392, -104.9903, "America/Denver"),
           ("Los Angeles", "west", 34.0522, -118.2437, "America/Los_Angeles"),
           ("Seattle", "west", 47.6062, -122.3321, "America/Los_Angeles"),
           ("Miami", "south", 25.7617, -80.1918, "America/New_York"),
           ("Austin", "south", 30.2672, -97.7431, "America/Chicago"))
_CATEGORIES = {"home": ("Towel", "Lamp", "Mug"), "grocery": ("Coffee", "Tea", "Pasta"),
               "apparel": ("Shirt", "Jacket", "Socks"), "electronics": ("Cable", "Charger", "Speaker")}
_BRANDS = ("Acme", "Zed", "Northwind", "Contoso", "Fabrikam")
_TIERS = ("none", "silver", "gold", "platinum")
NEXT_STATUS = {"placed": "paid", "paid": "shipped", "shipped": "delivered"}
CHANGE_KINDS = ("price_change", "discontinue", "address_change", "tier_change", "new_customer", "erase_customer",
                "new_order", "status_change", "cancel_order", "remove_line", "purge_cancelled")
_WEIGHTS = (14, 2, 12, 5, 6, 2, 20, 22, 7, 4, 3)
_EPOCH = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Scale:
    stores: int = 8
    customers: int = 200
    products: int = 120
    orders: int = 300


def create_schema(conn: Any) -> None:
    """Drop and create the `retail` schema and its publication (autocommit or not: committed here)."""
    with conn.transaction():
        conn.execute("DROP PUBLICATION IF EXISTS retail_lake_cdc")
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(SCHEMA_FILE.read_text())


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def _customer(rng: random.Random, n: int) -> tuple:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    city = rng.choice(_CITIES)[0]
    return (f"C{n:07d}", first, last, f"{first}.{last}{n}@example.com".lower(),
            f"+1{rng.randint(200, 999)}555{rng.randint(0, 9999):04d}", f"{rng.randint(1, 999)} {rng.choice(_STREETS)}",
            city, f"{rng.randint(10000, 99999)}", rng.choice(_TIERS))


def seed(conn: Any, scale: Scale = Scale(), *, seed: int = 42) -> dict[str, int]:
    """Fill the (empty) tables; returns the row count per table."""
    rng = random.Random(seed)
    with conn.transaction(), conn.cursor() as cur:
        stores = []
        for n in range(1, scale.stores + 1):
            city, region, lat, lon, tz = _CITIES[(n - 1) % len(_CITIES)]
            stores.append((f"ST{n:04d}", f"{city} {n}", city, region, Decimal(f"{lat:.6f}"), Decimal(f"{lon:.6f}"),
                           tz, dt.date(2015, 1, 1) + dt.timedelta(days=rng.randint(0, 3000))))
        cur.executemany(f"INSERT INTO {SCHEMA}.stores VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", stores)
        cur.executemany(
            f"INSERT INTO {SCHEMA}.customers (customer_id, first_name, last_name, email, phone, street, city, "
            "postal_code, loyalty_tier) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [_customer(rng, n) for n in range(1, scale.customers + 1)])
        products = []
        for n in range(1, scale.products + 1):
            category = rng.choice(sorted(_CATEGORIES))
            cost = rng.uniform(1, 60)
            products.append((f"SKU-{n:06d}", f"{rng.choice(_BRANDS)} {rng.choice(_CATEGORIES[category])} {n}",
                             category, rng.choice(_BRANDS), _money(cost), _money(cost * rng.uniform(1.3, 2.2))))
        cur.executemany(f"INSERT INTO {SCHEMA}.products (product_id, name, category, brand, unit_cost, list_price) "
                        "VALUES (%s, %s, %s, %s, %s, %s)", products)
    state = _State.load(conn)
    for _ in range(scale.orders):
        with conn.transaction():
            _new_order(conn, rng, state, status=rng.choice(("placed", "paid", "shipped", "delivered")))
    return count_rows(conn)


def count_rows(conn: Any) -> dict[str, int]:
    from retail_lake.sources.operational_db.tables import TABLES

    return {t.name: conn.execute(f"SELECT count(*) FROM {t.qualified}").fetchone()[0] for t in TABLES}


@dataclass
class _State:
    """What the workload needs to know to pick realistic targets (read once, then kept up to date)."""

    stores: list[str]
    customers: list[str]
    products: list[str]
    prices: dict[str, Decimal]
    open_orders: dict[int, str]  # order id -> status, for orders not delivered or cancelled
    cancelled: list[int]
    next_customer: int
    next_order: int
    clock: dt.datetime

    @classmethod
    def load(cls, conn: Any) -> _State:
        rows = lambda sql: conn.execute(sql).fetchall()  # noqa: E731
        customers = [r[0] for r in rows(f"SELECT customer_id FROM {SCHEMA}.customers ORDER BY 1")]
        prices = {r[0]: r[1] for r in rows(f"SELECT product_id, list_price FROM {SCHEMA}.products "
                                           "WHERE active ORDER BY 1")}
        orders = rows(f"SELECT order_id, status FROM {SCHEMA}.online_orders ORDER BY 1")
        max_customer = max((int(c[1:]) for c in customers), default=0)
        latest = conn.execute(f"SELECT max(ordered_at) FROM {SCHEMA}.online_orders").fetchone()[0]
        return cls(
            stores=[r[0] for r in rows(f"SELECT store_id FROM {SCHEMA}.stores ORDER BY 1")],
            customers=customers, products=sorted(prices), prices=prices,
            open_orders={o: s for o, s in orders if s in NEXT_STATUS},
            cancelled=[o for o, s in orders if s == "cancelled"],
            next_customer=max_customer + 1, next_order=max((o for o, _ in orders), default=0) + 1,
            clock=max(latest or _EPOCH, _EPOCH))

    def tick(self, rng: random.Random) -> dt.datetime:
        self.clock += dt.timedelta(seconds=rng.randint(1, 90))
        return self.clock


def _new_order(conn: Any, rng: random.Random, state: _State, status: str = "placed") -> None:
    order_id = state.next_order
    state.next_order += 1
    lines = []
    for line_number in range(1, rng.randint(1, 4) + 1):
        product = rng.choice(state.products)
        lines.append((order_id, line_number, product, rng.randint(1, 3), state.prices[product]))
    total = sum((q * p for _, _, _, q, p in lines), Decimal("0.00"))
    at = state.tick(rng)
    conn.execute(f"INSERT INTO {SCHEMA}.online_orders VALUES (%s, %s, %s, %s, %s, %s, %s)",
                 (order_id, rng.choice(state.customers), rng.choice(state.stores), status, total, at, at))
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {SCHEMA}.order_lines VALUES (%s, %s, %s, %s, %s)", lines)
    if status in NEXT_STATUS:
        state.open_orders[order_id] = status


def _change(conn: Any, rng: random.Random, state: _State, kind: str) -> bool:
    """Apply one change of `kind`; False when there is nothing to apply it to (the caller picks another)."""
    at = state.tick(rng)
    if kind in ("price_change", "discontinue"):
        if len(state.products) < 10:
            return False
        product = rng.choice(state.products)
        if kind == "discontinue":
            conn.execute(f"UPDATE {SCHEMA}.products SET active = false, updated_at = %s WHERE product_id = %s",
                         (at, product))
            state.products.remove(product)
            return True
        price = _money(float(state.prices[product]) * rng.choice((0.8, 0.9, 0.95, 1.05, 1.1, 1.2)))
        state.prices[product] = price
        conn.execute(f"UPDATE {SCHEMA}.products SET list_price = %s, unit_cost = round(unit_cost * %s, 2), "
                     "updated_at = %s WHERE product_id = %s", (price, Decimal(rng.choice(("0.97", "1.00", "1.04"))),
                                                                at, product))
        return True
    if kind in ("address_change", "tier_change", "erase_customer"):
        if len(state.customers) < 10:
            return False
        customer = rng.choice(state.customers)
        if kind == "address_change":
            conn.execute(f"UPDATE {SCHEMA}.customers SET street = %s, city = %s, postal_code = %s, updated_at = %s "
                         "WHERE customer_id = %s", (f"{rng.randint(1, 999)} {rng.choice(_STREETS)}",
                                                    rng.choice(_CITIES)[0], f"{rng.randint(10000, 99999)}", at,
                                                    customer))
        elif kind == "tier_change":
            conn.execute(f"UPDATE {SCHEMA}.customers SET loyalty_tier = %s, updated_at = %s WHERE customer_id = %s",
                         (rng.choice(_TIERS), at, customer))
        else:  # erased on request: their orders keep no customer (ON DELETE SET NULL)
            conn.execute(f"DELETE FROM {SCHEMA}.customers WHERE customer_id = %s", (customer,))
            state.customers.remove(customer)
        return True
    if kind == "new_customer":
        row = _customer(rng, state.next_customer)
        state.next_customer += 1
        conn.execute(f"INSERT INTO {SCHEMA}.customers (customer_id, first_name, last_name, email, phone, street, "
                     "city, postal_code, loyalty_tier, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                     (*row, at))
        state.customers.append(row[0])
        return True
    if kind == "new_order":
        _new_order(conn, rng, state)
        return True
    if kind == "purge_cancelled":
        if not state.cancelled:
            return False
        order = state.cancelled.pop(rng.randrange(len(state.cancelled)))
        conn.execute(f"DELETE FROM {SCHEMA}.online_orders WHERE order_id = %s", (order,))
        return True
    if not state.open_orders:
        return False
    order = rng.choice(sorted(state.open_orders))
    status = state.open_orders[order]
    if kind == "status_change":
        new = NEXT_STATUS[status]
        conn.execute(f"UPDATE {SCHEMA}.online_orders SET status = %s, updated_at = %s WHERE order_id = %s",
                     (new, at, order))
        if new in NEXT_STATUS:
            state.open_orders[order] = new
        else:
            del state.open_orders[order]
        return True
    if kind == "cancel_order":
        if status not in ("placed", "paid"):
            return False
        conn.execute(f"UPDATE {SCHEMA}.online_orders SET status = 'cancelled', updated_at = %s WHERE order_id = %s",
                     (at, order))
        del state.open_orders[order]
        state.cancelled.append(order)
        return True
    if kind == "remove_line":
        if status != "placed":
            return False
        lines = conn.execute(f"SELECT line_number, quantity * unit_price FROM {SCHEMA}.order_lines "
                             "WHERE order_id = %s ORDER BY 1", (order,)).fetchall()
        if len(lines) < 2:
            return False
        line, amount = lines[-1]
        conn.execute(f"DELETE FROM {SCHEMA}.order_lines WHERE order_id = %s AND line_number = %s", (order, line))
        conn.execute(f"UPDATE {SCHEMA}.online_orders SET total_amount = total_amount - %s, updated_at = %s "
                     "WHERE order_id = %s", (amount, at, order))
        return True
    raise ValueError(f"unknown change kind {kind!r}; known: {', '.join(CHANGE_KINDS)}")


def apply_changes(conn: Any, changes: int, *, seed: int = 7, max_per_transaction: int = 4) -> Counter[str]:
    """Apply `changes` changes (1..max_per_transaction per transaction); returns how many of each kind."""
    rng = random.Random(seed)
    state = _State.load(conn)
    applied: Counter[str] = Counter()
    while sum(applied.values()) < changes:
        with conn.transaction():
            for _ in range(min(rng.randint(1, max_per_transaction), changes - sum(applied.values()))):
                for _attempt in range(20):
                    kind = rng.choices(CHANGE_KINDS, weights=_WEIGHTS)[0]
                    if _change(conn, rng, state, kind):
                        applied[kind] += 1
                        break
                else:
                    raise RuntimeError("the workload found nothing to change; seed the database first")
    return applied
