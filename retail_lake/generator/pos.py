"""POS sales: transactions at store registers, with line items, promotions, tenders and loyalty ids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retail_lake.generator.cards import card_numbers
from retail_lake.generator.formatting import TimestampFormatter, money
from retail_lake.generator.reference import PROMO_LIFT, ReferenceData
from retail_lake.generator.timeline import Calendar, draw_hour_ms, store_hours_profile

TENDERS = ("card", "mobile_wallet", "cash", "gift_card")
_TENDER_SHARE = np.array([0.55, 0.20, 0.15, 0.10])
_QUANTITIES = np.array([1, 2, 3, 4, 6])
_QUANTITY_SHARE = np.array([0.80, 0.12, 0.05, 0.02, 0.01])
BASKET_GEOMETRIC_P = 0.42  # line items per sale: geometric, mean ~2.4
LOYALTY_SHARE = 0.45
HOME_STORE_SHARE = 0.85
E_RECEIPT_EMAIL_SHARE = 0.35
E_RECEIPT_PHONE_SHARE = 0.25
# Sale movements reach the inventory system shortly after the sale: this many ms, plus 20 ms per line.
MOVEMENT_DELAY_MS = 400


@dataclass
class PosSales:
    """Sales (sorted by time) and their line items, column-wise."""

    store: np.ndarray
    day: np.ndarray
    utc_ms: np.ndarray
    offset_min: np.ndarray
    register: np.ndarray
    tender: np.ndarray
    customer: np.ndarray  # -1 when the shopper is not identified
    send_email: np.ndarray
    send_phone: np.ndarray
    transaction_ids: list[str]
    card_numbers: list[str | None]
    line_start: np.ndarray  # (sales + 1,) offsets into the line arrays
    line_sku: np.ndarray
    line_qty: np.ndarray
    line_price_cents: np.ndarray
    line_discount_cents: np.ndarray
    line_promo: np.ndarray  # index into promotions, -1 = none

    @property
    def n_sales(self) -> int:
        return int(self.store.size)

    @property
    def line_sale(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_sales), np.diff(self.line_start))

    def line_movement_ms(self) -> np.ndarray:
        """When each line's `sale` inventory movement happens."""
        position = np.arange(self.line_sku.size) - np.repeat(self.line_start[:-1], np.diff(self.line_start))
        return self.utc_ms[self.line_sale] + MOVEMENT_DELAY_MS + 20 * position


def simulate_sales(rng: np.random.Generator, ref: ReferenceData, cal: Calendar, n_sales: int) -> PosSales:
    n_stores, n_days = len(ref.stores), len(cal.days)
    store_day = np.outer(ref.store_weight, cal.store_day_weight).ravel()
    counts = rng.multinomial(n_sales, store_day / store_day.sum())
    cell = np.repeat(np.arange(n_stores * n_days), counts)
    store, day = cell // n_days, cell % n_days
    local_ms = np.empty(n_sales, dtype=np.int64)
    for f in np.unique(ref.store_format):
        rows = np.flatnonzero(ref.store_format[store] == f)
        s0 = ref.stores[int(np.flatnonzero(ref.store_format == f)[0])]
        profile = store_hours_profile(s0.opens_at_hour, s0.closes_at_hour)
        local_ms[rows] = draw_hour_ms(rng, profile, rows.size)
    utc_ms = cal.midnight_utc_ms[store, day] + local_ms
    order = np.lexsort((store, utc_ms))
    store, day, utc_ms = store[order], day[order], utc_ms[order]

    # transaction number within the store's day, in time order
    by_store_day = np.lexsort((utc_ms, day, store))
    group = (store * n_days + day)[by_store_day]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    seq_sorted = np.arange(n_sales) - np.repeat(starts, np.diff(np.r_[starts, n_sales]))
    seq = np.empty(n_sales, dtype=np.int64)
    seq[by_store_day] = seq_sorted + 1
    registers = np.array([s.registers for s in ref.stores])
    register = rng.integers(0, registers[store]) + 1 if n_sales else np.zeros(0, dtype=np.int64)
    ymd = [d.strftime("%Y%m%d") for d in cal.days]
    ids = ref.store_ids
    transaction_ids = [f"{ids[s]}-{ymd[d]}-{r:02d}-{q:05d}" for s, d, r, q in
                       zip(store.tolist(), day.tolist(), register.tolist(), seq.tolist())]

    tender = rng.choice(len(TENDERS), size=n_sales, p=_TENDER_SHARE)
    cards: list[str | None] = [None] * n_sales
    card_rows = np.flatnonzero(tender == 0)
    for row, pan in zip(card_rows.tolist(), card_numbers(rng, card_rows.size)):
        cards[row] = pan
    customer = _loyalty_customers(rng, ref, store)
    known = customer >= 0
    send_email = known & (rng.random(n_sales) < E_RECEIPT_EMAIL_SHARE)
    send_phone = known & (rng.random(n_sales) < E_RECEIPT_PHONE_SHARE)

    n_lines = np.minimum(rng.geometric(BASKET_GEOMETRIC_P, size=n_sales), 30)
    line_start = np.r_[0, np.cumsum(n_lines)]
    line_day = np.repeat(day, n_lines)
    line_sku = np.empty(line_day.size, dtype=np.int64)
    for d in range(n_days):
        rows = np.flatnonzero(line_day == d)
        weight = ref.popularity * np.where(ref.promo_pct_by_day[d] > 0, PROMO_LIFT, 1.0)
        line_sku[rows] = rng.choice(weight.size, size=rows.size, p=weight / weight.sum())
    line_qty = rng.choice(_QUANTITIES, size=line_sku.size, p=_QUANTITY_SHARE)
    price = ref.price_cents[line_sku]
    pct = ref.promo_pct_by_day[line_day, line_sku]
    discount = (price * line_qty * pct + 50) // 100
    promo = ref.promo_index_by_day[line_day, line_sku]
    return PosSales(
        store=store, day=day, utc_ms=utc_ms, offset_min=cal.offset_minutes[store, day], register=register,
        tender=tender, customer=customer, send_email=send_email, send_phone=send_phone,
        transaction_ids=transaction_ids, card_numbers=cards, line_start=line_start, line_sku=line_sku,
        line_qty=line_qty, line_price_cents=price, line_discount_cents=discount, line_promo=promo,
    )


