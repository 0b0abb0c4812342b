"""Analytics that need a cluster (the EMR steps): customer segments, product affinity, demand forecasts.

Plain DataFrame functions over the gold tables of `retail_lake.batch.analytics` and the POS lines of
`retail_lake.batch.curated.explode_pos_lines`; the entry scripts in `emr_steps/` only parse arguments and
do I/O. Everything runs in Spark (MLlib for k-means and FP-growth, SQL for the forecast): no pandas UDFs.

- `customer_segments`: k-means on standardized log-scaled recency, frequency and monetary value; clusters
  renumbered by their average monetary value so `cluster` 0 is always the biggest spenders, with a label
  ("top", "high", "mid", "low" for k=4) and the silhouette of the clustering.
- `product_affinity`: FP-growth over baskets (one transaction -> its distinct SKUs); association rules
  antecedent -> consequent with support, confidence and lift, strongest lift first.
- `demand_forecast`: a seasonal-naive baseline per store x SKU with a backtest (MAE and WAPE).
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from pyspark.ml import Pipeline
from pyspark.ml.clustering import KMeans
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.ml.fpm import FPGrowth
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from retail_lake.batch.schemas import EVENT_DATE

# ------------------------------------------------------------------------------------------- segments

RFM_FEATURES = ("recency_days", "frequency", "monetary")

# Labels from the biggest spenders down, by number of clusters; other k get "tier_1" .. "tier_k".
CLUSTER_LABELS: dict[int, tuple[str, ...]] = {
    1: ("all",),
    2: ("top", "low"),
    3: ("top", "mid", "low"),
    4: ("top", "high", "mid", "low"),
    5: ("top", "high", "mid", "low", "lapsed"),
}


class Segmentation(NamedTuple):
    segments: DataFrame  # customer_id, cluster, cluster_label, recency_days, frequency, monetary
    profiles: DataFrame  # per cluster: customers and average recency, frequency, monetary
    silhouette: float | None  # squared-Euclidean silhouette on the scaled features; None under 2 clusters


def cluster_labels(k: int) -> tuple[str, ...]:
    """The labels of clusters 0 .. k-1 (0 = highest average monetary value)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return CLUSTER_LABELS.get(k) or tuple(f"tier_{i}" for i in range(1, k + 1))


def customer_segments(rfm_df: DataFrame, k: int = 4, seed: int = 7, max_iter: int = 50) -> Segmentation:
    """Segments customers with MLlib k-means on their RFM features.

    Input: one row per customer with `customer_id`, `recency_days`, `frequency`, `monetary` (the columns of
    `customer_360`). Features are log(1 + x) (spend and frequency are heavy-tailed; negative values count
    as 0), standardized to mean 0 and variance 1 (VectorAssembler + StandardScaler), so no feature
    dominates by its unit. Clusters are renumbered by their average monetary value, highest first:
    `cluster` 0 is labelled "top" and so on (`cluster_labels`). Deterministic for a seed: rows are
    ordered by customer_id before fitting, so the same input gives the same clusters.
    k-means may return fewer than k clusters (fewer distinct customers than k); the labels then come
    from the number of clusters found.
    """
    missing = [c for c in ("customer_id", *RFM_FEATURES) if c not in rfm_df.columns]
    if missing:
        raise ValueError(f"customer_segments: missing column(s) {', '.join(missing)}; pass customer_360 rows")
    logged = [f"_log_{c}" for c in RFM_FEATURES]
    features = rfm_df.select(
        "customer_id",
        *[F.col(c).cast("double").alias(c) for c in RFM_FEATURES],
        *[F.log1p(F.greatest(F.coalesce(F.col(c).cast("double"), F.lit(0.0)), F.lit(0.0))).alias(name)
          for c, name in zip(RFM_FEATURES, logged)],
    ).orderBy("customer_id")
    pipeline = Pipeline(stages=[
        VectorAssembler(inputCols=logged, outputCol="_raw_features"),
        StandardScaler(inputCol="_raw_features", outputCol="_features", withMean=True, withStd=True),
        KMeans(featuresCol="_features", predictionCol="_kmeans", k=k, seed=seed, maxIter=max_iter),
    ])
    features.persist()  # k-means iterates over its input
    try:
        model = pipeline.fit(features)
    finally:
        features.unpersist()
    predicted = model.transform(features).persist()
    try:
        order = _cluster_order(predicted)
        silhouette = None
        if order.count() >= 2:
            evaluator = ClusteringEvaluator(featuresCol="_features", predictionCol="_kmeans")
            silhouette = float(evaluator.evaluate(predicted))
    finally:
        predicted.unpersist()
    segments = predicted.join(F.broadcast(order), on="_kmeans").select(
        "customer_id", "cluster", "cluster_label", *RFM_FEATURES,
    )
    profiles = segments.groupBy("cluster", "cluster_label").agg(
        F.count(F.lit(1)).alias("customers"),
        *[F.avg(c).alias(f"avg_{c}") for c in RFM_FEATURES],
    ).orderBy("cluster")
    return Segmentation(segments, profiles, silhouette)


