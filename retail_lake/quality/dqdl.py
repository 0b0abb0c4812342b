"""Glue Data Quality rulesets (DQDL) from the same rule files, for teams that run the managed service.

Rules whose threshold depends on the run (row-count band, freshness cut-off) use DQDL's own forms: the
row-count anomaly becomes `RowCount` against the trailing average (`avg(last(n))`) and freshness
`DataFreshness`. Row freshness (arrival order) has no DQDL form: `ruleset` lists such rules apart.
"""

from __future__ import annotations

import json

from retail_lake.quality.rules import Rule


def _quote(value) -> str:
    return json.dumps(str(value))


def dqdl_rule(rule: Rule, expected_columns: tuple[str, ...] | None = None) -> str | None:
    """One DQDL rule for `rule`, or None when DQDL cannot express it."""
    p = rule.params
    column = _quote(rule.column) if rule.column else None
    if rule.type == "completeness":
        return f"IsComplete {column}" if float(p["min_fraction"]) >= 1 else \
            f"Completeness {column} >= {float(p['min_fraction'])}"
    elif rule.type == "uniqueness":
        if len(p["columns"]) == 1:
            return f"IsUnique {_quote(p['columns'][0])}"
        return "IsPrimaryKey " + " ".join(_quote(c) for c in p["columns"])
    elif rule.type == "allowed_values":
        return f"ColumnValues {column} in [{', '.join(_quote(v) for v in p['values'])}]"
    elif rule.type == "range":
        if p["min"] is not None and p["max"] is not None:
            return f"(ColumnValues {column} >= {p['min']}) and (ColumnValues {column} <= {p['max']})"
        if p["min"] is not None:
            return f"ColumnValues {column} >= {p['min']}"
        return f"ColumnValues {column} <= {p['max']}"
    elif rule.type == "pattern":
        matches = f"ColumnValues {column} matches {_quote(p['regex'])}"
        return f"ColumnValues {column} not matches {_quote(p['regex'])}" if p["forbid"] else matches
    elif rule.type == "referential_integrity":
        return f"ColumnValues {_quote(rule.flag_column)} in [\"true\"]"
    elif rule.type == "freshness" and rule.scope == "row":
        return None
    elif rule.type == "freshness":
        return f"DataFreshness {column} <= {float(p['max_age_hours']) + 24:g} hours"
    elif rule.type == "row_count_anomaly":
        deviation = float(p["max_deviation"])
        return (f"RowCount between {1 - deviation:g}*avg(last({int(p['trailing_days'])})) and "
                f"{1 + deviation:g}*avg(last({int(p['trailing_days'])}))")
    elif rule.type == "schema":
        columns = p["columns"] if p["columns"] is not None else expected_columns
        if not columns:
            return None
        return f"ColumnCount = {len(columns)}"
    raise ValueError(f"{rule.id}: no DQDL translation for type {rule.type!r}")


def ruleset(rules: tuple[Rule, ...] | list[Rule],
            expected_columns: tuple[str, ...] | None = None) -> tuple[str, list[str]]:
    """(DQDL document `Rules = [ ... ]`, ids of the rules DQDL cannot express: the gate job evaluates those)."""
    lines, skipped = [], []
    for rule in rules:
        text = dqdl_rule(rule, expected_columns)
        if text is None:
            skipped.append(rule.id)
        else:
            lines.append(f"    {text}")
    return "Rules = [\n" + ",\n".join(lines) + "\n]", skipped
