"""The declared tables (`retail_lake.batch.schemas`, `retail_lake.batch.catalog`) agree with the DataFrame functions
that compute them: the gold functions, fed the curated tables as declared, return exactly the declared columns and
types (files' columns in order, partition column aside), and `conform` refuses what does not match."""

from __future__ import annotations

import pytest

from retail_lake.batch import analytics
from retail_lake.batch.catalog import curated_table
from retail_lake.batch.schemas import EMR_TABLES, GOLD_TABLES, TableSchemaError, conform, hive_type


def _columns(schema, without: str) -> list[tuple[str, str]]:
    return [(f.name, hive_type(f.dataType)) for f in schema.fields if f.name != without]


def test_gold_functions_return_the_declared_columns(spark) -> None:
    lines, movements, clicks = (spark.createDataFrame([], curated_table(d).schema)
                                for d in ("pos_sales", "inventory_movements", "clickstream"))
    sessions = analytics.web_sessions(clicks)
    computed = {
        "daily_sales": analytics.daily_sales(lines),
        "inventory_position": analytics.inventory_position(movements, lines, "2026-11-08"),
        "customer_360": analytics.customer_360(lines, "2026-11-08"),
        "web_sessions": sessions,
        "conversion_funnel": analytics.conversion_funnel(sessions),
    }
    assert set(computed) == set(GOLD_TABLES)
    for name, df in computed.items():
        table = GOLD_TABLES[name]
        key = table.partition_key.name
        assert _columns(df.schema, key) == _columns(table.data_schema, key), name
        assert dict(_columns(df.schema, ""))[key] == "date", name


def test_conform_orders_and_casts_and_refuses_a_mismatch(spark) -> None:
    table = EMR_TABLES["product_affinity"]
    df = spark.createDataFrame(
        [(1, 0.5, 0.25, 2.0, ["A"], "B", "A -> B", 3, "2026-11-08")],
        "total_baskets int, confidence double, support double, lift double, antecedent array<string>, "
        "consequent string, rule string, baskets int, as_of_date string",
    )
    conformed = conform(df, table)
    assert _columns(conformed.schema, "") == _columns(table.schema, "")
    assert conformed.first()["as_of_date"].isoformat() == "2026-11-08"
    with pytest.raises(TableSchemaError, match=r"missing: lift; undeclared: lyft"):
        conform(df.withColumnRenamed("lift", "lyft"), table)
