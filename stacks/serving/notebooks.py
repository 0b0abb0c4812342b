"""SageMaker notebooks on the lake: a notebook instance in a private subnet of the serving VPC (no direct internet
access, no root), its volume encrypted with the lake key, and a role that can only run the Athena workgroup's
queries over the analytics zone, read the notebooks and write its own logs. The example notebooks (`notebooks/`)
are deployed to the artifacts bucket and synced onto the instance at every start, with a `lake.json` naming the
stage's workgroup, database and bucket, which the notebooks read.

The instance has no route to the internet: the notebooks need awswrangler in the kernel, from an image or a
private package mirror (CodeArtifact) reachable through the VPC; see docs/serving.md.
"""

from __future__ import annotations

import json

from aws_cdk import ArnFormat, Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_deployment as s3_deployment
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.nag import acknowledge, acknowledge_bucket_deployment_provider, objects_wildcard_finding
from stacks.serving.athena_serving import AthenaServing, glue_tables_finding
from stacks.serving.serving_network import VPC_CIDR
from stacks.serving.serving_config import SageMakerConfig
from stacks.storage.data_lake_storage import DataLakeStorage

NOTEBOOKS_PREFIX = "notebooks/"
HOME = "/home/ec2-user/SageMaker/retail-lake"


class LakeNotebooks(Construct):
    instance: sagemaker.CfnNotebookInstance
    role: iam.Role
    security_group: ec2.SecurityGroup
    notebooks_deployment: s3_deployment.BucketDeployment

    def __init__(self, scope: Construct, construct_id: str, *, config: SageMakerConfig, name: str,
                 storage: DataLakeStorage, athena: AthenaServing, vpc: ec2.IVpc, subnet: ec2.ISubnet,
                 analytics_database_name: str, analytics_database_label: str, notebooks_dir: str,
                 remove_data_on_destroy: bool) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        artifacts = storage.artifacts_bucket
        self.notebooks_deployment = s3_deployment.BucketDeployment(
            self, "Notebooks",
            sources=[s3_deployment.Source.asset(notebooks_dir, exclude=["*.pyc", "__pycache__", ".ipynb_checkpoints"])],
            destination_bucket=artifacts,
            destination_key_prefix=NOTEBOOKS_PREFIX,
            retain_on_delete=not remove_data_on_destroy,
        )
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"{name} notebooks: Athena queries over the analytics zone, notebook files, own logs",
        )
        for statement in athena.query_statements():
            self.role.add_to_policy(statement)
        self.role.add_to_policy(iam.PolicyStatement(
            sid="NotebookFiles", actions=["s3:GetObject", "s3:ListBucket"],
            resources=[artifacts.bucket_arn, artifacts.arn_for_objects(f"{NOTEBOOKS_PREFIX}*")],
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="NotebookLogs", actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[stack.format_arn(service="logs", resource="log-group",
                                        resource_name="/aws/sagemaker/NotebookInstances:*",
                                        arn_format=ArnFormat.COLON_RESOURCE_NAME)],
        ))
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, allow_all_outbound=False,
            description=f"{name} notebook instance: HTTPS to the VPC endpoints only",
        )
        self.security_group.add_egress_rule(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(443),
                                            "VPC endpoints (Athena, Glue, S3, KMS, SageMaker)")
        lake = {"workgroup": athena.workgroup.ref, "analytics_database": analytics_database_name,
                "analytics_bucket": storage.analytics_bucket.bucket_name}
        script = "\n".join([
            "#!/bin/bash",
            "set -euo pipefail",
            f"mkdir -p {HOME}",
            f"aws s3 sync s3://{artifacts.bucket_name}/{NOTEBOOKS_PREFIX} {HOME}/",
            f"cat > {HOME}/lake.json <<'JSON'",
            json.dumps(lake),
            "JSON",
            f"chown -R ec2-user:ec2-user {HOME}",
        ])
        lifecycle = sagemaker.CfnNotebookInstanceLifecycleConfig(
            self, "Lifecycle",
            notebook_instance_lifecycle_config_name=f"{name}-notebooks",
            on_start=[sagemaker.CfnNotebookInstanceLifecycleConfig.NotebookInstanceLifecycleHookProperty(
                content=Fn.base64(script))],
        )
        self.instance = sagemaker.CfnNotebookInstance(
            self, "Instance",
            notebook_instance_name=f"{name}-notebooks",
            instance_type=config.instance_type,
            role_arn=self.role.role_arn,
            kms_key_id=storage.data_lake_key.key_id,
            subnet_id=subnet.subnet_id,
            security_group_ids=[self.security_group.security_group_id],
            direct_internet_access="Disabled",
            root_access="Disabled",
            volume_size_in_gb=config.volume_size_gb,
            platform_identifier="notebook-al2-v3",
            lifecycle_config_name=lifecycle.attr_notebook_instance_lifecycle_config_name,
        )
        self._acknowledge(storage, analytics_database_label)

    def _acknowledge(self, storage: DataLakeStorage, database_label: str) -> None:
        stack = Stack.of(self)
        acknowledge_bucket_deployment_provider(stack, storage.artifacts_bucket, "the example notebooks")
        reason = ("The notebook role reads objects under exact prefixes (analytics tables, the reference "
                  "dimensions, the notebooks) and writes Athena results under the workgroup's prefix; S3 object "
                  "ARNs need a wildcard below a prefix. Athena, Glue and KMS actions are limited to the workgroup, "
                  "the analytics database and the lake key.")
        findings = [objects_wildcard_finding(self.role, storage.analytics_bucket),
                    objects_wildcard_finding(self.role, storage.raw_bucket).replace("/*]", "/reference/*]"),
                    objects_wildcard_finding(self.role, storage.athena_results_bucket).replace("/*]", "/results/*]"),
                    objects_wildcard_finding(self.role, storage.artifacts_bucket).replace("/*]", "/notebooks/*]"),
                    glue_tables_finding(database_label)]
        for finding in findings:
            acknowledge(self.role, finding, reason)
        acknowledge(self.role, "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:"
                               "<AWS::AccountId>:log-group:/aws/sagemaker/NotebookInstances:*]",
                    "SageMaker names a notebook instance's log streams at run time inside the "
                    "/aws/sagemaker/NotebookInstances log group; the role may write only there.")

