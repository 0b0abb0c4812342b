"""The raw zone's Glue catalog on the embedded twin, deployed from the dev cloud assembly: the tables carry the
columns derived from the contracts, and the Parquet files the deployed stream Lambda writes agree with them."""

from __future__ import annotations

import awswrangler as wr
import pytest

from retail_lake.contracts.derive import glue_columns, glue_partition_keys
from retail_lake.contracts.registry import BY_DATASET
from retail_lake.generator import GeneratorConfig, generate
from retail_lake.ingestion.producer import KinesisProducer
from retail_lake.reconcile import count_lake
from retail_lake.twin import Twin
from retail_lake.twin.deployer import BY_TWIN
from tests.integration.conftest import settle

pytestmark = pytest.mark.integration

STORAGE = "RetailLake-dev-Storage"
INGESTION = "RetailLake-dev-Ingestion"


@pytest.fixture(scope="module")
def twin(dev_assembly) -> Twin:
    with Twin() as twin:
        twin.deploy(dev_assembly)
        yield twin


@pytest.fixture(scope="module")
def database(twin: Twin) -> str:
    return twin.outputs[STORAGE]["RawDatabaseName"]


def _as_api(columns: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"Name": c["name"], "Type": c["type"], "Comment": c["comment"]} for c in columns]


def test_database_and_tables_are_provisioned_by_the_twin(twin: Twin, database: str) -> None:
    assert database == "retail_lake_dev_raw"
    deployment = twin.deployments[-1]
    assert deployment.skipped == []
    storage = deployment.stacks[STORAGE]
    (db,) = storage.of_type("AWS::Glue::Database")
    assert (db.physical_id, db.created_by) == (database, BY_TWIN)
    assert sorted(t.physical_id for t in storage.of_type("AWS::Glue::Table")) == sorted(BY_DATASET)
    assert all(t.created_by == BY_TWIN for t in storage.of_type("AWS::Glue::Table"))
    glue = twin.client("glue")
    assert glue.get_database(Name=database)["Database"]["LocationUri"] == f"s3://{twin.outputs[STORAGE]['RawBucketName']}/"
    assert sorted(t["Name"] for t in glue.get_tables(DatabaseName=database)["TableList"]) == sorted(BY_DATASET)


@pytest.mark.parametrize("dataset", sorted(BY_DATASET))
def test_table_has_the_contract_columns_and_projected_partitions(twin: Twin, database: str, dataset: str) -> None:
    contract = BY_DATASET[dataset]
    raw_bucket = twin.outputs[STORAGE]["RawBucketName"]
    table = twin.client("glue").get_table(DatabaseName=database, Name=dataset)["Table"]
    descriptor = table["StorageDescriptor"]
    assert descriptor["Columns"] == _as_api(glue_columns(contract))
    assert table["PartitionKeys"] == _as_api(glue_partition_keys())
    assert descriptor["Location"] == f"s3://{raw_bucket}/{dataset}/"
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    params = table["Parameters"]
    assert params["retail_lake.record_type"] == contract.record_type
    assert params["retail_lake.schema_version"] == str(contract.version)
    assert params["projection.enabled"] == "true"
    # CloudFormation's Fn::Sub left Athena's placeholders in place and filled in the bucket
    assert params["storage.location.template"] == f"s3://{raw_bucket}/{dataset}/dt=${{dt}}/hour=${{hour}}/"


def test_awswrangler_reads_the_catalog(twin: Twin, database: str) -> None:
    for dataset, contract in BY_DATASET.items():
        described = wr.catalog.table(database=database, table=dataset)
        expected = [(c["name"], c["type"], False) for c in glue_columns(contract)]
        expected += [(c["name"], c["type"], True) for c in glue_partition_keys()]
        assert list(zip(described["Column Name"], described["Type"], described["Partition"])) == expected
        assert wr.catalog.get_table_location(database=database, table=dataset).endswith(f"/{dataset}/")


