"""Provisioners for Step Functions state machines and EventBridge Scheduler schedules.

moto 5.2.5's CloudFormation creates AWS::StepFunctions::StateMachine in a backend its executing interpreter never
sees (executions of such a machine fail to start), and skips AWS::Scheduler::Schedule. The twin creates both
through moto's own APIs instead, from the template's resolved properties: the state machine gets the definition
`cdk synth` wrote (every Ref/GetAtt/Join resolved by moto against the stack, `DefinitionSubstitutions` applied as
CloudFormation applies them), its role, type, logging and tracing configuration. The physical id is the ARN (what
CloudFormation's Ref gives); GetAtt answers Arn and Name. Provisioning a state machine on the embedded twin
attaches the Step Functions executor (`retail_lake.twin.executors.step_functions`), which fixes what moto's
interpreter needs to run the deployed definition.
"""

from __future__ import annotations

import json
from typing import Any

from retail_lake.twin.provisioning import REGISTRY, Provisioned, ProvisionRequest, ResourceProvisioner


def resolved_definition(properties: dict[str, Any]) -> str:
    """The definition as Step Functions receives it: DefinitionString (or Definition as JSON) with
    `${name}` substitutions from DefinitionSubstitutions replaced."""
    definition = properties.get("DefinitionString")
    if definition is None and properties.get("Definition") is not None:
        definition = json.dumps(properties["Definition"])
    if not isinstance(definition, str):
        raise ValueError("AWS::StepFunctions::StateMachine needs DefinitionString or Definition "
                         "(DefinitionS3Location is not supported on the twin)")
    for name, value in (properties.get("DefinitionSubstitutions") or {}).items():
        definition = definition.replace("${" + name + "}", str(value))
    json.loads(definition)  # a broken template fails here, with the JSON error, not at the first execution
    return definition


@REGISTRY.provisioner
class StateMachineProvisioner(ResourceProvisioner):
    resource_type = "AWS::StepFunctions::StateMachine"
    name_property = "StateMachineName"

    def create(self, request: ProvisionRequest) -> Provisioned:
        properties = request.properties
        sfn, name = request.client("stepfunctions"), self.name(request)
        params: dict[str, Any] = {
            "name": name,
            "definition": resolved_definition(properties),
            "roleArn": properties["RoleArn"],
            "type": properties.get("StateMachineType", "STANDARD"),
        }
        if properties.get("TracingConfiguration"):
            params["tracingConfiguration"] = {"enabled": str(properties["TracingConfiguration"].get("Enabled"))
                                              .lower() == "true"}
        logging_config = properties.get("LoggingConfiguration")
        if logging_config:
            params["loggingConfiguration"] = {
                "level": logging_config.get("Level", "OFF"),
                "includeExecutionData": str(logging_config.get("IncludeExecutionData", False)).lower() == "true",
                "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": d["CloudWatchLogsLogGroup"]["LogGroupArn"]}}
                                 for d in logging_config.get("Destinations", [])],
            }
        arn = f"arn:aws:states:{request.region}:{request.account_id}:stateMachine:{name}"
        try:
            sfn.describe_state_machine(stateMachineArn=arn)
        except sfn.exceptions.StateMachineDoesNotExist:
            arn = sfn.create_state_machine(**params)["stateMachineArn"]
        else:  # a stack update
            update = {k: v for k, v in params.items() if k in ("definition", "roleArn", "loggingConfiguration",
                                                               "tracingConfiguration")}
            sfn.update_state_machine(stateMachineArn=arn, **update)
        if request.twin.is_embedded:
            request.twin.executor("stepfunctions")
        return Provisioned(physical_id=arn, attributes={"Arn": arn, "Name": name})

    def delete(self, request: ProvisionRequest, provisioned: Provisioned) -> None:
        request.client("stepfunctions").delete_state_machine(stateMachineArn=provisioned.physical_id)


@REGISTRY.provisioner
class ScheduleProvisioner(ResourceProvisioner):
    resource_type = "AWS::Scheduler::Schedule"
    name_property = "Name"

    def create(self, request: ProvisionRequest) -> Provisioned:
        properties = request.properties
        client, name = request.client("scheduler"), self.name(request)[:64]
        target = properties["Target"]
        params: dict[str, Any] = {
            "Name": name,
            "ScheduleExpression": properties["ScheduleExpression"],
            "FlexibleTimeWindow": properties.get("FlexibleTimeWindow") or {"Mode": "OFF"},
            "State": properties.get("State", "ENABLED"),
            "Target": {key: target[key] for key in ("Arn", "RoleArn", "Input", "RetryPolicy") if key in target},
        }
        for key in ("ScheduleExpressionTimezone", "Description", "GroupName"):
            if properties.get(key):
                params[key] = properties[key]
        if "RetryPolicy" in params["Target"]:
            params["Target"]["RetryPolicy"] = {k: int(v) for k, v in params["Target"]["RetryPolicy"].items()}
        arn = client.create_schedule(**params)["ScheduleArn"]
        return Provisioned(physical_id=name, attributes={"Arn": arn})
