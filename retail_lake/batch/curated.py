"""Raw -> curated: plain DataFrame -> DataFrame functions, and `curate`, which applies them in this order:

    pos_sales:           cast_to_contract -> dedupe_by_event_id -> with_event_date(stores) -> run window
                         -> explode_pos_lines -> conform_keys(stores, products, customers)
    inventory_movements: cast_to_contract -> dedupe_by_event_id -> with_event_date(stores) -> run window
                         -> conform_keys(stores, products)
    clickstream:         cast_to_contract -> dedupe_by_event_id -> with_event_date() -> run window
                         -> conform_keys(products, customers)

Dedupe runs over everything read (all raw partitions of the run), before the rows are narrowed to the event
dates the run rewrites, so the copy kept of an event does not depend on which of its copies fall in the window.

Reference dimensions are the generator's tables as loaded into the lake (`stores`, `products`,
`customers`, see `retail_lake.generator.reference_writer`). Personal data stays pseudonymized: the raw
rows hold only hashes and card brand/last four digits, and no personal column of a dimension is joined.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame, Observation, Window
from pyspark.sql import functions as F
from pyspark.sql import types as st

from retail_lake.contracts.derive import spark_schema
from retail_lake.contracts.fields import MONEY_PRECISION, MONEY_SCALE, Contract
from retail_lake.contracts.registry import BY_DATASET

if TYPE_CHECKING:
    from retail_lake.batch.reference import ReferenceDimensions

LINE_AMOUNT = st.DecimalType(MONEY_PRECISION, MONEY_SCALE)  # one line's amounts: the contract's money type

EVENT_DATE = "event_date"
_MICROS_PER_DAY = 86_400_000_000

# The ingestion metadata that orders copies of one event, earliest arrival first.
ARRIVAL_ORDER_COLUMNS = (
    "ingest_arrival_time", "ingest_sequence_number", "ingest_subsequence_number", "ingest_shard_id", "ingest_time",
)


# ------------------------------------------------------------------------------------------- contract


def as_nullable(data_type: st.DataType) -> st.DataType:
    """`data_type` with every nested field and array element nullable (what Parquet readers produce)."""
    if isinstance(data_type, st.StructType):
        return st.StructType([st.StructField(f.name, as_nullable(f.dataType), True) for f in data_type.fields])
    if isinstance(data_type, st.ArrayType):
        return st.ArrayType(as_nullable(data_type.elementType), True)
    return data_type


def cast_to_contract(df: DataFrame, contract: Contract) -> DataFrame:
    """The contract's stored columns, in the contract's order and types (`spark_schema(contract)`).

    Columns the contract does not declare (the raw partition columns `dt` and `hour`, anything else) are
    dropped. Nested fields come out nullable: Spark cannot cast to a non-nullable nested field, and every
    Parquet reader marks fields nullable anyway; required fields were enforced by the stream Lambda.
    """
    schema = spark_schema(contract)
    present = set(df.columns)
    missing = [f.name for f in schema.fields if f.name not in present]
    if missing:
        raise ValueError(
            f"{contract.dataset}: input lacks column(s) {', '.join(missing)} of contract "
            f"{contract.record_type} v{contract.version}; it has {', '.join(df.columns) or 'no columns'}. "
            f"Read the raw zone's {contract.dataset} table (written by the stream Lambda), not another dataset."
        )
    return df.select([F.col(f.name).cast(as_nullable(f.dataType)).alias(f.name) for f in schema.fields])


# ------------------------------------------------------------------------------------------- dedupe


def dedupe_by_event_id(df: DataFrame) -> DataFrame:
    """One row per `event_id`: the copy that reached Kinesis first.

    Copies of an event are redeliveries of the same event (producer retries re-put a record, a retried
    Lambda batch writes it again, the source replays), not updates. The first arrival is the one copy
    whose identity never changes: later retries, possibly arriving days later in another ingestion
    partition, cannot displace it, so a rerun over more raw partitions keeps the same row.

    Order: `ingest_arrival_time`, then the Kinesis sequence number compared as a number (it is a decimal
    string of up to 129 digits, too long for any Spark numeric type: comparing (length, digits) of the
    string without leading zeros is numeric order), then `ingest_subsequence_number` (position inside an
    aggregated record), then shard and processing time so that no two distinct copies tie. Copies equal in
    all of these are the same Kinesis record written twice: identical rows, so keeping either is the same.
    """
    missing = [c for c in ("event_id", *ARRIVAL_ORDER_COLUMNS) if c not in df.columns]
    if missing:
        raise ValueError(
            f"dedupe_by_event_id needs the raw zone's ingestion columns; missing {', '.join(missing)}"
        )
    sequence = F.expr("trim(LEADING '0' FROM ingest_sequence_number)")
    first_arrival = Window.partitionBy("event_id").orderBy(
        F.col("ingest_arrival_time").asc_nulls_last(),
        F.length(sequence).asc_nulls_last(),
        sequence.asc_nulls_last(),
        F.col("ingest_subsequence_number").asc_nulls_last(),
        F.col("ingest_shard_id").asc_nulls_last(),
        F.col("ingest_time").asc_nulls_last(),
    )
    return df.withColumn("_copy", F.row_number().over(first_arrival)).where(F.col("_copy") == 1).drop("_copy")


# ------------------------------------------------------------------------------------------- event date


def local_date(timestamp: Column, timezone: Column | str) -> Column:
    """The calendar date of an instant in a time zone, independent of the session time zone.

    `from_utc_timestamp` yields the local wall-clock time encoded as if it were UTC; its date is then
    taken from the epoch day count, not with `to_date` (which would apply the session time zone again).
    """
    tz = F.lit(timezone) if isinstance(timezone, str) else timezone
    wall_clock = F.unix_micros(F.from_utc_timestamp(timestamp, tz))
    day = F.lit(_MICROS_PER_DAY)
    return F.date_from_unix_date(((wall_clock - F.pmod(wall_clock, day)) / day).cast("int"))


def with_event_date(df: DataFrame, stores: DataFrame | None = None) -> DataFrame:
    """Adds `event_date`, the business date the event belongs to, whatever day it was ingested.

    Store datasets (with `store_id`) are dated in the store's time zone (`stores.timezone`), so that a
    23:30 sale belongs to that evening's trading day; a store missing from `stores` falls back to UTC
    (and `conform_keys` flags it). Datasets without a store (clickstream) are dated in UTC.
    Partitioning curated tables by `event_date` puts late and out-of-order events in their own day.
    """
    if "store_id" not in df.columns:
        if stores is not None:
            raise ValueError("with_event_date: `stores` given but the data has no store_id column")
        return df.withColumn(EVENT_DATE, local_date(F.col("event_time"), "UTC"))
    if stores is None:
        raise ValueError(
            "with_event_date: the data has store_id; pass the stores dimension (store_id, timezone): "
            "store events are dated in the store's local time zone"
        )
    _require(stores, ("store_id", "timezone"), "stores")
    zones = _one_row_per_key(stores.select("store_id", F.col("timezone").alias("_store_tz")), "store_id")
    return (
        df.join(F.broadcast(zones), on="store_id", how="left")
        .withColumn(EVENT_DATE, _local_date_by_zone(F.col("event_time"), F.col("_store_tz"), _zone_names(stores)))
        .select(*df.columns, EVENT_DATE)
    )


# Above this many distinct store time zones the zone is looked up row by row (slower, same dates).
_MAX_LITERAL_ZONES = 64


def _zone_names(stores: DataFrame) -> list[str] | None:
    """The distinct time zones of the stores dimension (a few rows), or None when there are too many to list."""
    names = [row[0] for row in stores.select("timezone").where(F.col("timezone").isNotNull()).distinct()
             .limit(_MAX_LITERAL_ZONES + 1).collect()]
    return None if len(names) > _MAX_LITERAL_ZONES else sorted(names)


def _local_date_by_zone(timestamp: Column, zone: Column, names: list[str] | None) -> Column:
    """`local_date(timestamp, coalesce(zone, 'UTC'))`, with each of `names` as a literal zone.

    Spark resolves a zone given as a column on every row (parsing the id each time); a literal zone is resolved
    once per query. The stores of a retailer share a handful of zones, so one branch per zone is cheaper."""
    fallback = local_date(timestamp, F.coalesce(zone, F.lit("UTC")))
    if names is None:
        return fallback
    dated = F.when(zone.isNull(), local_date(timestamp, "UTC"))
    for name in names:
        dated = dated.when(zone == F.lit(name), local_date(timestamp, name))
    return dated.otherwise(fallback)


# ------------------------------------------------------------------------------------------- conformed keys

# dimension -> (key, flag column, {added column: dimension column})
DIMENSIONS: dict[str, tuple[str, str, dict[str, str]]] = {
    "stores": ("store_id", "store_known", {"store_region": "region", "store_format": "format"}),
    "products": (
        "sku", "sku_known",
        {"product_category": "category", "product_brand": "brand",
         "product_list_price": "list_price", "product_unit_cost": "unit_cost"},
    ),
    # customers carry names, emails and phones in clear: only non-personal attributes are joined
    "customers": (
        "customer_id", "customer_known",
        {"customer_loyalty_tier": "loyalty_tier", "customer_home_store_id": "home_store_id"},
    ),
}
_MONEY_ATTRIBUTES = {"product_list_price", "product_unit_cost"}


def conform_keys(
    df: DataFrame,
    *,
    stores: DataFrame | None = None,
    products: DataFrame | None = None,
    customers: DataFrame | None = None,
) -> DataFrame:
    """Joins store, product and customer keys to the reference dimensions given.

    Adds each dimension's attributes (`DIMENSIONS`) and a boolean flag: `store_known`, `sku_known`,
    `customer_known` is true when the key is in the dimension, false when it is not, null when the row
    has no key (an anonymous sale, a click without a product). Rows are never dropped here: unknown keys
    are kept and flagged for the quality gate to quarantine.
    """
    out = df
    for name, dimension in (("stores", stores), ("products", products), ("customers", customers)):
        if dimension is None:
            continue
        key, flag, attributes = DIMENSIONS[name]
        if key not in df.columns:
            raise ValueError(f"conform_keys: {name} given but the data has no {key} column")
        _require(dimension, (key, *attributes.values()), name)
        clash = [c for c in (flag, *attributes) if c in out.columns]
        if clash:
            raise ValueError(f"conform_keys: the data already has {', '.join(clash)}; conform each dimension once")
        selected = dimension.select(
            F.col(key),
            *[
                (F.col(source).cast(LINE_AMOUNT) if column in _MONEY_ATTRIBUTES else F.col(source)).alias(column)
                for column, source in attributes.items()
            ],
        )
        hits = _one_row_per_key(selected, key).withColumn("_hit", F.lit(True))
        joined = out.join(F.broadcast(hits), on=key, how="left")
        known = F.when(F.col(key).isNull(), F.lit(None).cast("boolean")).otherwise(F.col("_hit").isNotNull())
        out = joined.withColumn(flag, known).select(*out.columns, *attributes, flag)
    return out


# ------------------------------------------------------------------------------------------- POS lines


def explode_pos_lines(pos_df: DataFrame) -> DataFrame:
    """One row per sale line: the sale's columns (without `line_items`), `line_number` (1-based),
    `line_id` (`<event_id>:<line_number>`), the line's fields (`discount` is the line's total discount)
    and its amounts as decimal(12,2): `gross_amount` = quantity * unit_price, `net_amount` = gross - discount.
    """
    _require(pos_df, ("event_id", "line_items"), "pos_sales")
    header = [c for c in pos_df.columns if c != "line_items"]
    lines = pos_df.select(*header, F.posexplode("line_items").alias("_position", "_line"))
    gross = (F.col("quantity").cast("decimal(20,0)") * F.col("unit_price")).cast(LINE_AMOUNT)
    return (
        lines.select(
            *header,
            (F.col("_position") + 1).alias("line_number"),
            F.col("_line.sku").alias("sku"),
            F.col("_line.quantity").alias("quantity"),
            F.col("_line.unit_price").cast(LINE_AMOUNT).alias("unit_price"),
            F.col("_line.discount").cast(LINE_AMOUNT).alias("discount"),
            F.col("_line.promotion_id").alias("promotion_id"),
        )
        .withColumn("line_id", F.concat_ws(":", F.col("event_id"), F.col("line_number").cast("string")))
        .withColumn("gross_amount", gross)
        .withColumn("net_amount", (F.col("gross_amount") - F.col("discount")).cast(LINE_AMOUNT))
    )


# ------------------------------------------------------------------------------------------- the sequence


_CURATED_DATASETS = ("clickstream", "inventory_movements", "pos_sales")


@dataclass(frozen=True)
class Curation:
    """What `curate` returns: the curated rows (lazy) and the counts observed while an action runs on them."""

    rows: DataFrame
    _observations: tuple[Observation, ...]

    def counts(self) -> dict[str, int]:
        """`rows_read`, `duplicates_dropped`, `events_outside_window`, `events_written`, `rows_written`.

        Observed during the first action on `rows` (the write): call it after that action; it waits for it.
        """
        merged: dict[str, int] = {}
        for observation in self._observations:
            merged.update({name: int(value or 0) for name, value in observation.get.items()})
        return {
            "rows_read": merged["rows_read"],
            "duplicates_dropped": merged["rows_read"] - merged["events"],
            "events_outside_window": merged["events"] - merged["events_written"],
            "events_written": merged["events_written"],
            "rows_written": merged["rows_written"],
        }


def curate(
    dataset: str,
    raw: DataFrame,
    ref: ReferenceDimensions,
    first_event_date: dt.date,
    last_event_date: dt.date,
) -> Curation:
    """The dataset's curated rows for event dates `first_event_date` .. `last_event_date` (inclusive) from its
    raw rows, by the steps in the module docstring; the counts come with them (`Curation.counts`)."""
    if dataset not in BY_DATASET or dataset not in _CURATED_DATASETS:
        raise ValueError(f"no curated steps for dataset {dataset!r}; known: {', '.join(_CURATED_DATASETS)}")
    read, deduped, in_window, written = (Observation(f"{dataset}_{step}") for step in
                                         ("read", "deduped", "in_window", "written"))
    one = F.lit(1)
    typed = cast_to_contract(raw, BY_DATASET[dataset]).observe(read, F.count(one).alias("rows_read"))
    events = dedupe_by_event_id(typed).observe(deduped, F.count(one).alias("events"))
    dated = with_event_date(events, ref.stores if "store_id" in events.columns else None)
    window = F.col(EVENT_DATE).between(F.lit(first_event_date), F.lit(last_event_date))
    kept = dated.where(window).observe(in_window, F.count(one).alias("events_written"))
    if dataset == "pos_sales":
        rows = conform_keys(explode_pos_lines(kept), stores=ref.stores, products=ref.products,
                            customers=ref.customers)
    elif dataset == "inventory_movements":
        rows = conform_keys(kept, stores=ref.stores, products=ref.products)
    else:  # clickstream
        rows = conform_keys(kept, products=ref.products, customers=ref.customers)
    rows = rows.observe(written, F.count(one).alias("rows_written"))
    return Curation(rows, (read, deduped, in_window, written))


# ------------------------------------------------------------------------------------------- helpers


def _require(df: DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}; it has {', '.join(df.columns)}")


def _one_row_per_key(dimension: DataFrame, key: str) -> DataFrame:
    """A dimension with one row per key (the smallest attributes win), so a join never multiplies rows."""
    attributes = [c for c in dimension.columns if c != key]
    if not attributes:
        return dimension.distinct()
    picked = dimension.groupBy(key).agg(F.min(F.struct(*attributes)).alias("_row"))
    return picked.select(key, *[F.col(f"_row.{c}").alias(c) for c in attributes])
