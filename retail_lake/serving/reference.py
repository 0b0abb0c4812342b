"""Glue columns of the reference dimensions the serving views join (stores for the region, products for names
and categories), derived from the generator's dataclasses that write them (`reference/<table>/<table>.parquet`
in the raw bucket, see `retail_lake.orchestration.batch_day.load_reference_data`)."""

from __future__ import annotations

import dataclasses
import typing

from retail_lake.generator.reference import Product, Store

_HIVE = {str: "string", int: "bigint", float: "double", bool: "boolean"}


@dataclasses.dataclass(frozen=True)
class ReferenceTable:
    glue_name: str  # the Glue table in the analytics database: dim_store
    folder: str  # the folder under the raw bucket's reference/ prefix: stores
    description: str
    record: type

    def columns(self) -> list[tuple[str, str]]:
        hints = typing.get_type_hints(self.record)
        return [(f.name, _HIVE[hints[f.name]]) for f in dataclasses.fields(self.record)]


REFERENCE_TABLES = (
    ReferenceTable("dim_store", "stores", "Stores: name, region, city, format, time zone (reference data)", Store),
    ReferenceTable("dim_product", "products", "Products: name, category, brand, prices (reference data)", Product),
)
