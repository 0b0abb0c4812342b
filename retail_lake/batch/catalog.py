"""Every table the batch layer writes, as `TableDefinition`s: the curated tables, derived from the contracts, and
the analytics zone's tables declared in `retail_lake.batch.schemas`. The Glue Data Catalog (stacks/catalog) is
built from `lake_tables()`.

A curated table holds the contract's stored columns (the raw table's, `retail_lake.contracts.derive`), POS sales
one row per sale line (the contract's line-item fields plus `line_number`, `line_id`, `gross_amount`,
`net_amount`), then for each reference dimension whose key the rows carry (store_id, sku, customer_id) its
conformed attributes and `*_known` flag (`retail_lake.batch.curated.DIMENSIONS`), partitioned by `event_date`.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as st
from pyspark.sql.utils import AnalysisException

from retail_lake.batch.curated import DIMENSIONS
from retail_lake.batch.partitions import path_not_found
from retail_lake.batch.schemas import ANALYTICS_ZONE_TABLES, CURATED, EVENT_DATE, TableDefinition, column
from retail_lake.contracts.derive import spark_schema, stored_columns
from retail_lake.contracts.fields import MONEY_PRECISION, MONEY_SCALE
from retail_lake.contracts.registry import BY_DATASET

LINE_ITEMS = "line_items"
_LINE_AMOUNT = st.DecimalType(MONEY_PRECISION, MONEY_SCALE)
# conformed attributes that are not strings (conform_keys casts prices and costs to the line amount type)
_ATTRIBUTE_TYPES: dict[str, st.DataType] = {"product_list_price": _LINE_AMOUNT, "product_unit_cost": _LINE_AMOUNT}


def _nullable(field: st.StructField, comment: str) -> st.StructField:
    """The raw column as curated stores it: nullable, nested fields too (as Parquet readers report them)."""
    data_type = field.dataType
    if isinstance(data_type, st.ArrayType) and isinstance(data_type.elementType, st.StructType):
        data_type = st.ArrayType(st.StructType([st.StructField(f.name, f.dataType, True)
                                                for f in data_type.elementType.fields]), True)
    return st.StructField(field.name, data_type, True, {"comment": comment} if comment else {})


def curated_table(dataset: str) -> TableDefinition:
    """The curated table of `dataset` (see the module docstring)."""
    if dataset not in BY_DATASET:
        raise ValueError(f"no curated table for {dataset!r}; datasets: {', '.join(sorted(BY_DATASET))}")
    contract = BY_DATASET[dataset]
    descriptions = {c.name: c.description for c in stored_columns(contract)}
    columns = [_nullable(f, descriptions.get(f.name, "")) for f in spark_schema(contract).fields]
    line_items = next((f for f in columns if f.name == LINE_ITEMS), None)
    if line_items is not None:  # POS sales: one row per sale line
        columns.remove(line_items)
        columns += [
            column("line_number", st.IntegerType(), "1-based position of the line in the sale"),
            *[st.StructField(f.name, f.dataType, True) for f in line_items.dataType.elementType.fields],
            column("line_id", st.StringType(), "<event_id>:<line_number>"),
            column("gross_amount", _LINE_AMOUNT, "quantity x unit_price"),
            column("net_amount", _LINE_AMOUNT, "gross_amount - discount"),
        ]
    names = {f.name for f in columns}
    for dimension, (key, flag, attributes) in DIMENSIONS.items():
        if key in names:
            columns += [column(name, _ATTRIBUTE_TYPES.get(name, st.StringType()), f"{dimension}.{source}")
                        for name, source in attributes.items()]
            columns.append(column(flag, st.BooleanType(), f"{key} is in the {dimension} dimension (null: no key)"))
    kind = "sale lines" if line_items is not None else "events"
    return TableDefinition(
        name=dataset, zone=CURATED, writer="raw_to_curated (Glue)",
        description=f"Curated {dataset}: typed, deduplicated {kind} with conformed keys "
                    f"(contract {contract.record_type} v{contract.version})",
        columns=tuple(columns),
        partition_key=column(EVENT_DATE, st.DateType(), "business date (store local; UTC for clickstream)"),
    )


def lake_tables() -> dict[str, tuple[TableDefinition, ...]]:
    """zone -> its tables: `curated` (one per dataset) and `analytics` (gold tables, then the EMR steps')."""
    return {
        CURATED: tuple(curated_table(dataset) for dataset in BY_DATASET),
        "analytics": tuple(ANALYTICS_ZONE_TABLES.values()),
    }


def read_curated(spark: SparkSession, curated_path: str, dataset: str) -> DataFrame:
    """The curated table of `dataset` under `curated_path` (`<path>/<dataset>/event_date=YYYY-MM-DD/`), read with
    its declared schema (`curated_table`), so a dataset without any partition yet (a new lake, a source that sent
    nothing, a folder the raw -> curated job left empty) reads as an empty table instead of failing schema
    inference."""
    table = curated_table(dataset)
    path = f"{curated_path.rstrip('/')}/{dataset}/"
    try:
        return spark.read.schema(table.schema).parquet(path)
    except AnalysisException as error:
        if path_not_found(error):
            return spark.createDataFrame([], table.schema)
        raise