def _loyalty_customers(rng: np.random.Generator, ref: ReferenceData, store: np.ndarray) -> np.ndarray:
    """A loyalty customer per identified sale (mostly one whose home store it is), -1 for the rest."""
    n = store.size
    customer = np.full(n, -1, dtype=np.int64)
    identified = rng.random(n) < LOYALTY_SHARE
    n_customers = ref.customer_home_store.size
    by_home = np.argsort(ref.customer_home_store, kind="stable")
    home_counts = np.bincount(ref.customer_home_store, minlength=len(ref.stores))
    home_start = np.r_[0, np.cumsum(home_counts)]
    local = identified & (rng.random(n) < HOME_STORE_SHARE) & (home_counts[store] > 0)
    pick = rng.random(n)
    rows = np.flatnonzero(local)
    customer[rows] = by_home[home_start[store[rows]] + (pick[rows] * home_counts[store[rows]]).astype(np.int64)]
    rows = np.flatnonzero(identified & ~local)
    customer[rows] = (pick[rows] * n_customers).astype(np.int64)
    return customer


def render_sales(sales: PosSales, ref: ReferenceData, fmt: TimestampFormatter, event_ids: list[str],
                 currency: str) -> list[str]:
    """One JSON text per sale, in the POS wire format of the `pos_sale` contract."""
    skus = ref.sku_ids
    heads = [f'{{"sku":"{s}","quantity":' for s in skus]
    prices = [money(int(c)) for c in ref.price_cents.tolist()]
    promo_tail = [f',"promotion_id":"{p.promotion_id}"}}' for p in ref.promotions]
    lines = [
        f'{heads[s]}{q},"unit_price":{prices[s]},"discount":{money(dc) if dc else "0.00"}'
        + (promo_tail[p] if p >= 0 else "}")
        for s, q, dc, p in zip(sales.line_sku.tolist(), sales.line_qty.tolist(),
                               sales.line_discount_cents.tolist(), sales.line_promo.tolist())
    ]
    times = fmt.format(sales.utc_ms, sales.offset_min)
    store_ids = ref.store_ids
    customers = ref.customers
    out = []
    bounds = sales.line_start.tolist()
    for i, (s, reg, tender, cust, email, phone) in enumerate(zip(
        sales.store.tolist(), sales.register.tolist(), sales.tender.tolist(), sales.customer.tolist(),
        sales.send_email.tolist(), sales.send_phone.tolist(),
    )):
        who = ""
        if cust >= 0:
            c = customers[cust]
            who = f',"customer_id":"{c.customer_id}"'
            if email:
                who += f',"customer_email":"{c.email}"'
            if phone:
                who += f',"customer_phone":"{c.phone}"'
        pan = sales.card_numbers[i]
        pay = f'"{TENDERS[tender]}","card_number":"{pan}"' if pan else f'"{TENDERS[tender]}"'
        out.append(
            f'{{"record_type":"pos_sale","schema_version":1,"event_id":"{event_ids[i]}","event_time":"{times[i]}",'
            f'"transaction_id":"{sales.transaction_ids[i]}","store_id":"{store_ids[s]}","register_id":"R{reg:02d}"'
            f'{who},"tender_type":{pay},"currency":"{currency}",'
            f'"line_items":[{",".join(lines[bounds[i]:bounds[i + 1]])}]}}'
        )
    return out
