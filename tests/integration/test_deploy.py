"""Deploying a cloud assembly onto the twin: every resource of the fixture app exists, configured as the
templates say, including the types moto's CloudFormation skips or only half creates."""

from __future__ import annotations

import json

import pytest

from retail_lake.twin import Twin
from retail_lake.twin.deployer import BY_TWIN, SKIPPED
from tests.integration.conftest import FIXTURE_INGESTION, FIXTURE_STORAGE

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def twin(deployed_twin: Twin) -> Twin:
    return deployed_twin


def test_both_stacks_are_deployed_quickly_with_nothing_skipped(twin: Twin):
    deployment = twin.deployments[-1]
    assert list(deployment.stacks) == [FIXTURE_STORAGE, FIXTURE_INGESTION]
    assert deployment.skipped == []
    if twin.is_embedded:
        assert deployment.seconds < 20, deployment.summary()
        created_by_twin = {r.resource_type for s in deployment.stacks.values() for r in s.resources.values()
                           if r.created_by == BY_TWIN}
        assert created_by_twin == {"AWS::S3::BucketPolicy", "AWS::SecretsManager::Secret", "AWS::CloudWatch::Alarm"}
    assert all(r.created_by != SKIPPED for s in deployment.stacks.values() for r in s.resources.values())


def test_bucket_is_versioned_encrypted_with_the_key_and_has_lifecycle_and_policy(twin: Twin):
    s3 = twin.client("s3")
    bucket = twin.outputs[FIXTURE_STORAGE]["RawBucketName"]
    key_arn = twin.client("kms").describe_key(KeyId=twin.resource(FIXTURE_STORAGE, "DataKey17AFBB84"))["KeyMetadata"]["Arn"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    sse = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert sse["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [(r["ID"], r["Expiration"]["Days"]) for r in rules] == [("expire-old", 30)]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy["Statement"])
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    # the enforce-SSL deny must not block the twin's clients (which stand for TLS clients)
    s3.put_object(Bucket=bucket, Key="probe", Body=b"ok")
    assert s3.get_object(Bucket=bucket, Key="probe")["Body"].read() == b"ok"


def test_generated_secret_has_a_real_value(twin: Twin):
    arn = twin.outputs[FIXTURE_INGESTION]["SecretArn"]
    value = twin.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    assert len(value) == 48 and value.isalnum()


def test_stream_is_encrypted_with_the_storage_key(twin: Twin):
    name = twin.outputs[FIXTURE_INGESTION]["OrderedStreamName"]
    summary = twin.client("kinesis").describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["EncryptionType"] == "KMS"
    assert summary["KeyId"] == twin.outputs[FIXTURE_STORAGE]["ExportsOutputFnGetAttDataKey17AFBB84ArnCE2A1BC6"]


def test_function_configuration_is_resolved_across_stacks(twin: Twin):
    outputs = twin.outputs[FIXTURE_INGESTION]
    config = twin.client("lambda").get_function_configuration(FunctionName=outputs["OrderedFunctionName"])
    assert config["Environment"]["Variables"] == {
        "RAW_BUCKET": twin.outputs[FIXTURE_STORAGE]["RawBucketName"],
        "SECRET_ARN": outputs["SecretArn"],
        "CONSUMER": "Ordered",
    }
    assert config["Handler"] == "handler.handler" and config["Timeout"] == 30 and config["MemorySize"] == 256
    assert [layer["Arn"] for layer in config.get("Layers", [])] == [
        "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python311:20"
    ]


def test_event_source_mapping_keeps_the_deployed_settings(twin: Twin):
    outputs = twin.outputs[FIXTURE_INGESTION]
    mappings = twin.client("lambda").list_event_source_mappings(FunctionName=outputs["ParallelFunctionName"])
    (mapping,) = mappings["EventSourceMappings"]
    assert mapping["EventSourceArn"].endswith("/" + outputs["ParallelStreamName"])
    assert mapping["BatchSize"] == 3 and mapping["ParallelizationFactor"] == 4
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["MaximumRetryAttempts"] == 2 and mapping["MaximumRecordAgeInSeconds"] == 3600
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    queue_name = outputs["OnFailureQueueUrl"].rsplit("/", 1)[1]
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"].endswith(":" + queue_name)


def test_alarms_and_topic_exist(twin: Twin):
    alarms = twin.client("cloudwatch").describe_alarms()["MetricAlarms"]
    iterator_age = [a for a in alarms if a["MetricName"] == "IteratorAge"]
    assert len(iterator_age) == 6 and {a["Threshold"] for a in iterator_age} == {60000.0}
    assert twin.client("sns").get_topic_attributes(TopicArn=twin.outputs[FIXTURE_INGESTION]["AlertsTopicArn"])


def test_lambda_invoke_through_the_api_runs_the_deployed_handler(twin: Twin):
    if not twin.is_embedded:
        pytest.skip("on an external endpoint the endpoint runs the function")
    name = twin.outputs[FIXTURE_INGESTION]["AlwaysFailsFunctionName"]
    response = twin.client("lambda").invoke(FunctionName=name, Payload=json.dumps({"Records": []}))
    assert response["FunctionError"]
    assert json.loads(response["Payload"].read())["errorType"] == "PoisonBatchError"
    log_file = twin.work_dir / "lambda" / f"{name}.log"
    assert "refusing 0 records" in log_file.read_text()
