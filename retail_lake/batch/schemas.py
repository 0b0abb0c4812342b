"""The tables of the analytics zone, declared once: the gold tables the Glue job writes and the tables the EMR
steps write, each with its columns (Spark types), its Hive-style partition key and a description.

Everything else is derived from these declarations: the Glue Data Catalog tables (`glue_columns`, used by
`stacks/catalog`), the schema an entry script conforms its output to before writing (`conform`), and the
tests that compare what the jobs wrote with the catalog. The curated tables are derived from the contracts in
`retail_lake.batch.catalog`.

This module imports nothing but pyspark's type classes: it is part of what the EMR steps ship and import
(see emr_steps/README.md), so it must stay importable on the EMR runtime's Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import types as st

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

EVENT_DATE = "event_date"  # business date of an event (the store's local date; UTC for clickstream)
AS_OF_DATE = "as_of_date"  # the date a snapshot or a model run is computed for

CURATED, ANALYTICS = "curated", "analytics"
MONEY_TOTAL = st.DecimalType(18, 2)


def column(name: str, data_type: st.DataType, comment: str = "") -> st.StructField:
    """A declared column: nullable (every Parquet reader reports columns nullable), with its comment."""
    return st.StructField(name, data_type, True, {"comment": comment} if comment else {})


def hive_type(data_type: st.DataType) -> str:
    """The Glue/Hive type of a Spark type (`bigint`, `decimal(18,2)`, `array<struct<sku:string,...>>`)."""
    return data_type.simpleString()


@dataclass(frozen=True)
class TableDefinition:
    """One lake table: `columns` are what the Parquet files hold, `partition_key` the `key=value` folder level
    above them (`<zone bucket>/<name>/<partition key>=YYYY-MM-DD/part-*.parquet`)."""

    name: str
    zone: str
    description: str
    columns: tuple[st.StructField, ...]
    partition_key: st.StructField
    writer: str  # the job or step that writes the table

    @property
    def data_schema(self) -> st.StructType:
        """The files' columns, in order."""
        return st.StructType(list(self.columns))

    @property
    def schema(self) -> st.StructType:
        """The table as Spark reads it back: the files' columns, then the partition column."""
        return st.StructType([*self.columns, self.partition_key])

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def glue_columns(self) -> list[dict[str, str]]:
        """`StorageDescriptor.Columns` of the table's Glue definition."""
        return [_glue_column(c) for c in self.columns]

    def glue_partition_keys(self) -> list[dict[str, str]]:
        return [_glue_column(self.partition_key)]


def _glue_column(field: st.StructField) -> dict[str, str]:
    return {"name": field.name, "type": hive_type(field.dataType),
            "comment": str(field.metadata.get("comment", ""))[:255]}


class TableSchemaError(ValueError):
    """A DataFrame lacks columns its table declares, or holds columns it does not declare."""


def column_mismatch(actual: list[str], declared: list[str]) -> tuple[list[str], list[str]]:
    """(declared columns missing from `actual`, columns of `actual` not declared), each in its list's order."""
    return [name for name in declared if name not in actual], [name for name in actual if name not in declared]


def conform(df: DataFrame, table: TableDefinition) -> DataFrame:
    """`df` with exactly the table's columns (files' columns, then the partition column), in the declared order
    and types: what an entry script writes, so the files always match the catalog. A missing or an undeclared
    column is an error naming both lists, never silently dropped or filled."""
    from pyspark.sql import functions as F

    missing, extra = column_mismatch(df.columns, [f.name for f in table.schema.fields])
    if missing or extra:
        raise TableSchemaError(
            f"{table.zone}.{table.name}: the data does not match the table's declaration in "
            f"retail_lake.batch.schemas (missing: {', '.join(missing) or 'none'}; undeclared: "
            f"{', '.join(extra) or 'none'}); change the declaration and the code that computes the table together"
        )
    return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in table.schema.fields])


def _table(name: str, partition_key: str, writer: str, description: str,
           *columns: st.StructField) -> TableDefinition:
    key_comment = ("business date (store local; UTC for clickstream and sessions)" if partition_key == EVENT_DATE
                   else "the date the snapshot or model run is computed for")
    return TableDefinition(name=name, zone=ANALYTICS, description=description, columns=tuple(columns),
                           partition_key=column(partition_key, st.DateType(), key_comment), writer=writer)


_S, _L, _I, _D, _B = st.StringType(), st.LongType(), st.IntegerType(), st.DoubleType(), st.BooleanType()
_DATE, _TS = st.DateType(), st.TimestampType()
GOLD_JOB = "curated_to_analytics (Glue)"

