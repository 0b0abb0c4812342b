"""Glue tables of the curated and analytics zones: one external Parquet table per `TableDefinition` of
`retail_lake.batch.catalog.lake_tables()`, in the zone's database, with the declared columns and the
Hive-style date partition key the jobs write (`<bucket>/<table>/<key>=YYYY-MM-DD/`)."""

from __future__ import annotations

from aws_cdk import Aws, Fn
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from retail_lake.batch.schemas import TableDefinition
from stacks.catalog.raw_zone_catalog import parquet_storage

# Table parameters naming where a table's definition comes from and what writes it.
ZONE_PARAMETER = "retail_lake.zone"
WRITER_PARAMETER = "retail_lake.written_by"
# Partition projection's end: event dates run up to a day ahead of UTC (stores east of UTC), so NOW would hide
# the newest local day until UTC catches up.
PROJECTION_END = "NOW+1DAYS"


class ZoneTables(Construct):
    """`tables[name]`: the Glue tables of `definitions` in `database`, located under `bucket`.

    The partition key (`event_date` or `as_of_date`, a `date`) is projected: Athena computes the partitions from
    the S3 layout, so no crawler, MSCK REPAIR or partition registration is needed when a job writes a new date.
    """

    tables: dict[str, glue.CfnTable]

    def __init__(
        self, scope: Construct, construct_id: str, *, database: glue.CfnDatabase, bucket: s3.IBucket,
        definitions: tuple[TableDefinition, ...], first_partition_date: str = "2020-01-01",
    ) -> None:
        super().__init__(scope, construct_id)
        self._database, self._bucket, self._first = database, bucket, first_partition_date
        self.tables = {definition.name: self._table(definition) for definition in definitions}

    def _table(self, definition: TableDefinition) -> glue.CfnTable:
        bucket = self._bucket.bucket_name
        key = definition.partition_key.name
        # `${key}` is Athena's placeholder, not CloudFormation's: Fn::Sub's `${!name}` writes it literally.
        template = Fn.sub(f"s3://${{Bucket}}/{definition.name}/{key}=${{!{key}}}/", {"Bucket": bucket})
        table = glue.CfnTable(
            self, f"{_pascal(definition.name)}Table",
            catalog_id=Aws.ACCOUNT_ID,
            database_name=self._database.ref,
            table_input=glue.CfnTable.TableInputProperty(
                name=definition.name,
                description=definition.description[:2048],
                table_type="EXTERNAL_TABLE",
                parameters={
                    "EXTERNAL": "TRUE",
                    "classification": "parquet",
                    ZONE_PARAMETER: definition.zone,
                    WRITER_PARAMETER: definition.writer,
                    "projection.enabled": "true",
                    f"projection.{key}.type": "date",
                    f"projection.{key}.format": "yyyy-MM-dd",
                    f"projection.{key}.range": f"{self._first},{PROJECTION_END}",
                    f"projection.{key}.interval": "1",
                    f"projection.{key}.interval.unit": "DAYS",
                    "storage.location.template": template,
                },
                partition_keys=[glue.CfnTable.ColumnProperty(**c) for c in definition.glue_partition_keys()],
                storage_descriptor=parquet_storage(definition.glue_columns(), f"s3://{bucket}/{definition.name}/"),
            ),
        )
        return table


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))
