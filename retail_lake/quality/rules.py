"""Quality rules as data: one file per dataset beside its contract (`retail_lake/contracts/rules/<dataset>.yaml`).

    dataset: pos_sales
    rules:
      - id: pos_sales.sku.known          # unique; appears in quarantine records, results and alerts
        description: every sale line names a product of the catalog
        level: error                      # error: quarantines rows / fails the gate; warning: reported only
        scope: row                        # row: judged per row; dataset: judged on the whole partition
        type: referential_integrity
        column: sku
        reference: products

Rule types and their parameters (`RULE_TYPES`); nulls pass every per-value rule except completeness:

| type | scope | parameters | a row / the partition fails when |
|---|---|---|---|
| completeness | row, dataset | column, min_fraction (dataset, default 1.0) | the value is null / fewer non-null than min_fraction |
| uniqueness | dataset | columns | rows share their key (every row of a shared key counts) |
| allowed_values | row, dataset | column, values | the value is not one of values |
| range | row, dataset | column, min and/or max (inclusive) | the value lies outside |
| pattern | row, dataset | column, regex, forbid (default false) | the value does not match (forbid: matches somewhere) |
| referential_integrity | row, dataset | column, reference (stores, products, customers) | the key is not in the reference dimension |
| freshness | row | column, order_by, min_lag_seconds (default 0) | it arrived behind an event of later `column` by > 0 and >= min_lag_seconds |
| freshness | dataset | column, max_age_hours | the newest `column` is older than the partition's end minus max_age_hours |
| row_count_anomaly | dataset | trailing_days (7), max_deviation (0.5), min_rows (1) | the count leaves median(trailing days with rows) * (1 +/- max_deviation) |
| schema | dataset | columns (default: what the curated step produces) | a column is missing or unexpected |

Referential integrity reads the flag the curated step computes against the reference data (`sku_known`, see
`retail_lake.batch.curated.DIMENSIONS`): true when the key is in the dimension, null when the row has no key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

LEVELS = ("error", "warning")
SCOPES = ("row", "dataset")
REFERENCES = {"stores": ("store_id", "store_known"), "products": ("sku", "sku_known"),
              "customers": ("customer_id", "customer_known")}

# type -> (scopes allowed, required parameters, optional parameters with defaults)
RULE_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...], dict[str, Any]]] = {
    "completeness": (("row", "dataset"), ("column",), {"min_fraction": 1.0}),
    "uniqueness": (("dataset",), ("columns",), {}),
    "allowed_values": (("row", "dataset"), ("column", "values"), {}),
    "range": (("row", "dataset"), ("column",), {"min": None, "max": None}),
    "pattern": (("row", "dataset"), ("column", "regex"), {"forbid": False}),
    "referential_integrity": (("row", "dataset"), ("column", "reference"), {}),
    "freshness": (("row", "dataset"), ("column",),
                  {"order_by": None, "min_lag_seconds": 0, "max_age_hours": None}),
    "row_count_anomaly": (("dataset",), (), {"trailing_days": 7, "max_deviation": 0.5, "min_rows": 1}),
    "schema": (("dataset",), (), {"columns": None}),
}
_COMMON = {"id", "description", "level", "scope", "type"}
_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


class RuleError(ValueError):
    """A rule file that cannot be used; the message names the file, the rule and what to change."""


@dataclass(frozen=True)
class Rule:
    id: str
    dataset: str
    level: str
    scope: str
    type: str
    description: str
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def param(self, name: str) -> Any:
        return self.params[name]

    @property
    def column(self) -> str | None:
        return self.params.get("column")

    @property
    def is_error(self) -> bool:
        return self.level == "error"

    @property
    def flag_column(self) -> str:
        """The conformed-key flag a referential-integrity rule reads (`sku_known`, ...)."""
        return REFERENCES[self.params["reference"]][1]

    @property
    def row_judged(self) -> bool:
        """Judged row by row (a failing row count exists): row scope, or a per-value check at dataset scope."""
        return self.type in ("completeness", "allowed_values", "range", "pattern", "referential_integrity") or (
            self.type == "freshness" and self.scope == "row")

    def describe(self) -> str:
        """One line for a person: what the rule asks."""
        p = self.params
        column = p.get("column")
        if self.type == "completeness":
            share = p["min_fraction"]
            return f"{column} is present" + ("" if share >= 1 else f" in at least {share:.1%} of rows")
        elif self.type == "uniqueness":
            return f"{', '.join(p['columns'])} is unique"
        elif self.type == "allowed_values":
            return f"{column} is one of {', '.join(map(str, p['values']))}"
        elif self.type == "range":
            bounds = [f">= {p['min']}" if p["min"] is not None else "", f"<= {p['max']}" if p["max"] is not None else ""]
            return f"{column} " + " and ".join(b for b in bounds if b)
        elif self.type == "pattern":
            return f"{column} {'never contains' if p['forbid'] else 'matches'} /{p['regex']}/"
        elif self.type == "referential_integrity":
            return f"{column} exists in the {p['reference']} reference data"
        elif self.type == "freshness" and self.scope == "row":
            lag = p["min_lag_seconds"]
            return (f"{column} is not behind events that arrived before it"
                    + (f" by {lag:g} s or more" if lag else ""))
        elif self.type == "freshness":
            return f"newest {column} is at most {p['max_age_hours']:g} h before the end of the partition's day"
        elif self.type == "row_count_anomaly":
            return (f"row count within +/-{p['max_deviation']:.0%} of the median of the trailing "
                    f"{p['trailing_days']} days (at least {p['min_rows']})")
        elif self.type == "schema":
            return "columns are exactly the expected ones"
        return self.type


def parse_rules(document: dict[str, Any], source: str = "<rules>") -> tuple[Rule, ...]:
    """Validated rules of one rule document (the parsed YAML/JSON), with errors naming `source`."""
    if not isinstance(document, dict) or "dataset" not in document or not isinstance(document.get("rules"), list):
        raise RuleError(f"{source}: expected a mapping with `dataset:` and a `rules:` list")
    dataset = str(document["dataset"])
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, entry in enumerate(document["rules"]):
        where = f"{source}: rule #{index + 1}" + (f" ({entry.get('id')})" if isinstance(entry, dict) else "")
        if not isinstance(entry, dict):
            raise RuleError(f"{where}: expected a mapping, got {type(entry).__name__}")
        missing = [k for k in ("id", "level", "scope", "type") if k not in entry]
        if missing:
            raise RuleError(f"{where}: missing {', '.join(missing)}")
        rule_id, level, scope, kind = (str(entry[k]) for k in ("id", "level", "scope", "type"))
        if not _ID.match(rule_id) or not rule_id.startswith(dataset + "."):
            raise RuleError(f"{where}: id must look like {dataset}.<column>.<check> (lowercase, dotted)")
        if rule_id in seen:
            raise RuleError(f"{where}: duplicate id {rule_id}")
        seen.add(rule_id)
        if level not in LEVELS:
            raise RuleError(f"{where}: level {level!r} is not one of {', '.join(LEVELS)}")
        if kind not in RULE_TYPES:
            raise RuleError(f"{where}: type {kind!r} is not one of {', '.join(RULE_TYPES)}")
        scopes, required, optional = RULE_TYPES[kind]
        if scope not in scopes:
            raise RuleError(f"{where}: a {kind} rule has scope {' or '.join(scopes)}, not {scope!r}")
        params = {k: v for k, v in entry.items() if k not in _COMMON}
        unknown = sorted(set(params) - set(required) - set(optional))
        if unknown:
            raise RuleError(f"{where}: unknown parameter(s) {', '.join(unknown)} for a {kind} rule; "
                            f"it takes {', '.join([*required, *optional]) or 'none'}")
        absent = [k for k in required if k not in params]
        if absent:
            raise RuleError(f"{where}: a {kind} rule needs {', '.join(absent)}")
        params = {**optional, **params}
        _check_params(where, kind, scope, params)
        rules.append(Rule(rule_id, dataset, level, scope, kind, str(entry.get("description", "")), params))
    return tuple(rules)


def _check_params(where: str, kind: str, scope: str, p: dict[str, Any]) -> None:
    if kind == "uniqueness" and (not isinstance(p["columns"], list) or not p["columns"]):
        raise RuleError(f"{where}: columns must be a non-empty list")
    if kind == "allowed_values" and (not isinstance(p["values"], list) or not p["values"]):
        raise RuleError(f"{where}: values must be a non-empty list")
    if kind == "range" and p["min"] is None and p["max"] is None:
        raise RuleError(f"{where}: a range rule needs min, max or both")
    if kind == "pattern":
        try:
            re.compile(p["regex"])
        except re.error as error:
            raise RuleError(f"{where}: regex {p['regex']!r} does not compile ({error})") from None
    if kind == "referential_integrity" and p["reference"] not in REFERENCES:
        raise RuleError(f"{where}: reference must be one of {', '.join(REFERENCES)}")
    if kind == "completeness" and not 0 < float(p["min_fraction"]) <= 1:
        raise RuleError(f"{where}: min_fraction must be in (0, 1]")
    if kind == "completeness" and scope == "row" and float(p["min_fraction"]) != 1.0:
        raise RuleError(f"{where}: min_fraction applies to dataset scope only (a row is complete or not)")
    if kind == "freshness":
        if scope == "row" and not p["order_by"]:
            raise RuleError(f"{where}: a row freshness rule needs order_by (the arrival-order columns)")
        if scope == "dataset" and p["max_age_hours"] is None:
            raise RuleError(f"{where}: a dataset freshness rule needs max_age_hours")
    if kind == "row_count_anomaly" and (int(p["trailing_days"]) < 1 or float(p["max_deviation"]) <= 0):
        raise RuleError(f"{where}: trailing_days must be >= 1 and max_deviation > 0")


def load_rules_file(path: Any) -> tuple[Rule, ...]:
    """Rules of one YAML (or JSON, a subset of YAML) file: a `Path`, or a package resource."""
    import yaml

    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise RuleError(f"{path}: not valid YAML ({error})") from None
    return parse_rules(document, str(path))


def rules_directory() -> Any:
    """The rule files' directory as a package resource: a directory here, or a folder of the package zip the Glue
    and EMR jobs get on their Python path (`--extra-py-files`, `--py-files`), where `__file__` is not a real path."""
    from importlib import resources

    return resources.files("retail_lake") / "contracts" / "rules"


def rule_datasets(rules_dir: Any = None) -> tuple[str, ...]:
    """Every dataset with a rule file, sorted."""
    folder = rules_dir if rules_dir is not None else rules_directory()
    return tuple(sorted(entry.name[: -len(".yaml")] for entry in folder.iterdir() if entry.name.endswith(".yaml")))


@lru_cache(maxsize=None)
def rules_for(dataset: str, rules_dir: Any = None) -> tuple[Rule, ...]:
    """The rules of `dataset` (`<rules_dir>/<dataset>.yaml`, default: the package's rule files), validated."""
    folder = rules_dir if rules_dir is not None else rules_directory()
    path = folder / f"{dataset}.yaml"
    if not path.is_file():
        raise RuleError(f"no rule file for dataset {dataset!r} at {path}; rule files exist for "
                        f"{', '.join(rule_datasets(folder))}")
    rules = load_rules_file(path)
    if rules and rules[0].dataset != dataset:
        raise RuleError(f"{path}: declares dataset {rules[0].dataset!r}, expected {dataset!r}")
    return rules
