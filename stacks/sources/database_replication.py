"""DMS change data capture from the operational PostgreSQL store into the lake (optional per stage).

A replication instance in private subnets (no public address; S3 through a gateway endpoint, Secrets Manager
through an interface endpoint), a PostgreSQL source endpoint whose credentials DMS reads from Secrets Manager,
an S3 target endpoint writing Parquet to `s3://<cdc landing>/dms/<schema>/<table>/` with the operation column and
the commit timestamp (`retail_lake.sources.cdc.layout`): the restricted landing bucket of `cdc_landing.py`, since
the rows hold personal data in clear text (the merge job pseudonymizes it on the way to curated), and a full-load-and-CDC task whose table mappings are the
file `retail_lake/sources/cdc/table_mappings.json`. KMS everywhere; an alarm on CDC latency and an EventBridge rule
that sends task failures to the alarm topic.

The VPC here is the replication network; to reach the database, peer it (or attach it to a transit gateway) with
the database's network and allow the replication security group on the database port.
"""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dms as dms
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct

from retail_lake.sources.cdc import layout
from stacks.nag import acknowledge
from stacks.sources.cdc_landing import CdcLanding
from stacks.sources.sources_config import DmsConfig

TASK_SETTINGS = {
    "TargetMetadata": {"SupportLobs": True, "LimitedSizeLobMode": True, "LobMaxSize": 32},
    "FullLoadSettings": {"TargetTablePrepMode": "DO_NOTHING", "MaxFullLoadSubTasks": 8},
    "Logging": {"EnableLogging": True},
    "ErrorBehavior": {"DataErrorPolicy": "LOG_ERROR", "TableErrorPolicy": "STOP_TASK",
                      "RecoverableErrorCount": -1, "ApplyErrorDeletePolicy": "IGNORE_RECORD"},
    "ChangeProcessingTuning": {"BatchApplyEnabled": False, "CommitTimeout": 1, "MemoryLimitTotal": 1024},
}