def test_files_the_stream_lambda_writes_match_the_tables(twin: Twin, database: str) -> None:
    lines = list(generate(GeneratorConfig(events=600, seed=3, defect_rate=0.0)))
    produced = KinesisProducer(twin.client("kinesis"), twin.outputs[INGESTION]["StreamName"]).send(lines)
    storage = twin.outputs[STORAGE]

    def landed() -> bool:
        lake = count_lake(twin.client("s3"), raw_bucket=storage["RawBucketName"],
                          quarantine_bucket=storage["QuarantineBucketName"])
        return lake.raw_total + lake.quarantined_total >= produced.events

    settle(twin, landed)
    for dataset in BY_DATASET:
        location = wr.catalog.get_table_location(database=database, table=dataset)
        file_columns, file_partitions = wr.s3.read_parquet_metadata(path=location, dataset=True)
        catalog_columns = wr.catalog.get_table_types(database=database, table=dataset)
        partition_names = [c["name"] for c in glue_partition_keys()]
        assert file_columns == {k: v for k, v in catalog_columns.items() if k not in partition_names}, dataset
        assert file_partitions == {name: catalog_columns[name] for name in partition_names}, dataset


BATCH = "RetailLake-dev-Batch"


def test_curated_and_analytics_tables_are_provisioned_and_readable(twin: Twin) -> None:
    from retail_lake.batch.catalog import lake_tables

    batch = twin.outputs[BATCH]
    databases = {"curated": batch["CuratedDatabaseName"], "analytics": batch["AnalyticsDatabaseName"]}
    deployment = twin.deployments[-1]
    assert deployment.skipped == []
    created = deployment.stacks[BATCH].of_type("AWS::Glue::Table")
    definitions = lake_tables()
    lake = sorted(d.name for ds in definitions.values() for d in ds)
    assert sorted(t.physical_id for t in created) == sorted([*lake, "quality_results"])  # + the quality database's
    assert all(t.created_by == BY_TWIN for t in created)
    glue = twin.client("glue")
    for zone, tables in definitions.items():
        # other stacks may add tables of their own to a zone's database (the serving layer's dimensions)
        assert {t["Name"] for t in glue.get_tables(DatabaseName=databases[zone])["TableList"]} >= {
            t.name for t in tables}
        for definition in tables:
            table = glue.get_table(DatabaseName=databases[zone], Name=definition.name)["Table"]
            assert table["StorageDescriptor"]["Columns"] == _as_api(definition.glue_columns())
            assert table["PartitionKeys"] == _as_api(definition.glue_partition_keys())
            described = wr.catalog.table(database=databases[zone], table=definition.name)
            expected = [(c["name"], c["type"], False) for c in definition.glue_columns()]
            expected += [(c["name"], c["type"], True) for c in definition.glue_partition_keys()]
            assert list(zip(described["Column Name"], described["Type"], described["Partition"])) == expected
            key = definition.partition_key.name
            bucket = twin.outputs[STORAGE][f"{zone.title()}BucketName"]
            assert table["Parameters"]["storage.location.template"] == (
                f"s3://{bucket}/{definition.name}/{key}=${{{key}}}/")


def test_glue_jobs_run_under_the_security_configuration(twin: Twin) -> None:
    glue = twin.client("glue")
    (configuration,) = glue.get_security_configurations()["SecurityConfigurations"]
    assert configuration["Name"] == "retail-lake-dev-glue-jobs"
    encryption = configuration["EncryptionConfiguration"]
    assert encryption["S3Encryption"][0]["S3EncryptionMode"] == "SSE-KMS"
    assert encryption["S3Encryption"][0]["KmsKeyArn"] == twin.outputs[STORAGE]["DataLakeKeyArn"]
    assert encryption["CloudWatchEncryption"]["CloudWatchEncryptionMode"] == "SSE-KMS"
    assert encryption["JobBookmarksEncryption"]["JobBookmarksEncryptionMode"] == "CSE-KMS"
    job_key = encryption["CloudWatchEncryption"]["KmsKeyArn"]
    assert encryption["JobBookmarksEncryption"]["KmsKeyArn"] == job_key
    assert twin.client("kms").describe_key(KeyId=job_key)["KeyMetadata"]["Enabled"]
    batch = twin.outputs[BATCH]
    names = [value for key, value in batch.items() if key.endswith("JobName")]
    assert len(names) >= 4
    assert {glue.get_job(JobName=name)["Job"]["SecurityConfiguration"] for name in names} == {configuration["Name"]}
