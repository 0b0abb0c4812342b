"""Curated -> analytics (gold): plain DataFrame -> DataFrame functions, one per gold table.

Inputs are curated tables with `event_date` (see `retail_lake.batch.curated`): POS sale lines from
`explode_pos_lines`, inventory movements, clickstream events. Money is summed as decimal(18,2), exact to
the cent; ratios of money are rounded half up to the cent.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as st

from retail_lake.batch.curated import EVENT_DATE, local_date
from retail_lake.contracts.clickstream import DEVICES

TOTAL_AMOUNT = st.DecimalType(18, 2)  # sums of line amounts
RATE = st.DecimalType(7, 4)
SALES_WINDOW_DAYS = 28


# ------------------------------------------------------------------------------------------- daily sales


def daily_sales(lines: DataFrame) -> DataFrame:
    """Store x SKU x event date: units, gross sales, discounts, net sales, baskets (distinct
    transactions holding the SKU) and average basket (net sales per basket, to the cent)."""
    totals = lines.groupBy(EVENT_DATE, "store_id", "sku").agg(
        F.sum("quantity").alias("units"),
        F.sum("gross_amount").cast(TOTAL_AMOUNT).alias("gross_sales"),
        F.sum("discount").cast(TOTAL_AMOUNT).alias("discounts"),
        F.sum("net_amount").cast(TOTAL_AMOUNT).alias("net_sales"),
        F.countDistinct("transaction_id").alias("baskets"),
    )
    return totals.withColumn("average_basket", _per(F.col("net_sales"), F.col("baskets")))


# ------------------------------------------------------------------------------------------- inventory


def inventory_position(movements: DataFrame, lines: DataFrame, as_of_date: dt.date | str) -> DataFrame:
    """Store x SKU position at the end of `as_of_date` (store local dates).

    - `on_hand`: `on_hand_after` of the latest movement up to that date (by event time, then event id);
      null for a SKU sold at a store with no movement on record;
    - `units_sold_28d`: units sold in the 28 days ending on `as_of_date` (inclusive);
    - `days_of_cover`: on_hand / (units_sold_28d / 28), two decimals; null without sales in the window;
    - `stockout`: on_hand == 0 (null when on_hand is unknown).
    Movements and sales after `as_of_date` are ignored, so a past date can be recomputed.
    """
    as_of = _date(as_of_date)
    latest_first = Window.partitionBy("store_id", "sku").orderBy(F.col("event_time").desc(), F.col("event_id").desc())
    positions = (
        movements.where(F.col(EVENT_DATE) <= as_of)
        .withColumn("_latest", F.row_number().over(latest_first))
        .where(F.col("_latest") == 1)
        .select("store_id", "sku", F.col("on_hand_after").alias("on_hand"),
                F.col("event_time").alias("last_movement_time"))
    )
    window_start = F.date_sub(as_of, SALES_WINDOW_DAYS - 1)
    sold = (
        lines.where((F.col(EVENT_DATE) >= window_start) & (F.col(EVENT_DATE) <= as_of))
        .groupBy("store_id", "sku")
        .agg(F.sum("quantity").alias("units_sold_28d"))
    )
    units = F.coalesce(F.col("units_sold_28d"), F.lit(0))
    cover = F.col("on_hand").cast("decimal(20,0)") * SALES_WINDOW_DAYS / F.col("units_sold_28d").cast("decimal(20,0)")
    return (
        positions.join(sold, on=["store_id", "sku"], how="full_outer")
        .withColumn("units_sold_28d", units)
        .withColumn("days_of_cover", F.when(units > 0, F.round(cover, 2)).cast("decimal(12,2)"))
        .withColumn("stockout", F.col("on_hand") == 0)
        .withColumn("as_of_date", as_of)
        .select("as_of_date", "store_id", "sku", "on_hand", "units_sold_28d", "days_of_cover", "stockout",
                "last_movement_time")
    )


# ------------------------------------------------------------------------------------------- customer 360

# (segment, minimum r, f, m scores, maximum r, f scores); the first rule that matches names the segment.
RFM_SEGMENTS: tuple[tuple[str, tuple[int, int, int], tuple[int, int]], ...] = (
    ("champions", (4, 4, 4), (5, 5)),
    ("loyal", (3, 3, 1), (5, 5)),
    ("new_customers", (4, 1, 1), (5, 1)),
    ("potential_loyalists", (3, 1, 1), (5, 5)),
    ("at_risk", (1, 3, 1), (2, 5)),
    ("lost", (1, 1, 1), (1, 1)),
    ("hibernating", (1, 1, 1), (5, 5)),
)


def rfm_segment(r: Column, f: Column, m: Column) -> Column:
    """The segment of R, F, M scores (1-5) by the first matching rule of `RFM_SEGMENTS`."""
    segment = None
    for name, (r_min, f_min, m_min), (r_max, f_max) in RFM_SEGMENTS:
        rule = r.between(r_min, r_max) & f.between(f_min, f_max) & (m >= m_min)
        segment = F.when(rule, name) if segment is None else segment.when(rule, name)
    return segment


def customer_360(lines: DataFrame, as_of_date: dt.date | str, window_days: int = 365) -> DataFrame:
    """One row per customer with a purchase up to `as_of_date` (anonymous sales are left out).

    - `recency_days`: days from the last purchase to `as_of_date`;
    - `frequency` / `monetary`: transactions and net spend in the `window_days` ending on `as_of_date`;
    - `lifetime_value`: net spend over all history up to `as_of_date` (`lifetime_transactions`,
      `average_basket` alongside);
    - `r_score`, `f_score`, `m_score`: 1-5 by quintile (1 + floor(5 * percent rank), capped at 5), the
      most recent, most frequent and biggest spenders scoring 5; equal values get equal scores;
    - `rfm_score` ("545") and `segment` (`rfm_segment`).
    """
    as_of = _date(as_of_date)
    window_start = F.date_sub(as_of, window_days - 1)
    in_window = F.col(EVENT_DATE) >= window_start
    known = lines.where(F.col("customer_id").isNotNull() & (F.col(EVENT_DATE) <= as_of))
    customers = known.groupBy("customer_id").agg(
        F.min(EVENT_DATE).alias("first_purchase_date"),
        F.max(EVENT_DATE).alias("last_purchase_date"),
        F.countDistinct("transaction_id").alias("lifetime_transactions"),
        F.sum("net_amount").cast(TOTAL_AMOUNT).alias("lifetime_value"),
        F.countDistinct(F.when(in_window, F.col("transaction_id"))).alias("frequency"),
        F.coalesce(F.sum(F.when(in_window, F.col("net_amount"))), F.lit(0)).cast(TOTAL_AMOUNT).alias("monetary"),
    )
    scored = (
        customers.withColumn("recency_days", F.datediff(as_of, F.col("last_purchase_date")))
        .withColumn("r_score", _quintile(F.col("recency_days").desc()))
        .withColumn("f_score", _quintile(F.col("frequency").asc()))
        .withColumn("m_score", _quintile(F.col("monetary").asc()))
    )
    return (
        scored.withColumn("rfm_score", F.concat(*[F.col(c).cast("string") for c in ("r_score", "f_score", "m_score")]))
        .withColumn("segment", rfm_segment(F.col("r_score"), F.col("f_score"), F.col("m_score")))
        .withColumn("average_basket", _per(F.col("lifetime_value"), F.col("lifetime_transactions")))
        .withColumn("as_of_date", as_of)
        .select("as_of_date", "customer_id", "first_purchase_date", "last_purchase_date", "recency_days",
                "frequency", "monetary", "r_score", "f_score", "m_score", "rfm_score", "segment",
                "lifetime_transactions", "lifetime_value", "average_basket")
    )


def _quintile(order: Column) -> Column:
    # One window over all customers: a single partition, fine for millions of rows on one executor.
    rank = F.percent_rank().over(Window.orderBy(order))
    return F.least(F.lit(5), F.lit(1) + F.floor(rank * 5)).cast("int")


# ------------------------------------------------------------------------------------------- web sessions

CHANNEL_BY_DEVICE: dict[str, str] = {device: "app" if device.endswith("_app") else "web" for device in DEVICES}


def web_sessions(clicks: DataFrame, gap_minutes: int = 30) -> DataFrame:
    """Sessionizes clickstream events per `anonymous_id`: a new session starts when more than
    `gap_minutes` pass without an event (a gap of exactly `gap_minutes` stays in the session).

    One row per session: `session_id` (`<anonymous_id>:<start, epoch microseconds>`), start and end,
    duration, events, `pages` (page views), the logged-in `customer_id` if any, `added_to_cart`,
    `checked_out`, `purchased`, orders and revenue, the first event's `device` and its `channel`
    (`app` for the native apps, `web` otherwise), and `event_date`: the UTC date the session started.
    The client's own `session_id` is not trusted (apps and browsers reset it differently).
    """
    gap_micros = gap_minutes * 60_000_000
    per_visitor = Window.partitionBy("anonymous_id").orderBy("_t", "event_id")
    marked = (
        clicks.withColumn("_t", F.unix_micros("event_time"))
        .withColumn("_gap", F.col("_t") - F.lag("_t").over(per_visitor))
        .withColumn("_starts", (F.col("_gap").isNull() | (F.col("_gap") > gap_micros)).cast("int"))
        .withColumn("_session", F.sum("_starts").over(per_visitor.rowsBetween(Window.unboundedPreceding, 0)))
    )

    def did(event_type: str) -> Column:
        return F.max(F.col("event_type") == event_type)

    sessions = marked.groupBy("anonymous_id", "_session").agg(
        F.min("event_time").alias("session_start"),
        F.max("event_time").alias("session_end"),
        F.min("_t").alias("_start"),
        F.max("_t").alias("_end"),
        F.count(F.lit(1)).alias("events"),
        F.count(F.when(F.col("event_type") == "page_view", 1)).alias("pages"),
        F.max("customer_id").alias("customer_id"),
        did("add_to_cart").alias("added_to_cart"),
        did("checkout").alias("checked_out"),
        did("purchase").alias("purchased"),
        F.countDistinct("order_id").alias("orders"),
        F.coalesce(F.sum("order_value"), F.lit(0)).cast(TOTAL_AMOUNT).alias("revenue"),
        F.min_by("device", F.struct("_t", "event_id")).alias("device"),
    )
    channel = F.create_map(*[F.lit(x) for pair in CHANNEL_BY_DEVICE.items() for x in pair])[F.col("device")]
    return sessions.select(
        F.concat_ws(":", "anonymous_id", F.col("_start").cast("string")).alias("session_id"),
        "anonymous_id",
        "customer_id",
        local_date(F.col("session_start"), "UTC").alias(EVENT_DATE),
        "session_start",
        "session_end",
        ((F.col("_end") - F.col("_start")) / 1_000_000).cast("long").alias("duration_seconds"),
        "events",
        "pages",
        "added_to_cart",
        "checked_out",
        "purchased",
        "orders",
        "revenue",
        "device",
        channel.alias("channel"),
    )


def conversion_funnel(sessions: DataFrame) -> DataFrame:
    """Per event date and channel: sessions, sessions with an add to cart, with a checkout, with a
    purchase (each counted on its own: a purchase without a recorded cart event still counts), and the
    conversion rate (sessions with a purchase / sessions, four decimals)."""
    def sessions_where(flag: str) -> Column:
        return F.count(F.when(F.col(flag), 1))

    funnel = sessions.groupBy(EVENT_DATE, "channel").agg(
        F.count(F.lit(1)).alias("sessions"),
        sessions_where("added_to_cart").alias("sessions_with_add_to_cart"),
        sessions_where("checked_out").alias("sessions_with_checkout"),
        sessions_where("purchased").alias("sessions_with_purchase"),
        F.sum("revenue").cast(TOTAL_AMOUNT).alias("revenue"),
    )
    rate = F.col("sessions_with_purchase").cast("decimal(20,0)") / F.col("sessions").cast("decimal(20,0)")
    return funnel.withColumn("conversion_rate", F.round(rate, 4).cast(RATE))


# ------------------------------------------------------------------------------------------- helpers


def _per(amount: Column, count: Column) -> Column:
    """amount / count to the cent (half up); null when count is 0."""
    ratio = amount / F.when(count > 0, count).cast("decimal(20,0)")
    return F.round(ratio, 2).cast(TOTAL_AMOUNT)


def _date(value: dt.date | str) -> Column:
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"as_of_date {value!r} is not a date: pass YYYY-MM-DD") from None
    return F.lit(value).cast("date")
