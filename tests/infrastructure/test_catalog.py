"""The raw zone's Glue catalog in the Storage stack: one database, one Parquet table per dataset whose columns are
exactly those derived from the dataset's contract, partitioned by ingestion dt/hour with partition projection."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from retail_lake.contracts.derive import glue_columns, glue_partition_keys
from retail_lake.contracts.registry import BY_DATASET
from retail_lake.ingestion.raw_writer import partition_path
from stacks.catalog import glue_database_name
from tests.conftest import Synthesized


def _as_template(columns: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"Name": c["name"], "Type": c["type"], "Comment": c["comment"]} for c in columns]


def _database(synth: Synthesized) -> tuple[str, dict]:
    (item,) = synth.resources("Storage", "AWS::Glue::Database").items()
    return item


def _tables(synth: Synthesized) -> dict[str, dict]:
    return {
        table["Properties"]["TableInput"]["Name"]: table
        for table in synth.resources("Storage", "AWS::Glue::Table").values()
    }


def _raw_bucket_id(synth: Synthesized) -> str:
    return synth.template("Storage")["Outputs"]["RawBucketName"]["Value"]["Ref"]


def test_one_raw_database_named_after_project_and_stage(synthesized: Synthesized) -> None:
    logical_id, database = _database(synthesized)
    props = database["Properties"]
    assert props["CatalogId"] == {"Ref": "AWS::AccountId"}
    assert props["DatabaseInput"]["Name"] == f"retail_lake_{synthesized.stage}_raw"
    output = synthesized.template("Storage")["Outputs"]["RawDatabaseName"]
    assert output["Value"] == {"Ref": logical_id}


@pytest.mark.parametrize(("project", "stage", "expected"), [
    ("RetailLake", "dev", "retail_lake_dev_raw"),
    ("Retail2Lake", "prod", "retail2_lake_prod_raw"),
    ("ACMELake", "qa1", "acmelake_qa1_raw"),
    ("shop", "dev", "shop_dev_raw"),
])
def test_database_names_are_glue_valid(project: str, stage: str, expected: str) -> None:
    assert glue_database_name(project, stage, "raw") == expected


def test_one_external_parquet_table_per_dataset_in_the_raw_database(synthesized: Synthesized) -> None:
    database_id, _ = _database(synthesized)
    tables = _tables(synthesized)
    assert set(tables) == set(BY_DATASET)
    for name, table in tables.items():
        props = table["Properties"]
        assert props["DatabaseName"] == {"Ref": database_id}, name
        table_input = props["TableInput"]
        assert table_input["TableType"] == "EXTERNAL_TABLE"
        descriptor = table_input["StorageDescriptor"]
        assert descriptor["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
        assert descriptor["OutputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
        assert descriptor["SerdeInfo"]["SerializationLibrary"] == (
            "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
        )
        assert table_input["Parameters"]["classification"] == "parquet"


@pytest.mark.parametrize("dataset", sorted(BY_DATASET))
def test_columns_and_partition_keys_are_derived_from_the_contract(dev: Synthesized, prod: Synthesized,
                                                                   dataset: str) -> None:
    contract = BY_DATASET[dataset]
    for synth in (dev, prod):
        table_input = _tables(synth)[dataset]["Properties"]["TableInput"]
        assert table_input["StorageDescriptor"]["Columns"] == _as_template(glue_columns(contract))
        assert table_input["PartitionKeys"] == _as_template(glue_partition_keys())
        assert table_input["Parameters"]["retail_lake.record_type"] == contract.record_type
        assert table_input["Parameters"]["retail_lake.schema_version"] == str(contract.version)


def test_tables_live_under_their_dataset_prefix_in_the_raw_bucket(synthesized: Synthesized) -> None:
    raw_bucket = _raw_bucket_id(synthesized)
    for dataset, table in _tables(synthesized).items():
        location = table["Properties"]["TableInput"]["StorageDescriptor"]["Location"]
        assert location == {"Fn::Join": ["", ["s3://", {"Ref": raw_bucket}, f"/{dataset}/"]]}


def test_partition_projection_matches_the_raw_layout(synthesized: Synthesized) -> None:
    raw_bucket = _raw_bucket_id(synthesized)
    for dataset, table in _tables(synthesized).items():
        params = table["Properties"]["TableInput"]["Parameters"]
        projection = {k: v for k, v in params.items() if k.startswith("projection.")}
        assert projection == {
            "projection.enabled": "true",
            "projection.dt.type": "date",
            "projection.dt.format": "yyyy-MM-dd",
            "projection.dt.range": "2020-01-01,NOW",
            "projection.dt.interval": "1",
            "projection.dt.interval.unit": "DAYS",
            "projection.hour.type": "integer",
            "projection.hour.range": "0,23",
            "projection.hour.digits": "2",
        }, dataset
        template, variables = params["storage.location.template"]["Fn::Sub"]
        assert variables == {"Bucket": {"Ref": raw_bucket}}
        # Athena fills `${dt}` (yyyy-MM-dd) and `${hour}` (2 digits) where the stream Lambda writes the objects
        athena_template = template.replace("${!", "${")
        expected = f"s3://${{Bucket}}/{dataset}/{partition_path(dt.datetime(2024, 1, 2, 3))}/"
        assert athena_template.replace("${dt}", "2024-01-02").replace("${hour}", "03") == expected


# ------------------------------------------------------------------------------------------ curated and analytics


def _zone_tables(synth: Synthesized) -> dict[str, dict[str, dict]]:
    """database logical id -> {table name: TableInput} of the Batch stack's Glue tables."""
    found: dict[str, dict[str, dict]] = {}
    for table in synth.resources("Batch", "AWS::Glue::Table").values():
        props = table["Properties"]
        found.setdefault(props["DatabaseName"]["Ref"], {})[props["TableInput"]["Name"]] = props["TableInput"]
    return found


