"""QuickSight on the lake: an Athena data source on the serving workgroup and one dataset per gold table (direct
query, so dashboards read the same tables and views as Athena), owned by the stage's QuickSight principal.

QuickSight reads S3 and the Glue catalog with its own service role (`aws-quicksight-service-role-v0`), which the
account's QuickSight administrator grants the analytics bucket, the athena-results bucket and the lake key once;
that grant is outside the stack (it belongs to QuickSight's account settings).
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_quicksight as quicksight
from constructs import Construct

from retail_lake.batch.schemas import GOLD_TABLES

# Hive types as QuickSight's input column types.
_QUICKSIGHT_TYPES = {"string": "STRING", "bigint": "INTEGER", "int": "INTEGER", "double": "DECIMAL",
                     "boolean": "BOOLEAN", "date": "DATETIME", "timestamp": "DATETIME"}
DATA_SOURCE_ACTIONS = ["quicksight:DescribeDataSource", "quicksight:DescribeDataSourcePermissions",
                       "quicksight:PassDataSource", "quicksight:UpdateDataSource", "quicksight:DeleteDataSource",
                       "quicksight:UpdateDataSourcePermissions"]
DATASET_ACTIONS = ["quicksight:DescribeDataSet", "quicksight:DescribeDataSetPermissions",
                   "quicksight:PassDataSet", "quicksight:DescribeIngestion", "quicksight:ListIngestions",
                   "quicksight:UpdateDataSet", "quicksight:DeleteDataSet", "quicksight:CreateIngestion",
                   "quicksight:CancelIngestion", "quicksight:UpdateDataSetPermissions"]


def quicksight_type(hive_type: str) -> str:
    if hive_type.startswith("decimal"):
        return "DECIMAL"
    return _QUICKSIGHT_TYPES.get(hive_type, "STRING")


class QuickSightDatasets(Construct):
    data_source: quicksight.CfnDataSource
    datasets: dict[str, quicksight.CfnDataSet]

    def __init__(self, scope: Construct, construct_id: str, *, name: str, workgroup_name: str,
                 analytics_database_name: str, principal_arn: str) -> None:
        super().__init__(scope, construct_id)
        self.data_source = quicksight.CfnDataSource(
            self, "AthenaDataSource",
            aws_account_id=Aws.ACCOUNT_ID,
            data_source_id=f"{name}-athena",
            name=f"{name} lake (Athena)",
            type="ATHENA",
            data_source_parameters=quicksight.CfnDataSource.DataSourceParametersProperty(
                athena_parameters=quicksight.CfnDataSource.AthenaParametersProperty(work_group=workgroup_name)),
            ssl_properties=quicksight.CfnDataSource.SslPropertiesProperty(disable_ssl=False),
            permissions=[quicksight.CfnDataSource.ResourcePermissionProperty(
                principal=principal_arn, actions=DATA_SOURCE_ACTIONS)],
        )
        self.datasets = {table: self._dataset(name, table, analytics_database_name, principal_arn)
                         for table in GOLD_TABLES}

    def _dataset(self, name: str, table: str, database: str, principal_arn: str) -> quicksight.CfnDataSet:
        definition = GOLD_TABLES[table]
        columns = [*definition.glue_columns(), *definition.glue_partition_keys()]
        return quicksight.CfnDataSet(
            self, f"{''.join(p.title() for p in table.split('_'))}DataSet",
            aws_account_id=Aws.ACCOUNT_ID,
            data_set_id=f"{name}-{table.replace('_', '-')}",
            name=f"{name} {table}",
            import_mode="DIRECT_QUERY",
            physical_table_map={table.replace("_", "-"): quicksight.CfnDataSet.PhysicalTableProperty(
                relational_table=quicksight.CfnDataSet.RelationalTableProperty(
                    data_source_arn=self.data_source.attr_arn,
                    catalog="AwsDataCatalog",
                    schema=database,
                    name=table,
                    input_columns=[quicksight.CfnDataSet.InputColumnProperty(
                        name=c["name"], type=quicksight_type(c["type"])) for c in columns],
                ))},
            permissions=[quicksight.CfnDataSet.ResourcePermissionProperty(
                principal=principal_arn, actions=DATASET_ACTIONS)],
        )
