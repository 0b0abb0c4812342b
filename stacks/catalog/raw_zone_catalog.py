"""The raw zone's Glue database and one table per dataset, with the columns the contracts define."""

from __future__ import annotations

from aws_cdk import Aws, Fn
from aws_cdk import aws_glue as glue
from constructs import Construct

from retail_lake.contracts.derive import RAW_PARTITION_COLUMNS, glue_columns, glue_partition_keys
from retail_lake.contracts.fields import Contract
from stacks.catalog.raw_zone_catalog_props import RawZoneCatalogProps

PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


def parquet_storage(columns: list[dict[str, str]], location: str) -> glue.CfnTable.StorageDescriptorProperty:
    """The storage of an external Parquet table: `columns` (Glue's name/type/comment dicts) under `location`."""
    return glue.CfnTable.StorageDescriptorProperty(
        columns=[glue.CfnTable.ColumnProperty(**column) for column in columns],
        location=location,
        input_format=PARQUET_INPUT_FORMAT,
        output_format=PARQUET_OUTPUT_FORMAT,
        compressed=False,  # Parquet compresses its pages itself
        serde_info=glue.CfnTable.SerdeInfoProperty(
            serialization_library=PARQUET_SERDE, parameters={"serialization.format": "1"}
        ),
    )

# Table parameters naming the contract a table is derived from (the same keys as the Parquet file metadata).
RECORD_TYPE_PARAMETER = "retail_lake.record_type"
SCHEMA_VERSION_PARAMETER = "retail_lake.schema_version"


class RawZoneCatalog(Construct):
    """Glue database `raw_database` of the raw zone and its tables, `tables[dataset]`.

    Each table's columns are `glue_columns(contract)`, partitioned by ingestion `dt`/`hour` as the stream
    Lambda writes them. Partition projection lets Athena compute the partitions from the S3 layout, so no
    crawler, MSCK REPAIR or partition registration is needed when new hours land.
    """

    raw_database: glue.CfnDatabase
    tables: dict[str, glue.CfnTable]

    def __init__(self, scope: Construct, construct_id: str, *, props: RawZoneCatalogProps) -> None:
        super().__init__(scope, construct_id)
        self._props = props
        self.raw_database = glue.CfnDatabase(
            self,
            "RawDatabase",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=props.database_name,
                description="Raw zone: events as landed from the stream, one table per dataset (Parquet)",
                location_uri=f"s3://{props.raw_bucket.bucket_name}/",
            ),
        )
        self.tables = {
            dataset: self._raw_table(dataset, contract) for dataset, contract in props.contracts_by_dataset.items()
        }

    @property
    def raw_database_name(self) -> str:
        """The database's name as a reference (deploy-time dependency on the database)."""
        return self.raw_database.ref

    def _raw_table(self, dataset: str, contract: Contract) -> glue.CfnTable:
        bucket = self._props.raw_bucket.bucket_name
        location = f"s3://{bucket}/{dataset}/"
        return glue.CfnTable(
            self,
            f"{_pascal(dataset)}Table",
            catalog_id=Aws.ACCOUNT_ID,
            database_name=self.raw_database.ref,
            table_input=glue.CfnTable.TableInputProperty(
                name=dataset,
                description=f"{contract.description} (contract {contract.record_type} v{contract.version})"[:2048],
                table_type="EXTERNAL_TABLE",
                parameters={
                    "EXTERNAL": "TRUE",
                    "classification": "parquet",
                    RECORD_TYPE_PARAMETER: contract.record_type,
                    SCHEMA_VERSION_PARAMETER: str(contract.version),
                    **self._partition_projection(bucket, dataset),
                },
                partition_keys=[glue.CfnTable.ColumnProperty(**column) for column in glue_partition_keys()],
                storage_descriptor=parquet_storage(glue_columns(contract), location),
            ),
        )

    def _partition_projection(self, bucket: str, dataset: str) -> dict[str, str]:
        dt, hour = (column.name for column in RAW_PARTITION_COLUMNS)
        # `${dt}`/`${hour}` are Athena's placeholders, not CloudFormation's: Fn::Sub's `${!name}` writes them literally.
        template = Fn.sub(
            f"s3://${{Bucket}}/{dataset}/{dt}=${{!{dt}}}/{hour}=${{!{hour}}}/", {"Bucket": bucket}
        )
        return {
            "projection.enabled": "true",
            f"projection.{dt}.type": "date",
            f"projection.{dt}.format": "yyyy-MM-dd",
            f"projection.{dt}.range": f"{self._props.first_partition_date},NOW",
            f"projection.{dt}.interval": "1",
            f"projection.{dt}.interval.unit": "DAYS",
            f"projection.{hour}.type": "integer",
            f"projection.{hour}.range": "0,23",
            f"projection.{hour}.digits": "2",
            "storage.location.template": template,
        }


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))
