"""The Ingestion stack: encrypted stream, stream-transform Lambda, event source mapping, alarms, least privilege."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from stacks.app_builder import CDK_JSON, build_app
from stacks.stage_config import load_stage_config
from tests.conftest import Synthesized

INGESTION_OUTPUTS = {
    "StreamName", "StreamArn", "StreamTransformFunctionName", "OnFailureQueueUrl", "PseudonymizationSecretArn",
    "AlarmTopicArn",
}


def _one(synth: Synthesized, resource_type: str) -> tuple[str, dict]:
    (item,) = synth.resources("Ingestion", resource_type).items()
    return item


def _key_arn(synth: Synthesized) -> dict:
    key_id, _ = _one(synth, "AWS::KMS::Key")
    return {"Fn::GetAtt": [key_id, "Arn"]}


def test_stream_is_kms_encrypted_with_stage_capacity(dev: Synthesized, prod: Synthesized) -> None:
    _, dev_stream = _one(dev, "AWS::Kinesis::Stream")
    assert dev_stream["Properties"]["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": _key_arn(dev)}
    assert dev_stream["Properties"]["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert "ShardCount" not in dev_stream["Properties"]
    assert dev_stream["Properties"]["RetentionPeriodHours"] == 24
    _, prod_stream = _one(prod, "AWS::Kinesis::Stream")
    assert prod_stream["Properties"]["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert prod_stream["Properties"]["ShardCount"] == 2
    assert prod_stream["Properties"]["RetentionPeriodHours"] == 168


def test_ingestion_key_rotates(synthesized: Synthesized) -> None:
    _, key = _one(synthesized, "AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True


def test_secret_is_generated_and_kms_encrypted(synthesized: Synthesized) -> None:
    _, secret = _one(synthesized, "AWS::SecretsManager::Secret")
    assert secret["Properties"]["KmsKeyId"] == _key_arn(synthesized)
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert "SecretString" not in secret["Properties"]


def test_function_runtime_tracing_handler_and_layers(synthesized: Synthesized) -> None:
    _, function = _one(synthesized, "AWS::Lambda::Function")
    props = function["Properties"]
    assert props["Runtime"] == "python3.11"
    assert props["Architectures"] == ["x86_64"]
    assert props["Handler"] == "handler.handler"
    assert props["TracingConfig"] == {"Mode": "Active"}
    layer_id, _ = _one(synthesized, "AWS::Lambda::LayerVersion")
    assert {"Ref": layer_id} in props["Layers"]
    assert {"Fn::Sub": "arn:aws:lambda:${AWS::Region}:336392948345:layer:AWSSDKPandas-Python311:31"} in props["Layers"]
    log_group_id, log_group = _one(synthesized, "AWS::Logs::LogGroup")
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": log_group_id}
    assert log_group["Properties"]["RetentionInDays"] == {"dev": 14, "prod": 365}[synthesized.stage]


def test_function_environment(synthesized: Synthesized) -> None:
    _, function = _one(synthesized, "AWS::Lambda::Function")
    env = function["Properties"]["Environment"]["Variables"]
    assert set(env) == {
        "RAW_BUCKET", "QUARANTINE_BUCKET", "PSEUDONYMIZATION_SECRET_ARN", "STAGE", "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL",
    }
    assert env["STAGE"] == synthesized.stage
    assert env["POWERTOOLS_SERVICE_NAME"] == "stream-transform"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "RetailLake"
    assert env["LOG_LEVEL"] == {"dev": "DEBUG", "prod": "INFO"}[synthesized.stage]
    assert "RawBucket" in env["RAW_BUCKET"]["Fn::ImportValue"]
    assert "QuarantineBucket" in env["QUARANTINE_BUCKET"]["Fn::ImportValue"]
    secret_id, _ = _one(synthesized, "AWS::SecretsManager::Secret")
    assert env["PSEUDONYMIZATION_SECRET_ARN"] == {"Ref": secret_id}


def test_event_source_mapping(dev: Synthesized, prod: Synthesized) -> None:
    expected = [
        (dev, {"BatchSize": 500, "MaximumBatchingWindowInSeconds": 5, "ParallelizationFactor": 1,
              "MaximumRetryAttempts": 3, "MaximumRecordAgeInSeconds": 3600}),
        (prod, {"BatchSize": 1000, "MaximumBatchingWindowInSeconds": 10, "ParallelizationFactor": 4,
               "MaximumRetryAttempts": 5, "MaximumRecordAgeInSeconds": 86400}),
    ]
    for synth, settings in expected:
        _, esm = _one(synth, "AWS::Lambda::EventSourceMapping")
        props = esm["Properties"]
        stream_id, _ = _one(synth, "AWS::Kinesis::Stream")
        queue_id, _ = _one(synth, "AWS::SQS::Queue")
        assert props["EventSourceArn"] == {"Fn::GetAtt": [stream_id, "Arn"]}
        assert props["StartingPosition"] == "TRIM_HORIZON"
        assert props["BisectBatchOnFunctionError"] is True
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}}
        assert {k: props[k] for k in settings} == settings


def test_on_failure_queue_and_alarm_topic_are_encrypted_and_ssl_only(synthesized: Synthesized) -> None:
    _, queue = _one(synthesized, "AWS::SQS::Queue")
    assert queue["Properties"]["KmsMasterKeyId"] == _key_arn(synthesized)
    _, topic = _one(synthesized, "AWS::SNS::Topic")
    assert topic["Properties"]["KmsMasterKeyId"] == _key_arn(synthesized)
    for policy_type in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
        _, policy = _one(synthesized, policy_type)
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false" for s in statements
        ), policy_type


def test_alarms_notify_the_topic(synthesized: Synthesized) -> None:
    topic_id, _ = _one(synthesized, "AWS::SNS::Topic")
    function_id, _ = _one(synthesized, "AWS::Lambda::Function")
    alarms = synthesized.resources("Ingestion", "AWS::CloudWatch::Alarm").values()
    by_metric = {alarm["Properties"]["MetricName"]: alarm["Properties"] for alarm in alarms}
    assert set(by_metric) == {
        "IteratorAge", "GetRecords.IteratorAgeMilliseconds", "Errors", "ApproximateNumberOfMessagesVisible",
    }
    iterator_age_ms = {"dev": 300000, "prod": 60000}[synthesized.stage]
    assert by_metric["IteratorAge"]["Namespace"] == "AWS/Lambda"
    assert by_metric["GetRecords.IteratorAgeMilliseconds"]["Namespace"] == "AWS/Kinesis"
    for metric in ("IteratorAge", "GetRecords.IteratorAgeMilliseconds"):
        props = by_metric[metric]
        assert (props["Statistic"], props["Period"], props["Threshold"]) == ("Maximum", 60, iterator_age_ms), metric
        assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (5, 3), metric
        assert props["ComparisonOperator"] == "GreaterThanThreshold", metric
    errors = by_metric["Errors"]
    assert errors["Namespace"] == "AWS/Lambda"
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
    # Any error in 5 minutes.
    assert (errors["Statistic"], errors["Period"], errors["EvaluationPeriods"]) == ("Sum", 300, 1)
    assert (errors["ComparisonOperator"], errors["Threshold"]) == ("GreaterThanThreshold", 0)
    assert by_metric["ApproximateNumberOfMessagesVisible"]["Namespace"] == "AWS/SQS"
    assert by_metric["ApproximateNumberOfMessagesVisible"]["Threshold"] == 0
    for props in by_metric.values():
        assert props["AlarmActions"] == [{"Ref": topic_id}]
        assert props["OKActions"] == [{"Ref": topic_id}]
        assert props["TreatMissingData"] == "notBreaching"


def test_alarm_topic_has_no_subscription_without_alarm_email(synthesized: Synthesized) -> None:
    assert not synthesized.resources("Ingestion", "AWS::SNS::Subscription")


def test_alarm_email_subscribes_to_the_alarm_topic(tmp_path: Path) -> None:
    stages = json.loads(CDK_JSON.read_text())["context"]["stages"]
    config = dataclasses.replace(load_stage_config(stages, "dev"), alarm_email="oncall@example.com")
    app = build_app(outdir=tmp_path, config=config)
    app.synth()  # raises if cdk-nag reports an unacknowledged finding
    template = json.loads((tmp_path / "RetailLake-dev-Ingestion.template.json").read_text())
    resources = template["Resources"]
    (subscription,) = [r for r in resources.values() if r["Type"] == "AWS::SNS::Subscription"]
    (topic_id,) = [logical_id for logical_id, r in resources.items() if r["Type"] == "AWS::SNS::Topic"]
    assert subscription["Properties"] == {
        "Protocol": "email", "Endpoint": "oncall@example.com", "TopicArn": {"Ref": topic_id},
    }


def test_key_policy_lets_cloudwatch_publish_to_the_encrypted_topic(synthesized: Synthesized) -> None:
    _, key = _one(synthesized, "AWS::KMS::Key")
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    assert any(s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in statements)


def _actions(statement: dict) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def test_stream_transform_role_is_least_privilege(synthesized: Synthesized) -> None:
    _, role = _one(synthesized, "AWS::IAM::Role")
    assert "ManagedPolicyArns" not in role["Properties"]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }
    _, policy = _one(synthesized, "AWS::IAM::Policy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not any("*" in action for action in actions), actions
    for statement in statements:
        assert statement["Effect"] == "Allow"
        if statement["Resource"] == "*":
            # The only unscoped statement: X-Ray has no resource-level permissions.
            assert sorted(statement["Action"]) == ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    s3_actions = {a for a in actions if a.startswith("s3:")}
    assert s3_actions == {"s3:PutObject", "s3:DeleteObject"}
    # One statement: DeleteObject on exactly the resources of PutObject (the objects of raw and quarantine).
    (objects,) = [s for s in statements if any(a.startswith("s3:") for a in _actions(s))]
    assert sorted(_actions(objects)) == ["s3:DeleteObject", "s3:PutObject"]
    assert len(objects["Resource"]) == 2
    imported = []
    for resource in objects["Resource"]:
        export, suffix = resource["Fn::Join"][1]
        assert suffix == "/*", resource
        imported.append(export["Fn::ImportValue"])
    imported.sort()
    assert "QuarantineBucket" in imported[0] and "RawBucket" in imported[1]
    assert [s["Resource"] for s in statements if s["Action"] == "secretsmanager:GetSecretValue"] == [
        {"Ref": _one(synthesized, "AWS::SecretsManager::Secret")[0]}
    ]
    assert {a for a in actions if a.startswith("kms:")} == {"kms:GenerateDataKey", "kms:Decrypt"}


def test_outputs(synthesized: Synthesized) -> None:
    outputs = synthesized.template("Ingestion")["Outputs"]
    assert INGESTION_OUTPUTS <= set(outputs)
    for key in INGESTION_OUTPUTS:
        assert "Export" not in outputs[key], key
