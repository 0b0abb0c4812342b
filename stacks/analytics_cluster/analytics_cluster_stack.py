"""`<Project>-<stage>-AnalyticsCluster`: the EMR Serverless Spark application and its job role."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.analytics_cluster.analytics_cluster import AnalyticsCluster
from stacks.analytics_cluster.analytics_cluster_props import AnalyticsClusterProps
from stacks.batch.quality_gate import QualityGate
from stacks.stage_config import StageConfig
from stacks.storage.data_lake_storage import DataLakeStorage


class AnalyticsClusterStack(Stack):
    cluster: AnalyticsCluster

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, storage: DataLakeStorage,
        quality_gate: QualityGate, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.cluster = AnalyticsCluster(self, "AnalyticsCluster", props=AnalyticsClusterProps(
            storage=storage, config=config, quality_topic=quality_gate.topic, quality_key=quality_gate.key,
            deequ_jar_key=quality_gate.deequ_jar_key,
            quality_pipeline=quality_gate.pipeline,
        ))
        cluster = self.cluster
        # The log and script locations are the artifacts bucket (Storage's ArtifactsBucketName output) plus the
        # props' prefixes; re-exporting an imported value as an output is what cfn-lint W6001 warns about.
        outputs = {
            "EmrApplicationId": (cluster.application.attr_application_id, "EMR Serverless application (Spark)"),
            "EmrApplicationArn": (cluster.application.attr_arn, "ARN of the EMR Serverless application"),
            "EmrJobRoleArn": (cluster.job_role.role_arn, "Execution role to pass to StartJobRun"),
            "EmrStepsUri": (cluster.steps_uri, "s3:// prefix of the EMR step entry points (emr_steps/*.py)"),
            "EmrLibraryKey": (cluster.library_key, "Key in the artifacts bucket of the retail_lake package zip "
                                                   "(--py-files)"),
            "EmrPythonDepsKey": (cluster.python_deps_key, "Key in the artifacts bucket of the driver's Python "
                                                          "packages zip (spark.archives)"),
            "EmrDeequJarKey": (cluster.deequ_jar_key, "Key in the artifacts bucket of the Deequ jar (--jars)"),
            "EmrQualityPipeline": (cluster.quality_pipeline, "Pipeline name of the steps' quality metrics and "
                                                             "messages (--pipeline)"),
        }
        for key, (value, description) in outputs.items():
            CfnOutput(self, key, value=value, description=description).override_logical_id(key)