def _zone_database_ids(synth: Synthesized) -> dict[str, str]:
    return {db["Properties"]["DatabaseInput"]["Name"].rsplit("_", 1)[1]: logical_id
            for logical_id, db in synth.resources("Batch", "AWS::Glue::Database").items()}


def test_curated_and_analytics_databases_hold_a_table_per_definition(synthesized: Synthesized) -> None:
    from retail_lake.batch.catalog import lake_tables

    databases, tables = _zone_database_ids(synthesized), _zone_tables(synthesized)
    assert {databases["curated"], databases["analytics"]} <= set(tables)
    assert set(tables[databases["curated"]]) == set(BY_DATASET)
    assert set(tables[databases["analytics"]]) == {
        "daily_sales", "inventory_position", "customer_360", "web_sessions", "conversion_funnel",
        "customer_segments", "customer_segment_profiles", "product_affinity", "demand_forecast",
        "demand_forecast_backtest", "demand_forecast_backtest_summary"}
    for zone, definitions in lake_tables().items():
        for definition in definitions:
            table_input = tables[databases[zone]][definition.name]
            descriptor = table_input["StorageDescriptor"]
            assert descriptor["Columns"] == _as_template(definition.glue_columns()), definition.name
            assert table_input["PartitionKeys"] == _as_template(definition.glue_partition_keys())
            assert descriptor["SerdeInfo"]["SerializationLibrary"] == (
                "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe")
            assert table_input["Parameters"]["classification"] == "parquet"
            assert table_input["TableType"] == "EXTERNAL_TABLE"


def test_zone_tables_project_their_date_partition_where_the_jobs_write_it(synthesized: Synthesized) -> None:
    databases, tables = _zone_database_ids(synthesized), _zone_tables(synthesized)
    outputs = synthesized.template("Storage")["Outputs"]
    for zone in ("curated", "analytics"):
        bucket_export = f"ExportsOutputRefDataLake{zone.title()}Bucket"
        for name, table_input in tables[databases[zone]].items():
            (key,) = [k["Name"] for k in table_input["PartitionKeys"]]
            assert key == ("event_date" if zone == "curated" or name in (
                "daily_sales", "web_sessions", "conversion_funnel") else "as_of_date"), name
            assert table_input["PartitionKeys"][0]["Type"] == "date"
            params = table_input["Parameters"]
            assert {k: v for k, v in params.items() if k.startswith("projection.")} == {
                "projection.enabled": "true", f"projection.{key}.type": "date",
                f"projection.{key}.format": "yyyy-MM-dd", f"projection.{key}.range": "2020-01-01,NOW+1DAYS",
                f"projection.{key}.interval": "1", f"projection.{key}.interval.unit": "DAYS"}, name
            template, variables = params["storage.location.template"]["Fn::Sub"]
            assert template == f"s3://${{Bucket}}/{name}/{key}=${{!{key}}}/"
            assert bucket_export in json.dumps(variables["Bucket"])
            location = json.dumps(table_input["StorageDescriptor"]["Location"])
            assert bucket_export in location and f"/{name}/" in location
    assert "CuratedBucketName" in outputs


def test_curated_columns_are_the_contract_columns_plus_lines_and_conformed_keys() -> None:
    from retail_lake.batch.catalog import curated_table

    for dataset, contract in BY_DATASET.items():
        raw = {c["name"]: c["type"] for c in glue_columns(contract)}
        curated = {c["name"]: c["type"] for c in curated_table(dataset).glue_columns()}
        kept = {name: kind for name, kind in raw.items() if name != "line_items"}
        assert {name: curated[name] for name in kept} == kept, dataset  # same names, same types as raw
        assert ("line_items" in raw) == (dataset == "pos_sales")
    lines = {c["name"]: c["type"] for c in curated_table("pos_sales").glue_columns()}
    assert {k: lines[k] for k in ("line_number", "sku", "quantity", "unit_price", "discount", "line_id",
                                  "gross_amount", "net_amount")} == {
        "line_number": "int", "sku": "string", "quantity": "bigint", "unit_price": "decimal(12,2)",
        "discount": "decimal(12,2)", "line_id": "string", "gross_amount": "decimal(12,2)",
        "net_amount": "decimal(12,2)"}
    flags = {dataset: {c["name"] for c in curated_table(dataset).glue_columns() if c["name"].endswith("_known")}
             for dataset in BY_DATASET}
    assert flags == {"pos_sales": {"store_known", "sku_known", "customer_known"},
                     "inventory_movements": {"store_known", "sku_known"},
                     "clickstream": {"sku_known", "customer_known"}}
    personal = [c["name"] for d in BY_DATASET for c in curated_table(d).glue_columns()
                if c["name"] in ("card_number", "customer_email", "customer_phone", "email", "phone")]
    assert personal == []
