"""Curated -> analytics functions on small exact fixtures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal


from retail_lake.batch.analytics import (
    CHANNEL_BY_DEVICE,
    conversion_funnel,
    customer_360,
    daily_sales,
    inventory_position,
    web_sessions,
)
from retail_lake.batch.curated import explode_pos_lines, with_event_date
from retail_lake.contracts.clickstream import DEVICES
from tests.unit.batch.builders import line, raw_rows, ts

D = dt.date
AS_OF = D(2026, 3, 31)


def _sale(event_id, customer_id, event_time, lines, store_id="ST0001", transaction_id=None):
    return {"event_id": event_id, "transaction_id": transaction_id or f"T-{event_id}", "store_id": store_id,
            "customer_id": customer_id, "event_time": ts(event_time), "line_items": lines}


def _lines(spark, stores, sales):
    return explode_pos_lines(with_event_date(raw_rows(spark, "pos_sales", sales), stores))


# ------------------------------------------------------------------------------------------- daily sales


def test_daily_sales_sums_to_the_cent(spark, stores):
    lines = _lines(spark, stores, [
        _sale("s1", None, "2026-03-01 15:00", [line("SKU-000001", 3, "0.10", "0.01"), line("SKU-000001", 1, "0.20")]),
        _sale("s2", None, "2026-03-01 16:00", [line("SKU-000001", 1, "0.10")]),
        _sale("s3", None, "2026-03-01 17:00", [line("SKU-000001", 7, "19.99", "2.50")]),
        # 23:30 New York time on March 1: March 1's sales, although it is March 2 in UTC
        _sale("s4", None, "2026-03-02 04:30", [line("SKU-000002", 1, "49.99", "5.00")]),
        _sale("s5", None, "2026-03-02 15:00", [line("SKU-000001", 1, "0.99")]),
    ])
    got = {(r.event_date, r.store_id, r.sku): tuple(r)[3:] for r in daily_sales(lines).collect()}
    # SKU-000001 on March 1: gross 0.30 + 0.20 + 0.10 + 139.93 = 140.53, discounts 2.51, net 138.02 over
    # 3 baskets (s1 holds the SKU on two lines): 46.006... -> 46.01
    assert got == {
        (D(2026, 3, 1), "ST0001", "SKU-000001"):
            (12, Decimal("140.53"), Decimal("2.51"), Decimal("138.02"), 3, Decimal("46.01")),
        (D(2026, 3, 1), "ST0001", "SKU-000002"):
            (1, Decimal("49.99"), Decimal("5.00"), Decimal("44.99"), 1, Decimal("44.99")),
        (D(2026, 3, 2), "ST0001", "SKU-000001"):
            (1, Decimal("0.99"), Decimal("0.00"), Decimal("0.99"), 1, Decimal("0.99")),
    }
    assert daily_sales(lines).columns == [
        "event_date", "store_id", "sku", "units", "gross_sales", "discounts", "net_sales", "baskets", "average_basket",
    ]


# ------------------------------------------------------------------------------------------- inventory


def test_inventory_position_days_of_cover_and_stockouts(spark, stores):
    movements = with_event_date(raw_rows(spark, "inventory_movements", [
        {"event_id": "m1", "store_id": "ST0001", "sku": "SKU-000001", "on_hand_after": 100,
         "event_time": ts("2026-03-10 15:00")},
        {"event_id": "m2", "store_id": "ST0001", "sku": "SKU-000001", "on_hand_after": 56,
         "event_time": ts("2026-03-20 15:00")},
        # after the as-of date: ignored
        {"event_id": "m3", "store_id": "ST0001", "sku": "SKU-000001", "on_hand_after": 999,
         "event_time": ts("2026-04-02 15:00")},
        {"event_id": "m4", "store_id": "ST0001", "sku": "SKU-000002", "on_hand_after": 0,
         "event_time": ts("2026-03-30 15:00")},
        {"event_id": "m5", "store_id": "ST0001", "sku": "SKU-000003", "on_hand_after": 40,
         "event_time": ts("2026-03-01 15:00")},
    ]), stores)
    lines = _lines(spark, stores, [
        _sale("s1", None, "2026-03-04 15:00", [line("SKU-000001", 20, "1.00"), line("SKU-000002", 14, "1.00")]),
        _sale("s2", None, "2026-03-03 15:00", [line("SKU-000001", 100, "1.00")]),  # 29 days back: outside
        _sale("s3", None, "2026-03-31 15:00", [line("SKU-000001", 8, "1.00")]),
        _sale("s4", None, "2026-04-01 03:30", [line("SKU-000003", 5, "1.00")]),  # 23:30 March 31 in New York
        _sale("s5", None, "2026-04-01 15:00", [line("SKU-000001", 50, "1.00")]),  # after the as-of date
        _sale("s6", None, "2026-03-31 15:00", [line("SKU-000001", 2, "1.00")], store_id="ST0002"),
    ])
    position = inventory_position(movements, lines, "2026-03-31")
    got = {(r.store_id, r.sku): (r.on_hand, r.units_sold_28d, r.days_of_cover, r.stockout) for r in position.collect()}
    assert got == {
        # 56 on hand, 28 units in 28 days: 56 days of cover
        ("ST0001", "SKU-000001"): (56, 28, Decimal("56.00"), False),
        ("ST0001", "SKU-000002"): (0, 14, Decimal("0.00"), True),
        ("ST0001", "SKU-000003"): (40, 5, Decimal("224.00"), False),
        # sold, but no movement on record: position unknown
        ("ST0002", "SKU-000001"): (None, 2, None, None),
    }
    no_sales = inventory_position(movements, lines.limit(0), AS_OF)
    assert {(r.sku, r.units_sold_28d, r.days_of_cover, r.stockout) for r in no_sales.collect()} == {
        ("SKU-000001", 0, None, False), ("SKU-000002", 0, None, True), ("SKU-000003", 0, None, False),
    }


# ------------------------------------------------------------------------------------------- customer 360


def test_customer_360_scores_rfm_by_quintile_and_names_segments(spark, stores):
    def purchases(customer, amount, dates):
        return [_sale(f"{customer}-{i}", customer, f"{d} 15:00", [line("SKU-000001", 1, amount)])
                for i, d in enumerate(dates)]

    sales = (
        # recency 0 days, 5 purchases, 50.00: the best on every axis
        purchases("A", "10.00", ["2026-03-01", "2026-03-05", "2026-03-10", "2026-03-20", "2026-03-31"])
        + purchases("B", "7.50", ["2026-02-01", "2026-02-10", "2026-03-01", "2026-03-26"])  # 5 days, 4, 30.00
        + purchases("C", "20.00", ["2026-03-30"])  # 1 day, 1 purchase, 20.00
        + purchases("D", "13.33", ["2026-01-01", "2026-02-01", "2026-03-11"])  # 20 days, 3, 39.99
        + purchases("E", "5.00", ["2026-01-15", "2026-01-30"])  # 60 days, 2, 10.00
        + purchases("E-old", "100.00", ["2024-01-01"])  # more than 365 days back: lifetime value only
        + [_sale("A-future", "A", "2026-04-02 15:00", [line("SKU-000001", 1, "999.00")]),  # after the as-of date
           _sale("anonymous", None, "2026-03-31 15:00", [line("SKU-000001", 1, "1.00")])]
    )
    for sale in sales:
        if sale["customer_id"] == "E-old":
            sale["customer_id"] = "E"
    c360 = customer_360(_lines(spark, stores, sales), AS_OF)
    got = {
        r.customer_id: (r.recency_days, r.frequency, r.monetary, r.rfm_score, r.segment, r.lifetime_value,
                        r.lifetime_transactions)
        for r in c360.collect()
    }
    assert got == {
        "A": (0, 5, Decimal("50.00"), "555", "champions", Decimal("50.00"), 5),
        "B": (5, 4, Decimal("30.00"), "343", "loyal", Decimal("30.00"), 4),
        "C": (1, 1, Decimal("20.00"), "412", "new_customers", Decimal("20.00"), 1),
        "D": (20, 3, Decimal("39.99"), "234", "at_risk", Decimal("39.99"), 3),
        "E": (60, 2, Decimal("10.00"), "121", "hibernating", Decimal("110.00"), 3),
    }
    e = c360.where("customer_id = 'E'").first()
    assert (e.first_purchase_date, e.last_purchase_date, e.average_basket) == (D(2024, 1, 1), D(2026, 1, 30),
                                                                                 Decimal("36.67"))


def test_customer_360_ties_share_a_score(spark, stores):
    sales = [_sale(f"{c}-1", c, "2026-03-31 15:00", [line("SKU-000001", 1, "10.00")]) for c in "PQRS"]
    c360 = customer_360(_lines(spark, stores, sales), AS_OF)
    assert {(r.r_score, r.f_score, r.m_score, r.segment) for r in c360.collect()} == {(1, 1, 1, "lost")}


# ------------------------------------------------------------------------------------------- web sessions


def _clicks(spark):
    def click(event_id, anonymous_id, at, event_type="page_view", device="desktop", **extra):
        return {"event_id": event_id, "anonymous_id": anonymous_id, "session_id": "client-session",
                "event_time": ts(at), "event_type": event_type, "device": device, "page_url": "/p", **extra}

    return raw_rows(spark, "clickstream", [
        click("a1", "visitor-1", "2026-03-01 10:00"),
        click("a2", "visitor-1", "2026-03-01 10:29", "add_to_cart"),  # 29 minutes: same session
        click("a3", "visitor-1", "2026-03-01 11:00"),  # 31 minutes: a new session
        click("a4", "visitor-1", "2026-03-01 11:05", "checkout", customer_id="C0000001"),
        click("a5", "visitor-1", "2026-03-01 11:06", "purchase", order_id="O1", order_value=Decimal("59.98")),
        click("b1", "visitor-2", "2026-03-01 10:00", device="ios_app"),
        click("b2", "visitor-2", "2026-03-01 10:30", "add_to_cart", device="ios_app"),  # exactly 30: same
        click("b3", "visitor-2", "2026-03-01 23:50", device="ios_app"),
        click("b4", "visitor-2", "2026-03-02 00:10", device="ios_app"),  # crosses midnight: same session
        click("c1", "visitor-3", "2026-03-01 12:00", device="mobile_web"),
        click("c2", "visitor-3", "2026-03-01 12:29:59.999999", "search", device="mobile_web"),
        click("c3", "visitor-3", "2026-03-01 13:00:00", device="mobile_web"),  # 30 min + 1 microsecond: new
    ])


def test_web_sessions_split_on_more_than_30_minutes_of_inactivity(spark):
    sessions = web_sessions(_clicks(spark))
    got = sorted(
        (r.anonymous_id, r.session_start.strftime("%d %H:%M"), r.session_end.strftime("%d %H:%M"), r.events,
         r.pages, r.added_to_cart, r.checked_out, r.purchased, r.channel, r.event_date)
        for r in sessions.collect()
    )
    assert got == [
        ("visitor-1", "01 10:00", "01 10:29", 2, 1, True, False, False, "web", D(2026, 3, 1)),
        ("visitor-1", "01 11:00", "01 11:06", 3, 1, False, True, True, "web", D(2026, 3, 1)),
        ("visitor-2", "01 10:00", "01 10:30", 2, 1, True, False, False, "app", D(2026, 3, 1)),
        ("visitor-2", "01 23:50", "02 00:10", 2, 2, False, False, False, "app", D(2026, 3, 1)),
        ("visitor-3", "01 12:00", "01 12:29", 2, 1, False, False, False, "web", D(2026, 3, 1)),
        ("visitor-3", "01 13:00", "01 13:00", 1, 1, False, False, False, "web", D(2026, 3, 1)),
    ]
    bought = sessions.where("purchased").first()
    assert (bought.customer_id, bought.orders, bought.revenue, bought.duration_seconds) == (
        "C0000001", 1, Decimal("59.98"), 360)
    assert bought.session_id == "visitor-1:" + str(int(ts("2026-03-01 11:00").timestamp() * 1_000_000))
    assert sessions.select("session_id").distinct().count() == 6


def test_web_sessions_gap_is_configurable(spark):
    assert web_sessions(_clicks(spark), gap_minutes=60).count() == 4


def test_every_device_has_a_channel():
    assert set(CHANNEL_BY_DEVICE) == set(DEVICES)
    assert CHANNEL_BY_DEVICE["ios_app"] == CHANNEL_BY_DEVICE["android_app"] == "app"
    assert CHANNEL_BY_DEVICE["desktop"] == CHANNEL_BY_DEVICE["mobile_web"] == CHANNEL_BY_DEVICE["tablet"] == "web"


def test_conversion_funnel_counts_sessions_per_day_and_channel(spark):
    funnel = conversion_funnel(web_sessions(_clicks(spark)))
    got = {
        (r.event_date, r.channel): (r.sessions, r.sessions_with_add_to_cart, r.sessions_with_checkout,
                                    r.sessions_with_purchase, r.conversion_rate, r.revenue)
        for r in funnel.collect()
    }
    assert got == {
        (D(2026, 3, 1), "web"): (4, 1, 1, 1, Decimal("0.2500"), Decimal("59.98")),
        (D(2026, 3, 1), "app"): (2, 1, 0, 0, Decimal("0.0000"), Decimal("0.00")),
    }
