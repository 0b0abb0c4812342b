"""Provisioners and completers for the resources of the storage and streaming path that moto 5.2.5's
CloudFormation skips or only half creates (measured: see tests/integration/test_deploy.py)."""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

from retail_lake.twin.provisioning import (
    REGISTRY,
    Provisioned,
    ProvisionRequest,
    ResourceCompleter,
    ResourceProvisioner,
)


def _as_bool(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


# ---------------------------------------------------------------------------------------------- provisioners
@REGISTRY.provisioner
class BucketPolicyProvisioner(ResourceProvisioner):
    resource_type = "AWS::S3::BucketPolicy"

    def create(self, request: ProvisionRequest) -> Provisioned:
        bucket = request.properties["Bucket"]
        request.client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps(request.properties["PolicyDocument"]))
        return Provisioned(physical_id=request.physical_name)


def generate_secret_string(spec: dict[str, Any]) -> str:
    """CloudFormation's GenerateSecretString: a random password, optionally placed into a JSON template."""
    length = int(spec.get("PasswordLength", 32))
    alphabet = ""
    if not _as_bool(spec.get("ExcludeLowercase")):
        alphabet += string.ascii_lowercase
    if not _as_bool(spec.get("ExcludeUppercase")):
        alphabet += string.ascii_uppercase
    if not _as_bool(spec.get("ExcludeNumbers")):
        alphabet += string.digits
    if not _as_bool(spec.get("ExcludePunctuation")):
        alphabet += "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    if _as_bool(spec.get("IncludeSpace")):
        alphabet += " "
    excluded = set(spec.get("ExcludeCharacters", ""))
    alphabet = "".join(c for c in alphabet if c not in excluded)
    if not alphabet:
        raise ValueError(f"GenerateSecretString {spec} excludes every character")
    password = "".join(secrets.choice(alphabet) for _ in range(length))
    template, key = spec.get("SecretStringTemplate"), spec.get("GenerateStringKey")
    if template and key:
        document = json.loads(template)
        document[key] = password
        return json.dumps(document)
    return password


@REGISTRY.provisioner
class SecretProvisioner(ResourceProvisioner):
    resource_type = "AWS::SecretsManager::Secret"
    name_property = "Name"

    def create(self, request: ProvisionRequest) -> Provisioned:
        props = request.properties
        if "SecretString" in props:
            value = props["SecretString"]
        else:
            value = generate_secret_string(props.get("GenerateSecretString", {}))
        kwargs: dict[str, Any] = {"Name": self.name(request), "SecretString": value}
        for key in ("Description", "KmsKeyId", "Tags"):
            if key in props:
                kwargs[key] = props[key]
        arn = request.client("secretsmanager").create_secret(**kwargs)["ARN"]
        return Provisioned(physical_id=arn, attributes={"Id": arn})

    def delete(self, request: ProvisionRequest, provisioned: Provisioned) -> None:
        request.client("secretsmanager").delete_secret(
            SecretId=provisioned.physical_id, ForceDeleteWithoutRecovery=True
        )


_ALARM_NUMBERS = {"Period": int, "EvaluationPeriods": int, "DatapointsToAlarm": int, "Threshold": float}
_ALARM_KEYS = (
    "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions", "InsufficientDataActions", "MetricName",
    "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period", "Unit", "EvaluationPeriods",
    "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData", "EvaluateLowSampleCountPercentile",
    "Metrics", "ThresholdMetricId", "Tags",
)


@REGISTRY.provisioner
class AlarmProvisioner(ResourceProvisioner):
    resource_type = "AWS::CloudWatch::Alarm"
    name_property = "AlarmName"

    def create(self, request: ProvisionRequest) -> Provisioned:
        props = request.properties
        kwargs: dict[str, Any] = {"AlarmName": self.name(request)}
        for key in _ALARM_KEYS:
            if key in props:
                kwargs[key] = _ALARM_NUMBERS.get(key, lambda v: v)(props[key])
        if "ActionsEnabled" in kwargs:
            kwargs["ActionsEnabled"] = _as_bool(kwargs["ActionsEnabled"])
        cloudwatch = request.client("cloudwatch")
        cloudwatch.put_metric_alarm(**kwargs)
        arn = cloudwatch.describe_alarms(AlarmNames=[kwargs["AlarmName"]])["MetricAlarms"][0]["AlarmArn"]
        return Provisioned(physical_id=kwargs["AlarmName"], attributes={"Arn": arn})


