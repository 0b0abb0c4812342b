"""Redshift Serverless for BI: a namespace (admin password generated and kept in Secrets Manager by Redshift,
encrypted with the lake key; audit logs exported) and a workgroup in the serving VPC's private subnets, not
publicly accessible, with enhanced VPC routing. Its default IAM role reads the Glue catalog and the analytics
zone (Spectrum: the external schema) and nothing else.

The load (retail_lake/serving/redshift.py, SQL in retail_lake/serving/sql/redshift/) runs through the Redshift
Data API: `external_schema_sql` and `load_sqls` are the statements, rendered for this stage, for the state
machine's `redshift-data:ExecuteStatement` and `BatchExecuteStatement` tasks.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_redshiftserverless as redshift
from constructs import Construct

from retail_lake.serving.redshift import external_schema_statement, load_statements
from stacks.nag import acknowledge, objects_wildcard_finding
from stacks.serving.athena_serving import glue_tables_finding
from stacks.serving.serving_network import VPC_CIDR
from stacks.serving.serving_config import RedshiftConfig
from stacks.storage.data_lake_storage import DataLakeStorage

REDSHIFT_PORT = 5439


class RedshiftWarehouse(Construct):
    namespace: redshift.CfnNamespace
    workgroup: redshift.CfnWorkgroup
    spectrum_role: iam.Role
    security_group: ec2.SecurityGroup
    external_schema_sql: str
    load_sqls: list[str]

    def __init__(self, scope: Construct, construct_id: str, *, config: RedshiftConfig, name: str,
                 storage: DataLakeStorage, vpc: ec2.IVpc, subnets: list[ec2.ISubnet],
                 analytics_database_name: str, analytics_database_label: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.spectrum_role = iam.Role(
            self, "SpectrumRole",
            assumed_by=iam.ServicePrincipal("redshift.amazonaws.com"),
            description=f"{name}: Redshift Spectrum reads the Glue catalog and the analytics zone",
        )
        database_arn = stack.format_arn(service="glue", resource="database", resource_name=analytics_database_name)
        tables_arn = stack.format_arn(service="glue", resource="table", resource_name=f"{analytics_database_name}/*")
        self.spectrum_role.add_to_policy(iam.PolicyStatement(
            actions=["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables",
                     "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition"],
            resources=[stack.format_arn(service="glue", resource="catalog"), database_arn, tables_arn],
        ))
        analytics = storage.analytics_bucket
        self.spectrum_role.add_to_policy(iam.PolicyStatement(
            actions=["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"],
            resources=[analytics.bucket_arn, analytics.arn_for_objects("*")],
        ))
        self.spectrum_role.add_to_policy(iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:DescribeKey"], resources=[storage.data_lake_key.key_arn],
        ))
        reason = ("Redshift Spectrum reads whole analytics tables: every object of the analytics bucket (one prefix "
                  "per table, all of them exposed in the external schema) and every table of the analytics "
                  "database; read-only actions, no other bucket or database.")
        acknowledge(self.spectrum_role, objects_wildcard_finding(self.spectrum_role, analytics), reason)
        acknowledge(self.spectrum_role, glue_tables_finding(analytics_database_label), reason)
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, allow_all_outbound=False,
            description=f"{name}: Redshift Serverless; clients inside the VPC only",
        )
        self.security_group.add_ingress_rule(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(REDSHIFT_PORT),
                                             "Redshift clients inside the serving VPC")
        self.security_group.add_egress_rule(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(443),
                                            "VPC endpoints (S3, Glue, KMS) for Spectrum")
        self.namespace = redshift.CfnNamespace(
            self, "Namespace",
            namespace_name=name,
            db_name=config.database,
            admin_username=config.admin_username,
            manage_admin_password=True,
            admin_password_secret_kms_key_id=storage.data_lake_key.key_arn,
            kms_key_id=storage.data_lake_key.key_arn,
            iam_roles=[self.spectrum_role.role_arn],
            default_iam_role_arn=self.spectrum_role.role_arn,
            log_exports=["userlog", "connectionlog", "useractivitylog"],
        )
        self.workgroup = redshift.CfnWorkgroup(
            self, "Workgroup",
            workgroup_name=name,
            namespace_name=self.namespace.ref,
            base_capacity=config.base_capacity_rpu,
            enhanced_vpc_routing=True,
            publicly_accessible=False,
            subnet_ids=[s.subnet_id for s in subnets],
            security_group_ids=[self.security_group.security_group_id],
            port=REDSHIFT_PORT,
        )
        self.external_schema_sql = external_schema_statement(analytics_database=analytics_database_name)
        self.load_sqls = load_statements()

