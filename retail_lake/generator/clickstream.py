"""Clickstream: web and app sessions that browse, search, fill carts and (sometimes) buy.

Funnel rates are the industry's usual shape: ~38% of sessions bounce, ~10% add to cart, ~4% reach
checkout and ~3% purchase.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retail_lake.generator.formatting import TimestampFormatter, money, uuid4_strings
from retail_lake.generator.reference import ReferenceData
from retail_lake.generator.timeline import WEB_HOURLY, Calendar, MS_PER_DAY, draw_hour_ms
from retail_lake.generator.vocabulary import CATEGORIES

SITE = "https://www.retail-lake.example"
DEVICES = ("desktop", "mobile_web", "tablet", "ios_app", "android_app")
_DEVICE_SHARE = np.array([0.32, 0.38, 0.05, 0.15, 0.10])
REFERRERS = (
    None,  # direct
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://www.facebook.com/",
    "https://www.instagram.com/",
    "https://www.tiktok.com/",
    "https://mail.retail-lake.example/newsletter?utm_source=email&utm_campaign=weekly_deals",
)
_REFERRER_SHARE = np.array([0.30, 0.35, 0.05, 0.08, 0.08, 0.06, 0.08])
BOUNCE_SHARE = 0.38
LOGGED_IN_SHARE = 0.28
SEARCH_SHARE = 0.28
ADD_TO_CART_SHARE = 0.105  # of all sessions
REMOVE_SHARE = 0.30  # of carts with two or more items
CHECKOUT_SHARE = 0.38  # of carts
PURCHASE_SHARE = 0.80  # of checkouts
MEAN_GAP_S = 30.0
PAGE_VIEW, SEARCH, ADD, REMOVE, CHECKOUT, PURCHASE = range(6)
EVENT_TYPES = ("page_view", "search", "add_to_cart", "remove_from_cart", "checkout", "purchase")


@dataclass
class SessionPlan:
    """Per-session draws; `length` is the number of events of each session."""

    store: np.ndarray  # the visitor's nearest store: sets the local clock
    start_ms: np.ndarray
    device: np.ndarray
    referrer: np.ndarray
    customer: np.ndarray  # -1 = anonymous
    visitor: np.ndarray
    n_views: np.ndarray
    search: np.ndarray
    n_adds: np.ndarray
    remove: np.ndarray
    checkout: np.ndarray
    purchase: np.ndarray

    @property
    def length(self) -> np.ndarray:
        return self.n_views + self.search + self.n_adds + self.remove + self.checkout + self.purchase


def plan_sessions(rng: np.random.Generator, ref: ReferenceData, cal: Calendar, n: int) -> SessionPlan:
    n_days = len(cal.days)
    store = rng.choice(len(ref.stores), size=n, p=ref.store_weight / ref.store_weight.sum())
    day = rng.choice(n_days, size=n, p=cal.web_day_weight / cal.web_day_weight.sum())
    start = cal.midnight_utc_ms[store, day] + draw_hour_ms(rng, WEB_HOURLY, n)
    n_customers = len(ref.customers)
    logged_in = rng.random(n) < LOGGED_IN_SHARE
    customer = np.where(logged_in, rng.integers(0, n_customers, size=n), -1)
    visitor = np.where(logged_in, customer, n_customers + rng.integers(0, 2 * n_customers, size=n))
    bounce = rng.random(n) < BOUNCE_SHARE
    n_views = np.where(bounce, 1, 1 + np.minimum(rng.geometric(0.33, size=n), 24))
    search = (~bounce & (rng.random(n) < SEARCH_SHARE / (1 - BOUNCE_SHARE))).astype(np.int64)
    carts = ~bounce & (rng.random(n) < ADD_TO_CART_SHARE / (1 - BOUNCE_SHARE))
    n_adds = np.where(carts, rng.choice([1, 2, 3], size=n, p=[0.7, 0.2, 0.1]), 0)
    remove = ((n_adds >= 2) & (rng.random(n) < REMOVE_SHARE)).astype(np.int64)
    checkout = (carts & (rng.random(n) < CHECKOUT_SHARE)).astype(np.int64)
    purchase = (checkout.astype(bool) & (rng.random(n) < PURCHASE_SHARE)).astype(np.int64)
    return SessionPlan(
        store=store, start_ms=start, device=rng.choice(len(DEVICES), size=n, p=_DEVICE_SHARE),
        referrer=rng.choice(len(REFERRERS), size=n, p=_REFERRER_SHARE), customer=customer, visitor=visitor,
        n_views=n_views, search=search, n_adds=n_adds, remove=remove, checkout=checkout, purchase=purchase,
    )


def search_queries() -> list[str]:
    queries = []
    for _, _, _, _, brands, nouns, adjectives in CATEGORIES:
        queries += list(nouns) + [f"{a} {n}" for a in adjectives for n in nouns[:3]] + [b.lower() for b in brands]
    return queries


def anonymous_id(visitor: int) -> str:
    """A stable cookie id per visitor (a bijective scramble of the visitor number)."""
    return f"{(visitor * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF:016x}"


def render_sessions(rng: np.random.Generator, plan: SessionPlan, ref: ReferenceData, cal: Calendar,
                    budget: int, order_number_start: int = 1) -> tuple[np.ndarray, list[str]]:
    """Events of the sessions, cut to exactly `budget` events (the last session may end early).

    Returns each event's UTC epoch ms and its JSON text.
    """
    lengths = plan.length
    cum = np.cumsum(lengths)
    if budget > (int(cum[-1]) if cum.size else 0):
        raise ValueError(f"planned sessions hold {int(cum[-1]) if cum.size else 0} events, fewer than {budget}")
    n_sessions = int(np.searchsorted(cum, budget) + 1) if budget else 0
    total = int(cum[n_sessions - 1]) if n_sessions else 0
    gaps = np.maximum(500, rng.lognormal(np.log(MEAN_GAP_S * 1000) - 0.5, 1.0, size=total)).astype(np.int64)
    first = np.r_[0, cum[: n_sessions - 1]] if n_sessions else np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(gaps)
    offsets -= np.repeat(offsets[first] - gaps[first], lengths[:n_sessions]) if n_sessions else 0
    offsets -= np.repeat(gaps[first], lengths[:n_sessions]) if n_sessions else 0
    times = np.repeat(plan.start_ms[:n_sessions], lengths[:n_sessions]) + offsets
    # stay inside the window: a session that would run past its end is shifted earlier
    overrun = np.maximum(0, times - (cal.window_end_ms - 1))
    if overrun.any():
        shift = np.zeros(n_sessions, dtype=np.int64)
        np.maximum.at(shift, np.repeat(np.arange(n_sessions), lengths[:n_sessions]), overrun)
        times -= np.repeat(shift, lengths[:n_sessions])

    skus, n_skus = ref.sku_ids, len(ref.products)
    product_sku = rng.choice(n_skus, size=total + n_sessions, p=ref.popularity).tolist()
    queries = search_queries()
    query_pick = rng.integers(0, len(queries), size=n_sessions).tolist()
    landing = rng.choice(3, size=n_sessions, p=[0.40, 0.25, 0.35]).tolist()
    browse_category = (rng.random(total) < 0.2).tolist()
    category_slugs = [c[0].replace(" ", "-") for c in CATEGORIES]
    category_pick = rng.integers(0, len(category_slugs), size=total).tolist()
    session_ids = uuid4_strings(rng, n_sessions)
    day_index = ((plan.start_ms[:n_sessions] - cal.midnight_utc_ms[plan.store[:n_sessions], 0]) // MS_PER_DAY).tolist()
    promo_pct = ref.promo_pct_by_day
    price_cents = ref.price_cents.tolist()
    customers = ref.customers
    ymd = [d.strftime("%y%m%d") for d in cal.days]
    device_part = [f',"device":"{d}"' for d in DEVICES]

    product_url = [f"{SITE}/p/{sku}" for sku in skus]
    sku_part = [f',"sku":"{sku}"' for sku in skus]
    category_url = [f"{SITE}/c/{slug}" for slug in category_slugs]
    search_part = [f',"search_query":"{q}","page_url":"{SITE}/search?q={q.replace(" ", "+")}"' for q in queries]
    search_url = [f"{SITE}/search?q={q.replace(' ', '+')}" for q in queries]
    columns = (plan.customer, plan.visitor, plan.device, plan.referrer, plan.n_views, plan.search, plan.n_adds,
               plan.remove, plan.checkout, plan.purchase, lengths)
    rest: list[str] = []
    emit = rest.append
    order_no = order_number_start
    k = 0  # position in the per-event draws
    home_url = SITE + "/"
    for i, (cust, visitor, device, ref_i, n_views, search, n_adds, remove, checkout, purchase, length) in enumerate(
        zip(*(c[:n_sessions].tolist() for c in columns))
    ):
        who = f',"customer_id":"{customers[cust].customer_id}"' if cust >= 0 else ""
        head = f'","session_id":"{session_ids[i]}","anonymous_id":"{anonymous_id(visitor)}"{who},"event_type":"'
        tail = device_part[device] + "}"
        previous = REFERRERS[ref_i]
        if i == n_sessions - 1:
            length = budget - len(rest)  # the last session is cut to fit the budget exactly
        produced = 0

        def page(etype: str, body: str, url: str) -> None:
            nonlocal previous, produced
            if produced < length:
                ref_part = f',"referrer":"{previous}"' if previous is not None else ""
                emit(f"{head}{etype}{body}{ref_part}{tail}")
                produced += 1
            previous = url

        land = landing[i]
        if land == 0:
            page('page_view"', f',"page_url":"{home_url}"', home_url)
        elif land == 1:
            url = category_url[category_pick[k]]
            page('page_view"', f',"page_url":"{url}"', url)
        else:
            sku = product_sku[k]
            page('page_view"', f'{sku_part[sku]},"page_url":"{product_url[sku]}"', product_url[sku])
        if search:
            q = query_pick[i]
            page('search"', search_part[q], search_url[q])
        viewed: list[int] = []
        for j in range(k + 1, k + n_views):
            if browse_category[j]:
                url = category_url[category_pick[j]]
                page('page_view"', f',"page_url":"{url}"', url)
            else:
                sku = product_sku[j]
                viewed.append(sku)
                page('page_view"', f'{sku_part[sku]},"page_url":"{product_url[sku]}"', product_url[sku])
        cart: list[int] = []
        for j in range(n_adds):
            sku = viewed[j] if j < len(viewed) else product_sku[k + j]
            cart.append(sku)
            page('add_to_cart"', f'{sku_part[sku]},"page_url":"{product_url[sku]}"', product_url[sku])
        if remove:
            sku = cart.pop(0)
            page('remove_from_cart"', f'{sku_part[sku]},"page_url":"{SITE}/cart"', f"{SITE}/cart")
        if checkout:
            page('checkout"', f',"page_url":"{SITE}/checkout"', f"{SITE}/checkout")
        if purchase:
            d = min(max(day_index[i], 0), len(ymd) - 1)
            value = sum(price_cents[c] * (100 - int(promo_pct[d, c])) // 100 for c in cart)
            page('purchase"', f',"page_url":"{SITE}/checkout/confirmation","order_id":"W{ymd[d]}-{order_no:07d}",'
                 f'"order_value":{money(value)}', "")
            order_no += 1
        k += length if i < n_sessions - 1 else 0
    return times[:budget], rest


def finish_events(times: np.ndarray, rest: list[str], fmt: TimestampFormatter, event_ids: list[str]) -> list[str]:
    stamps = fmt.format(times, 0)
    return [
        f'{{"record_type":"clickstream","schema_version":1,"event_id":"{e}","event_time":"{t}{r}'
        for e, t, r in zip(event_ids, stamps, rest)
    ]