# ---------------------------------------------------------------------------------------------- completers
def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's LifecycleConfiguration.Rules[] shape -> the S3 API's."""
    api: dict[str, Any] = {"Status": rule.get("Status", "Enabled")}
    if "Id" in rule:
        api["ID"] = rule["Id"]
    conditions: list[dict[str, Any]] = []
    if "Prefix" in rule:
        conditions.append({"Prefix": rule["Prefix"]})
    conditions += [{"Tag": tag} for tag in rule.get("TagFilters", [])]
    for cfn_key, api_key in (("ObjectSizeGreaterThan", "ObjectSizeGreaterThan"),
                             ("ObjectSizeLessThan", "ObjectSizeLessThan")):
        if cfn_key in rule:
            conditions.append({api_key: int(rule[cfn_key])})
    if len(conditions) == 0:
        api["Filter"] = {"Prefix": ""}
    elif len(conditions) == 1:
        api["Filter"] = conditions[0]
    else:
        merged: dict[str, Any] = {"Tags": []}
        for condition in conditions:
            if "Tag" in condition:
                merged["Tags"].append(condition["Tag"])
            else:
                merged.update(condition)
        api["Filter"] = {"And": merged}
    expiration: dict[str, Any] = {}
    if "ExpirationInDays" in rule:
        expiration["Days"] = int(rule["ExpirationInDays"])
    if "ExpirationDate" in rule:
        expiration["Date"] = rule["ExpirationDate"]
    if "ExpiredObjectDeleteMarker" in rule:
        expiration["ExpiredObjectDeleteMarker"] = _as_bool(rule["ExpiredObjectDeleteMarker"])
    if expiration:
        api["Expiration"] = expiration
    transitions = list(rule.get("Transitions", []))
    if "Transition" in rule:
        transitions.append(rule["Transition"])
    if transitions:
        api["Transitions"] = [
            {"StorageClass": t["StorageClass"],
             **({"Days": int(t["TransitionInDays"])} if "TransitionInDays" in t else {"Date": t.get("TransitionDate")})}
            for t in transitions
        ]
    noncurrent = rule.get("NoncurrentVersionExpiration")
    if noncurrent is None and "NoncurrentVersionExpirationInDays" in rule:
        noncurrent = {"NoncurrentDays": rule["NoncurrentVersionExpirationInDays"]}
    if noncurrent:
        api["NoncurrentVersionExpiration"] = {
            k: int(v) for k, v in noncurrent.items() if k in ("NoncurrentDays", "NewerNoncurrentVersions")
        }
    if rule.get("NoncurrentVersionTransitions"):
        api["NoncurrentVersionTransitions"] = [
            {"StorageClass": t["StorageClass"], "NoncurrentDays": int(t["TransitionInDays"])}
            for t in rule["NoncurrentVersionTransitions"]
        ]
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        }
    return api


@REGISTRY.completer
class BucketCompleter(ResourceCompleter):
    """moto's AWS::S3::Bucket applies BucketEncryption and Tags only."""

    resource_type = "AWS::S3::Bucket"

    def complete(self, request: ProvisionRequest, resource: Any) -> None:
        props, bucket, s3 = request.properties, resource.name, request.client("s3")
        if "VersioningConfiguration" in props:
            s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]}
            )
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=bucket,
                PublicAccessBlockConfiguration={k: _as_bool(v) for k, v in props["PublicAccessBlockConfiguration"].items()},
            )
        if "OwnershipControls" in props:
            s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=props["OwnershipControls"])
        if "LifecycleConfiguration" in props:
            rules = [_lifecycle_rule(rule) for rule in props["LifecycleConfiguration"].get("Rules", [])]
            s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
        if "LoggingConfiguration" in props:
            logging_config = props["LoggingConfiguration"]
            enabled: dict[str, Any] = {"TargetPrefix": logging_config.get("LogFilePrefix", "")}
            if "DestinationBucketName" in logging_config:
                enabled["TargetBucket"] = logging_config["DestinationBucketName"]
                # the target's bucket policy (granting the logging service) may not exist yet
                request.defer(lambda: s3.put_bucket_logging(
                    Bucket=bucket, BucketLoggingStatus={"LoggingEnabled": enabled}
                ))
        if "CorsConfiguration" in props:
            rules = [
                {("ID" if k == "Id" else k): v for k, v in rule.items() if k != "MaxAge"}
                | ({"MaxAgeSeconds": int(rule["MaxAge"])} if "MaxAge" in rule else {})
                for rule in props["CorsConfiguration"]["CorsRules"]
            ]
            s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
        notification = props.get("NotificationConfiguration", {})
        if notification.get("EventBridgeConfiguration") is not None:
            event_bridge = notification["EventBridgeConfiguration"]
            if _as_bool(event_bridge.get("EventBridgeEnabled", True)):
                s3.put_bucket_notification_configuration(
                    Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
                )