class DatabaseReplication(Construct):
    """`vpc`, `security_group`, `source_secret`, `replication_instance`, `source_endpoint`, `target_endpoint`,
    `task`, `cdc_latency_alarm`, `task_failure_rule`."""

    def __init__(self, scope: Construct, construct_id: str, *, dms_config: DmsConfig, name_prefix: str,
                 landing: CdcLanding, key: kms.IKey, alarm_topic: sns.ITopic, removal: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.vpc = ec2.Vpc(
            self, "ReplicationVpc", max_azs=2, nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(name="replication", cidr_mask=24,
                                                          subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
        )
        flow_logs = logs.LogGroup(self, "FlowLogs", removal_policy=removal,
                                  retention=logs.RetentionDays.ONE_YEAR)
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))
        self.security_group = ec2.SecurityGroup(self, "ReplicationSecurityGroup", vpc=self.vpc,
                                                description="DMS replication instance: out to the database and AWS "
                                                            "endpoints only", allow_all_outbound=False)
        self.security_group.add_egress_rule(ec2.Peer.ipv4("10.0.0.0/8"), ec2.Port.tcp(dms_config.source_port),
                                            "the operational PostgreSQL database (peered network)")
        self.security_group.add_egress_rule(ec2.Peer.ipv4(self.vpc.vpc_cidr_block), ec2.Port.tcp(443),
                                            "Secrets Manager interface endpoint")
        # isolated subnets have no route out: HTTPS reaches only S3 (gateway endpoint) and the interface endpoints
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "S3 through the gateway endpoint")
        endpoint = self.vpc.add_interface_endpoint("SecretsManagerEndpoint",
                                                   service=ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
                                                   private_dns_enabled=True)
        acknowledge(endpoint, "AwsSolutions-EC23",
                    "The endpoint's security group admits HTTPS from the VPC's own CIDR (a token at synth, which the "
                    "rule cannot evaluate); nothing outside the isolated replication VPC can reach it.")

        self.source_secret = secretsmanager.Secret(
            self, "SourceDatabaseSecret",
            description="Credentials DMS uses to read the operational PostgreSQL store (host, port, dbname, "
                        "username, password)",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({
                    "engine": "postgres", "host": dms_config.source_host, "port": dms_config.source_port,
                    "dbname": dms_config.source_database, "username": "dms_replication"}),
                generate_string_key="password", exclude_punctuation=True, password_length=32),
            removal_policy=removal,
        )
        acknowledge(self.source_secret, "AwsSolutions-SMG4",
                    "The replication user's password belongs to the database owner, who rotates it in the database "
                    "and then here; DMS reads it at each connection, so no Lambda rotation is attached.")
        secrets_role = iam.Role(self, "SecretsAccessRole",
                                assumed_by=iam.ServicePrincipal(f"dms.{stack.region}.amazonaws.com"),
                                description="DMS reads the source database credentials")
        self.source_secret.grant_read(secrets_role)

        subnet_group = dms.CfnReplicationSubnetGroup(
            self, "SubnetGroup", replication_subnet_group_description="private subnets of the replication VPC",
            subnet_ids=self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids,
            replication_subnet_group_identifier=f"{name_prefix}-replication")
        self.replication_instance = dms.CfnReplicationInstance(
            self, "ReplicationInstance",
            replication_instance_identifier=f"{name_prefix}-replication",
            replication_instance_class=dms_config.instance_class,
            allocated_storage=dms_config.allocated_storage_gb,
            multi_az=dms_config.multi_az, publicly_accessible=False, kms_key_id=key.key_arn,
            replication_subnet_group_identifier=subnet_group.ref,
            vpc_security_group_ids=[self.security_group.security_group_id],
            auto_minor_version_upgrade=True,
        )
        self.source_endpoint = dms.CfnEndpoint(
            self, "SourceEndpoint", endpoint_type="source", engine_name="postgres",
            endpoint_identifier=f"{name_prefix}-operational-db", database_name=dms_config.source_database,
            ssl_mode="require", kms_key_id=key.key_arn,
            extra_connection_attributes="PluginName=pgoutput;PublicationName=retail_lake_cdc",
            postgre_sql_settings=dms.CfnEndpoint.PostgreSqlSettingsProperty(
                secrets_manager_secret_id=self.source_secret.secret_arn,
                secrets_manager_access_role_arn=secrets_role.role_arn,
                plugin_name="pgoutput",
                heartbeat_enable=True, heartbeat_frequency=5,
            ),
        )
        # clear-text change rows land in the restricted CDC landing bucket, never in the lake's shared zones
        s3_settings = layout.s3_target_settings(landing.bucket.bucket_name, landing.key.key_arn,
                                                landing.writer_role.role_arn)
        self.target_endpoint = dms.CfnEndpoint(
            self, "CdcLandingEndpoint", endpoint_type="target", engine_name="s3",
            endpoint_identifier=f"{name_prefix}-cdc-landing", kms_key_id=key.key_arn,
            s3_settings=dms.CfnEndpoint.S3SettingsProperty(**_snake(s3_settings)),
        )
        self.task = dms.CfnReplicationTask(
            self, "ReplicationTask", replication_task_identifier=f"{name_prefix}-operational-db-cdc",
            migration_type="full-load-and-cdc",
            replication_instance_arn=self.replication_instance.ref,
            source_endpoint_arn=self.source_endpoint.ref, target_endpoint_arn=self.target_endpoint.ref,
            table_mappings=json.dumps(layout.table_mappings()),
            replication_task_settings=json.dumps(TASK_SETTINGS),
        )

        dimensions = {"ReplicationInstanceIdentifier": f"{name_prefix}-replication",
                      "ReplicationTaskIdentifier": f"{name_prefix}-operational-db-cdc"}
        self.cdc_latency_alarm = cloudwatch.Alarm(
            self, "CdcLatencyAlarm",
            alarm_description="Changes of the operational store reach the CDC landing bucket late (DMS CDCLatencyTarget)",
            metric=cloudwatch.Metric(namespace="AWS/DMS", metric_name="CDCLatencyTarget", dimensions_map=dimensions,
                                     statistic=cloudwatch.Stats.MAXIMUM, period=Duration.minutes(5)),
            threshold=dms_config.cdc_latency_alarm_seconds, evaluation_periods=3, datapoints_to_alarm=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,  # a stopped task reports nothing
        )
        action = cloudwatch_actions.SnsAction(alarm_topic)
        self.cdc_latency_alarm.add_alarm_action(action)
        self.cdc_latency_alarm.add_ok_action(action)
        self.task_failure_rule = events.Rule(
            self, "TaskFailureRule", description="A DMS replication task of the operational store failed or stopped",
            event_pattern=events.EventPattern(
                source=["aws.dms"], detail_type=["DMS Replication Task State Change"],
                detail={"eventType": ["REPLICATION_TASK_FAILED", "REPLICATION_TASK_STOPPED"]},
                resources=[self.task.ref]),
            targets=[targets.SnsTopic(alarm_topic)])


def _snake(settings: dict) -> dict:
    import re

    special = {"ServerSideEncryptionKmsKeyId": "server_side_encryption_kms_key_id",
               "CdcMaxBatchInterval": "cdc_max_batch_interval", "CdcMinFileSize": "cdc_min_file_size"}
    return {special.get(k, re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower()): v for k, v in settings.items()}
