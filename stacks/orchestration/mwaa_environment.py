"""Managed Airflow (Amazon MWAA), optional per stage (`orchestration.mwaa.enabled`, off by default: an environment
is billed per hour for as long as it exists, whether DAGs run or not).

The environment runs in private subnets of its own VPC (egress through one NAT gateway; the web server is reachable
only from inside the VPC), encrypts with its own KMS key, logs every component to CloudWatch, and has an execution
role limited to what the DAG needs: start and watch the daily pipeline state machine, read its DAG bucket, write its
logs and metrics. The DAGs (`dags/`) are uploaded by a BucketDeployment into a versioned, encrypted source bucket.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_mwaa as mwaa
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3_deployment
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.ingestion.lambda_assets import REPO_ROOT
from stacks.nag import acknowledge, acknowledge_bucket_deployment_provider
from stacks.stage_config import StageConfig
from stacks.storage.data_lake_storage import DataLakeStorage

DAGS_DIR = REPO_ROOT / "dags"
AIRFLOW_VERSION = "3.0.6"


def airflow_cron(expression: str) -> str:
    """An EventBridge `cron(m h dom mon dow year)` as Airflow's five-field cron (`?` -> `*`); `rate(1 day)` -> daily."""
    if expression.startswith("rate("):
        return "@daily"
    fields = expression.removeprefix("cron(").removesuffix(")").split()
    return " ".join("*" if field == "?" else field for field in fields[:5])