@REGISTRY.completer
class StreamCompleter(ResourceCompleter):
    """moto's AWS::Kinesis::Stream ignores StreamEncryption and StreamModeDetails."""

    resource_type = "AWS::Kinesis::Stream"

    def complete(self, request: ProvisionRequest, resource: Any) -> None:
        props, kinesis = request.properties, request.client("kinesis")
        encryption = props.get("StreamEncryption")
        if encryption:
            kinesis.start_stream_encryption(
                StreamName=resource.stream_name,
                EncryptionType=encryption["EncryptionType"],
                KeyId=encryption["KeyId"],
            )
        mode = props.get("StreamModeDetails")
        if mode:
            kinesis.update_stream_mode(StreamARN=resource.arn, StreamModeDetails={"StreamMode": mode["StreamMode"]})


@REGISTRY.completer
class FunctionCompleter(ResourceCompleter):
    """moto's AWS::Lambda::Function drops Layers (and would reject layers of other accounts, such as the managed
    AWS SDK for pandas layer, since moto only knows layers published into it), and ignores LoggingConfig."""

    resource_type = "AWS::Lambda::Function"

    def complete(self, request: ProvisionRequest, resource: Any) -> None:
        props = request.properties
        if props.get("Layers"):
            # moto's Ref of an AWS::Lambda::LayerVersion in the same stack yields its model object, not the ARN
            arns = [getattr(layer, "arn", layer) for layer in props["Layers"]]
            resource.layers = [{"Arn": str(arn), "CodeSize": 0} for arn in arns]
        log_group = props.get("LoggingConfig", {}).get("LogGroup")
        if log_group:
            resource.logs_group_name = log_group
        if props.get("Architectures"):
            resource.architectures = props["Architectures"]


@REGISTRY.completer
class KeyCompleter(ResourceCompleter):
    """moto's AWS::KMS::Key stores the KeyPolicy as the template's JSON object; its KMS API then fails on every
    call that checks the policy (DescribeKey answers HTTP 500). Store it as the policy document string AWS keeps."""

    resource_type = "AWS::KMS::Key"

    def prepare(self, properties: dict[str, Any]) -> None:
        # moto tags the key with the template's [{Key, Value}] but its tagger expects [{TagKey, TagValue}]
        # (KeyError 'TagKey' fails the stack).
        if properties.get("Tags"):
            properties["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in properties["Tags"]]

    def complete(self, request: ProvisionRequest, resource: Any) -> None:
        if isinstance(resource.policy, dict):
            resource.policy = json.dumps(resource.policy)


@REGISTRY.provisioner
class AutoDeleteObjectsProvisioner(ResourceProvisioner):
    """The CDK's `autoDeleteObjects` custom resource acts only when the stack is deleted (it empties the bucket);
    the twin is thrown away instead, so creating it does nothing. Its Node.js provider function is not run."""

    resource_type = "Custom::S3AutoDeleteObjects"

    def create(self, request: ProvisionRequest) -> Provisioned:
        return Provisioned(physical_id=request.physical_name)


@REGISTRY.provisioner
class LogRetentionProvisioner(ResourceProvisioner):
    """The CDK's log-retention custom resource (Node.js provider): create the group and set its retention."""

    resource_type = "Custom::LogRetention"

    def create(self, request: ProvisionRequest) -> Provisioned:
        logs, group = request.client("logs"), request.properties["LogGroupName"]
        try:
            logs.create_log_group(logGroupName=group)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        days = request.properties.get("RetentionInDays")
        if days:
            logs.put_retention_policy(logGroupName=group, retentionInDays=int(days))
        return Provisioned(physical_id=group)


@REGISTRY.provisioner
class QueuePolicyProvisioner(ResourceProvisioner):
    resource_type = "AWS::SQS::QueuePolicy"

    def create(self, request: ProvisionRequest) -> Provisioned:
        sqs = request.client("sqs")
        for queue_url in request.properties["Queues"]:
            sqs.set_queue_attributes(
                QueueUrl=queue_url, Attributes={"Policy": json.dumps(request.properties["PolicyDocument"])}
            )
        return Provisioned(physical_id=request.physical_name)


@REGISTRY.provisioner
class TopicPolicyProvisioner(ResourceProvisioner):
    resource_type = "AWS::SNS::TopicPolicy"

    def create(self, request: ProvisionRequest) -> Provisioned:
        sns = request.client("sns")
        for topic_arn in request.properties["Topics"]:
            sns.set_topic_attributes(
                TopicArn=topic_arn, AttributeName="Policy",
                AttributeValue=json.dumps(request.properties["PolicyDocument"]),
            )
        return Provisioned(physical_id=request.physical_name)
