"""The clear-text audit of the shared zones finds the operational store's personal values wherever they hide: whole
or inside Parquet string cells (nested too), JSON lines and CSV text, and does not flag their pseudonyms."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from retail_lake.privacy.pseudonymize import Pseudonymizer
from retail_lake.sources.cdc.privacy_audit import PersonalValues, find_clear_text

PERSON = {"first_name": "Ann", "last_name": "Lee", "email": "Ann.Lee7@Example.com", "phone": "+12125550107",
          "street": "12 Main St"}


class _Bucket:
    """The two S3 calls the audit makes, over objects in memory."""

    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects

    def get_paginator(self, _name: str):
        objects = self.objects

        class Paginator:
            def paginate(self, Bucket: str, Prefix: str = ""):  # noqa: N803 - boto3's spelling
                yield {"Contents": [{"Key": k} for b, k in objects if b == Bucket and k.startswith(Prefix)]}

        return Paginator()

    def get_object(self, Bucket: str, Key: str) -> dict:  # noqa: N803
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_clear_text_is_found_in_parquet_cells_nested_fields_json_and_csv_but_pseudonyms_are_not() -> None:
    values = PersonalValues()
    values.add_rows([PERSON])
    pseudonymizer = Pseudonymizer(b"k" * 32)
    clean = pa.table({"email": [pseudonymizer.email(PERSON["email"])], "street": [pseudonymizer.street("12 Main St")],
                      "city": ["Boston"]})
    s3 = _Bucket({
        ("lake", "clean.parquet"): _parquet(clean),
        ("lake", "cell.parquet"): _parquet(pa.table({"note": ["call +1 (212) 555-0107 today"]})),
        ("lake", "nested.parquet"): _parquet(pa.table({"lines": pa.array([[{"to": "ann.lee7@example.com"}]])})),
        ("lake", "street.parquet"): _parquet(pa.table({"address": [" 12 MAIN ST "]})),
        ("lake", "rejects.jsonl"): b'{"raw": "C1,Ann Lee,x"}\n',
        ("lake", "drop.csv"): b"id,address\n1,12 Main St\n",
    })
    found = {(f.key, f.kind) for f in find_clear_text(s3, ["lake"], values)}
    assert found == {("cell.parquet", "phone"), ("nested.parquet", "email"), ("street.parquet", "street"),
                     ("rejects.jsonl", "name"), ("drop.csv", "street")}
