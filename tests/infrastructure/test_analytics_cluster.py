"""The AnalyticsCluster stack (EMR Serverless application + job role), synthesized once in a small app of its own
(the dev Storage and Batch stacks and this stack, cdk-nag on): application settings, least-privilege role, outputs,
cdk-nag and cfn-lint clean."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from stacks.analytics_cluster import AnalyticsClusterProps, AnalyticsClusterStack
from stacks.app_builder import _cdk_json_context, stage_config
from stacks.batch.batch_stack import BatchStack
from stacks.nag import MIN_REASON_LENGTH
from stacks.storage.storage_stack import StorageStack

STACK = "RetailLake-dev-AnalyticsCluster"
STORAGE = "RetailLake-dev-Storage"
BATCH = "RetailLake-dev-Batch"
DEEQU_JAR = "glue/jars/deequ-2.0.21-spark-3.5.jar"  # the Glue quality gate's jar object
JOB_ROLE = "AnalyticsClusterJobRole"  # logical id prefix (the BucketDeployment provider has a role too)
HANDLER = "Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C"


@dataclass
class Synth:
    app: App
    outdir: Path
    error: str | None
    template: dict[str, Any]

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == resource_type}

    def one(self, resource_type: str, prefix: str = "") -> dict[str, Any]:
        (resource,) = [r for k, r in self.resources(resource_type).items() if k.startswith(prefix)]
        return resource


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    outdir = tmp_path_factory.mktemp("cdk-analytics")
    app = App(context=_cdk_json_context(), outdir=str(outdir))
    config = stage_config(app, "dev")
    storage = StorageStack(app, config.stack_name("Storage"), config=config)
    batch = BatchStack(app, config.stack_name("Batch"), config=config, storage=storage.storage)
    AnalyticsClusterStack(app, config.stack_name("AnalyticsCluster"), config=config, storage=storage.storage,
                          quality_gate=batch.quality_gate)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    error = None
    try:
        app.synth()
    except RuntimeError as exc:
        error = str(exc)
    return Synth(app, outdir, error, json.loads((outdir / f"{STACK}.template.json").read_text()))


def _import(name_part: str, stack: str = STORAGE) -> dict:
    return {"Fn::ImportValue": re.compile(f"^{stack}:ExportsOutput.*{name_part}")}


def _matches(value: Any, pattern: Any) -> bool:
    if isinstance(pattern, re.Pattern):
        return isinstance(value, str) and bool(pattern.match(value))
    if isinstance(pattern, dict):
        return isinstance(value, dict) and value.keys() == pattern.keys() and all(
            _matches(value[k], p) for k, p in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and len(value) == len(pattern) and all(map(_matches, value, pattern))
    return value == pattern


def _objects(bucket: str, prefix: str = "") -> dict:
    return {"Fn::Join": ["", [_import(f"{bucket}.*Arn"), f"/{prefix}*"]]}


def test_application_is_spark_on_an_emr7_release_with_spark_35(synth: Synth) -> None:
    props = synth.one("AWS::EMRServerless::Application")["Properties"]
    assert (props["Type"], props["ReleaseLabel"], props["Name"]) == ("SPARK", "emr-7.5.0", "retaillake-dev-analytics")
    assert re.fullmatch(r"emr-7\.\d+\.0", AnalyticsClusterProps.release_label)  # every EMR 7.x carries Spark 3.5
    assert props["AutoStartConfiguration"] == {"Enabled": True}
    assert props["AutoStopConfiguration"] == {"Enabled": True, "IdleTimeoutMinutes": 15}
    assert props["MaximumCapacity"] == {"Cpu": "16 vCPU", "Memory": "64 GB", "Disk": "200 GB"}
    assert "NetworkConfiguration" not in props


def test_logs_go_to_the_artifacts_bucket_encrypted_with_the_lake_key(synth: Synth) -> None:
    s3_monitoring = synth.one("AWS::EMRServerless::Application")["Properties"]["MonitoringConfiguration"][
        "S3MonitoringConfiguration"]
    assert _matches(s3_monitoring, {
        "LogUri": {"Fn::Join": ["", ["s3://", _import("Ref.*ArtifactsBucket"), "/emr-serverless/logs/"]]},
        "EncryptionKeyArn": _import("DataLakeKey.*Arn"),
    })


def test_job_role_is_assumed_by_emr_serverless_of_this_account_only(synth: Synth) -> None:
    (statement,) = synth.one("AWS::IAM::Role", JOB_ROLE)["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "emr-serverless.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "emr-serverless" in json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])
    assert "ManagedPolicyArns" not in synth.one("AWS::IAM::Role", JOB_ROLE)["Properties"]


def test_job_role_policy_is_least_privilege(synth: Synth) -> None:
    statements = synth.one("AWS::IAM::Policy", JOB_ROLE)["Properties"]["PolicyDocument"]["Statement"]
    grants: list[tuple[tuple[str, ...], list]] = []
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        grants.append((tuple(sorted(actions)), resources))
        assert not any("*" in a for a in actions), actions
        if actions == ["cloudwatch:PutMetricData"]:  # no resource-level permission: limited to one namespace
            assert resources == ["*"]
            assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "RetailLake/Quality"}}
        else:
            assert "*" not in resources
    by_actions = {actions: resources for actions, resources in grants
                  if actions not in (("s3:ListBucket",), ("s3:GetObject",))}
    reads = [resources for actions, resources in grants if actions == ("s3:GetObject",)]
    # the zones and the scripts prefix (entry points, package zip, Python packages zip); the Deequ jar exactly
    assert len(reads) == 2 and _matches(reads[0], [
        _objects("AnalyticsBucket"), _objects("ArtifactsBucket", "emr/"), _objects("CuratedBucket"),
    ])
    assert _matches(reads[1], [{"Fn::Join": ["", [_import("ArtifactsBucket.*Arn"), f"/{DEEQU_JAR}"]]}])
    assert _matches(by_actions[("sns:Publish",)], [{"Fn::ImportValue": re.compile(f"^{BATCH}:.*QualityTopic")}])
    assert _matches(by_actions[("kms:Decrypt", "kms:GenerateDataKey")],
                    [_import("QualityKey.*Arn", BATCH)])
    assert _matches(by_actions[("s3:AbortMultipartUpload", "s3:DeleteObject", "s3:PutObject")], [
        _objects("AnalyticsBucket"), _objects("ArtifactsBucket", "emr-serverless/logs/"),
    ])
    assert _matches(by_actions[("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")],
                    [_import("DataLakeKey.*Arn")])
    assert len(by_actions) == 5
    listing = [s for s in statements if s["Action"] == "s3:ListBucket"]
    (zones_list,) = [s for s in listing if "Condition" not in s]  # CDK merges the two zone buckets' statements
    assert _matches(zones_list["Resource"], [_import("AnalyticsBucket.*Arn"), _import("CuratedBucket.*Arn")])
    (artifacts_list,) = [s for s in listing if "Condition" in s]
    assert _matches(artifacts_list["Resource"], _import("ArtifactsBucket.*Arn"))
    assert artifacts_list["Condition"] == {"StringLike": {"s3:prefix": ["emr/", "emr/*"]}}
    text = json.dumps(statements)
    for other in ("RawBucket", "QuarantineBucket", "AthenaResultsBucket", "AccessLogsBucket"):
        assert other not in text


def test_outputs(synth: Synth) -> None:
    outputs = synth.template["Outputs"]
    assert set(outputs) == {"EmrApplicationId", "EmrApplicationArn", "EmrJobRoleArn", "EmrStepsUri", "EmrLibraryKey",
                            "EmrPythonDepsKey", "EmrDeequJarKey", "EmrQualityPipeline"}
    assert outputs["EmrDeequJarKey"]["Value"] == DEEQU_JAR
    assert outputs["EmrQualityPipeline"]["Value"] == "retail-lake-dev"
    (app_id,) = synth.resources("AWS::EMRServerless::Application")
    (role_id,) = [k for k in synth.resources("AWS::IAM::Role") if k.startswith(JOB_ROLE)]
    assert outputs["EmrApplicationId"]["Value"] == {"Fn::GetAtt": [app_id, "ApplicationId"]}
    assert outputs["EmrApplicationArn"]["Value"] == {"Fn::GetAtt": [app_id, "Arn"]}
    assert outputs["EmrJobRoleArn"]["Value"] == {"Fn::GetAtt": [role_id, "Arn"]}
    (steps_id,) = [k for k in synth.resources("Custom::CDKBucketDeployment") if k.startswith(
        "AnalyticsClusterEmrSteps")]
    # the bucket as the deployment reports it (an import re-exported as an output is cfn-lint W6001)
    steps_uri = json.dumps(outputs["EmrStepsUri"]["Value"])
    assert steps_uri.startswith('{"Fn::Join": ["", ["s3://", ') and steps_uri.endswith('"/emr/steps/"]]}')
    assert json.dumps({"Fn::GetAtt": [steps_id, "DestinationBucketArn"]}) in steps_uri
    (library_id,) = [k for k in synth.resources("Custom::CDKBucketDeployment") if k.startswith(
        "AnalyticsClusterEmrLibrary")]
    assert outputs["EmrLibraryKey"]["Value"] == {"Fn::Join": ["", [
        "emr/library/", {"Fn::Select": [0, {"Fn::GetAtt": [library_id, "SourceObjectKeys"]}]}]]}
    (deps_id,) = [k for k in synth.resources("Custom::CDKBucketDeployment") if k.startswith(
        "AnalyticsClusterEmrPythonDeps")]
    assert outputs["EmrPythonDepsKey"]["Value"] == {"Fn::Join": ["", [
        "emr/python/", {"Fn::Select": [0, {"Fn::GetAtt": [deps_id, "SourceObjectKeys"]}]}]]}


def test_steps_and_package_zip_are_deployed_under_the_scripts_prefix(synth: Synth) -> None:
    deployments = {k: v["Properties"] for k, v in synth.resources("Custom::CDKBucketDeployment").items()}
    assert len(deployments) == 3
    by_prefix = {props["DestinationBucketKeyPrefix"]: props for props in deployments.values()}
    assert set(by_prefix) == {"emr/steps/", "emr/library/", "emr/python/"}
    for props in by_prefix.values():
        assert _matches(props["DestinationBucketName"], _import("Ref.*ArtifactsBucket"))
        assert props.get("RetainOnDelete", True) is not stage_config(synth.app, "dev").remove_data_on_destroy
    assert by_prefix["emr/library/"]["Extract"] is False  # the zip itself is the --py-files archive
    assert by_prefix["emr/python/"]["Extract"] is False  # the zip itself is the spark.archives archive
    assert "Extract" not in by_prefix["emr/steps/"]
    # the asset folders: emr_steps/ (the three entry points) and the Glue jobs' package folder, reused
    manifest = json.loads((synth.outdir / f"{STACK}.assets.json").read_text())
    sources = {Path(f["source"]["path"]).name for f in manifest["files"].values()}
    assets = {synth.outdir / f["source"]["path"] for f in manifest["files"].values()}
    steps = [a for a in assets if a.is_dir() and (a / "demand_forecast.py").is_file()]
    assert len(steps) == 1 and sorted(p.name for p in steps[0].iterdir()) == [
        "customer_segmentation.py", "demand_forecast.py", "product_affinity.py"], sources
    assert [a for a in assets if a.is_dir() and (a / "retail_lake" / "batch" / "ml.py").is_file()]
    # the driver's Python packages: the build's site folder, packages at the zip's root, no stamp
    (deps,) = [a for a in assets if a.is_dir() and (a / "pydeequ").is_dir()]
    assert (deps / "yaml").is_dir() and (deps / "boto3").is_dir() and not (deps / ".stamp").exists()


def test_cdk_nag_has_no_unacknowledged_findings(synth: Synth) -> None:
    assert synth.error is None, synth.error
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    assert [v["ruleName"] for p in report["pluginReports"] for v in p.get("violations", [])] == []


def test_acknowledgements_are_the_four_object_wildcards_and_the_metrics_namespace_with_reasons(synth: Synth) -> None:
    found: dict[str, str] = {}
    handler: dict[str, str] = {}

    def walk(construct) -> None:
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                rules = {k.removeprefix("Annotation::"): v for k, v in dict(entry.data).items()}
                if construct.node.path == f"{STACK}/{HANDLER}":  # the CDK's BucketDeployment provider
                    handler.update(rules)
                    continue
                assert construct.node.path == f"{STACK}/AnalyticsCluster/JobRole", construct.node.path
                found.update(rules)
        for child in construct.node.children:
            walk(child)

    walk(synth.app.node.find_child(STACK))
    suffixes = sorted(re.sub(r"^AwsSolutions-IAM5\[Resource::.*?(CuratedBucket|AnalyticsBucket|ArtifactsBucket)"
                             r"[^/]*", r"\1", rule) for rule in found)
    assert suffixes == ["AnalyticsBucket/*]", "ArtifactsBucket/emr-serverless/logs/*]", "ArtifactsBucket/emr/*]",
                        "AwsSolutions-IAM5[Resource::*]", "CuratedBucket/*]"]
    assert "cloudwatch:namespace" in found["AwsSolutions-IAM5[Resource::*]"]
    assert all(len(reason) >= MIN_REASON_LENGTH for reason in found.values())
    assert len(handler) == 11 and all(len(reason) >= MIN_REASON_LENGTH for reason in handler.values())
    assert {"AwsSolutions-L1", "AwsSolutions-IAM5[Action::s3:DeleteObject*]"} <= set(handler)


def test_templates_pass_cfn_lint(synth: Synth) -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    executable = str(cfn_lint) if cfn_lint.exists() else shutil.which("cfn-lint")
    assert executable, "cfn-lint is not installed; install the `cdk` extra (pip install -e '.[cdk]')"
    result = subprocess.run([executable, "--format", "parseable", *map(str, synth.outdir.glob("*.template.json"))],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_props_reject_bad_prefixes_and_timeouts(synth: Synth) -> None:
    storage = synth.app.node.find_child(STORAGE).storage
    gate = synth.app.node.find_child(BATCH).quality_gate
    config = stage_config(synth.app, "dev")
    for bad in ({"idle_timeout_minutes": 0}, {"scripts_prefix": "emr"}, {"logs_prefix": "/logs/"}):
        with pytest.raises(ValueError):
            AnalyticsClusterProps(storage=storage, config=config, quality_topic=gate.topic, quality_key=gate.key,
                                  deequ_jar_key=gate.deequ_jar_key, quality_pipeline="retail-lake-dev", **bad)


def test_every_job_run_gets_the_deequ_jar_and_the_python_packages_by_default(synth: Synth) -> None:
    """The application's spark-defaults: a run submitted any way (not only by the steps' job driver) has Deequ on
    its classpath and the packages zip unpacked as pydeps/."""
    (runtime,) = synth.one("AWS::EMRServerless::Application")["Properties"]["RuntimeConfiguration"]
    assert runtime["Classification"] == "spark-defaults" and set(runtime["Properties"]) == {"spark.jars",
                                                                                          "spark.archives"}
    assert _matches(runtime["Properties"]["spark.jars"],
                    {"Fn::Join": ["", ["s3://", _import("Ref.*ArtifactsBucket"), f"/{DEEQU_JAR}"]]})
    archives = json.dumps(runtime["Properties"]["spark.archives"])
    (deps_id,) = [k for k in synth.resources("Custom::CDKBucketDeployment") if k.startswith(
        "AnalyticsClusterEmrPythonDeps")]
    assert '/emr/python/"' in archives and deps_id in archives and archives.endswith('"#pydeps"]]}')
