"""The raw zone's Glue catalog in the Storage stack: one database, one Parquet table per dataset whose columns are
exactly those derived from the dataset's contract, partitioned by ingestion dt/hour with partition projection."""

from __future__ import annotations

import datetime as dt

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
