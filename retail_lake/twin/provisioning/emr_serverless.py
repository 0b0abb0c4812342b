"""Provisioner for EMR Serverless applications, which moto 5.2.5's CloudFormation skips
(AWS::EMRServerless::Application is not in its model map): create the application through moto's emr-serverless
API (`create_application`) from the template's resolved properties, so `get_application` on the twin answers with
the release label, type, capacity bounds, auto-start/stop and (embedded twin) the monitoring and runtime
configuration, and `start_job_run` has an application to run on (`retail_lake.twin.executors.emr_serverless`
really runs the entry point).

CloudFormation's properties are PascalCase and the API's camelCase; `InitialCapacity`, `Tags` and the CloudWatch
`LogTypes` are lists of Key/Value pairs in CloudFormation and maps in the API. Ref gives the application id,
GetAtt `ApplicationId` and `Arn`. moto's CreateApplication takes no monitoring, runtime, image, worker-type,
architecture or interactive configuration: on the embedded twin they are set on moto's application object, so
`get_application` reports them and the executor finds the S3 log location. moto answers STARTED right after
creation (AWS: CREATED, then auto-started by the first job run).
"""

from __future__ import annotations

from typing import Any

from retail_lake.twin.provisioning import REGISTRY, Provisioned, ProvisionRequest, ResourceProvisioner

# CreateApplication parameters moto 5.2.5 takes
_CREATE = ("InitialCapacity", "MaximumCapacity", "AutoStartConfiguration", "AutoStopConfiguration",
           "NetworkConfiguration")
# set on moto's model afterwards (embedded only): model attribute <- CloudFormation property
_EXTRA = {
    "monitoring_configuration": "MonitoringConfiguration",
    "runtime_configuration": "RuntimeConfiguration",
    "image_configuration": "ImageConfiguration",
    "worker_type_specifications": "WorkerTypeSpecifications",
    "interactive_configuration": "InteractiveConfiguration",
    "scheduler_configuration": "SchedulerConfiguration",
    "architecture": "Architecture",
}
_KEY_VALUE_LISTS = frozenset({"InitialCapacity", "LogTypes", "Tags"})  # [{Key, Value}] in CFN, {key: value} in API
_VERBATIM_MAPS = frozenset({"Properties", "WorkerTypeSpecifications"})  # keys are data (Spark settings, types)
_NUMBERS = {"IdleTimeoutMinutes": int, "WorkerCount": int, "MaximumRunningJobs": int, "QueueTimeoutMinutes": int}


def _camel(key: str) -> str:
    return key[:1].lower() + key[1:]


def api_shape(value: Any, key: str | None = None) -> Any:
    """CloudFormation's AWS::EMRServerless::Application property value -> the API's shape."""
    if key in _KEY_VALUE_LISTS and isinstance(value, list):
        return {str(item["Key"]): api_shape(item["Value"], f"{key}.Value") for item in value}
    if isinstance(value, dict):
        if key in _VERBATIM_MAPS:
            return {str(k): (api_shape(v) if isinstance(v, (dict, list)) else str(v)) for k, v in value.items()}
        return {_camel(k): api_shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [api_shape(item, key) for item in value]
    if key in _NUMBERS:
        return _NUMBERS[key](value)
    if key == "Enabled" or isinstance(value, bool):
        return value is True or str(value).lower() == "true"
    return value


@REGISTRY.provisioner
class EmrServerlessApplicationProvisioner(ResourceProvisioner):
    resource_type = "AWS::EMRServerless::Application"
    name_property = "Name"

    def create(self, request: ProvisionRequest) -> Provisioned:
        props = request.properties
        if not props.get("ReleaseLabel") or not props.get("Type"):
            raise ValueError(f"{request.stack_name}/{request.logical_id}: AWS::EMRServerless::Application needs "
                             "ReleaseLabel and Type")
        kwargs: dict[str, Any] = {
            "name": self.name(request), "releaseLabel": props["ReleaseLabel"], "type": str(props["Type"]).upper(),
        }
        for key in _CREATE:
            if props.get(key) is not None:
                kwargs[_camel(key)] = api_shape(props[key], key)
        if props.get("Tags"):
            kwargs["tags"] = api_shape(props["Tags"], "Tags")
        emr = request.client("emr-serverless")
        created = emr.create_application(**kwargs)
        application_id = created["applicationId"]
        if request.twin.is_embedded:
            self._complete(request, application_id)
            request.twin.executor("emr-serverless")  # job runs on this application execute on local Spark
        return Provisioned(physical_id=application_id,
                           attributes={"ApplicationId": application_id, "Arn": created["arn"]})

    @staticmethod
    def _complete(request: ProvisionRequest, application_id: str) -> None:
        from moto.emrserverless.models import emrserverless_backends

        application = emrserverless_backends[request.account_id][request.region].applications[application_id]
        for attribute, key in _EXTRA.items():
            if request.properties.get(key) is not None:
                setattr(application, attribute, api_shape(request.properties[key], key))

    def delete(self, request: ProvisionRequest, provisioned: Provisioned) -> None:
        emr = request.client("emr-serverless")
        emr.stop_application(applicationId=provisioned.physical_id)
        emr.delete_application(applicationId=provisioned.physical_id)
