"""cdk-nag acknowledgements: every one carries a written reason, and object-wildcard findings are named
exactly as cdk-nag reports them (across stacks, that name contains the CloudFormation export)."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

MIN_REASON_LENGTH = 40


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on `construct` (and its children) with a written reason."""
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(f"acknowledging {rule_id} on {construct.node.path}: write a reason of at least "
                         f"{MIN_REASON_LENGTH} characters saying why the finding is acceptable")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def objects_wildcard_finding(consumer: IConstruct, bucket: s3.IBucket) -> str:
    """The AwsSolutions-IAM5 finding for `bucket.arn_for_objects("*")` in a policy of `consumer`'s stack."""
    producer = Stack.of(bucket)
    if producer is Stack.of(consumer):
        logical_id = producer.resolve(producer.get_logical_id(bucket.node.default_child))
        return f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/*]"
    # The name CDK gives the automatic cross-stack export of the bucket ARN (export_value is idempotent).
    export_name = producer.resolve(producer.export_value(bucket.bucket_arn))["Fn::ImportValue"]
    return f"AwsSolutions-IAM5[Resource::{export_name}/*]"
