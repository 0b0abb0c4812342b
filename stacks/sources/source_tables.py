"""Glue tables of what the sources write to curated: one external Parquet table per `SourceTableDefinition` of
`retail_lake.sources.catalog.source_tables()` (the CDC merge's operational tables and the file drops' feeds), in the
curated zone's database. Not partitioned: Athena reads every file under the table's folder."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from retail_lake.sources.catalog import SourceTableDefinition
from stacks.catalog.raw_zone_catalog import parquet_storage
from stacks.catalog.zone_tables import WRITER_PARAMETER, ZONE_PARAMETER


class SourceTables(Construct):
    """`tables[name]`: the Glue tables of `definitions` in the database named `database_name`, under `bucket`."""

    tables: dict[str, glue.CfnTable]

    def __init__(self, scope: Construct, construct_id: str, *, database_name: str, bucket: s3.IBucket,
                 definitions: tuple[SourceTableDefinition, ...]) -> None:
        super().__init__(scope, construct_id)
        self._database_name, self._bucket = database_name, bucket
        self.tables = {definition.name: self._table(definition) for definition in definitions}

    def _table(self, definition: SourceTableDefinition) -> glue.CfnTable:
        return glue.CfnTable(
            self, "".join(part.title() for part in definition.name.split("_")) + "Table",
            catalog_id=Aws.ACCOUNT_ID,
            database_name=self._database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=definition.name,
                description=definition.description[:2048],
                table_type="EXTERNAL_TABLE",
                parameters={"EXTERNAL": "TRUE", "classification": "parquet", ZONE_PARAMETER: "curated",
                            WRITER_PARAMETER: definition.writer},
                storage_descriptor=parquet_storage(definition.glue_columns(),
                                                   f"s3://{self._bucket.bucket_name}/{definition.prefix}"),
            ),
        )
