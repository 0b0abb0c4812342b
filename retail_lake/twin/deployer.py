"""Deploying a cloud assembly onto the twin: bootstrap, publish assets, create stacks in dependency order through
the endpoint's CloudFormation API, and record what each resource became."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from retail_lake.twin import assets
from retail_lake.twin.assembly import CloudAssembly, StackArtifact
from retail_lake.twin.provisioning import IGNORED_TYPES, REGISTRY

if TYPE_CHECKING:
    from retail_lake.twin.account import Twin

log = logging.getLogger(__name__)

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
MAX_TEMPLATE_BODY = 51_200

# How a template resource came to exist on the twin.
BY_CLOUDFORMATION = "cloudformation"  # the endpoint's CloudFormation created it
BY_TWIN = "twin"  # a registered provisioner created it (moto skips the type)
SKIPPED = "skipped"  # nothing created it: no provisioner yet
IGNORED = "ignored"  # CDK bookkeeping (AWS::CDK::Metadata)


class DeployError(RuntimeError):
    pass


@dataclass(frozen=True)
class DeployedResource:
    logical_id: str
    resource_type: str
    physical_id: str | None
    created_by: str


@dataclass
class DeployedStack:
    name: str
    stack_id: str
    artifact: StackArtifact
    outputs: dict[str, str]
    resources: dict[str, DeployedResource]
    seconds: float

    @property
    def template(self) -> dict[str, Any]:
        return self.artifact.template

    def physical_id(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id)
        if resource is None or resource.physical_id is None:
            state = "was skipped (no provisioner)" if resource else "is not in the template"
            raise KeyError(f"{self.name}: resource {logical_id!r} {state}")
        return resource.physical_id

    def of_type(self, resource_type: str) -> list[DeployedResource]:
        return [r for r in self.resources.values() if r.resource_type == resource_type]


@dataclass
class Deployment:
    assembly: CloudAssembly
    stacks: dict[str, DeployedStack] = field(default_factory=dict)
    assets_published: int = 0
    seconds: float = 0.0

    @property
    def skipped(self) -> list[tuple[str, str, str]]:
        """(stack, logical id, type) of every resource nothing created."""
        return [
            (stack.name, r.logical_id, r.resource_type)
            for stack in self.stacks.values()
            for r in stack.resources.values()
            if r.created_by == SKIPPED
        ]

    def summary(self) -> str:
        lines = [f"deployed {len(self.stacks)} stacks in {self.seconds:.1f}s ({self.assets_published} assets)"]
        for stack in self.stacks.values():
            counts: dict[str, int] = {}
            for r in stack.resources.values():
                counts[r.created_by] = counts.get(r.created_by, 0) + 1
            lines.append(f"  {stack.name}: {counts} in {stack.seconds:.1f}s")
        for stack_name, logical_id, resource_type in self.skipped:
            lines.append(f"  skipped {stack_name}/{logical_id} ({resource_type})")
        return "\n".join(lines)


class Deployer:
    def __init__(self, twin: Twin, *, timeout: float = 120.0) -> None:
        self.twin = twin
        self.timeout = timeout

    def deploy(self, assembly_dir: str | Path, stacks: list[str] | None = None) -> Deployment:
        started = time.monotonic()
        assembly = CloudAssembly(assembly_dir)
        deployment = Deployment(assembly=assembly)
        s3, cloudformation = self.twin.client("s3"), self.twin.client("cloudformation")
        account, region = self.twin.account_id, self.twin.region
        bucket = assets.bootstrap(s3, self.twin.client("ssm"), account, region)
        for artifact in assembly.ordered(stacks):
            stack_started = time.monotonic()
            deployment.assets_published += assets.publish(s3, artifact.file_assets(), account, region)
            self.twin.deferred_actions.clear()
            stack_id = self._create_or_update(cloudformation, s3, bucket, artifact)
            while self.twin.deferred_actions:
                self.twin.deferred_actions.pop(0)()
            deployment.stacks[artifact.stack_name] = self._describe(
                cloudformation, artifact, stack_id, time.monotonic() - stack_started
            )
        deployment.seconds = time.monotonic() - started
        log.info(deployment.summary())
        return deployment

    # ------------------------------------------------------------------ CloudFormation
    def _template_argument(self, s3: Any, bucket: str, artifact: StackArtifact) -> dict[str, str]:
        body = json.dumps(artifact.template)
        if len(body) <= MAX_TEMPLATE_BODY:
            return {"TemplateBody": body}
        key = f"twin-templates/{artifact.stack_name}-{int(time.time() * 1000)}.json"
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
        return {"TemplateURL": f"{self.twin.endpoint_url}/{bucket}/{key}"}

    def _create_or_update(self, cloudformation: Any, s3: Any, bucket: str, artifact: StackArtifact) -> str:
        template = self._template_argument(s3, bucket, artifact)
        try:
            stack_id = cloudformation.create_stack(
                StackName=artifact.stack_name, Capabilities=CAPABILITIES, **template
            )["StackId"]
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code != "AlreadyExistsException":
                raise DeployError(f"creating stack {artifact.stack_name} failed: {error}") from error
            try:
                stack_id = cloudformation.update_stack(
                    StackName=artifact.stack_name, Capabilities=CAPABILITIES, **template
                )["StackId"]
            except ClientError as update_error:
                if "No updates are to be performed" not in str(update_error):
                    raise DeployError(f"updating stack {artifact.stack_name} failed: {update_error}") from update_error
                stack_id = cloudformation.describe_stacks(StackName=artifact.stack_name)["Stacks"][0]["StackId"]
        self._wait(cloudformation, artifact.stack_name)
        return stack_id

    def _wait(self, cloudformation: Any, stack_name: str) -> None:
        deadline = time.monotonic() + self.timeout
        delay = 0.05
        while True:
            status = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
            if not status.endswith("_IN_PROGRESS"):
                break
            if time.monotonic() > deadline:
                raise DeployError(f"stack {stack_name} still {status} after {self.timeout:.0f}s")
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
            reasons = [
                f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
                for e in events
                if e.get("ResourceStatus", "").endswith("FAILED")
            ]
            raise DeployError(f"stack {stack_name} ended {status}: {reasons[:10]}")

    def _describe(self, cloudformation: Any, artifact: StackArtifact, stack_id: str, seconds: float) -> DeployedStack:
        stack = cloudformation.describe_stacks(StackName=artifact.stack_name)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        physical: dict[str, str | None] = {}
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=artifact.stack_name):
            for summary in page["StackResourceSummaries"]:
                physical[summary["LogicalResourceId"]] = summary.get("PhysicalResourceId")
        resources = {}
        for logical_id, resource in artifact.template.get("Resources", {}).items():
            resource_type = resource["Type"]
            physical_id = physical.get(logical_id)
            if resource_type in IGNORED_TYPES:
                created_by = IGNORED
            elif physical_id is None:
                created_by = SKIPPED
            elif resource_type in REGISTRY.provisioners and self.twin.is_embedded:
                created_by = BY_TWIN
            else:
                created_by = BY_CLOUDFORMATION
            resources[logical_id] = DeployedResource(logical_id, resource_type, physical_id, created_by)
        for logical_id, resource_type, _ in [(r.logical_id, r.resource_type, 0) for r in resources.values()]:
            if resources[logical_id].created_by == SKIPPED:
                log.warning("%s: %s (%s) was not created: no provisioner for this type on the twin",
                            artifact.stack_name, logical_id, resource_type)
        return DeployedStack(artifact.stack_name, stack_id, artifact, outputs, resources, seconds)