def _cluster_order(predicted: DataFrame) -> DataFrame:
    """k-means id -> cluster (0 = highest average monetary value) and its label, for the clusters found
    (computed once, on the driver: k rows)."""
    averages = predicted.groupBy("_kmeans").agg(F.avg("monetary").alias("_avg_monetary")).collect()
    labels = cluster_labels(max(len(averages), 1))
    ranked = sorted(averages, key=lambda row: (-(row["_avg_monetary"] or 0.0), row["_kmeans"]))
    spark = predicted.sparkSession
    return spark.createDataFrame(
        [(row["_kmeans"], rank, labels[rank]) for rank, row in enumerate(ranked)],
        "_kmeans int, cluster int, cluster_label string",
    )


# ------------------------------------------------------------------------------------------- affinity


def baskets(lines_df: DataFrame, basket_col: str = "transaction_id", item_col: str = "sku") -> DataFrame:
    """One row per basket: `basket_id` and `items`, its distinct items sorted (lines without a basket id or
    an item are left out)."""
    return (
        lines_df.where(F.col(basket_col).isNotNull() & F.col(item_col).isNotNull())
        .groupBy(F.col(basket_col).alias("basket_id"))
        .agg(F.array_sort(F.collect_set(item_col)).alias("items"))
    )


def product_affinity(
    lines_df: DataFrame,
    min_support: float = 0.01,
    min_confidence: float = 0.1,
    basket_col: str = "transaction_id",
    item_col: str = "sku",
) -> DataFrame:
    """Market-basket rules with MLlib FP-growth over baskets (a transaction -> its distinct SKUs).

    One row per rule: `antecedent` (sorted SKUs), `consequent` (one SKU), `rule` ("A, B -> C"),
    `support` (share of baskets holding antecedent and consequent), `confidence` (share of the baskets
    holding the antecedent that also hold the consequent), `lift` (confidence / share of baskets holding
    the consequent; above 1: bought together more than by chance), `baskets` (baskets holding the whole
    rule) and `total_baskets`. Sorted by lift, then confidence, support and the rule text (a stable order).
    """
    if not 0 < min_support <= 1 or not 0 <= min_confidence <= 1:
        raise ValueError(f"min_support must be in (0, 1] and min_confidence in [0, 1]; "
                         f"got {min_support} and {min_confidence}")
    basket_df = baskets(lines_df, basket_col, item_col).persist()
    try:
        total = basket_df.count()
        if total == 0:
            raise ValueError("product_affinity: no baskets in the input lines")
        model = FPGrowth(itemsCol="items", minSupport=min_support, minConfidence=min_confidence).fit(basket_df)
        rules = model.associationRules.select(
            F.array_sort("antecedent").alias("antecedent"),
            F.col("consequent")[0].alias("consequent"),
            F.col("support"),
            F.col("confidence"),
            F.col("lift"),
        )
        rules = (
            rules.withColumn("rule", F.concat(F.concat_ws(", ", "antecedent"), F.lit(" -> "), F.col("consequent")))
            .withColumn("baskets", F.round(F.col("support") * total).cast("long"))
            .withColumn("total_baskets", F.lit(total).cast("long"))
            .select("antecedent", "consequent", "rule", "support", "confidence", "lift", "baskets", "total_baskets")
            .orderBy(F.col("lift").desc(), F.col("confidence").desc(), F.col("support").desc(), F.col("rule"))
        )
    finally:
        basket_df.unpersist()
    return rules


# ------------------------------------------------------------------------------------------- forecast


class DemandForecast(NamedTuple):
    forecasts: DataFrame  # store_id, sku, as_of_date, forecast_date, horizon, forecast_units, method
    backtest: DataFrame  # per store x SKU: the backtest window, days scored, actuals, MAE, WAPE
    backtest_overall: DataFrame  # one row: series, points, MAE and WAPE over every scored store x SKU x day


