"""`<Project>-<stage>-Serving`: Athena (always), and per stage Redshift Serverless, QuickSight and a SageMaker
notebook instance (stacks/serving/serving_config.py), with outputs the twin, the CLI and the pipeline read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, CfnResource, Fn, Stack
from aws_cdk import aws_glue as glue
from constructs import Construct

from stacks.batch.batch_processing import BatchProcessing
from stacks.batch.batch_processing_props import job_name_prefix
from stacks.serving.athena_serving import AthenaServing, _pascal, database_label
from stacks.serving.notebooks import LakeNotebooks
from stacks.serving.quicksight_datasets import QuickSightDatasets
from stacks.serving.redshift_warehouse import RedshiftWarehouse
from stacks.serving.serving_network import ServingNetwork
from stacks.serving.serving_props import AthenaServingProps
from stacks.stage_config import StageConfig
from stacks.storage.data_lake_storage import DataLakeStorage


NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"


class ServingStack(Stack):
    athena: AthenaServing
    network: ServingNetwork | None = None
    redshift: RedshiftWarehouse | None = None
    quicksight: QuickSightDatasets | None = None
    notebooks: LakeNotebooks | None = None

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, storage: DataLakeStorage,
        batch: BatchProcessing, quality_database: glue.CfnDatabase | None = None, **kwargs: Any,
    ) -> None:
        self._three_azs = config.serving.needs_vpc  # read by availability_zones during construction
        super().__init__(scope, construct_id, **kwargs)
        serving = config.serving
        name = job_name_prefix(config.project_name, config.stage)
        analytics_database = batch.analytics_database.ref
        self.athena = AthenaServing(self, "Athena", props=AthenaServingProps(
            storage=storage,
            workgroup_name=name,
            analytics_database_name=analytics_database,
            quality_database_name=quality_database.ref if quality_database is not None else None,
            bytes_scanned_cutoff_mb=serving.athena_bytes_scanned_cutoff_mb,
            remove_data_on_destroy=config.remove_data_on_destroy,
        ))
        outputs: dict[str, tuple[str, str]] = {
            "AthenaWorkGroupName": (self.athena.workgroup.ref, "Athena workgroup (engine v3, enforced settings)"),
        }
        for query_name, query in self.athena.named_queries.items():
            outputs[f"NamedQuery{_pascal(query_name)}Id"] = (query.attr_named_query_id, f"Named query: {query_name}")
        for view_name, query in self.athena.view_queries.items():
            outputs[f"ViewQuery{_pascal(view_name)}Id"] = (query.attr_named_query_id,
                                                           f"Named query creating the view {view_name}")
        if serving.needs_vpc:
            self.network = ServingNetwork(self, "Network", key=storage.data_lake_key,
                                          log_retention_days=config.log_retention_days,
                                          remove_on_destroy=config.remove_data_on_destroy)
            outputs["ServingVpcId"] = (self.network.vpc.vpc_id, "VPC of the warehouse and the notebook instance")
        if serving.redshift.enabled:
            assert self.network is not None
            self.redshift = RedshiftWarehouse(
                self, "Redshift", config=serving.redshift, name=name, storage=storage, vpc=self.network.vpc,
                subnets=self.network.private_subnets, analytics_database_name=analytics_database,
                analytics_database_label=database_label(batch.analytics_database))
            outputs["RedshiftWorkgroupName"] = (self.redshift.workgroup.ref, "Redshift Serverless workgroup (Data API)")
            outputs["RedshiftDatabaseName"] = (serving.redshift.database, "Redshift database the load writes to")
            outputs["RedshiftNamespaceName"] = (self.redshift.namespace.ref, "Redshift Serverless namespace")
        if serving.quicksight.enabled:
            assert serving.quicksight.principal_arn is not None
            self.quicksight = QuickSightDatasets(
                self, "QuickSight", name=name, workgroup_name=self.athena.workgroup.ref,
                analytics_database_name=analytics_database, principal_arn=serving.quicksight.principal_arn)
            outputs["QuickSightDataSourceArn"] = (self.quicksight.data_source.attr_arn, "QuickSight Athena data source")
        if serving.sagemaker.enabled:
            assert self.network is not None
            self.notebooks = LakeNotebooks(
                self, "Notebooks", config=serving.sagemaker, name=name, storage=storage, athena=self.athena,
                vpc=self.network.vpc, subnet=self.network.private_subnets[0],
                analytics_database_name=analytics_database,
                analytics_database_label=database_label(batch.analytics_database), notebooks_dir=str(NOTEBOOKS_DIR),
                remove_data_on_destroy=config.remove_data_on_destroy)
            outputs["NotebookInstanceName"] = (self.notebooks.instance.attr_notebook_instance_name,
                                               "SageMaker notebook instance with the example notebooks")
        self._drop_redundant_provider_dependency()
        for key, (value, description) in outputs.items():
            CfnOutput(self, key, value=value, description=description).override_logical_id(key)

    def _drop_redundant_provider_dependency(self) -> None:
        # The VPC's default-security-group custom resource provider DependsOn its role although it already GetAtts
        # it (cfn-lint W3005), as the CDK writes every custom resource provider.
        provider = self.node.try_find_child("Custom::VpcRestrictDefaultSGCustomResourceProvider")
        if provider is None:
            return
        handler, role = provider.node.try_find_child("Handler"), provider.node.try_find_child("Role")
        if isinstance(handler, CfnResource) and isinstance(role, CfnResource):
            handler.remove_resource_dependency(role)

    @property
    def availability_zones(self) -> list[str]:
        # Redshift Serverless needs subnets in three zones; an environment-agnostic stack would get two.
        if getattr(self, "_three_azs", False) and not _is_concrete(self.region):
            return [Fn.select(index, Fn.get_azs()) for index in range(3)]
        return super().availability_zones


def _is_concrete(value: str) -> bool:
    from aws_cdk import Token

    return not Token.is_unresolved(value)


