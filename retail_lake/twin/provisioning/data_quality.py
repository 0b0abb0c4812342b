"""Provisioner for Glue Data Quality rulesets (AWS::Glue::DataQualityRuleset), which neither moto's CloudFormation
nor its Glue API knows: the twin keeps each ruleset (name, DQDL text, target table) in `rulesets(twin)`, so a
deployment reports it as created and tests can read what would reach the managed service. On the twin the
rules run in the quality gate job (`glue_jobs/quality_gate.py`), not in Glue Data Quality.
"""

from __future__ import annotations

from typing import Any

from retail_lake.twin.provisioning import REGISTRY, Provisioned, ProvisionRequest, ResourceProvisioner

_ATTRIBUTE = "_data_quality_rulesets"


def rulesets(twin: Any) -> dict[str, dict[str, Any]]:
    """Rulesets provisioned on `twin`, by name: {"Ruleset": DQDL, "TargetTable": {...}, "Description": ...}."""
    if not hasattr(twin, _ATTRIBUTE):
        setattr(twin, _ATTRIBUTE, {})
    return getattr(twin, _ATTRIBUTE)


@REGISTRY.provisioner
class DataQualityRulesetProvisioner(ResourceProvisioner):
    resource_type = "AWS::Glue::DataQualityRuleset"
    name_property = "Name"

    def create(self, request: ProvisionRequest) -> Provisioned:
        name = self.name(request)
        if not str(request.properties.get("Ruleset", "")).strip().startswith("Rules = ["):
            raise ValueError(f"{request.stack_name}/{request.logical_id}: Ruleset must be a DQDL document "
                             "starting with `Rules = [`")
        rulesets(request.twin)[name] = {key: request.properties.get(key)
                                        for key in ("Ruleset", "TargetTable", "Description")}
        return Provisioned(physical_id=name)

    def delete(self, request: ProvisionRequest, provisioned: Provisioned) -> None:
        rulesets(request.twin).pop(provisioned.physical_id, None)
