"""The Batch stack: Glue 5.0 jobs raw -> curated (one per dataset) and curated -> analytics, a least-privilege
role each, the curated and analytics databases, and the job code deployed to the artifacts bucket."""

from __future__ import annotations

import json
from typing import Any

from retail_lake.contracts.registry import DATASETS
from stacks.batch.batch_processing_props import ANALYTICS_TABLES
from tests.conftest import Synthesized

STANDARD_ARGUMENTS = {
    "--job-language": "python",
    "--enable-metrics": "true",
    "--enable-continuous-cloudwatch-log": "true",
    "--enable-glue-datacatalog": "true",
    "--job-bookmark-option": "job-bookmark-disable",
}


def _jobs(synth: Synthesized) -> dict[str, dict[str, Any]]:
    return {job["Properties"]["Name"]: job for job in synth.resources("Batch", "AWS::Glue::Job").values()}


def _bucket_of(s3_uri: dict) -> str:
    """Which lake bucket an `s3://<bucket>/...` Fn::Join targets, by the name of the imported export."""
    (_, parts) = s3_uri["Fn::Join"]
    name = parts[1]["Fn::ImportValue"]
    return name.split("ExportsOutputRefDataLake", 1)[1].split("Bucket", 1)[0].lower()


def _path(s3_uri: dict) -> str:
    (_, parts) = s3_uri["Fn::Join"]
    return "".join(p for p in parts[2:] if isinstance(p, str))


def _location(s3_uri: dict) -> tuple[str, str]:
    return _bucket_of(s3_uri), _path(s3_uri)


def _statements(synth: Synthesized, role_logical_id: str) -> dict[str, dict]:
    policies = [
        p for p in synth.resources("Batch", "AWS::IAM::Policy").values()
        if {"Ref": role_logical_id} in p["Properties"]["Roles"]
    ]
    assert len(policies) == 1
    return {s["Sid"]: s for s in policies[0]["Properties"]["PolicyDocument"]["Statement"]}


def _role_of(job: dict) -> str:
    return job["Properties"]["Role"]["Fn::GetAtt"][0]


def _object_prefixes(statement: dict) -> set[tuple[str, str]]:
    """(bucket, key pattern) of each object ARN: `<export of bucket ARN>/<pattern>`."""
    found = set()
    for resource in statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]:
        (_, parts) = resource["Fn::Join"]
        bucket = parts[0]["Fn::ImportValue"].split("ExportsOutputFnGetAttDataLake", 1)[1].split("Bucket", 1)[0]
        found.add((bucket.lower(), parts[1].lstrip("/")))
    return found


