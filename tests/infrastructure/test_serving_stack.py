"""The Serving stack: Athena in every stage; Redshift Serverless, the SageMaker notebook instance and their VPC in
prod (cdk.json); QuickSight when a stage turns it on (synthesized here with a stage config that does)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from retail_lake.serving import catalog
from retail_lake.serving.redshift import GOLD_TABLES
from retail_lake.serving.reference import REFERENCE_TABLES
from stacks.app_builder import CDK_JSON, build_app
from stacks.serving.serving_config import QuickSightConfig, ServingConfig
from stacks.stage_config import StageConfigError, load_stage_config
from tests.conftest import Synthesized

SERVING = "Serving"
PRINCIPAL = "arn:aws:quicksight:eu-west-1:123456789012:group/default/analysts"


def _one(synthesized: Synthesized, resource_type: str) -> dict[str, Any]:
    (resource,) = synthesized.resources(SERVING, resource_type).values()
    return resource["Properties"]


def _text(value: Any) -> str:
    """A template value with intrinsic functions flattened to text (imports and refs shown by their names)."""
    return json.dumps(value, sort_keys=True)


# ------------------------------------------------------------------------------------------ Athena
def test_workgroup_is_engine_v3_with_enforced_kms_encrypted_results_and_a_cutoff(synthesized: Synthesized) -> None:
    workgroup = _one(synthesized, "AWS::Athena::WorkGroup")
    assert workgroup["Name"] == f"retail-lake-{synthesized.stage}"
    assert workgroup["State"] == "ENABLED"
    configuration = workgroup["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    assert configuration["PublishCloudWatchMetricsEnabled"] is True
    cutoff_mb = {"dev": 10240, "prod": 102400}[synthesized.stage]
    assert configuration["BytesScannedCutoffPerQuery"] == cutoff_mb * 1024 * 1024
    results = configuration["ResultConfiguration"]
    assert results["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert "DataLakeKey" in _text(results["EncryptionConfiguration"]["KmsKey"])
    assert "AthenaResultsBucket" in _text(results["OutputLocation"]) and _text(results["OutputLocation"]).endswith(
        '"/results/"]]}')
    assert results["ExpectedBucketOwner"] == {"Ref": "AWS::AccountId"}


def test_named_queries_hold_the_sql_of_the_files(synthesized: Synthesized) -> None:
    queries = {q["Properties"]["Name"]: q["Properties"]
               for q in synthesized.resources(SERVING, "AWS::Athena::NamedQuery").values()}
    files = catalog.named_queries()
    views = catalog.views()
    assert set(queries) == {f.title for f in files.values()} | {f"view {name}" for name in views}
    assert len(files) == 6
    for name, file in [*files.items(), *views.items()]:
        query = queries[file.title if name in files else f"view {name}"]
        assert query["Description"] == file.description
        assert query["WorkGroup"] == {"Ref": next(iter(synthesized.resources(SERVING, "AWS::Athena::WorkGroup")))}
        assert "AnalyticsDatabase" in _text(query["Database"])
        # the SQL is the file's with the database names filled in at deploy time
        text = _text(query["QueryString"])
        for piece in re.split(r"\$\{\w+\}", file.sql):
            for line in filter(None, piece.splitlines()):
                assert json.dumps(line)[1:-1] in text, (name, line)


def test_data_quality_query_reads_the_quality_database(synthesized: Synthesized) -> None:
    (query,) = [q["Properties"] for q in synthesized.resources(SERVING, "AWS::Athena::NamedQuery").values()
                if q["Properties"]["Name"] == "Data-quality failures by dataset"]
    assert "QualityGateQualityDatabase" in _text(query["QueryString"])


def test_reference_dimensions_are_glue_tables_over_the_raw_reference_prefix(synthesized: Synthesized) -> None:
    tables = {t["Properties"]["TableInput"]["Name"]: t["Properties"]
              for t in synthesized.resources(SERVING, "AWS::Glue::Table").values()}
    assert set(tables) == {t.glue_name for t in REFERENCE_TABLES}
    for reference in REFERENCE_TABLES:
        table = tables[reference.glue_name]
        descriptor = table["TableInput"]["StorageDescriptor"]
        assert [(c["Name"], c["Type"]) for c in descriptor["Columns"]] == reference.columns()
        assert "RawBucket" in _text(descriptor["Location"])
        assert _text(descriptor["Location"]).endswith(f'"/reference/{reference.folder}/"]]}}')
        assert "Parquet" in descriptor["SerdeInfo"]["SerializationLibrary"]
        assert "AnalyticsDatabase" in _text(table["DatabaseName"])


def test_outputs_name_the_workgroup_and_every_named_query(synthesized: Synthesized) -> None:
    outputs = synthesized.template(SERVING)["Outputs"]
    assert "AthenaWorkGroupName" in outputs
    for name in [*catalog.named_queries(), *catalog.views()]:
        prefix = "ViewQuery" if name in catalog.views() else "NamedQuery"
        assert f"{prefix}{''.join(p.title() for p in name.split('_'))}Id" in outputs


# ------------------------------------------------------------------------------------------ optional parts
def test_dev_has_no_warehouse_notebooks_quicksight_or_vpc(dev: Synthesized) -> None:
    types = {r["Type"] for r in dev.template(SERVING)["Resources"].values()}
    assert not {t for t in types if t.startswith(("AWS::RedshiftServerless", "AWS::SageMaker", "AWS::QuickSight",
                                                   "AWS::EC2"))}


def test_prod_vpc_is_private_in_three_zones_with_flow_logs_and_endpoints(prod: Synthesized) -> None:
    resources = prod.template(SERVING)["Resources"]
    types = [r["Type"] for r in resources.values()]
    assert types.count("AWS::EC2::VPC") == 1 and types.count("AWS::EC2::Subnet") == 3
    assert "AWS::EC2::InternetGateway" not in types and "AWS::EC2::NatGateway" not in types
    assert all(not r["Properties"].get("MapPublicIpOnLaunch") for r in resources.values()
               if r["Type"] == "AWS::EC2::Subnet")
    zones = {_text(r["Properties"]["AvailabilityZone"]) for r in resources.values() if r["Type"] == "AWS::EC2::Subnet"}
    assert len(zones) == 3
    assert types.count("AWS::EC2::FlowLog") == 1
    endpoints = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::EC2::VPCEndpoint"]
    services = {_text(e["ServiceName"]) for e in endpoints}
    assert len(endpoints) == 11 and any("s3" in s for s in services) and any("athena" in s for s in services)
    assert all(e.get("PrivateDnsEnabled", True) for e in endpoints if e.get("VpcEndpointType") == "Interface")


def test_prod_redshift_serverless_is_private_encrypted_with_managed_admin_secret(prod: Synthesized) -> None:
    namespace = _one(prod, "AWS::RedshiftServerless::Namespace")
    assert namespace["ManageAdminPassword"] is True and "AdminUserPassword" not in namespace
    assert namespace["AdminUsername"] == "lake_admin" and namespace["DbName"] == "retail"
    assert "DataLakeKey" in _text(namespace["KmsKeyId"])
    assert "DataLakeKey" in _text(namespace["AdminPasswordSecretKmsKeyId"])
    assert namespace["DefaultIamRoleArn"] == namespace["IamRoles"][0]
    assert set(namespace["LogExports"]) == {"userlog", "connectionlog", "useractivitylog"}
    workgroup = _one(prod, "AWS::RedshiftServerless::Workgroup")
    assert workgroup["EnhancedVpcRouting"] is True and workgroup["PubliclyAccessible"] is False
    assert len(workgroup["SubnetIds"]) == 3 and workgroup["BaseCapacity"] == 8
    outputs = prod.template(SERVING)["Outputs"]
    assert {"RedshiftWorkgroupName", "RedshiftDatabaseName", "RedshiftNamespaceName"} <= set(outputs)


def test_prod_spectrum_role_reads_only_the_catalog_and_the_analytics_zone(prod: Synthesized) -> None:
    policies = [p["Properties"] for p in prod.resources(SERVING, "AWS::IAM::Policy").values()
                if "SpectrumRole" in _text(p["Properties"]["Roles"])]
    (policy,) = policies
    actions = {a for s in policy["PolicyDocument"]["Statement"] for a in
               ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {"glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables",
                       "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition", "s3:GetObject",
                       "s3:ListBucket", "s3:GetBucketLocation", "kms:Decrypt", "kms:DescribeKey"}
    assert "AnalyticsBucket" in _text(policy) and "RawBucket" not in _text(policy)


def test_prod_notebook_instance_is_private_without_root_and_encrypted(prod: Synthesized) -> None:
    instance = _one(prod, "AWS::SageMaker::NotebookInstance")
    assert instance["DirectInternetAccess"] == "Disabled" and instance["RootAccess"] == "Disabled"
    assert "DataLakeKey" in _text(instance["KmsKeyId"]) and "Subnet" in _text(instance["SubnetId"])
    assert instance["InstanceType"] == "ml.t3.medium" and instance["VolumeSizeInGB"] == 20
    lifecycle = _one(prod, "AWS::SageMaker::NotebookInstanceLifecycleConfig")
    script = _text(lifecycle["OnStart"])
    assert "aws s3 sync s3://" in script and "lake.json" in script and "notebooks/" in script
    role_policies = [p["Properties"] for p in prod.resources(SERVING, "AWS::IAM::Policy").values()
                     if "NotebooksRole" in _text(p["Properties"]["Roles"])]
    (policy,) = role_policies
    actions = {a for s in policy["PolicyDocument"]["Statement"] for a in
               ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not [a for a in actions if a.endswith("*") or a in ("s3:DeleteObject", "glue:CreateTable")]
    assert {"athena:StartQueryExecution", "athena:GetQueryResults", "glue:GetTable", "s3:GetObject",
            "s3:PutObject", "kms:Decrypt"} <= actions


def test_redshift_load_statements_come_from_the_sql_files() -> None:
    from retail_lake.serving.redshift import external_schema_statement, load_statements

    assert external_schema_statement(analytics_database="db") == (
        "CREATE EXTERNAL SCHEMA IF NOT EXISTS lake\nFROM DATA CATALOG DATABASE 'db'\nIAM_ROLE default")
    statements = load_statements()
    assert len(statements) == 2 * len(GOLD_TABLES)
    assert statements[:2] == ["DROP TABLE IF EXISTS public.daily_sales",
                              "CREATE TABLE public.daily_sales AS SELECT * FROM lake.daily_sales"]


def _synth_quicksight(outdir: Path) -> tuple[dict[str, Any], str | None]:
    stages = json.loads(CDK_JSON.read_text())["context"]["stages"]
    app = build_app("dev", outdir, nag=True, config=dataclasses.replace(
        load_stage_config(stages, "dev"),
        serving=ServingConfig(quicksight=QuickSightConfig(enabled=True, principal_arn=PRINCIPAL))))
    error = None
    try:
        app.synth()
    except RuntimeError as failure:
        error = str(failure)
    return json.loads((outdir / "RetailLake-dev-Serving.template.json").read_text()), error


@pytest.fixture(scope="module")
def quicksight_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str | None]:
    return _synth_quicksight(tmp_path_factory.mktemp("cdk-quicksight"))


def test_quicksight_when_enabled_has_an_athena_source_and_a_dataset_per_gold_table(quicksight_template) -> None:
    template, nag_error = quicksight_template
    assert nag_error is None, nag_error
    resources = template["Resources"].values()
    (source,) = [r["Properties"] for r in resources if r["Type"] == "AWS::QuickSight::DataSource"]
    assert source["Type"] == "ATHENA"
    assert "WorkGroup" in _text(source["DataSourceParameters"]["AthenaParameters"]["WorkGroup"])
    assert source["Permissions"][0]["Principal"] == PRINCIPAL
    datasets = [r["Properties"] for r in resources if r["Type"] == "AWS::QuickSight::DataSet"]
    assert sorted(next(iter(d["PhysicalTableMap"])) for d in datasets) == sorted(t.replace("_", "-") for t in GOLD_TABLES)
    for dataset in datasets:
        assert dataset["ImportMode"] == "DIRECT_QUERY"
        (table,) = dataset["PhysicalTableMap"].values()
        assert table["RelationalTable"]["Name"] in GOLD_TABLES
        columns = table["RelationalTable"]["InputColumns"]
        assert columns and all(c["Type"] in ("STRING", "INTEGER", "DECIMAL", "BOOLEAN", "DATETIME") for c in columns)


# ------------------------------------------------------------------------------------------ stage config
def _stages(serving: dict[str, Any]) -> dict[str, Any]:
    stages = json.loads(CDK_JSON.read_text())["context"]["stages"]
    dev = dict(stages["dev"])
    dev["serving"] = serving
    return {"dev": dev}


def test_serving_config_defaults_and_validation() -> None:
    assert load_stage_config(_stages({}), "dev").serving == ServingConfig()
    with pytest.raises(StageConfigError, match="serving.redshift.base_capacity_rpu"):
        load_stage_config(_stages({"redshift": {"enabled": True, "base_capacity_rpu": 12}}), "dev")
    with pytest.raises(StageConfigError, match="serving.quicksight.principal_arn"):
        load_stage_config(_stages({"quicksight": {"enabled": True}}), "dev")
    with pytest.raises(StageConfigError, match="serving.sagemaker.instance_type"):
        load_stage_config(_stages({"sagemaker": {"enabled": True, "instance_type": "t3.medium"}}), "dev")
    with pytest.raises(StageConfigError, match="serving.athena_bytes_scanned_cutoff_mb"):
        load_stage_config(_stages({"athena_bytes_scanned_cutoff_mb": 1}), "dev")
    with pytest.raises(StageConfigError, match="serving.unknown"):
        load_stage_config(_stages({"unknown": 1}), "dev")
    prod = load_stage_config(json.loads(CDK_JSON.read_text())["context"]["stages"], "prod").serving
    assert prod.redshift.enabled and prod.sagemaker.enabled and not prod.quicksight.enabled