class MwaaEnvironment(Construct):
    """`environment`, `vpc`, `key`, `dags_bucket`, `execution_role`."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, storage: DataLakeStorage,
                 state_machine: sfn.StateMachine) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._state_machine = state_machine
        removal = RemovalPolicy.DESTROY if config.remove_data_on_destroy else RemovalPolicy.RETAIN
        name = f"{config.project_name}-{config.stage}-airflow"
        self.key = kms.Key(self, "AirflowKey", description=f"Encrypts the {name} MWAA environment",
                           enable_key_rotation=True, removal_policy=removal)
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchLogsForAirflow",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                service="logs", resource="log-group", resource_name=f"airflow-{name}-*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME)}},
        ))

        self.vpc = ec2.Vpc(self, "Vpc", max_azs=2, nat_gateways=1, subnet_configuration=[
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
            ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22),
        ])
        flow_logs = logs.LogGroup(self, "VpcFlowLogs", encryption_key=self.key, removal_policy=removal,
                                  retention=logs.RetentionDays.ONE_MONTH)
        self.vpc.add_flow_log("FlowLogs", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))
        security_group = ec2.SecurityGroup(self, "AirflowSecurityGroup", vpc=self.vpc, allow_all_outbound=True,
                                           description="MWAA: its components talk to each other only")
        security_group.add_ingress_rule(security_group, ec2.Port.all_traffic(), "MWAA components among themselves")

        self.dags_bucket = s3.Bucket(
            self, "DagsBucket", encryption=s3.BucketEncryption.KMS, encryption_key=self.key, bucket_key_enabled=True,
            versioned=True, enforce_ssl=True, block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            server_access_logs_bucket=storage.access_logs_bucket, server_access_logs_prefix="mwaa-dags/",
            removal_policy=removal, auto_delete_objects=False,
        )
        deployment = s3_deployment.BucketDeployment(
            self, "Dags", sources=[s3_deployment.Source.asset(str(DAGS_DIR), exclude=["__pycache__", "*.pyc"])],
            destination_bucket=self.dags_bucket, destination_key_prefix="dags/",
            retain_on_delete=not config.remove_data_on_destroy,
        )

        self.execution_role = iam.Role(
            self, "ExecutionRole",
            assumed_by=iam.CompositePrincipal(iam.ServicePrincipal("airflow.amazonaws.com"),
                                              iam.ServicePrincipal("airflow-env.amazonaws.com")),
            description=f"{name}: start and watch the daily pipeline, read DAGs, write logs and metrics",
        )
        environment_arn = stack.format_arn(service="airflow", resource="environment", resource_name=name)
        log_groups = stack.format_arn(service="logs", resource="log-group", resource_name=f"airflow-{name}-*",
                                      arn_format=ArnFormat.COLON_RESOURCE_NAME)
        statements = [
            iam.PolicyStatement(sid="PublishAirflowMetrics", actions=["airflow:PublishMetrics"],
                                resources=[environment_arn]),
            iam.PolicyStatement(sid="ReadDags", actions=["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
                                resources=[self.dags_bucket.bucket_arn, self.dags_bucket.arn_for_objects("*")]),
            iam.PolicyStatement(sid="WriteAirflowLogs",
                                actions=["logs:CreateLogStream", "logs:CreateLogGroup", "logs:PutLogEvents",
                                         "logs:GetLogEvents", "logs:GetLogRecord", "logs:GetLogGroupFields",
                                         "logs:GetQueryResults", "logs:DescribeLogGroups"],
                                resources=[log_groups, f"{log_groups}:*"]),
            iam.PolicyStatement(sid="AirflowMetrics", actions=["cloudwatch:PutMetricData"], resources=["*"],
                                conditions={"StringEquals": {"cloudwatch:namespace": "AmazonMWAA"}}),
            iam.PolicyStatement(sid="CeleryQueues",
                                actions=["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                                         "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage"],
                                resources=[f"arn:{stack.partition}:sqs:{stack.region}:*:airflow-celery-*"]),
            iam.PolicyStatement(sid="UseEnvironmentKey",
                                actions=["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"],
                                resources=[self.key.key_arn],
                                conditions={"StringLike": {"kms:ViaService": [f"sqs.{stack.region}.amazonaws.com",
                                                                              f"s3.{stack.region}.amazonaws.com"]}}),
            iam.PolicyStatement(sid="StartDailyPipeline", actions=["states:StartExecution"],
                                resources=[state_machine.state_machine_arn]),
            iam.PolicyStatement(sid="WatchDailyPipeline", actions=["states:DescribeExecution"],
                                resources=[stack.format_arn(
                                    service="states", resource="execution",
                                    resource_name=f"{state_machine.state_machine_name}:*",
                                    arn_format=ArnFormat.COLON_RESOURCE_NAME)]),
        ]
        for statement in statements:
            self.execution_role.add_to_policy(statement)

        logging = mwaa.CfnEnvironment.ModuleLoggingConfigurationProperty(enabled=True, log_level="INFO")
        self.environment = mwaa.CfnEnvironment(
            self, "Environment",
            name=name,
            airflow_version=AIRFLOW_VERSION,
            environment_class=config.orchestration.mwaa.environment_class,
            max_workers=config.orchestration.mwaa.max_workers,
            execution_role_arn=self.execution_role.role_arn,
            kms_key=self.key.key_arn,
            source_bucket_arn=self.dags_bucket.bucket_arn,
            dag_s3_path="dags",
            webserver_access_mode="PRIVATE_ONLY",
            network_configuration=mwaa.CfnEnvironment.NetworkConfigurationProperty(
                security_group_ids=[security_group.security_group_id],
                subnet_ids=self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids,
            ),
            logging_configuration=mwaa.CfnEnvironment.LoggingConfigurationProperty(
                dag_processing_logs=logging, scheduler_logs=logging, task_logs=logging, webserver_logs=logging,
                worker_logs=logging),
            airflow_configuration_options={
                "retail_lake.state_machine_arn": state_machine.state_machine_arn,
                "retail_lake.time_zone": config.orchestration.time_zone,
                "retail_lake.schedule": airflow_cron(config.orchestration.schedule),
            },
        )
        self.environment.node.add_dependency(deployment)
        self.environment.node.add_dependency(  # the role's permissions, not just the role (its GetAtt implies that)
            self.execution_role.node.find_child("DefaultPolicy"))
        provider = stack.node.try_find_child("Custom::VpcRestrictDefaultSGCustomResourceProvider")
        if provider is not None:  # the CDK's handler that empties the VPC's default security group
            provider.node.find_child("Handler").add_metadata(
                "cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
        self._acknowledge(stack, storage, name)

    def _acknowledge(self, stack: Stack, storage: DataLakeStorage, name: str) -> None:
        role = self.execution_role
        acknowledge(role, "AwsSolutions-IAM5[Action::s3:GetObject*]", _DAGS_REASON)
        acknowledge(role, "AwsSolutions-IAM5[Action::s3:GetBucket*]", _DAGS_REASON)
        acknowledge(role, "AwsSolutions-IAM5[Action::s3:List*]", _DAGS_REASON)
        logical = stack.resolve(stack.get_logical_id(self.dags_bucket.node.default_child))
        acknowledge(role, f"AwsSolutions-IAM5[Resource::<{logical}.Arn>/*]", _DAGS_REASON)
        for suffix in ("", ":*"):
            acknowledge(role, "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"
                              f"log-group:airflow-{name}-*{suffix}]",
                        "MWAA creates one log group per component named airflow-<environment>-<component>; scoped to "
                        "this environment's prefix.")
        acknowledge(role, "AwsSolutions-IAM5[Resource::*]",
                    "cloudwatch:PutMetricData supports no resource-level permission; limited by the "
                    "cloudwatch:namespace condition to AmazonMWAA.")
        acknowledge(role, "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:*:airflow-celery-*]",
                    "MWAA's Celery queues live in an AWS-owned account with generated names (airflow-celery-*), as "
                    "the MWAA execution-role documentation requires.")
        acknowledge(role, "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                    "The environment key encrypts MWAA's SQS and S3 traffic (kms:ViaService limited to both).")
        machine = stack.resolve(stack.get_logical_id(self._state_machine.node.default_child))
        acknowledge(role, "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
                          f"execution:<{machine}.Name>:*]",
                    "The DAG's sensor watches the execution it started, whose name is only known at run time; "
                    "scoped to DescribeExecution on the daily pipeline's executions.")
        acknowledge_bucket_deployment_provider(stack, self.dags_bucket, "the DAG files")


_DAGS_REASON = ("MWAA reads its DAG source bucket (objects, versions, bucket settings) as its documentation requires; "
                "limited to the one versioned DAG bucket of this environment.")
