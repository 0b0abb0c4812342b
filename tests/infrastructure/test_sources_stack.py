"""The Sources stack: DMS (prod only), file drops, API poller; and the CDC merge job in the Batch stack."""

from __future__ import annotations

import json

from retail_lake.sources.cdc import layout
from tests.conftest import Synthesized


def _one(synth: Synthesized, resource_type: str, component: str = "Sources") -> dict:
    (resource,) = synth.resources(component, resource_type).values()
    return resource["Properties"]


def test_dms_is_off_in_dev(dev: Synthesized) -> None:
    template = json.dumps(dev.template("Sources")["Resources"])
    assert "AWS::DMS::" not in template
    assert "AWS::EC2::VPC" not in template


def test_dms_replicates_privately_with_secret_credentials_into_raw_parquet(prod: Synthesized) -> None:
    instance = _one(prod, "AWS::DMS::ReplicationInstance")
    assert instance["PubliclyAccessible"] is False
    assert instance["MultiAZ"] is True
    assert "KmsKeyId" in instance
    subnet_group = _one(prod, "AWS::DMS::ReplicationSubnetGroup")
    subnets = prod.resources("Sources", "AWS::EC2::Subnet")
    assert len(subnet_group["SubnetIds"]) == 2
    assert all(not s["Properties"].get("MapPublicIpOnLaunch", False) for s in subnets.values())
    assert not prod.resources("Sources", "AWS::EC2::InternetGateway")
    assert not prod.resources("Sources", "AWS::EC2::NatGateway")

    endpoints = {p["Properties"]["EndpointType"]: p["Properties"]
                 for p in prod.resources("Sources", "AWS::DMS::Endpoint").values()}
    source, target = endpoints["source"], endpoints["target"]
    assert source["EngineName"] == "postgres" and source["SslMode"] == "require"
    assert source["PostgreSqlSettings"]["SecretsManagerSecretId"]["Ref"].startswith("DatabaseReplicationSourceDatabaseSecret")
    assert "SecretsManagerAccessRoleArn" in source["PostgreSqlSettings"]
    assert "Password" not in source and "Username" not in source
    s3 = target["S3Settings"]
    assert target["EngineName"] == "s3"
    assert (s3["DataFormat"], s3["BucketFolder"], s3["TimestampColumnName"]) == ("parquet", "dms", layout.COMMIT_TS_COLUMN)
    assert s3["IncludeOpForFullLoad"] is True and s3["EncryptionMode"] == "SSE_KMS"
    assert "ServerSideEncryptionKmsKeyId" in s3

    task = _one(prod, "AWS::DMS::ReplicationTask")
    assert task["MigrationType"] == "full-load-and-cdc"
    assert json.loads(task["TableMappings"]) == layout.table_mappings()


def test_dms_alarms_on_cdc_latency_and_task_failure(prod: Synthesized) -> None:
    alarms = [a["Properties"] for a in prod.resources("Sources", "AWS::CloudWatch::Alarm").values()]
    (latency,) = [a for a in alarms if a.get("MetricName") == "CDCLatencyTarget"]
    assert latency["Namespace"] == "AWS/DMS" and latency["Threshold"] == 300
    assert latency["AlarmActions"] and latency["OKActions"]
    rules = [r["Properties"] for r in prod.resources("Sources", "AWS::Events::Rule").values()]
    (failure,) = [r for r in rules if r.get("EventPattern", {}).get("source") == ["aws.dms"]]
    assert "REPLICATION_TASK_FAILED" in failure["EventPattern"]["detail"]["eventType"]
    assert failure["Targets"][0]["Arn"]["Ref"].startswith("SourcesAlarmTopic")


def test_table_mappings_select_every_replicated_table_and_add_the_change_sequence() -> None:
    from retail_lake.sources.operational_db.tables import SCHEMA, TABLES

    mappings = layout.table_mappings()
    assert layout.selected_tables(mappings) == [(SCHEMA, t.name) for t in TABLES]
    (add,) = [r for r in mappings["rules"] if r["rule-action"] == "add-column"]
    assert (add["value"], add["expression"]) == (layout.CHANGE_SEQ_COLUMN, "$AR_H_CHANGE_SEQ")


def test_file_drops_invoke_the_processor_for_csv_files_under_landing(synthesized: Synthesized) -> None:
    (notification,) = synthesized.resources("Sources", "Custom::S3BucketNotifications").values()
    (config,) = notification["Properties"]["NotificationConfiguration"]["LambdaFunctionConfigurations"]
    rules = {r["Name"]: r["Value"] for r in config["Filter"]["Key"]["FilterRules"]}
    assert rules == {"prefix": "landing/", "suffix": ".csv"}
    assert config["Events"] == ["s3:ObjectCreated:*"]
    buckets = synthesized.resources("Sources", "AWS::S3::Bucket")
    (landing,) = buckets.values()
    encryption = landing["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert landing["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    functions = synthesized.resources("Sources", "AWS::Lambda::Function")
    (processor,) = [f["Properties"] for f in functions.values()
                    if "LANDING_BUCKET" in f["Properties"].get("Environment", {}).get("Variables", {})]
    assert set(processor["Environment"]["Variables"]) >= {"CURATED_BUCKET", "QUARANTINE_BUCKET"}


def test_api_poller_runs_on_a_schedule_with_its_secret(synthesized: Synthesized) -> None:
    functions = synthesized.resources("Sources", "AWS::Lambda::Function")
    (poller_id, poller), = [(i, f["Properties"]) for i, f in functions.items()
                            if "API_SECRET_ARN" in f["Properties"].get("Environment", {}).get("Variables", {})]
    variables = poller["Environment"]["Variables"]
    assert float(variables["API_TIMEOUT_SECONDS"]) > 0 and float(variables["API_RATE_PER_SECOND"]) > 0
    rules = [r["Properties"] for r in synthesized.resources("Sources", "AWS::Events::Rule").values()
             if "ScheduleExpression" in r["Properties"]]
    (schedule,) = rules
    assert schedule["ScheduleExpression"] == "rate(1 hour)"
    assert schedule["Targets"][0]["Arn"]["Fn::GetAtt"][0] == poller_id
    assert "DeadLetterConfig" in schedule["Targets"][0]
    (secret,) = synthesized.resources("Sources", "AWS::SecretsManager::Secret").values() \
        if synthesized.stage == "dev" else [s for i, s in synthesized.resources(
            "Sources", "AWS::SecretsManager::Secret").items() if i.startswith("ApiPoller")]
    assert "KmsKeyId" in secret["Properties"]


def test_cdc_merge_job_reads_the_dms_folder_and_writes_curated_operational(synthesized: Synthesized) -> None:
    jobs = synthesized.resources("Batch", "AWS::Glue::Job")
    (job,) = [j["Properties"] for j in jobs.values() if j["Properties"]["Name"].endswith("-cdc-merge")]
    assert job["Command"]["ScriptLocation"]["Fn::Join"][1][-1].endswith("cdc_merge.py")
    arguments = json.dumps(job["DefaultArguments"])
    assert "/dms/retail/" in arguments and "/operational/" in arguments
    # personal columns are pseudonymized with the ingestion path's key
    secret_ref = json.dumps(job["DefaultArguments"]["--pseudonymization_secret_id"])
    assert "PseudonymizationSecret" in secret_ref
    assert "CdcMergeJobName" in synthesized.template("Batch")["Outputs"]
