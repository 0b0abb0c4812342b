"""Markdown reference of the event contracts, rendered from the contracts themselves.

`python -m retail_lake.contracts.docs > docs/contracts.md`; a test keeps the committed file current.
"""

from __future__ import annotations

from retail_lake.contracts.derive import glue_columns
from retail_lake.contracts.fields import Field, LogicalType, Privacy
from retail_lake.contracts.registry import CONTRACTS


def _rules(field: Field) -> str:
    rules = []
    if field.allowed:
        rules.append("one of " + ", ".join(f"`{v}`" for v in field.allowed))
    if field.pattern:
        rules.append(f"matches `{field.pattern}`")
    if field.min_value is not None:
        rules.append(f">= {field.min_value}")
    if field.max_value is not None:
        rules.append(f"<= {field.max_value}")
    if field.nonzero:
        rules.append("non-zero")
    if field.min_length is not None:
        rules.append(f"length >= {field.min_length}")
    if field.max_length is not None:
        rules.append(f"length <= {field.max_length}")
    if field.min_items is not None:
        rules.append(f"at least {field.min_items} item(s)")
    if field.type is LogicalType.TIMESTAMP:
        rules.append("ISO 8601 with an offset")
    if field.type is LogicalType.MONEY:
        rules.append("whole cents")
    if field.free_text:
        rules.append("free text: card numbers masked, emails and phone numbers pseudonymized inside it")
    return "; ".join(rules)


_PRIVACY = {
    Privacy.NONE: "",
    Privacy.CARD_NUMBER: "never stored: becomes `card_brand` + `card_last4`",
    Privacy.EMAIL: "stored as `<name>_hash` (keyed HMAC-SHA256)",
    Privacy.PHONE: "stored as `<name>_hash` (keyed HMAC-SHA256)",
}


def _rows(fields: tuple[Field, ...], prefix: str = "") -> list[str]:
    rows = []
    for f in fields:
        name = f"{prefix}{f.name}"
        rows.append(
            f"| `{name}` | {f.type.value} | {'yes' if f.required else 'no'} | {_rules(f)} | "
            f"{_PRIVACY[f.privacy]} | {f.description} |"
        )
        if f.children:
            rows.extend(_rows(f.children, prefix=f"{name}[]."))
    return rows


def render_markdown() -> str:
    out = [
        "# Event contracts",
        "",
        "Generated from `retail_lake/contracts/` by `python -m retail_lake.contracts.docs`; do not edit by hand.",
        "Every event carries `record_type` (routes it to its contract) and the fields below. Unknown fields are",
        "rejected (quarantine reason `unknown_field`): a new field means a new contract version.",
        "",
    ]
    for contract in CONTRACTS:
        out += [
            f"## `{contract.record_type}` v{contract.version} -> dataset `{contract.dataset}`",
            "",
            contract.description,
            "",
            "| field | type | required | rules | privacy | description |",
            "|---|---|---|---|---|---|",
            *_rows(contract.fields),
            "",
            "Raw table columns (Glue / Athena types): "
            + ", ".join(f"`{c['name']}` {c['type']}" for c in glue_columns(contract))
            + "; partitioned by `dt` (ingestion date, UTC) and `hour`.",
            "",
        ]
    return "\n".join(out)


if __name__ == "__main__":
    print(render_markdown(), end="")
