"""Provisioners for the Glue Data Catalog, which moto 5.2.5's CloudFormation skips (AWS::Glue::Database and
AWS::Glue::Table are not in its model map): create them through moto's Glue API from the resolved properties,
so `glue.get_table` on the twin answers with the columns the template declares.

CloudFormation's `TableInput`/`DatabaseInput` have the Glue API's shape, so the properties pass through as given.
The physical ids are what CloudFormation's Ref gives: the database name, the table name.
"""

from __future__ import annotations

from typing import Any

from retail_lake.twin.provisioning import REGISTRY, Provisioned, ProvisionRequest, ResourceProvisioner


def _glue_name(request: ProvisionRequest, *candidates: Any) -> str:
    for candidate in candidates:
        if candidate:
            return str(candidate)
    # CloudFormation generates a name when none is given; Glue keeps names in lowercase
    return request.physical_name.lower()


def _catalog_id(request: ProvisionRequest) -> dict[str, str]:
    catalog_id = request.properties.get("CatalogId")
    return {"CatalogId": str(catalog_id)} if catalog_id else {}


@REGISTRY.provisioner
class GlueDatabaseProvisioner(ResourceProvisioner):
    resource_type = "AWS::Glue::Database"

    def name(self, request: ProvisionRequest) -> str:
        props = request.properties
        return _glue_name(request, props.get("DatabaseName"), props.get("DatabaseInput", {}).get("Name"))

    def create(self, request: ProvisionRequest) -> Provisioned:
        glue, name = request.client("glue"), self.name(request)
        database_input = {**request.properties.get("DatabaseInput", {}), "Name": name}
        try:
            glue.create_database(DatabaseInput=database_input, **_catalog_id(request))
        except glue.exceptions.AlreadyExistsException:  # a stack update: CloudFormation updates in place
            glue.update_database(Name=name, DatabaseInput=database_input, **_catalog_id(request))
        return Provisioned(physical_id=name)

    def delete(self, request: ProvisionRequest, provisioned: Provisioned) -> None:
        glue = request.client("glue")
        try:
            glue.delete_database(Name=provisioned.physical_id, **_catalog_id(request))
        except glue.exceptions.EntityNotFoundException:
            pass


@REGISTRY.provisioner
class GlueTableProvisioner(ResourceProvisioner):
    resource_type = "AWS::Glue::Table"

    def name(self, request: ProvisionRequest) -> str:
        return _glue_name(request, request.properties.get("TableInput", {}).get("Name"))

    def create(self, request: ProvisionRequest) -> Provisioned:
        props, glue, name = request.properties, request.client("glue"), self.name(request)
        if "OpenTableFormatInput" in props:
            raise NotImplementedError(
                f"{request.stack_name}/{request.logical_id}: the twin provisions Hive-style Glue tables only; "
                "OpenTableFormatInput (Iceberg) is not supported"
            )
        database = str(props["DatabaseName"])
        table_input = {**props.get("TableInput", {}), "Name": name}
        try:
            glue.create_table(DatabaseName=database, TableInput=table_input, **_catalog_id(request))
        except glue.exceptions.AlreadyExistsException:
            glue.update_table(DatabaseName=database, TableInput=table_input, **_catalog_id(request))
        return Provisioned(physical_id=name)

    def delete(self, request: ProvisionRequest, provisioned: Provisioned) -> None:
        glue = request.client("glue")
        try:
            glue.delete_table(
                DatabaseName=str(request.properties["DatabaseName"]), Name=provisioned.physical_id,
                **_catalog_id(request),
            )
        except glue.exceptions.EntityNotFoundException:
            pass
