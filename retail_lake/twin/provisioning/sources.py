"""Provisioners for the source resources moto 5.2.5's CloudFormation skips: DMS (subnet group, replication
instance, endpoints, replication task), created through moto's DMS API from the template's resolved properties so
that `dms.start_replication_task` on the twin starts a real replication (`retail_lake.twin.executors.dms`), and the
CDK's `Custom::S3BucketNotifications`, applied with `PutBucketNotificationConfiguration` so that an object landing
in the bucket invokes the function (moto calls it, the twin's Lambda runtime runs it).

Ref of every DMS resource is its ARN (the subnet group's is its identifier), as in CloudFormation.
"""

from __future__ import annotations

from typing import Any

from retail_lake.twin.provisioning import REGISTRY, Provisioned, ProvisionRequest, ResourceProvisioner


def _identifier(request: ProvisionRequest, prop: str) -> str:
    return str(request.properties.get(prop) or request.physical_name).lower().replace("_", "-")[:63]


def _tags(request: ProvisionRequest) -> list[dict[str, str]]:
    return [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in request.properties.get("Tags", [])]


@REGISTRY.provisioner
class DmsSubnetGroupProvisioner(ResourceProvisioner):
    resource_type = "AWS::DMS::ReplicationSubnetGroup"

    def create(self, request: ProvisionRequest) -> Provisioned:
        name = _identifier(request, "ReplicationSubnetGroupIdentifier")
        request.client("dms").create_replication_subnet_group(
            ReplicationSubnetGroupIdentifier=name,
            ReplicationSubnetGroupDescription=request.properties.get("ReplicationSubnetGroupDescription", name),
            SubnetIds=list(request.properties["SubnetIds"]),
        )
        return Provisioned(physical_id=name)


@REGISTRY.provisioner
class DmsReplicationInstanceProvisioner(ResourceProvisioner):
    resource_type = "AWS::DMS::ReplicationInstance"

    def create(self, request: ProvisionRequest) -> Provisioned:
        props = request.properties
        kwargs: dict[str, Any] = {
            "ReplicationInstanceIdentifier": _identifier(request, "ReplicationInstanceIdentifier"),
            "ReplicationInstanceClass": props["ReplicationInstanceClass"],
        }
        for key, cast in (("AllocatedStorage", int), ("MultiAZ", lambda v: str(v).lower() == "true"),
                          ("PubliclyAccessible", lambda v: str(v).lower() == "true"), ("KmsKeyId", str),
                          ("EngineVersion", str), ("ReplicationSubnetGroupIdentifier", str)):
            if props.get(key) is not None:
                kwargs[key] = cast(props[key])
        if props.get("VpcSecurityGroupIds"):
            kwargs["VpcSecurityGroupIds"] = list(props["VpcSecurityGroupIds"])
        created = request.client("dms").create_replication_instance(**kwargs)["ReplicationInstance"]
        arn = created["ReplicationInstanceArn"]
        return Provisioned(physical_id=arn, attributes={
            "ReplicationInstancePrivateIpAddresses": "10.0.0.10", "ReplicationInstancePublicIpAddresses": ""})


@REGISTRY.provisioner
class DmsEndpointProvisioner(ResourceProvisioner):
    resource_type = "AWS::DMS::Endpoint"
    _PASSED = ("Username", "Password", "ServerName", "DatabaseName", "ExtraConnectionAttributes", "KmsKeyId",
               "CertificateArn", "SslMode", "S3Settings", "PostgreSqlSettings")

    def create(self, request: ProvisionRequest) -> Provisioned:
        props = request.properties
        kwargs: dict[str, Any] = {
            "EndpointIdentifier": _identifier(request, "EndpointIdentifier"),
            "EndpointType": str(props["EndpointType"]).lower(),
            "EngineName": props["EngineName"],
        }
        for key in self._PASSED:
            if props.get(key) is not None:
                api_key = "PostgreSQLSettings" if key == "PostgreSqlSettings" else key
                kwargs[api_key] = _typed(props[key])
        if props.get("Port") is not None:
            kwargs["Port"] = int(props["Port"])
        if props.get("Tags"):
            kwargs["Tags"] = _tags(request)
        arn = request.client("dms").create_endpoint(**kwargs)["Endpoint"]["EndpointArn"]
        return Provisioned(physical_id=arn, attributes={"ExternalId": arn.rsplit(":", 1)[-1]})


def _typed(value: Any) -> Any:
    """CloudFormation gives booleans and numbers as strings; the DMS API wants them typed."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(v, str) and v.lower() in ("true", "false"):
                out[k] = v.lower() == "true"
            elif isinstance(v, str) and v.isdigit() and k not in ("SecretsManagerSecretId",):
                out[k] = int(v)
            else:
                out[k] = _typed(v)
        return out
    return value


@REGISTRY.provisioner
class DmsReplicationTaskProvisioner(ResourceProvisioner):
    resource_type = "AWS::DMS::ReplicationTask"

    def create(self, request: ProvisionRequest) -> Provisioned:
        props = request.properties
        kwargs: dict[str, Any] = {
            "ReplicationTaskIdentifier": _identifier(request, "ReplicationTaskIdentifier"),
            "SourceEndpointArn": props["SourceEndpointArn"],
            "TargetEndpointArn": props["TargetEndpointArn"],
            "ReplicationInstanceArn": props["ReplicationInstanceArn"],
            "MigrationType": props["MigrationType"],
            "TableMappings": props["TableMappings"],
        }
        if props.get("ReplicationTaskSettings"):
            kwargs["ReplicationTaskSettings"] = props["ReplicationTaskSettings"]
        arn = request.client("dms").create_replication_task(**kwargs)["ReplicationTask"]["ReplicationTaskArn"]
        if request.twin.is_embedded:
            request.twin.executor("dms")  # StartReplicationTask replicates for real from now on
        return Provisioned(physical_id=arn)

    def delete(self, request: ProvisionRequest, provisioned: Provisioned) -> None:
        request.client("dms").delete_replication_task(ReplicationTaskArn=provisioned.physical_id)


@REGISTRY.provisioner
class BucketNotificationsProvisioner(ResourceProvisioner):
    """The CDK's bucket-notification custom resource (its Python provider function is not run)."""

    resource_type = "Custom::S3BucketNotifications"

    def create(self, request: ProvisionRequest) -> Provisioned:
        bucket = request.properties["BucketName"]
        config = request.properties.get("NotificationConfiguration", {})

        def apply() -> None:
            request.client("s3").put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration=config, SkipDestinationValidation=True)

        request.defer(apply)  # the function and its invoke permission may be created after this resource
        return Provisioned(physical_id=f"{bucket}-notifications")
