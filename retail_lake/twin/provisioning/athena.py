"""Provisioners for Athena workgroups and named queries, which moto 5.2.5's CloudFormation skips: created through
moto's Athena API from the resolved properties. Provisioning a workgroup attaches the twin's Athena executor
(`retail_lake.twin.executors.athena`), so queries in it run for real from then on.

CloudFormation's `WorkGroupConfiguration` has the API's `Configuration` shape; Ref of a workgroup is its name, of a
named query its id.
"""

from __future__ import annotations

from retail_lake.twin.provisioning import REGISTRY, Provisioned, ProvisionRequest, ResourceProvisioner


@REGISTRY.provisioner
class AthenaWorkGroupProvisioner(ResourceProvisioner):
    resource_type = "AWS::Athena::WorkGroup"
    name_property = "Name"

    def create(self, request: ProvisionRequest) -> Provisioned:
        athena, name, props = request.client("athena"), self.name(request), request.properties
        configuration = dict(props.get("WorkGroupConfiguration") or {})
        if "BytesScannedCutoffPerQuery" in configuration:
            configuration["BytesScannedCutoffPerQuery"] = int(configuration["BytesScannedCutoffPerQuery"])
        tags = props.get("Tags") or []
        try:
            athena.create_work_group(Name=name, Configuration=configuration,
                                     Description=props.get("Description", ""), Tags=tags)
        except athena.exceptions.InvalidRequestException:  # a stack update: replace the configuration
            athena.delete_work_group(WorkGroup=name, RecursiveDeleteOption=True)
            athena.create_work_group(Name=name, Configuration=configuration,
                                     Description=props.get("Description", ""), Tags=tags)
        if request.twin.is_embedded:
            request.twin.executor("athena")
        return Provisioned(physical_id=name)

    def delete(self, request: ProvisionRequest, provisioned: Provisioned) -> None:
        request.client("athena").delete_work_group(WorkGroup=provisioned.physical_id, RecursiveDeleteOption=True)


@REGISTRY.provisioner
class AthenaNamedQueryProvisioner(ResourceProvisioner):
    resource_type = "AWS::Athena::NamedQuery"
    name_property = "Name"

    def create(self, request: ProvisionRequest) -> Provisioned:
        props = request.properties
        query_id = request.client("athena").create_named_query(
            Name=self.name(request), Description=props.get("Description", ""), Database=props["Database"],
            QueryString=props["QueryString"], WorkGroup=props.get("WorkGroup") or "primary",
        )["NamedQueryId"]
        return Provisioned(physical_id=query_id, attributes={"NamedQueryId": query_id})
