"""Athena for the business: an engine-v3 workgroup whose results are KMS-encrypted in the athena-results bucket
(configuration enforced, a per-query bytes-scanned cutoff), the named queries for the business questions and the
view statements over the analytics tables (SQL in `retail_lake/serving/sql/`), and the Glue tables of the
reference dimensions the views join.

Views are created by running their statements (`retail_lake.serving.athena.create_views`, or the named queries
in the "views" category): the daily pipeline refreshes them after the analytics job (Athena's
StartQueryExecution), and `retail-lake demo` creates them on the twin.
"""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from constructs import Construct

from retail_lake.serving import catalog
from retail_lake.serving.reference import REFERENCE_TABLES
from stacks.catalog.raw_zone_catalog import parquet_storage
from stacks.serving.serving_props import AthenaServingProps

ENGINE_VERSION = "Athena engine version 3"
MEGABYTE = 1024 * 1024


class AthenaServing(Construct):
    """`workgroup`; `named_queries[name]` (the business questions) and `view_queries[name]` (CREATE OR REPLACE
    VIEW statements) as Athena named queries; `view_statements[name]`: the rendered view SQL for a state machine to
    run; `reference_tables[name]`: Glue tables of the reference dimensions."""

    workgroup: athena.CfnWorkGroup
    named_queries: dict[str, athena.CfnNamedQuery]
    view_queries: dict[str, athena.CfnNamedQuery]
    view_statements: dict[str, str]
    reference_tables: dict[str, glue.CfnTable]

    def __init__(self, scope: Construct, construct_id: str, *, props: AthenaServingProps) -> None:
        super().__init__(scope, construct_id)
        self._props = props
        storage = props.storage
        self.workgroup = athena.CfnWorkGroup(
            self, "WorkGroup",
            name=props.workgroup_name,
            description="retail-lake business queries: engine v3, KMS-encrypted results, bytes-scanned cutoff",
            state="ENABLED",
            recursive_delete_option=props.remove_data_on_destroy,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                requester_pays_enabled=False,
                bytes_scanned_cutoff_per_query=props.bytes_scanned_cutoff_mb * MEGABYTE,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version=ENGINE_VERSION),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=self.results_location,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=storage.data_lake_key.key_arn,
                    ),
                    expected_bucket_owner=Aws.ACCOUNT_ID,
                ),
            ),
        )
        self.reference_tables = {t.glue_name: self._reference_table(t) for t in REFERENCE_TABLES}
        database = props.analytics_database_name
        self.view_statements = {name: f.render(analytics=database) for name, f in catalog.views().items()}
        self.view_queries = {
            name: self._named_query(f"View{_pascal(name)}", f"view {name}", f.description,
                                    self.view_statements[name])
            for name, f in catalog.views().items()
        }
        self.named_queries = {
            name: self._named_query(f"Query{_pascal(name)}", f.title, f.description,
                                    f.render(analytics=database, quality=props.quality_database_name or database))
            for name, f in catalog.named_queries().items()
        }

    @property
    def results_location(self) -> str:
        return f"s3://{self._props.storage.athena_results_bucket.bucket_name}/{self._props.results_prefix}"

    def _named_query(self, construct_id: str, name: str, description: str, sql: str) -> athena.CfnNamedQuery:
        query = athena.CfnNamedQuery(
            self, construct_id,
            name=name[:128],
            description=description[:1024],
            database=self._props.analytics_database_name,
            query_string=sql,
            work_group=self.workgroup.ref,
        )
        return query

    def _reference_table(self, table) -> glue.CfnTable:
        raw = self._props.storage.raw_bucket.bucket_name
        return glue.CfnTable(
            self, f"{_pascal(table.glue_name)}Table",
            catalog_id=Aws.ACCOUNT_ID,
            database_name=self._props.analytics_database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=table.glue_name,
                description=table.description,
                table_type="EXTERNAL_TABLE",
                parameters={"EXTERNAL": "TRUE", "classification": "parquet", "retail_lake.zone": "reference"},
                storage_descriptor=parquet_storage([{"name": n, "type": t} for n, t in table.columns()],
                                                   f"s3://{raw}/{self._props.reference_prefix}{table.folder}/"),
            ),
        )

    # ------------------------------------------------------------------------------------------ access
    def query_statements(self) -> list[iam.PolicyStatement]:
        """What a principal needs to run the workgroup's queries over the analytics zone and read the results:
        Athena on this workgroup, the Glue catalog of the analytics database, reads of the analytics tables and
        the reference prefix, results in the athena-results bucket, and the lake key."""
        props, storage = self._props, self._props.storage
        stack = Stack.of(self)
        workgroup_arn = stack.format_arn(service="athena", resource="workgroup", resource_name=self.workgroup.ref)
        glue_arns = [stack.format_arn(service="glue", resource="catalog"),
                     stack.format_arn(service="glue", resource="database",
                                      resource_name=props.analytics_database_name),
                     stack.format_arn(service="glue", resource="table",
                                      resource_name=f"{props.analytics_database_name}/*")]
        return [
            iam.PolicyStatement(
                sid="AthenaWorkgroup",
                actions=["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
                         "athena:StopQueryExecution", "athena:GetWorkGroup", "athena:ListNamedQueries",
                         "athena:GetNamedQuery", "athena:BatchGetNamedQuery", "athena:BatchGetQueryExecution",
                         "athena:ListQueryExecutions"],
                resources=[workgroup_arn],
            ),
            iam.PolicyStatement(
                sid="GlueCatalogRead",
                actions=["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables",
                         "glue:GetPartition", "glue:GetPartitions"],
                resources=glue_arns,
            ),
            iam.PolicyStatement(
                sid="LakeRead",
                actions=["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"],
                resources=[storage.analytics_bucket.bucket_arn, storage.analytics_bucket.arn_for_objects("*"),
                           storage.raw_bucket.bucket_arn,
                           storage.raw_bucket.arn_for_objects(f"{props.reference_prefix}*")],
            ),
            iam.PolicyStatement(
                sid="QueryResults",
                actions=["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:GetBucketLocation",
                         "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                resources=[storage.athena_results_bucket.bucket_arn,
                           storage.athena_results_bucket.arn_for_objects(f"{props.results_prefix}*")],
            ),
            iam.PolicyStatement(
                sid="LakeKey",
                actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[storage.data_lake_key.key_arn],
            ),
        ]


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def glue_tables_finding(database_label: str) -> str:
    """The AwsSolutions-IAM5 finding for the ARN `table/<database>/*` (every table of the analytics database);
    `database_label` is how cdk-nag prints the database name (see `database_label`)."""
    return ("AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/"
            f"{database_label}/*]")


def database_label(database: glue.CfnDatabase) -> str:
    """cdk-nag prints a database name imported from another stack by the export's name."""
    producer = Stack.of(database)
    return producer.resolve(producer.export_value(database.ref))["Fn::ImportValue"]
