"""The private network of the serving layer's compute (Redshift Serverless, the SageMaker notebook instance):
isolated subnets in three availability zones (Redshift Serverless needs three), no internet route, VPC flow logs,
and the VPC endpoints the notebook and the warehouse call (S3 as a gateway; Athena, Glue, STS, KMS, Secrets
Manager, SageMaker, Redshift Data API, CloudWatch Logs as interface endpoints)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

INTERFACE_ENDPOINTS = {
    "Athena": ec2.InterfaceVpcEndpointAwsService.ATHENA,
    "Glue": ec2.InterfaceVpcEndpointAwsService.GLUE,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "Kms": ec2.InterfaceVpcEndpointAwsService.KMS,
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "SageMakerApi": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API,
    "SageMakerRuntime": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
    "SageMakerNotebook": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_NOTEBOOK,
    "RedshiftData": ec2.InterfaceVpcEndpointAwsService.REDSHIFT_DATA,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
}


VPC_CIDR = "10.40.0.0/16"


class ServingNetwork(Construct):
    """`vpc` (isolated subnets only, `VPC_CIDR`), `endpoint_security_group` (HTTPS from inside the VPC) and
    `flow_log_group`."""

    vpc: ec2.Vpc
    endpoint_security_group: ec2.SecurityGroup
    flow_log_group: logs.LogGroup

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, log_retention_days: int,
                 remove_on_destroy: bool) -> None:
        super().__init__(scope, construct_id)
        self.flow_log_group = logs.LogGroup(
            self, "FlowLogs", encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY if remove_on_destroy else RemovalPolicy.RETAIN,
        )
        # RetentionDays is an enum of names; the validated number of days goes straight to the L1 property.
        self.flow_log_group.node.default_child.retention_in_days = log_retention_days  # type: ignore[union-attr]
        self.vpc = ec2.Vpc(
            self, "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=3,
            nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(
                name="private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22)],
            flow_logs={"all-traffic": ec2.FlowLogOptions(
                destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
                traffic_type=ec2.FlowLogTrafficType.ALL)},
        )
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        self.endpoint_security_group = ec2.SecurityGroup(
            self, "EndpointSecurityGroup", vpc=self.vpc, allow_all_outbound=False,
            description="Interface VPC endpoints of the serving VPC: HTTPS from inside the VPC",
        )
        self.endpoint_security_group.add_ingress_rule(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(443),
                                                      "HTTPS from the serving VPC")
        for name, service in INTERFACE_ENDPOINTS.items():
            self.vpc.add_interface_endpoint(name, service=service, private_dns_enabled=True, open=False,
                                            security_groups=[self.endpoint_security_group],
                                            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED))

    @property
    def private_subnets(self) -> list[ec2.ISubnet]:
        return self.vpc.isolated_subnets
