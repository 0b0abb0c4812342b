"""Run-time thresholds of the rules that depend on the partition: the row-count band from the trailing days,
the freshness cut-off from the partition's date, the expected columns from the curated step. Both engines
translate the same `Resolved` values, so they judge against the same numbers."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from dataclasses import dataclass, field
from typing import Iterable

from retail_lake.quality.results import FAILED, PASSED, RuleResult, schema_text
from retail_lake.quality.rules import Rule


@dataclass(frozen=True)
class GateContext:
    """What the gate knows about the partition beyond its rows."""

    partition_date: dt.date
    trailing_counts: tuple[int, ...] = ()  # row counts of the days before, newest first
    expected_columns: tuple[str, ...] | None = None  # the curated step's columns


@dataclass(frozen=True)
class Resolved:
    rule: Rule
    values: dict = field(default_factory=dict, hash=False, compare=False)

    def __getitem__(self, key: str):
        return self.values[key]


def lag_column(rule: Rule) -> str:
    """Helper column holding, per row, how many seconds it is behind the latest event that arrived before it."""
    return f"_lag_seconds_{rule.column}"


def resolve(rule: Rule, context: GateContext) -> Resolved:
    p = rule.params
    if rule.type == "row_count_anomaly":
        history = list(context.trailing_counts[: int(p["trailing_days"])])
        minimum = int(p["min_rows"])
        if not history:
            return Resolved(rule, {"min": minimum, "max": None, "history_days": 0})
        # the median: one partial or outlier day in the history does not move the band
        typical = statistics.median(history)
        low = max(minimum, math.floor(typical * (1 - float(p["max_deviation"]))))
        high = math.ceil(typical * (1 + float(p["max_deviation"])))
        return Resolved(rule, {"min": low, "max": max(low, high), "history_days": len(history)})
    if rule.type == "freshness" and rule.scope == "dataset":
        end_of_day = dt.datetime.combine(context.partition_date + dt.timedelta(days=1), dt.time())
        return Resolved(rule, {"min_time": end_of_day - dt.timedelta(hours=float(p["max_age_hours"]))})
    if rule.type == "schema":
        columns = p["columns"] if p["columns"] is not None else context.expected_columns
        if columns is None:
            raise ValueError(f"{rule.id}: no expected columns: list them in the rule or pass the curated step's")
        return Resolved(rule, {"columns": tuple(columns)})
    return Resolved(rule, {})


def resolve_all(rules: tuple[Rule, ...] | list[Rule], context: GateContext) -> list[Resolved]:
    return [resolve(rule, context) for rule in rules]


def threshold_text(resolved: Resolved) -> str:
    rule, p = resolved.rule, resolved.rule.params
    if rule.type == "row_count_anomaly":
        if resolved["max"] is None:
            return f">= {resolved['min']} (no trailing days yet)"
        return f"between {resolved['min']} and {resolved['max']}"
    if rule.type == "freshness" and rule.scope == "dataset":
        return f">= {resolved['min_time'].isoformat()}"
    if rule.type == "schema":
        return f"exactly {len(resolved['columns'])} expected columns"
    if rule.type == "completeness" and float(p["min_fraction"]) < 1:
        return f">= {float(p['min_fraction']):.6f}"
    return "== 1.000000"


def schema_result(resolved: Resolved, columns: Iterable[str], total: int, engine: str,
                  status: str | None = None) -> RuleResult:
    """A schema rule's result from the columns found: the missing and the unexpected ones, each a failing "row".
    The status is the engine's verdict when it gives one, else whether both lists are empty."""
    rule, found = resolved.rule, set(columns)
    missing = sorted(set(resolved["columns"]) - found)
    unexpected = sorted(found - set(resolved["columns"]))
    if status is None:
        status = PASSED if not missing and not unexpected else FAILED
    return RuleResult(rule.id, rule.level, rule.scope, rule.type, status, schema_text(missing, unexpected),
                      threshold_text(resolved), len(missing) + len(unexpected), total, engine)
