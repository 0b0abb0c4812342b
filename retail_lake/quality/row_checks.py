"""Row-level rules on Spark: the predicate that marks a failing row, the helper columns the engines read, and
the split of a dataset's rows into good rows (to curated) and bad rows (to quarantine, with the ids of the
rules they broke) between raw and curated.

Only error-level row rules quarantine; warnings are counted by the gate. Rows of one event stay together:
a sale whose one line breaks a rule goes to quarantine with all its lines (`EVENT_KEY`), so every event ends
in exactly one place, curated or quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as st

from retail_lake.quality.resolve import lag_column
from retail_lake.quality.rules import Rule

EVENT_KEY = "event_id"
FAILED_RULES = "quality_failed_rules"  # array<string> on quarantined rows
QUARANTINE_REASON = "quality_reason"  # the same ids joined with ", "


def violation(rule: Rule) -> Column:
    """True where a row breaks `rule` (never null). Nulls pass every check but completeness."""
    p = rule.params
    value = F.col(rule.column) if rule.column else None
    if rule.type == "completeness":
        failing = value.isNull()
    elif rule.type == "allowed_values":
        failing = value.isNotNull() & ~value.isin(list(p["values"]))
    elif rule.type == "range":
        outside = F.lit(False)
        if p["min"] is not None:
            outside = outside | (value < F.lit(p["min"]))
        if p["max"] is not None:
            outside = outside | (value > F.lit(p["max"]))
        failing = value.isNotNull() & outside
    elif rule.type == "pattern":
        matches = value.cast("string").rlike(p["regex"])
        failing = value.isNotNull() & (matches if p["forbid"] else ~matches)
    elif rule.type == "referential_integrity":
        failing = F.col(rule.flag_column) == F.lit(False)
    elif rule.type == "freshness" and rule.scope == "row":
        lag = F.col(lag_column(rule))
        failing = lag.isNotNull() & (lag > 0) & (lag >= F.lit(float(p["min_lag_seconds"])))
    else:
        raise ValueError(f"{rule.id}: a {rule.type} rule at {rule.scope} scope is not judged row by row")
    return F.coalesce(failing, F.lit(False))


def with_lag_columns(df: DataFrame, rules: tuple[Rule, ...] | list[Rule]) -> DataFrame:
    """Adds, for every row freshness rule, `_lag_seconds_<column>`: seconds between the latest `column` of the
    rows that arrived before this one (in `order_by` order) and this row's `column` (null for the first row)."""
    out = df
    for rule in rules:
        if rule.type != "freshness" or rule.scope != "row" or lag_column(rule) in out.columns:
            continue
        order = Window.orderBy(*[F.col(c).asc_nulls_last() for c in rule.params["order_by"]]).rowsBetween(
            Window.unboundedPreceding, -1)
        seconds = F.unix_micros(F.col(rule.column)).cast("double") / 1e6
        out = out.withColumn(lag_column(rule), F.max(seconds).over(order) - seconds)
    return out


def with_helper_columns(df: DataFrame, rules: tuple[Rule, ...] | list[Rule]) -> DataFrame:
    """The helper columns both engines read: arrival lags and, for dataset freshness, epoch seconds."""
    out = with_lag_columns(df, rules)
    for rule in rules:
        if rule.type == "freshness" and rule.scope == "dataset":
            out = out.withColumn(f"_epoch_seconds_{rule.column}", F.unix_micros(F.col(rule.column)) / 1e6)
    return out


@dataclass
class RowSplit:
    """`flagged` holds every row with FAILED_RULES (empty array: good); `good` and `bad` are views of it."""

    flagged: DataFrame
    columns: list[str]
    rules: tuple[Rule, ...]

    @property
    def good(self) -> DataFrame:
        """The rows curated gets, with their original columns."""
        return self.flagged.where(F.size(FAILED_RULES) == 0).select(*self.columns)

    @property
    def bad(self) -> DataFrame:
        """The quarantined rows: original columns, FAILED_RULES and QUARANTINE_REASON."""
        return self.flagged.where(F.size(FAILED_RULES) > 0).select(
            *self.columns, FAILED_RULES, F.array_join(FAILED_RULES, ", ").alias(QUARANTINE_REASON))

    def counts(self, event_key: str = EVENT_KEY) -> dict:
        """`rows_quarantined`, `events_quarantined` and `quarantined_by_rule` (events per rule id)."""
        bad = self.flagged.where(F.size(FAILED_RULES) > 0)
        totals = bad.agg(F.count(F.lit(1)).alias("rows"), F.countDistinct(event_key).alias("events")).first()
        by_rule = (bad.select(event_key, F.explode(FAILED_RULES).alias("rule")).distinct()
                   .groupBy("rule").count().collect())
        return {"rows_quarantined": int(totals["rows"]), "events_quarantined": int(totals["events"]),
                "quarantined_by_rule": {r["rule"]: int(r["count"]) for r in sorted(by_rule, key=lambda r: r["rule"])}}


def quarantining_rules(rules: tuple[Rule, ...] | list[Rule]) -> tuple[Rule, ...]:
    return tuple(r for r in rules if r.scope == "row" and r.is_error)


def split_rows(df: DataFrame, rules: tuple[Rule, ...] | list[Rule], *, event_key: str | None = EVENT_KEY) -> RowSplit:
    """Good and bad rows by the error-level row rules; with `event_key`, an event with any bad row is bad whole
    (the window over the key runs only when the key repeats: datasets with several rows per event)."""
    active = quarantining_rules(rules)
    columns = df.columns
    if not active:
        return RowSplit(df.withColumn(FAILED_RULES, F.array().cast(st.ArrayType(st.StringType()))), columns, active)
    flagged = with_lag_columns(df, active)
    broken = F.filter(F.array(*[F.when(violation(r), F.lit(r.id)) for r in active]), lambda x: x.isNotNull())
    flagged = flagged.withColumn(FAILED_RULES, broken)
    if event_key is not None and event_key in columns:
        per_event = Window.partitionBy(event_key)
        flagged = flagged.withColumn(
            FAILED_RULES, F.array_sort(F.array_distinct(F.flatten(F.collect_list(FAILED_RULES).over(per_event)))))
    return RowSplit(flagged, columns, active)


def event_key_for(dataset: str) -> str | None:
    """The key whose rows are quarantined together: sales have one row per line."""
    return EVENT_KEY if dataset == "pos_sales" else None
