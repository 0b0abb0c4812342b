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
    # the clear-text change files go to the restricted CDC landing bucket (Batch stack), never to the raw zone
    assert "CdcLandingBucket" in json.dumps(s3["BucketName"]) and "RawBucket" not in json.dumps(target)
    assert "CdcLandingWriterRole" in json.dumps(s3["ServiceAccessRoleArn"])
    assert "CdcLandingKey" in json.dumps(s3["ServerSideEncryptionKmsKeyId"])
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


# ---------------------------------------------------------------------------------------------- CDC landing bucket
def _landing(synth: Synthesized) -> tuple[str, dict]:
    (logical_id, bucket), = [(i, b) for i, b in synth.resources("Batch", "AWS::S3::Bucket").items()
                             if i.startswith("CdcLandingBucket")]
    return logical_id, bucket["Properties"]


def _role_id(synth: Synthesized, prefix: str) -> str:
    (logical_id,) = [i for i in synth.resources("Batch", "AWS::IAM::Role") if i.startswith(prefix)]
    return logical_id


def _statements(document: dict) -> list[dict]:
    return document["Statement"]


def _actions(statement: dict) -> set[str]:
    return {statement["Action"]} if isinstance(statement["Action"], str) else set(statement["Action"])


def test_the_cdc_landing_bucket_is_kms_encrypted_with_its_own_key_and_expires_change_files(
        synthesized: Synthesized) -> None:
    from stacks.app_builder import CDK_JSON
    from stacks.stage_config import load_stage_config

    _, bucket = _landing(synthesized)
    (key_id,) = [i for i in synthesized.resources("Batch", "AWS::KMS::Key") if i.startswith("CdcLandingKey")]
    default = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert default["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert default["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert synthesized.resources("Batch", "AWS::KMS::Key")[key_id]["Properties"]["EnableKeyRotation"] is True
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert "VersioningConfiguration" not in bucket  # an expired change file leaves no old version behind
    assert "LoggingConfiguration" in bucket
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    expected_days = load_stage_config(json.loads(CDK_JSON.read_text())["context"]["stages"],
                                      synthesized.stage).sources.cdc_landing_expiration_days
    assert rule["ExpirationInDays"] == expected_days <= 7


def test_only_the_dms_writer_writes_and_only_the_merge_job_reads_the_cdc_landing_bucket(
        synthesized: Synthesized) -> None:
    bucket_id, _ = _landing(synthesized)
    writer, merge_role = _role_id(synthesized, "CdcLandingWriterRole"), _role_id(synthesized, "BatchProcessingCdcMergeRole")
    (policy,) = [p["Properties"]["PolicyDocument"] for p in synthesized.resources("Batch", "AWS::S3::BucketPolicy").values()
                 if p["Properties"]["Bucket"] == {"Ref": bucket_id}]
    denies = {s["Sid"]: s for s in _statements(policy) if s["Effect"] == "Deny" and "Sid" in s}
    read, write = denies["OnlyTheMergeJobReadsChangeFiles"], denies["OnlyTheDmsWriterRoleWritesChangeFiles"]
    assert read["Principal"] == {"AWS": "*"} and "s3:GetObject" in _actions(read)
    assert read["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [merge_role, "Arn"]}}}
    assert write["Principal"] == {"AWS": "*"} and "s3:PutObject" in _actions(write)
    assert write["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [writer, "Arn"]}}}

    # the key: the account administers it, only the two roles use it, and only through S3
    (key,) = [k["Properties"]["KeyPolicy"] for i, k in synthesized.resources("Batch", "AWS::KMS::Key").items()
              if i.startswith("CdcLandingKey")]
    data_actions = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncrypt*", "kms:*"}
    users = {}
    for statement in _statements(key):
        used = _actions(statement) & data_actions
        if used:
            users[json.dumps(statement["Principal"])] = used
            assert statement["Condition"]["StringEquals"]["kms:ViaService"]
    assert users == {json.dumps({"AWS": {"Fn::GetAtt": [writer, "Arn"]}}): {"kms:GenerateDataKey", "kms:Decrypt"},
                     json.dumps({"AWS": {"Fn::GetAtt": [merge_role, "Arn"]}}): {"kms:Decrypt"}}

    # no other identity policy of the app names the landing bucket or its key
    for stack, template in synthesized.templates.items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::IAM::Policy" or stack.endswith("-Batch") and any(
                    r["Ref"] in (writer, merge_role) for r in resource["Properties"]["Roles"]):
                continue
            text = json.dumps(resource["Properties"])
            assert "CdcLanding" not in text, (stack, logical_id)


def test_no_catalog_table_points_at_the_cdc_landing_bucket(synthesized: Synthesized) -> None:
    tables = [t for template in synthesized.templates.values() for t in template["Resources"].values()
              if t["Type"] == "AWS::Glue::Table"]
    assert tables and not any("CdcLanding" in json.dumps(t) for t in tables)


def test_the_merge_job_reads_the_landing_bucket_and_merges_on_a_schedule_when_dms_is_on(prod: Synthesized) -> None:
    (job_id, job), = [(i, j["Properties"]) for i, j in prod.resources("Batch", "AWS::Glue::Job").items()
                      if j["Properties"]["Name"].endswith("-cdc-merge")]
    assert "CdcLandingBucket" in json.dumps(job["DefaultArguments"]["--changes_path"])
    (trigger,) = [t["Properties"] for t in prod.resources("Batch", "AWS::Glue::Trigger").values()]
    assert trigger["Type"] == "SCHEDULED" and trigger["StartOnCreation"] is True
    assert trigger["Schedule"].startswith("cron(") and trigger["Actions"] == [{"JobName": {"Ref": job_id}}]


def test_dev_has_the_landing_bucket_for_the_twin_but_no_merge_schedule(dev: Synthesized) -> None:
    assert _landing(dev)[1]
    assert not dev.resources("Batch", "AWS::Glue::Trigger")
    assert {"CdcLandingBucketName", "CdcLandingKeyArn", "CdcWriterRoleArn"} <= set(dev.template("Batch")["Outputs"])


# ---------------------------------------------------------------------------------------------- catalog tables
def test_curated_tables_of_the_sources_are_declared_once_and_catalogued(synthesized: Synthesized) -> None:
    from retail_lake.sources.catalog import source_tables

    tables = {t["Properties"]["TableInput"]["Name"]: t["Properties"]
              for t in synthesized.resources("Sources", "AWS::Glue::Table").values()}
    definitions = {d.name: d for d in source_tables()}
    assert set(tables) == set(definitions) >= {"operational_customers", "operational_customers_history",
                                               "supplier_price_lists", "product_catalog_updates"}
    for name, table in tables.items():
        definition = definitions[name]
        storage = table["TableInput"]["StorageDescriptor"]
        assert [(c["Name"], c["Type"]) for c in storage["Columns"]] == definition.column_types, name
        assert storage["Location"]["Fn::Join"][1][-1] == f"/{definition.prefix}"
        assert "CuratedBucket" in json.dumps(storage["Location"])
        assert "CuratedDatabase" in json.dumps(table["DatabaseName"])
        assert table["TableInput"]["Parameters"]["classification"] == "parquet"
    comment = {c["Name"]: c.get("Comment", "") for c in
               tables["operational_customers"]["TableInput"]["StorageDescriptor"]["Columns"]}
    assert all("pseudonym" in comment[c] for c in ("first_name", "last_name", "email", "phone", "street"))
