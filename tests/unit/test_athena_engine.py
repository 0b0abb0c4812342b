"""The twin's Athena engine, piece by piece: statements, types and values, Glue table scans, the whole engine on
moto (in-process, no server), and the serving SQL files."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from retail_lake.serving import catalog
from retail_lake.serving.catalog import MissingSqlParameter, render
from retail_lake.twin.athena.engine import AthenaEngine
from retail_lake.twin.athena.errors import AthenaQueryError
from retail_lake.twin.athena.statements import (
    CREATE_VIEW,
    CTAS,
    DROP,
    QUERY,
    decode_presto_view,
    encode_presto_view,
    parse_statement,
    referenced_tables,
)
from retail_lake.twin.athena.types import arrow_to_hive, column_info, format_value, hive_to_arrow

PARQUET = {"InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
           "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}}


# ------------------------------------------------------------------------------------------ statements
@pytest.mark.parametrize(("sql", "kind"), [
    ("SELECT 1", QUERY), ("WITH a AS (SELECT 1 AS x) SELECT * FROM a", QUERY), ("VALUES 1, 2", QUERY),
    ("SELECT 1 UNION ALL SELECT 2;", QUERY), ("CREATE OR REPLACE VIEW v AS SELECT 1 AS x", CREATE_VIEW),
    ("CREATE TABLE t WITH (format = 'PARQUET') AS SELECT 1 AS x", CTAS), ("DROP VIEW IF EXISTS v", DROP),
])
def test_statement_kinds(sql: str, kind: str) -> None:
    assert parse_statement(sql).kind == kind


@pytest.mark.parametrize(("sql", "code"), [
    ("", "SYNTAX_ERROR"), ("SELEC 1", "SYNTAX_ERROR"), ("SELECT FROM WHERE", "SYNTAX_ERROR"),
    ("SELECT 1; SELECT 2", "NOT_SUPPORTED"), ("MSCK REPAIR TABLE t", "NOT_SUPPORTED"),
    ("CREATE TABLE t (x int)", "NOT_SUPPORTED"), ("SHOW TABLES", "NOT_SUPPORTED"),
])
def test_statements_the_twin_refuses_say_why(sql: str, code: str) -> None:
    with pytest.raises(AthenaQueryError) as error:
        parse_statement(sql)
    assert error.value.code == code
    assert str(error.value).startswith(f"{code}: ")
    assert error.value.athena_error()["ErrorCategory"] == 2


def test_referenced_tables_leave_out_ctes_and_default_the_database() -> None:
    statement = parse_statement('WITH recent AS (SELECT * FROM "Gold".Sales) SELECT * FROM recent JOIN stores s '
                                "ON s.id = recent.id JOIN awsdatacatalog.ref.products p ON p.sku = recent.sku")
    assert sorted((db, name) for db, name, _ in referenced_tables(statement.tree, "Analytics")) == [
        ("analytics", "stores"), ("gold", "sales"), ("ref", "products")]
    with pytest.raises(AthenaQueryError, match="CATALOG_NOT_FOUND"):
        referenced_tables(parse_statement("SELECT * FROM other.db.t").tree, "db")


def test_presto_view_text_round_trips() -> None:
    text = encode_presto_view("SELECT 1 AS x", "gold", [("x", "integer")])
    assert text.startswith("/* Presto View: ") and text.endswith(" */")
    assert decode_presto_view(text, "gold.v") == ("SELECT 1 AS x", "gold")


# ------------------------------------------------------------------------------------------ types and values
@pytest.mark.parametrize(("hive", "arrow"), [
    ("string", pa.string()), ("varchar(10)", pa.string()), ("bigint", pa.int64()), ("int", pa.int32()),
    ("decimal(18,2)", pa.decimal128(18, 2)), ("date", pa.date32()), ("timestamp", pa.timestamp("us")),
    ("boolean", pa.bool_()), ("double", pa.float64()), ("array<string>", None),
])
def test_hive_types_to_arrow(hive: str, arrow) -> None:
    assert hive_to_arrow(hive) == arrow


def test_arrow_types_to_hive_and_athena() -> None:
    assert arrow_to_hive(pa.list_(pa.struct([("sku", pa.string()), ("n", pa.int64())]))) == \
        "array<struct<sku:string,n:bigint>>"
    assert column_info("total", pa.decimal128(38, 2))["Type"] == "decimal"
    assert (column_info("total", pa.decimal128(38, 2))["Precision"], column_info("t", pa.decimal128(38, 2))["Scale"]) == (38, 2)
    assert [column_info("c", t)["Type"] for t in (pa.string(), pa.int64(), pa.int32(), pa.float64(), pa.bool_(),
                                                  pa.date32(), pa.timestamp("us"), pa.list_(pa.int64()))] == [
        "varchar", "bigint", "integer", "double", "boolean", "date", "timestamp", "array"]


@pytest.mark.parametrize(("value", "text"), [
    (None, None), (True, "true"), (1.5, "1.5"), (Decimal("3.10"), "3.10"), (dt.date(2026, 11, 7), "2026-11-07"),
    (dt.datetime(2026, 11, 7, 9, 5, 1, 250000), "2026-11-07 09:05:01.250"), ([1, None], "[1, null]"),
    ({"a": 1}, "{a=1}"), (float("nan"), "NaN"),
])
def test_values_print_as_athena_prints_them(value, text) -> None:
    assert format_value(value) == text


# ------------------------------------------------------------------------------------------ engine on moto
@pytest.fixture
def engine():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        glue = boto3.client("glue", region_name="us-east-1")
        s3.create_bucket(Bucket="lake")
        glue.create_database(DatabaseInput={"Name": "gold"})
        for day, units in (("2026-11-01", [3, 4]), ("2026-11-02", [5, 6])):
            table = pa.table({"store_id": ["S1", "S2"], "units": pa.array(units, pa.int32()),
                              "net": pa.array([Decimal("1.10"), Decimal("2.20")], pa.decimal128(18, 2))})
            buffer = io.BytesIO()
            pq.write_table(table, buffer)
            s3.put_object(Bucket="lake", Key=f"sales/event_date={day}/part-0.parquet", Body=buffer.getvalue())
        s3.put_object(Bucket="lake", Key="sales/_SUCCESS", Body=b"")
        glue.create_table(DatabaseName="gold", TableInput={
            "Name": "sales", "PartitionKeys": [{"Name": "event_date", "Type": "date"}],
            "StorageDescriptor": {"Location": "s3://lake/sales/", **PARQUET, "Columns": [
                {"Name": "store_id", "Type": "string"}, {"Name": "units", "Type": "bigint"},
                {"Name": "net", "Type": "decimal(18,2)"}, {"Name": "added_later", "Type": "string"}]}})
        written: dict[str, bytes] = {}

        def put(uri: str, body: bytes) -> None:
            written[uri] = body
            bucket, _, key = uri[5:].partition("/")
            s3.put_object(Bucket=bucket, Key=key, Body=body)

        yield AthenaEngine(glue, s3), put, glue


def test_a_query_reads_the_catalog_table_with_its_declared_types(engine) -> None:
    athena, put, _ = engine
    outcome = athena.run("SELECT store_id, SUM(units) AS units, SUM(net) AS net, MIN(event_date) AS first, "
                         "COUNT(added_later) AS later, 7 / 2 AS integer_division FROM sales GROUP BY store_id "
                         "ORDER BY store_id", database="gold")
    assert outcome.statement_type == "DML" and outcome.bytes_scanned > 0
    assert outcome.result.to_pylist() == [
        {"store_id": "S1", "units": 8, "net": Decimal("2.20"), "first": dt.date(2026, 11, 1), "later": 0,
         "integer_division": 3},
        {"store_id": "S2", "units": 10, "net": Decimal("4.40"), "first": dt.date(2026, 11, 1), "later": 0,
         "integer_division": 3}]
    assert outcome.result.schema.field("units").type == pa.int64()  # Athena's bigint, not DuckDB's 128-bit sum


def test_views_are_stored_in_glue_and_expanded_when_read(engine) -> None:
    athena, put, glue = engine
    athena.run("CREATE VIEW per_store AS SELECT store_id, SUM(units) AS units FROM sales GROUP BY store_id",
               database="gold")
    view = glue.get_table(DatabaseName="gold", Name="per_store")["Table"]
    assert view["TableType"] == "VIRTUAL_VIEW"
    assert [(c["Name"], c["Type"]) for c in view["StorageDescriptor"]["Columns"]] == [("store_id", "string"),
                                                                                       ("units", "bigint")]
    assert athena.run("SELECT units FROM gold.per_store ORDER BY units", database="default").result.column(
        "units").to_pylist() == [8, 10]
    with pytest.raises(AthenaQueryError, match="ALREADY_EXISTS"):
        athena.run("CREATE VIEW per_store AS SELECT 1 AS x", database="gold")
    athena.run("DROP VIEW per_store", database="gold")
    with pytest.raises(AthenaQueryError, match="TABLE_NOT_FOUND"):
        athena.run("SELECT * FROM per_store", database="gold")


def test_ctas_writes_parquet_a_manifest_and_a_glue_table(engine) -> None:
    athena, put, glue = engine
    outcome = athena.run("CREATE TABLE gold.copy WITH (format = 'PARQUET') AS SELECT store_id, units FROM sales",
                         database="gold", query_id="q1", output_root="s3://lake/results/", put_object=put)
    assert outcome.result.to_pylist() == [{"rows": 4}]
    assert outcome.manifest_location == "s3://lake/results/tables/q1-manifest.csv"
    table = glue.get_table(DatabaseName="gold", Name="copy")["Table"]
    assert table["StorageDescriptor"]["Location"] == "s3://lake/results/tables/q1/"
    assert athena.run("SELECT SUM(units) AS n FROM copy", database="gold").result.to_pylist() == [{"n": 18}]


def test_errors_name_the_problem(engine) -> None:
    athena, _, _ = engine
    for sql, code in (("SELECT nope FROM sales", "COLUMN_NOT_FOUND"), ("SELECT * FROM missing", "TABLE_NOT_FOUND"),
                      ("SELECT * FROM nodb.sales", "SCHEMA_NOT_FOUND"),
                      ("SELECT no_such_function(units) FROM sales", "FUNCTION_NOT_FOUND")):
        with pytest.raises(AthenaQueryError) as error:
            athena.run(sql, database="gold")
        assert error.value.code == code, (sql, str(error.value))


# ------------------------------------------------------------------------------------------ serving SQL
def test_every_serving_sql_file_has_a_description_and_renders() -> None:
    files = {**catalog.named_queries(), **catalog.views()}
    assert len(catalog.named_queries()) == 6 and len(catalog.views()) == 3
    for name, file in files.items():
        assert file.description, name
        rendered = file.render(analytics="a_db", quality="q_db")
        assert "${" not in rendered
        parse_statement(rendered)  # valid Athena SQL for the twin's parser
    with pytest.raises(MissingSqlParameter, match=r"\$\{analytics\}"):
        render("SELECT * FROM ${analytics}.t")


def test_execution_parameters_fill_the_placeholders_in_order() -> None:
    from retail_lake.twin.executors.athena import _bind_parameters

    assert _bind_parameters("SELECT * FROM t WHERE a = ? AND b > ?", ["'x'", "3"]) == \
        "SELECT * FROM t WHERE a = 'x' AND b > 3"
    assert _bind_parameters("SELECT 1", None) == "SELECT 1"
    with pytest.raises(AthenaQueryError, match="INVALID_PARAMETER_USAGE"):
        _bind_parameters("SELECT ?", ["1", "2"])
