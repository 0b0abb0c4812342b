"""Provisioner for Glue ETL jobs, which moto 5.2.5's CloudFormation skips (AWS::Glue::Job is not in its model
map): create the job through moto's Glue API from the template's resolved properties, so `glue.get_job` on the
twin answers with the deployed script location, default arguments, Glue version, role and capacity, and
`glue.start_job_run` has a job to run (see `retail_lake.twin.executors.glue_jobs`, which really runs it).

CloudFormation's AWS::Glue::Job properties have the CreateJob API's shape (Tags is a JSON object in both), so they
pass through; numbers are cast to the API's types. The physical id is what CloudFormation's Ref gives: the job
name (the template's `Name`, or a generated one). moto 5.2.5 has no UpdateJob: a stack update deletes and
recreates the job (its run history goes with it). On the embedded twin, provisioning a job attaches the Glue job
executor, so the deployed job's runs execute without further set-up.

AWS::Glue::SecurityConfiguration (also skipped by moto's CloudFormation) is created through moto's Glue API with its
EncryptionConfiguration as given, so a job's `SecurityConfiguration` names an existing configuration and
`glue.get_security_configuration` answers. On the twin nothing is encrypted by it: the executor writes the job's
output to moto's S3 (whose buckets carry their own encryption settings) and its log to CloudWatch Logs as is.
"""

from __future__ import annotations

from typing import Any

from retail_lake.twin.provisioning import REGISTRY, Provisioned, ProvisionRequest, ResourceProvisioner

_INT_PROPERTIES = ("MaxRetries", "Timeout", "NumberOfWorkers", "AllocatedCapacity")
_FLOAT_PROPERTIES = ("MaxCapacity",)
# CreateJob parameters moto 5.2.5 accepts (its create_job ignores the rest of the API's newer fields)
_PASSED_THROUGH = (
    "Description", "LogUri", "Role", "ExecutionProperty", "Command", "DefaultArguments", "NonOverridableArguments",
    "Connections", "SecurityConfiguration", "NotificationProperty", "GlueVersion", "WorkerType", "ExecutionClass",
    "Tags", "CodeGenConfigurationNodes", "SourceControlDetails",
)


def job_input(properties: dict[str, Any]) -> dict[str, Any]:
    """CreateJob keyword arguments (without Name) from AWS::Glue::Job's resolved properties."""
    params: dict[str, Any] = {key: properties[key] for key in _PASSED_THROUGH if properties.get(key) is not None}
    for key in _INT_PROPERTIES:
        if properties.get(key) is not None:
            params[key] = int(properties[key])
    for key in _FLOAT_PROPERTIES:
        if properties.get(key) is not None:
            params[key] = float(properties[key])
    if "ExecutionProperty" in params:
        params["ExecutionProperty"] = {k: int(v) for k, v in params["ExecutionProperty"].items()}
    for key in ("DefaultArguments", "NonOverridableArguments", "Tags"):
        if key in params:
            params[key] = {str(k): str(v) for k, v in params[key].items()}
    if "Command" in params:
        params["Command"] = {str(k): str(v) for k, v in params["Command"].items()}
    return params


@REGISTRY.provisioner
class GlueJobProvisioner(ResourceProvisioner):
    resource_type = "AWS::Glue::Job"
    name_property = "Name"

    def create(self, request: ProvisionRequest) -> Provisioned:
        glue, name = request.client("glue"), self.name(request)
        params = job_input(request.properties)
        if "Role" not in params or "Command" not in params:
            raise ValueError(f"{request.stack_name}/{request.logical_id}: AWS::Glue::Job needs Role and Command")
        try:
            glue.get_job(JobName=name)
        except glue.exceptions.EntityNotFoundException:
            pass
        else:  # a stack update; moto has no UpdateJob
            glue.delete_job(JobName=name)
        glue.create_job(Name=name, **params)
        if request.twin.is_embedded:
            request.twin.executor("glue")  # the job's runs execute on local Spark from now on
        return Provisioned(physical_id=name)

    def delete(self, request: ProvisionRequest, provisioned: Provisioned) -> None:
        request.client("glue").delete_job(JobName=provisioned.physical_id)  # idempotent in Glue and moto


@REGISTRY.provisioner
class GlueSecurityConfigurationProvisioner(ResourceProvisioner):
    resource_type = "AWS::Glue::SecurityConfiguration"
    name_property = "Name"

    def create(self, request: ProvisionRequest) -> Provisioned:
        glue, name = request.client("glue"), self.name(request)
        configuration = dict(request.properties.get("EncryptionConfiguration") or {})
        if "S3Encryptions" in configuration:  # CloudFormation's plural is the API's `S3Encryption` (a list)
            configuration["S3Encryption"] = configuration.pop("S3Encryptions")
        try:  # Glue has no UpdateSecurityConfiguration: a stack update replaces it
            glue.delete_security_configuration(Name=name)
        except glue.exceptions.EntityNotFoundException:
            pass
        glue.create_security_configuration(Name=name, EncryptionConfiguration=configuration)
        return Provisioned(physical_id=name)

    def delete(self, request: ProvisionRequest, provisioned: Provisioned) -> None:
        glue = request.client("glue")
        try:
            glue.delete_security_configuration(Name=provisioned.physical_id)
        except glue.exceptions.EntityNotFoundException:
            pass
