"""Plugging the provisioner registry into moto's CloudFormation (embedded twin only).

moto resolves a stack's resources lazily, following Ref/GetAtt; the hook hands it a model class for every type
the registry provisions, so our resources take part in that resolution like moto's own, and wraps moto's model
classes of completed types so the completer runs right after moto creates the resource.
"""

from __future__ import annotations

import logging
import warnings
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from moto.core.common_models import CloudFormationModel

from retail_lake.twin.provisioning import (
    IGNORED_TYPES,
    REGISTRY,
    Provisioned,
    ProvisionRequest,
    ResourceProvisioner,
)

if TYPE_CHECKING:
    from retail_lake.twin.account import Twin

log = logging.getLogger(__name__)

_state: dict[str, Any] = {"twin": None, "original_class_from_type": None, "wrapped": {}}


def _stack_name(stack_id: str) -> str:
    # arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>
    return stack_id.split(":stack/", 1)[-1].split("/", 1)[0]


def _request(logical_id: str, stack_id: str, resource_type: str, name: str, properties: dict[str, Any],
             account_id: str, region: str) -> ProvisionRequest:
    return ProvisionRequest(
        twin=_state["twin"],
        stack_name=_stack_name(stack_id),
        logical_id=logical_id,
        resource_type=resource_type,
        physical_name=name,
        properties=properties,
        account_id=account_id,
        region=region,
    )


class ProvisionedModel(CloudFormationModel):
    """moto's view of a resource the twin provisioned. Subclassed per type by `_model_for`."""

    provisioner: ResourceProvisioner

    def __init__(self, request: ProvisionRequest, provisioned: Provisioned) -> None:
        self.request = request
        self.provisioned = provisioned

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "RetailLake::Twin::Provisioned"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    @property
    def physical_resource_id(self) -> str:
        return self.provisioned.physical_id

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name in self.provisioned.attributes:
            return self.provisioned.attributes[attribute_name]
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> ProvisionedModel:
        request = _request(
            kwargs["LogicalId"], kwargs["StackId"], kwargs["ResourceType"], resource_name,
            cloudformation_json.get("Properties", {}), account_id, region_name,
        )
        request.physical_name = cls.provisioner.name(request)
        provisioned = cls.provisioner.create(request)
        log.debug("provisioned %s %s -> %s", request.resource_type, request.logical_id, provisioned.physical_id)
        return cls(request, provisioned)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any],
        account_id: str, region_name: str,
    ) -> ProvisionedModel:
        request = original_resource.request
        request.properties = cloudformation_json.get("Properties", {})
        original_resource.provisioned = cls.provisioner.create(request)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        return None

    def delete(self, account_id: str, region_name: str) -> None:
        self.provisioner.delete(self.request, self.provisioned)


@lru_cache(maxsize=None)
def _model_for(resource_type: str) -> type[ProvisionedModel]:
    name = "Provisioned_" + resource_type.replace("::", "_").replace("-", "_")
    return type(name, (ProvisionedModel,), {"provisioner": REGISTRY.provisioners[resource_type]})


def _class_from_type(resource_type: str) -> Any:
    if resource_type in REGISTRY.provisioners:
        return _model_for(resource_type)
    if resource_type in IGNORED_TYPES:
        return None
    if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
        # moto would invoke the provider Lambda (a Node.js CDK provider). Unregistered custom resources are
        # skipped and reported by the deployer.
        return None
    return _state["original_class_from_type"](resource_type)


def _wrap_completed(model_class: type, resource_type: str) -> None:
    original = model_class.__dict__["create_from_cloudformation_json"]

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        for completer in REGISTRY.completers.get(resource_type, []):
            completer.prepare(cloudformation_json.setdefault("Properties", {}))
        resource = original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        twin = _state["twin"]
        if twin is not None and "StackId" in kwargs:
            request = _request(
                kwargs["LogicalId"], kwargs["StackId"], resource_type, resource_name,
                cloudformation_json.get("Properties", {}), account_id, region_name,
            )
            for completer in REGISTRY.completers.get(resource_type, []):
                completer.complete(request, resource)
        return resource

    model_class.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
    _state["wrapped"][model_class] = original


def install_provisioners(twin: Twin) -> None:
    """Route moto's CloudFormation through the registry; idempotent; the latest twin receives the calls."""
    from moto.cloudformation import parsing

    REGISTRY.load_builtins()
    _state["twin"] = twin
    if _state["original_class_from_type"] is None:
        _state["original_class_from_type"] = parsing.resource_class_from_type
        parsing.resource_class_from_type = _class_from_type
    warnings.filterwarnings("ignore", message=r"Tried to parse .* not supported by moto")
    model_map = parsing.get_model_map()
    for resource_type in REGISTRY.completers:
        model_class = model_map.get(resource_type)
        if model_class is not None and model_class not in _state["wrapped"]:
            _wrap_completed(model_class, resource_type)


def uninstall_provisioners() -> None:
    from moto.cloudformation import parsing

    if _state["original_class_from_type"] is not None:
        parsing.resource_class_from_type = _state["original_class_from_type"]
        _state["original_class_from_type"] = None
    for model_class, original in _state["wrapped"].items():
        model_class.create_from_cloudformation_json = original
    _state["wrapped"].clear()
    _state["twin"] = None


def moto_supported_types() -> frozenset[str]:
    from moto.cloudformation import parsing

    return frozenset(parsing.get_model_map())
