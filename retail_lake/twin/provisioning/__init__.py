"""Provisioning what moto's CloudFormation does not (or only half) create, keyed by CloudFormation resource type.

Two kinds of plug-in, both registered in `REGISTRY`:
- a `ResourceProvisioner` creates a resource type moto's CloudFormation skips (S3 bucket policies, secrets,
  alarms; later Glue, Athena, DMS, EMR Serverless...). It receives the resource's properties with every
  Ref/GetAtt/Sub/ImportValue already resolved by moto against the stack being created, and returns the
  physical id and GetAtt attributes, which other resources of the stack then resolve against.
- a `ResourceCompleter` finishes a resource moto creates partially (bucket versioning and lifecycle,
  stream encryption, function layers).

To add a type: write the class in a module of this package, decorate it with `@REGISTRY.provisioner` (or
`@REGISTRY.completer`), and list the module in `BUILTIN_MODULES`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from retail_lake.twin.account import Twin

BUILTIN_MODULES = (
    "retail_lake.twin.provisioning.streaming",
    "retail_lake.twin.provisioning.catalog",
    "retail_lake.twin.provisioning.glue_jobs",
    "retail_lake.twin.provisioning.bucket_deployment",
    "retail_lake.twin.provisioning.emr_serverless",
    "retail_lake.twin.provisioning.sources",
    "retail_lake.twin.provisioning.step_functions",
    "retail_lake.twin.provisioning.athena",
    "retail_lake.twin.provisioning.data_quality",
)
# Types that exist only for the CDK's bookkeeping: nothing to create, nothing to report.
IGNORED_TYPES = frozenset({"AWS::CDK::Metadata"})


@dataclass
class ProvisionRequest:
    twin: Twin
    stack_name: str
    logical_id: str
    resource_type: str
    physical_name: str  # the name CloudFormation would generate, if the template does not set one
    properties: dict[str, Any]
    account_id: str
    region: str

    def client(self, service: str) -> Any:
        return self.twin.client(service, region_name=self.region)

    def defer(self, action: Any) -> None:
        """Run `action()` once the stack is created (for settings that need a resource moto creates later,
        because moto's CloudFormation does not order resources by DependsOn)."""
        self.twin.deferred_actions.append(action)


@dataclass
class Provisioned:
    physical_id: str
    attributes: dict[str, Any] = field(default_factory=dict)


class ResourceProvisioner:
    resource_type: ClassVar[str]
    # The property that names the resource (e.g. "Name"), used as physical name when present.
    name_property: ClassVar[str | None] = None

    def name(self, request: ProvisionRequest) -> str:
        if self.name_property and request.properties.get(self.name_property):
            return str(request.properties[self.name_property])
        return request.physical_name

    def create(self, request: ProvisionRequest) -> Provisioned:
        raise NotImplementedError

    def delete(self, request: ProvisionRequest, provisioned: Provisioned) -> None:
        """Best effort; the default leaves the resource (the twin is thrown away after the run)."""


class ResourceCompleter:
    resource_type: ClassVar[str]

    def prepare(self, properties: dict[str, Any]) -> None:
        """Fix resolved properties in place before moto creates the resource (for moto parsing defects)."""

    def complete(self, request: ProvisionRequest, resource: Any) -> None:
        """`resource` is moto's model object, just created from the same properties."""
        raise NotImplementedError


class ProvisionerRegistry:
    def __init__(self) -> None:
        self.provisioners: dict[str, ResourceProvisioner] = {}
        self.completers: dict[str, list[ResourceCompleter]] = {}
        self._loaded = False

    def provisioner(self, cls: type[ResourceProvisioner]) -> type[ResourceProvisioner]:
        self.provisioners[cls.resource_type] = cls()
        return cls

    def completer(self, cls: type[ResourceCompleter]) -> type[ResourceCompleter]:
        self.completers.setdefault(cls.resource_type, []).append(cls())
        return cls

    def load_builtins(self) -> ProvisionerRegistry:
        if not self._loaded:
            for module in BUILTIN_MODULES:
                importlib.import_module(module)
            self._loaded = True
        return self


REGISTRY = ProvisionerRegistry()