def demand_forecast(
    daily_sales_df: DataFrame,
    horizon_days: int = 7,
    season: int = 7,
    backtest_days: int = 7,
    as_of_date: dt.date | str | None = None,
    value_col: str = "units",
) -> DemandForecast:
    """Seasonal-naive demand forecast per store x SKU, with a backtest of the same method.

    Method (chosen for a baseline every other model must beat): the forecast for day T + h is the value
    one season before, taken from the last full season observed: y(T + h - season * ceil(h / season)).
    With the defaults (season 7) it is "the same weekday last week"; a perfectly weekly series is
    reproduced exactly. Chosen over a mean of the same weekday across several weeks because it follows
    level shifts within one season and needs only one season of history.

    - History: `daily_sales` rows (`event_date`, `store_id`, `sku`, `value_col`) up to `as_of_date`
      (default: the last date in the input). A store x SKU without a row on a day sold 0 that day: each
      series is filled with zeros from its first sale to T.
    - Forecasts: days T+1 .. T+horizon_days for every series; `forecast_units` is null where the base
      day lies before the series' first sale (a product listed less than a season ago).
    - Backtest: hides the last `backtest_days` (T-b+1 .. T), forecasts them from the history up to T-b
      and compares with the actuals (zero-filled as above). Per store x SKU: `mae` = mean |error| over the
      scored days, `wape` = sum |error| / sum actual (null when nothing sold). `backtest_overall` pools
      every scored store x SKU x day the same way. Series first sold after T-b are not scored. The copied
      days are always on or before T-b, also when backtest_days > season: nothing hidden leaks in.

    Computed in one pass per series (a map day -> value after two aggregations; no joins), so the cost
    grows with the number of store x SKU pairs and the days read, not with the horizon.
    """
    for name, value in (("horizon_days", horizon_days), ("season", season), ("backtest_days", backtest_days)):
        if value < 1:
            raise ValueError(f"demand_forecast: {name} must be at least 1, got {value}")
    missing = [c for c in (EVENT_DATE, "store_id", "sku", value_col) if c not in daily_sales_df.columns]
    if missing:
        raise ValueError(f"demand_forecast: missing column(s) {', '.join(missing)}; pass daily_sales rows")

    observed = daily_sales_df.select(
        "store_id", "sku", F.col(EVENT_DATE).cast("date").alias("day"), F.col(value_col).cast("double").alias("value"),
    )
    if as_of_date is None:
        last = observed.agg(F.max("day")).first()[0]
        if last is None:
            raise ValueError("demand_forecast: daily_sales is empty")
    else:
        last = dt.date.fromisoformat(as_of_date) if isinstance(as_of_date, str) else as_of_date
    cut = last - dt.timedelta(days=backtest_days)
    series = _series(observed.where(F.col("day") <= F.lit(last)))
    method = F.lit(f"seasonal_naive_{season}d").alias("method")

    ahead = series.select("*", F.explode(F.sequence(F.lit(1), F.lit(horizon_days))).alias("horizon"))
    forecast_date = F.date_add(F.lit(last), F.col("horizon"))
    forecasts = ahead.select(
        "store_id", "sku", F.lit(last).alias("as_of_date"), forecast_date.alias("forecast_date"), "horizon",
        _value_on(_seasonal_base(forecast_date, F.col("horizon"), season)).alias("forecast_units"), method,
    )

    hidden = series.select("*", F.explode(F.sequence(F.lit(1), F.lit(backtest_days))).alias("_k"))
    hidden_date = F.date_add(F.lit(cut), F.col("_k"))
    scored = (
        hidden.select(
            "store_id", "sku",
            _value_on(hidden_date).alias("actual"),
            _value_on(_seasonal_base(hidden_date, F.col("_k"), season)).alias("forecast"),  # base day <= cut
        )
        .where(F.col("actual").isNotNull() & F.col("forecast").isNotNull())
        .withColumn("abs_error", F.abs(F.col("forecast") - F.col("actual")))
    )
    window = [F.lit(last).alias("as_of_date"), F.lit(cut + dt.timedelta(days=1)).alias("backtest_start"),
              F.lit(last).alias("backtest_end")]
    backtest = scored.groupBy("store_id", "sku").agg(*_error_columns()).select(
        "store_id", "sku", *window, "days", "actual_units", "forecast_units", "abs_error", "mae", "wape",
    )
    overall = scored.agg(F.countDistinct("store_id", "sku").alias("series"), *_error_columns()).select(
        *window, "series", F.col("days").alias("points"), "actual_units", "forecast_units", "abs_error", "mae",
        "wape", method,
    )
    return DemandForecast(forecasts, backtest, overall)


def _series(observed: DataFrame) -> DataFrame:
    """One row per store x SKU: `first_day` (its first sale) and `values`, a map day -> total value."""
    per_day = observed.groupBy("store_id", "sku", "day").agg(F.sum("value").alias("value"))
    return per_day.groupBy("store_id", "sku").agg(
        F.min("day").alias("first_day"),
        F.map_from_entries(F.collect_list(F.struct("day", "value"))).alias("values"),
    )


def _value_on(day: Column) -> Column:
    """A series' value on `day`: 0 on a day without a row since its first sale, null before its first sale."""
    return F.when(day >= F.col("first_day"), F.coalesce(F.try_element_at(F.col("values"), day), F.lit(0.0)))


def _seasonal_base(target: Column, steps_ahead: Column, season: int) -> Column:
    """The day a seasonal-naive forecast `steps_ahead` days after its origin copies: whole seasons back from
    `target`, as few as reach the origin or earlier (target - season * ceil(steps_ahead / season))."""
    return F.date_sub(target, F.ceil(steps_ahead / F.lit(season)).cast("int") * F.lit(season))


def _error_columns() -> list[Column]:
    actual = F.sum("actual")
    return [
        F.count(F.lit(1)).alias("days"),
        actual.alias("actual_units"),
        F.sum("forecast").alias("forecast_units"),
        F.sum("abs_error").alias("abs_error"),
        F.avg("abs_error").alias("mae"),
        F.when(actual > 0, F.sum("abs_error") / actual).alias("wape"),
    ]