def test_one_raw_to_curated_job_per_dataset_and_one_analytics_job(synthesized: Synthesized) -> None:
    stage = synthesized.stage
    expected = {f"retail-lake-{stage}-raw-to-curated-{d.replace('_', '-')}" for d in DATASETS}
    expected.add(f"retail-lake-{stage}-curated-to-analytics")
    expected.add(f"retail-lake-{stage}-quality-gate")
    expected.add(f"retail-lake-{stage}-cdc-merge")  # the database source's merge (stacks/sources)
    jobs = _jobs(synthesized)
    assert set(jobs) == expected
    for job in jobs.values():
        props = job["Properties"]
        assert props["GlueVersion"] == "5.0"
        assert props["Command"]["Name"] == "glueetl" and props["Command"]["PythonVersion"] == "3"
        assert props["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
        assert props["MaxRetries"] == 0 and props["Timeout"] > 0
        arguments = props["DefaultArguments"]
        assert {k: arguments[k] for k in STANDARD_ARGUMENTS} == STANDARD_ARGUMENTS
        assert "--run_date" not in arguments  # each run names its business date
        library = arguments["--extra-py-files"]["Fn::Join"][1]
        assert library[2] == "/glue/library/"
        assert library[3] == {"Fn::Select": [0, {"Fn::GetAtt": [
            next(k for k in synthesized.resources("Batch", "Custom::CDKBucketDeployment") if "GlueLibrary" in k),
            "SourceObjectKeys"]}]}
        assert _bucket_of(arguments["--TempDir"]) == "artifacts"
        assert _path(arguments["--TempDir"]) == f"/glue/temp/{props['Name']}/"


def test_job_arguments_point_at_the_lake_buckets(synthesized: Synthesized) -> None:
    jobs = _jobs(synthesized)
    for dataset in DATASETS:
        job = jobs[f"retail-lake-{synthesized.stage}-raw-to-curated-{dataset.replace('_', '-')}"]
        arguments = job["Properties"]["DefaultArguments"]
        assert arguments["--dataset"] == dataset
        assert _location(arguments["--raw_path"]) == ("raw", f"/{dataset}/")
        assert _location(arguments["--reference_path"]) == ("raw", "/reference/")
        assert _location(arguments["--curated_path"]) == ("curated", f"/{dataset}/")
        assert _path(job["Properties"]["Command"]["ScriptLocation"]) == "/glue/scripts/raw_to_curated.py"
    analytics = jobs[f"retail-lake-{synthesized.stage}-curated-to-analytics"]["Properties"]
    arguments = analytics["DefaultArguments"]
    assert _location(arguments["--curated_path"]) == ("curated", "/")
    assert _location(arguments["--analytics_path"]) == ("analytics", "/")
    assert _path(analytics["Command"]["ScriptLocation"]) == "/glue/scripts/curated_to_analytics.py"


def test_each_job_has_its_own_least_privilege_role(synthesized: Synthesized) -> None:
    jobs = _jobs(synthesized)
    roles = {name: _role_of(job) for name, job in jobs.items()}
    assert len(set(roles.values())) == len(jobs)
    for logical_id, role in synthesized.resources("Batch", "AWS::IAM::Role").items():
        if logical_id in roles.values():
            assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
                "Service": "glue.amazonaws.com"}
            assert "ManagedPolicyArns" not in role["Properties"]
    code = {("artifacts", "glue/scripts/*"), ("artifacts", "glue/library/*")}
    for dataset in DATASETS:
        name = f"retail-lake-{synthesized.stage}-raw-to-curated-{dataset.replace('_', '-')}"
        statements = _statements(synthesized, roles[name])
        assert statements["ReadInputsAndCode"]["Action"] == "s3:GetObject"
        assert _object_prefixes(statements["ReadInputsAndCode"]) == {
            ("raw", f"{dataset}/*"), ("raw", "reference/*"), *code}
        assert set(statements["RewriteOutputPartitions"]["Action"]) == {
            "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}
        assert _object_prefixes(statements["RewriteOutputPartitions"]) == {
            ("curated", f"{dataset}/*"), ("quarantine", f"curated/{dataset}/*"), ("artifacts", f"glue/temp/{name}/*")}
    name = f"retail-lake-{synthesized.stage}-curated-to-analytics"
    statements = _statements(synthesized, roles[name])
    assert _object_prefixes(statements["ReadInputsAndCode"]) == {("curated", "*"), ("raw", "reference/*"), *code}
    assert _object_prefixes(statements["RewriteOutputPartitions"]) == {
        *{("analytics", f"{table}/*") for table in ANALYTICS_TABLES}, ("artifacts", f"glue/temp/{name}/*")}
    for role in roles.values():
        statements = _statements(synthesized, role)
        assert set(statements["UseLakeKey"]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
        assert "DataLakeKey" in json.dumps(statements["UseLakeKey"]["Resource"])
        assert "/aws-glue/*" in json.dumps(statements["WriteGlueLogs"]["Resource"])
        assert statements["PublishGlueMetrics"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Glue"}}
        listing = [s for sid, s in statements.items() if sid.startswith("ListPrefixes")]
        assert listing and all(s["Action"] == "s3:ListBucket" and "s3:prefix" in s["Condition"]["StringLike"]
                               for s in listing)
        everything = json.dumps(statements)
        assert '"s3:*"' not in everything and '"kms:*"' not in everything and '"glue:*"' not in everything


def test_curated_and_analytics_databases(synthesized: Synthesized) -> None:
    databases = {
        db["Properties"]["DatabaseInput"]["Name"]: db["Properties"]
        for db in synthesized.resources("Batch", "AWS::Glue::Database").values()
    }
    stage = synthesized.stage
    assert set(databases) == {f"retail_lake_{stage}_curated", f"retail_lake_{stage}_analytics",
                              f"retail_lake_{stage}_quality"}
    for props in databases.values():
        assert props["CatalogId"] == {"Ref": "AWS::AccountId"}
    outputs = synthesized.template("Batch")["Outputs"]
    assert {"CuratedDatabaseName", "AnalyticsDatabaseName", "CuratedToAnalyticsJobName", "GlueLibraryKey",
            "RawToCuratedPosSalesJobName", "RawToCuratedInventoryMovementsJobName",
            "RawToCuratedClickstreamJobName"} <= set(outputs)


def test_job_code_is_deployed_to_the_artifacts_bucket(synthesized: Synthesized) -> None:
    deployments = synthesized.resources("Batch", "Custom::CDKBucketDeployment")
    by_prefix = {d["Properties"]["DestinationBucketKeyPrefix"]: d["Properties"] for d in deployments.values()}
    assert set(by_prefix) == {"glue/scripts/", "glue/library/"}
    for props in by_prefix.values():
        assert "ArtifactsBucket" in props["DestinationBucketName"]["Fn::ImportValue"]
        assert len(props["SourceObjectKeys"]) == 1 and props["SourceObjectKeys"][0].endswith(".zip")
    assert by_prefix["glue/library/"]["Extract"] is False  # the zip is the --extra-py-files archive
    assert by_prefix["glue/scripts/"].get("Extract", True) is True
    # the scripts are in place before any job exists
    (scripts,) = [k for k, d in deployments.items() if d["Properties"]["DestinationBucketKeyPrefix"] == "glue/scripts/"]
    for job in synthesized.resources("Batch", "AWS::Glue::Job").values():
        assert scripts in job["DependsOn"]
    # the assets: the two entry scripts, and the package without byte code
    manifest = json.loads((synthesized.outdir / f"RetailLake-{synthesized.stage}-Batch.assets.json").read_text())
    sources = {entry["source"]["path"] for entry in manifest["files"].values()}
    script_dirs = [synthesized.outdir / p for p in sources if (synthesized.outdir / p / "raw_to_curated.py").is_file()]
    assert len(script_dirs) == 1
    assert sorted(p.name for p in script_dirs[0].iterdir()) == [
        "cdc_merge.py", "curated_to_analytics.py", "quality_gate.py", "raw_to_curated.py"]
    library = [synthesized.outdir / p for p in sources if (synthesized.outdir / p / "retail_lake").is_dir()]
    assert len(library) == 1 and (library[0] / "retail_lake" / "batch" / "job_args.py").is_file()
    assert not list(library[0].rglob("__pycache__"))


# ------------------------------------------------------------------------------------------ security configuration


def _security_configuration(synth: Synthesized) -> tuple[str, dict]:
    (item,) = synth.resources("Batch", "AWS::Glue::SecurityConfiguration").items()
    return item


def test_every_job_runs_under_the_kms_security_configuration(synthesized: Synthesized) -> None:
    logical_id, configuration = _security_configuration(synthesized)
    props = configuration["Properties"]
    assert props["Name"] == f"retail-lake-{synthesized.stage}-glue-jobs"
    encryption = props["EncryptionConfiguration"]
    (s3_encryption,) = encryption["S3Encryptions"]
    assert s3_encryption["S3EncryptionMode"] == "SSE-KMS"
    assert "DataLakeKey" in json.dumps(s3_encryption["KmsKeyArn"])  # the lake key, as the buckets' default
    (job_key_id,) = [k for k in synthesized.resources("Batch", "AWS::KMS::Key") if "JobKey" in k]
    assert encryption["CloudWatchEncryption"] == {
        "CloudWatchEncryptionMode": "SSE-KMS", "KmsKeyArn": {"Fn::GetAtt": [job_key_id, "Arn"]}}
    assert encryption["JobBookmarksEncryption"] == {
        "JobBookmarksEncryptionMode": "CSE-KMS", "KmsKeyArn": {"Fn::GetAtt": [job_key_id, "Arn"]}}
    jobs = _jobs(synthesized)
    assert jobs and all(job["Properties"]["SecurityConfiguration"] == {"Ref": logical_id} for job in jobs.values())
    for job in jobs.values():
        statements = _statements(synthesized, _role_of(job))
        assert set(statements["UseJobKey"]["Action"]) == {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"}
        assert statements["UseJobKey"]["Resource"] == {"Fn::GetAtt": [job_key_id, "Arn"]}
        assert "logs:AssociateKmsKey" in statements["WriteGlueLogs"]["Action"]


def test_the_job_key_lets_cloudwatch_logs_of_the_region_encrypt_only_glue_log_groups(
        synthesized: Synthesized) -> None:
    ((_, key),) = [(k, v) for k, v in synthesized.resources("Batch", "AWS::KMS::Key").items() if "JobKey" in k]
    assert key["Properties"]["EnableKeyRotation"] is True
    expected_policy = "Delete" if synthesized.stage == "dev" else "Retain"
    assert key["DeletionPolicy"] == expected_policy
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    (logs,) = [s for s in statements if s.get("Sid") == "CloudWatchLogsEncryptsGlueLogGroups"]
    principal = json.dumps(logs["Principal"]["Service"])
    assert "logs." in principal and ("AWS::Region" in principal or ".amazonaws.com" in principal)
    assert "kms:*" not in json.dumps(logs["Action"])
    (context_arn,) = logs["Condition"]["ArnLike"].values()
    assert list(logs["Condition"]["ArnLike"]) == ["kms:EncryptionContext:aws:logs:arn"]
    assert ":log-group:/aws-glue/*" in json.dumps(context_arn)
