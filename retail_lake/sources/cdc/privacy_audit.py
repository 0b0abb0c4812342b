"""Audit the lake's shared zones for the operational store's personal data in clear text.

The CDC landing bucket holds DMS's change files as delivered (names, e-mails, phones and streets in clear text);
nothing else may. `personal_values` collects every personal value the change files (and the database) ever held;
`find_clear_text` reads every object of the given buckets and reports each one that holds any of them:

- Parquet: every string cell (top-level columns and the fields of struct columns), compared whole for streets and
  full names ("first last"), searched for e-mail addresses and phone numbers (compared by their digits);
- anything else (JSON lines, CSV, text): the same searches over the decoded text.

First and last names alone are not searched for: short common names ("Jo", "Lee") would match unrelated text; the
CDC merge's own tests check that those columns hold pseudonyms.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retail_lake.privacy.pseudonymize import EMAIL_TEXT, PHONE_TEXT
from retail_lake.sources.operational_db.tables import EMAIL, NAME, PHONE, STREET, TABLES

_NON_DIGITS = re.compile(r"[^0-9]")
# cheap Arrow pre-filter: a cell can hold an e-mail, a phone number, a street ("<number> <word>...") or a full name
# ("<word> <word>") only if it matches this; the Python checks run on the matching distinct cells only
_CANDIDATE = r"@|[0-9][0-9 ().\-]{6,18}[0-9]|^\s*[0-9]+ [A-Za-z]|^\s*\S+ \S+\s*$"


@dataclass
class PersonalValues:
    emails: set[str] = field(default_factory=set)  # lower case
    phones: set[str] = field(default_factory=set)  # digits only
    streets: set[str] = field(default_factory=set)  # lower case
    full_names: set[str] = field(default_factory=set)  # "first last", lower case

    def add_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            if row.get("email"):
                self.emails.add(str(row["email"]).strip().lower())
            if row.get("phone"):
                digits = _NON_DIGITS.sub("", str(row["phone"]))
                if len(digits) >= 9:
                    self.phones.add(digits)
            if row.get("street"):
                self.streets.add(str(row["street"]).strip().lower())
            if row.get("first_name") and row.get("last_name"):
                self.full_names.add(f"{row['first_name']} {row['last_name']}".strip().lower())

    def __len__(self) -> int:
        return len(self.emails) + len(self.phones) + len(self.streets) + len(self.full_names)


@dataclass(frozen=True)
class Finding:
    bucket: str
    key: str
    where: str  # column (Parquet) or "text"
    kind: str
    value: str


def _personal_tables() -> dict[str, set[str]]:
    return {t.name: set(t.personal_columns) for t in TABLES if t.personal_columns}


def personal_values(s3: Any, landing_bucket: str, prefix: str, conn: Any = None) -> PersonalValues:
    """Every personal value in the change files under `prefix` of the landing bucket (every version a row ever had,
    erased customers included) and, with `conn`, in the database now."""
    values = PersonalValues()
    by_name = {t.name: t for t in TABLES}
    for name, columns in _personal_tables().items():
        for key in _keys(s3, landing_bucket, f"{prefix}{name}/"):
            if key.endswith(".parquet"):
                table = pq.read_table(io.BytesIO(s3.get_object(Bucket=landing_bucket, Key=key)["Body"].read()))
                values.add_rows(table.select([c for c in table.column_names if c in columns]).to_pylist())
        if conn is not None:
            cursor = conn.execute(f"SELECT {', '.join(sorted(columns))} FROM {by_name[name].qualified}")
            names = [d.name for d in cursor.description]
            values.add_rows(dict(zip(names, row)) for row in cursor.fetchall())
    return values


def _keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def _check_text(text: str, values: PersonalValues) -> list[tuple[str, str]]:
    found = []
    if "@" in text:
        found += [(EMAIL, m) for m in EMAIL_TEXT.findall(text) if m.lower() in values.emails]
    for match in PHONE_TEXT.finditer(text):
        if _NON_DIGITS.sub("", match.group(0)) in values.phones:
            found.append((PHONE, match.group(0)))
    lowered = text.strip().lower()
    if lowered in values.streets:
        found.append((STREET, text))
    if lowered in values.full_names:
        found.append((NAME, text))
    return found


def _string_arrays(name: str, array: pa.Array) -> Iterable[tuple[str, pa.Array]]:
    """The string arrays in `array`: itself, its struct fields and its list items, recursively."""
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        yield name, array
    elif pa.types.is_struct(array.type):
        for index, child in enumerate(array.flatten()):
            yield from _string_arrays(f"{name}.{array.type.field(index).name}", child)
    elif pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        yield from _string_arrays(f"{name}[]", pc.list_flatten(array))


def find_clear_text(s3: Any, buckets: Iterable[str], values: PersonalValues) -> list[Finding]:
    """Every object of `buckets` holding one of `values` in clear text, with where and what."""
    findings: list[Finding] = []
    for bucket in buckets:
        for key in _keys(s3, bucket):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            if key.endswith(".parquet"):
                try:
                    table = pq.read_table(io.BytesIO(body))
                except pa.ArrowInvalid:
                    table = None
                if table is not None:
                    strings = (pair for name, column in zip(table.column_names, table.columns)
                               for pair in _string_arrays(name, column.combine_chunks()))
                    for column, data in strings:
                        distinct = pc.unique(data)
                        candidates = pc.filter(distinct, pc.fill_null(pc.match_substring_regex(distinct, _CANDIDATE),
                                                                      False))
                        for cell in candidates.to_pylist():
                            findings += [Finding(bucket, key, column, kind, value)
                                         for kind, value in _check_text(cell, values)]
                    continue
            text = body.decode("utf-8", errors="replace")
            findings += [Finding(bucket, key, "text", kind, value) for kind, value in _check_text(text, values)]
            for line in text.splitlines():  # whole-value matches inside CSV cells and JSON strings
                for cell in re.split(r'[,"\t]', line):
                    lowered = cell.strip().lower()
                    if lowered and (lowered in values.streets or lowered in values.full_names):
                        findings.append(Finding(bucket, key, "text", STREET if lowered in values.streets else NAME,
                                                cell))
    return findings
