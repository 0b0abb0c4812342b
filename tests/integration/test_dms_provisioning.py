"""The twin provisions the DMS resources of a stage with DMS on (prod): the template's properties, as
CloudFormation resolves them, become moto DMS resources, and the task then starts through the DMS executor."""

from __future__ import annotations

import json
from typing import Any

import pytest

from retail_lake.sources.cdc import layout
from retail_lake.twin import Twin
from retail_lake.twin.provisioning import REGISTRY, ProvisionRequest

pytestmark = pytest.mark.integration


def _resolve(value: Any, refs: dict[str, Any]) -> Any:
    """Replace the template's intrinsics by what CloudFormation would give (from `refs`, by logical id or export)."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return refs.get(value["Ref"], value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            return refs.get(value["Fn::GetAtt"][0], "arn:aws:iam::123456789012:role/resolved")
        if set(value) == {"Fn::ImportValue"}:
            name = value["Fn::ImportValue"]
            if "CdcLandingBucket" in name:
                return "cdc-landing-bucket"
            if "CdcLandingWriterRole" in name:
                return "arn:aws:iam::123456789012:role/cdc-landing-writer"
            return "arn:aws:kms:us-east-1:123456789012:key/cdc-landing"
        if set(value) == {"Fn::Join"}:
            return "".join(str(_resolve(v, refs)) for v in value["Fn::Join"][1])
        return {k: _resolve(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, refs) for v in value]
    return value


def test_prod_dms_resources_are_provisioned_through_the_dms_api(prod) -> None:
    template = prod.template("Sources")["Resources"]
    by_type = {r["Type"]: (logical_id, r) for logical_id, r in template.items() if r["Type"].startswith("AWS::DMS::")}
    with Twin() as twin:
        if not twin.is_embedded:
            pytest.skip("moto's DMS backend is inspected in-process")
        ec2 = twin.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)]
        refs: dict[str, Any] = {}
        provisioned = {}
        for resource_type in ("AWS::DMS::ReplicationSubnetGroup", "AWS::DMS::ReplicationInstance",
                              "AWS::DMS::Endpoint", "AWS::DMS::ReplicationTask"):
            items = [(i, r) for i, r in template.items() if r["Type"] == resource_type]
            for logical_id, resource in items:
                properties = _resolve(resource["Properties"], refs)
                if resource_type == "AWS::DMS::ReplicationSubnetGroup":
                    properties["SubnetIds"] = subnets
                request = ProvisionRequest(twin=twin, stack_name="RetailLake-prod-Sources", logical_id=logical_id,
                                           resource_type=resource_type, physical_name=logical_id.lower(),
                                           properties=properties, account_id=twin.account_id, region=twin.region)
                result = REGISTRY.load_builtins().provisioners[resource_type].create(request)
                refs[logical_id] = result.physical_id
                provisioned[logical_id] = result
        assert set(by_type) == {"AWS::DMS::ReplicationSubnetGroup", "AWS::DMS::ReplicationInstance",
                                "AWS::DMS::Endpoint", "AWS::DMS::ReplicationTask"}
        dms = twin.client("dms")
        (task,) = dms.describe_replication_tasks()["ReplicationTasks"]
        assert task["ReplicationTaskIdentifier"] == "retaillake-prod-operational-db-cdc"
        assert task["MigrationType"] == "full-load-and-cdc"
        assert json.loads(task["TableMappings"]) == layout.table_mappings()
        endpoints = {e["EndpointType"].lower(): e for e in dms.describe_endpoints()["Endpoints"]}
        assert endpoints["target"]["S3Settings"]["TimestampColumnName"] == layout.COMMIT_TS_COLUMN
        assert endpoints["target"]["S3Settings"]["BucketName"] == "cdc-landing-bucket"
        assert endpoints["target"]["S3Settings"]["IncludeOpForFullLoad"] is True
        assert endpoints["source"]["PostgreSQLSettings"]["SecretsManagerSecretId"]
        (instance,) = dms.describe_replication_instances()["ReplicationInstances"]
        assert instance["PubliclyAccessible"] is False
        assert "dms" in {type(e).name for e in twin._executors.values()}  # start_replication_task is real now