# ------------------------------------------------------------------------------------------ gold (Glue)
GOLD_TABLES: dict[str, TableDefinition] = {t.name: t for t in (
    _table(
        "daily_sales", EVENT_DATE, GOLD_JOB, "Store x SKU x day: units, gross, discounts, net, baskets, average basket",
        column("store_id", _S), column("sku", _S),
        column("units", _L, "units sold"),
        column("gross_sales", MONEY_TOTAL, "sum of quantity x unit price"),
        column("discounts", MONEY_TOTAL, "sum of line discounts"),
        column("net_sales", MONEY_TOTAL, "gross sales - discounts"),
        column("baskets", _L, "distinct transactions holding the SKU"),
        column("average_basket", MONEY_TOTAL, "net sales per basket, to the cent"),
    ),
    _table(
        "inventory_position", AS_OF_DATE, GOLD_JOB,
        "Store x SKU at the end of as_of_date: on hand, trailing 28-day sales, days of cover, stockout",
        column("store_id", _S), column("sku", _S),
        column("on_hand", _L, "on hand after the latest movement; null without a movement on record"),
        column("units_sold_28d", _L, "units sold in the 28 days ending on as_of_date"),
        column("days_of_cover", st.DecimalType(12, 2), "on_hand / (units_sold_28d / 28); null without sales"),
        column("stockout", _B, "on_hand = 0"),
        column("last_movement_time", _TS),
    ),
    _table(
        "customer_360", AS_OF_DATE, GOLD_JOB,
        "One row per known customer: recency, frequency, monetary, RFM scores and segment, lifetime value",
        column("customer_id", _S),
        column("first_purchase_date", _DATE), column("last_purchase_date", _DATE),
        column("recency_days", _I, "days from the last purchase to as_of_date"),
        column("frequency", _L, "transactions in the 365 days ending on as_of_date"),
        column("monetary", MONEY_TOTAL, "net spend in the 365 days ending on as_of_date"),
        column("r_score", _I), column("f_score", _I), column("m_score", _I),
        column("rfm_score", _S, "r, f and m scores, e.g. 545"),
        column("segment", _S, "RFM segment"),
        column("lifetime_transactions", _L), column("lifetime_value", MONEY_TOTAL),
        column("average_basket", MONEY_TOTAL),
    ),
    _table(
        "web_sessions", EVENT_DATE, GOLD_JOB, "Clickstream sessions (30-minute inactivity), dated by their UTC start",
        column("session_id", _S, "<anonymous_id>:<start, epoch microseconds>"),
        column("anonymous_id", _S), column("customer_id", _S),
        column("session_start", _TS), column("session_end", _TS),
        column("duration_seconds", _L), column("events", _L), column("pages", _L, "page views"),
        column("added_to_cart", _B), column("checked_out", _B), column("purchased", _B),
        column("orders", _L), column("revenue", MONEY_TOTAL),
        column("device", _S, "device of the first event"), column("channel", _S, "app or web"),
    ),
    _table(
        "conversion_funnel", EVENT_DATE, GOLD_JOB, "Per day and channel: sessions reaching cart, checkout, purchase",
        column("channel", _S), column("sessions", _L),
        column("sessions_with_add_to_cart", _L), column("sessions_with_checkout", _L),
        column("sessions_with_purchase", _L), column("revenue", MONEY_TOTAL),
        column("conversion_rate", st.DecimalType(7, 4), "sessions with a purchase / sessions"),
    ),
)}

# ------------------------------------------------------------------------------------------ EMR steps
SEGMENTATION_STEP, AFFINITY_STEP, FORECAST_STEP = (
    "customer_segmentation (EMR)", "product_affinity (EMR)", "demand_forecast (EMR)")
_ERRORS = (column("abs_error", _D, "sum of |forecast - actual|"), column("mae", _D, "mean absolute error"),
           column("wape", _D, "sum |error| / sum actual; null when nothing sold"))

EMR_TABLES: dict[str, TableDefinition] = {t.name: t for t in (
    _table(
        "customer_segments", AS_OF_DATE, SEGMENTATION_STEP, "k-means segment of every customer of customer_360",
        column("customer_id", _S),
        column("cluster", _I, "0 = highest average monetary value"), column("cluster_label", _S),
        column("recency_days", _D), column("frequency", _D), column("monetary", _D),
    ),
    _table(
        "customer_segment_profiles", AS_OF_DATE, SEGMENTATION_STEP, "Per k-means cluster: size, averages, silhouette",
        column("cluster", _I), column("cluster_label", _S), column("customers", _L),
        column("avg_recency_days", _D), column("avg_frequency", _D), column("avg_monetary", _D),
        column("silhouette", _D, "squared-Euclidean silhouette of the clustering"),
        column("k", _I), column("seed", _I),
    ),
    _table(
        "product_affinity", AS_OF_DATE, AFFINITY_STEP, "FP-growth market-basket rules antecedent -> consequent",
        column("antecedent", st.ArrayType(_S, True), "SKUs, sorted"), column("consequent", _S),
        column("rule", _S, "A, B -> C"),
        column("support", _D, "share of baskets holding the whole rule"),
        column("confidence", _D, "share of antecedent baskets also holding the consequent"),
        column("lift", _D, "confidence / share of baskets holding the consequent"),
        column("baskets", _L), column("total_baskets", _L),
    ),
    _table(
        "demand_forecast", AS_OF_DATE, FORECAST_STEP, "Seasonal-naive units forecast per store x SKU x day ahead",
        column("store_id", _S), column("sku", _S), column("forecast_date", _DATE),
        column("horizon", _I, "days after as_of_date"),
        column("forecast_units", _D, "null where the copied day precedes the series' first sale"),
        column("method", _S),
    ),
    _table(
        "demand_forecast_backtest", AS_OF_DATE, FORECAST_STEP, "Backtest error of the forecast per store x SKU",
        column("store_id", _S), column("sku", _S),
        column("backtest_start", _DATE), column("backtest_end", _DATE),
        column("days", _L, "days scored"), column("actual_units", _D), column("forecast_units", _D), *_ERRORS,
    ),
    _table(
        "demand_forecast_backtest_summary", AS_OF_DATE, FORECAST_STEP,
        "Backtest error pooled over every scored store x SKU x day",
        column("backtest_start", _DATE), column("backtest_end", _DATE),
        column("series", _L), column("points", _L), column("actual_units", _D), column("forecast_units", _D),
        *_ERRORS, column("method", _S),
    ),
)}

ANALYTICS_ZONE_TABLES: dict[str, TableDefinition] = {**GOLD_TABLES, **EMR_TABLES}
