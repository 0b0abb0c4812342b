"""The EMR Serverless Spark application and the job execution role its runs assume."""

from __future__ import annotations

from aws_cdk import Fn, Stack
from aws_cdk import aws_emrserverless as emrs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3_deployment
from constructs import Construct

from retail_lake.batch.emr_python import EMR_PYTHON_DEPS_ALIAS
from retail_lake.quality.results import METRICS_NAMESPACE
from stacks.analytics_cluster.analytics_cluster_props import AnalyticsClusterProps
from stacks.batch.glue_assets import REPO_ROOT, SCRIPT_EXCLUDES, assemble_glue_library
from stacks.batch.quality_gate import grant_quality_publishing
from stacks.dependency_builds import EMR_PYTHON_DEPS
from stacks.nag import acknowledge, acknowledge_bucket_deployment_provider, objects_wildcard_finding

EMR_STEPS_DIR = REPO_ROOT / "emr_steps"
EMR_STEP_SCRIPTS = ("customer_segmentation.py", "product_affinity.py", "demand_forecast.py")
# The CDK names the singleton Lambda behind every BucketDeployment of a stack with this prefix.


class AnalyticsCluster(Construct):
    """`application` (EMR Serverless, SPARK, auto-start, auto-stop when idle, bounded maximum capacity, driver and
    executor logs to `s3://<artifacts>/<logs_prefix>` encrypted with the lake key) and `job_role`, the execution
    role to pass to `StartJobRun`: it reads the curated zone, reads and writes the analytics zone, reads the
    entry points under `s3://<artifacts>/<scripts_prefix>` and the Deequ jar (`deequ_jar_key`, the Glue quality
    gate's object), writes the logs, and uses the lake key for all of it; the steps' quality gates publish to the
    quality topic (and use its key) and put metrics in the quality namespace.

    Code (`BucketDeployment`s, as the Glue jobs' code): `emr_steps/*.py` to `s3://<artifacts>/<scripts_prefix>steps/`
    (`steps_uri`), a zip of the `retail_lake` package (the same asset the Glue jobs ship, built by
    `stacks.batch.glue_assets`) to `s3://<artifacts>/<scripts_prefix>library/<asset hash>.zip` (`library_key`,
    for `--py-files`) and a zip of the driver's Python packages (`requirements/emr-python.txt`, built by
    scripts/build_emr_python.py) to `s3://<artifacts>/<scripts_prefix>python/<asset hash>.zip` (`python_deps_key`,
    for `spark.archives`).
    """

    application: emrs.CfnApplication
    job_role: iam.Role
    steps_deployment: s3_deployment.BucketDeployment
    library_deployment: s3_deployment.BucketDeployment
    python_deps_deployment: s3_deployment.BucketDeployment

    def __init__(self, scope: Construct, construct_id: str, *, props: AnalyticsClusterProps) -> None:
        super().__init__(scope, construct_id)
        self._props = props
        storage, config = props.storage, props.config
        stack = Stack.of(self)

        self.job_role = iam.Role(
            self,
            "JobRole",
            description="Execution role of the analytics EMR Serverless job runs",
            assumed_by=iam.ServicePrincipal("emr-serverless.amazonaws.com").with_conditions({
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {"aws:SourceArn": stack.format_arn(
                    service="emr-serverless", resource="/applications", resource_name="*",
                )},
            }),
        )
        self._grant_read(storage.curated_bucket)
        self._grant_read(storage.analytics_bucket)
        self._grant_write(storage.analytics_bucket)
        self._grant_read(storage.artifacts_bucket, props.scripts_prefix)
        self.job_role.add_to_policy(iam.PolicyStatement(
            sid="ReadDeequJar", actions=["s3:GetObject"],
            resources=[storage.artifacts_bucket.arn_for_objects(props.deequ_jar_key)],
        ))
        self._grant_write(storage.artifacts_bucket, props.logs_prefix)
        self.job_role.add_to_policy(iam.PolicyStatement(
            sid="LakeKey",
            actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            resources=[storage.data_lake_key.key_arn],
        ))
        grant_quality_publishing(self.job_role, props.quality_topic, props.quality_key)  # the steps' gates

        self.application = emrs.CfnApplication(
            self,
            "Application",
            name=f"{config.project_name}-{config.stage}-analytics".lower(),
            type="SPARK",
            release_label=props.release_label,
            architecture="X86_64",
            auto_start_configuration=emrs.CfnApplication.AutoStartConfigurationProperty(enabled=True),
            auto_stop_configuration=emrs.CfnApplication.AutoStopConfigurationProperty(
                enabled=True, idle_timeout_minutes=props.idle_timeout_minutes,
            ),
            maximum_capacity=emrs.CfnApplication.MaximumAllowedResourcesProperty(
                cpu=props.maximum_cpu, memory=props.maximum_memory, disk=props.maximum_disk,
            ),
            monitoring_configuration=emrs.CfnApplication.MonitoringConfigurationProperty(
                s3_monitoring_configuration=emrs.CfnApplication.S3MonitoringConfigurationProperty(
                    log_uri=self.log_uri, encryption_key_arn=storage.data_lake_key.key_arn,
                ),
            ),
        )

        self._deploy_code()
        # Every job run of the application gets the Deequ jar and the driver's Python packages (spark-defaults), however
        # it is submitted; the steps' job driver passes the same two settings explicitly as well.
        self.application.runtime_configuration = [emrs.CfnApplication.ConfigurationObjectProperty(
            classification="spark-defaults", properties=self.spark_defaults)]
        self._acknowledge_object_wildcards()
        self._acknowledge_bucket_deployment_handler()

    @property
    def log_uri(self) -> str:
        return self._props.storage.artifacts_bucket.s3_url_for_object(self._props.logs_prefix)

    @property
    def scripts_uri(self) -> str:
        """Where the entry points go: `s3://<artifacts>/<scripts_prefix>`."""
        return self._props.storage.artifacts_bucket.s3_url_for_object(self._props.scripts_prefix)

    @property
    def steps_uri(self) -> str:
        """Where the step entry points are deployed: `s3://<artifacts>/<scripts_prefix>steps/` (the bucket as the
        deployment reports it, so the value is available once the code is there, and is no re-exported import)."""
        return self.steps_deployment.deployed_bucket.s3_url_for_object(f"{self._props.scripts_prefix}steps/")

    @property
    def library_key(self) -> str:
        """Key of the `retail_lake` package zip in the artifacts bucket (deploy-time value: the asset's hash)."""
        zip_key = Fn.select(0, self.library_deployment.object_keys)
        return Fn.join("", [f"{self._props.scripts_prefix}library/", zip_key])

    @property
    def python_deps_key(self) -> str:
        """Key of the driver's Python packages zip in the artifacts bucket (deploy-time value: the asset's hash)."""
        zip_key = Fn.select(0, self.python_deps_deployment.object_keys)
        return Fn.join("", [f"{self._props.scripts_prefix}python/", zip_key])

    @property
    def spark_defaults(self) -> dict[str, str]:
        """The application's spark-defaults: `spark.jars` (the Deequ jar) and `spark.archives` (the packages zip,
        unpacked as `EMR_PYTHON_DEPS_ALIAS`)."""
        bucket = self._props.storage.artifacts_bucket.bucket_name
        return {"spark.jars": f"s3://{bucket}/{self.deequ_jar_key}",
                "spark.archives": Fn.join("", [f"s3://{bucket}/", self.python_deps_key, f"#{EMR_PYTHON_DEPS_ALIAS}"])}

    @property
    def deequ_jar_key(self) -> str:
        """Key of the Deequ jar in the artifacts bucket (for `--jars`): the Glue quality gate's object."""
        return self._props.deequ_jar_key

    @property
    def quality_topic_arn(self) -> str:
        """The quality topic the steps' gates notify (the Glue gate's topic)."""
        return self._props.quality_topic.topic_arn

    @property
    def quality_pipeline(self) -> str:
        """The pipeline name the steps' quality gates give their metrics and messages (the Glue gate's)."""
        return self._props.quality_pipeline

    # ------------------------------------------------------------------ code
    def _deploy_code(self) -> None:
        props = self._props
        for script in EMR_STEP_SCRIPTS:
            if not (EMR_STEPS_DIR / script).is_file():
                raise FileNotFoundError(f"the EMR step {EMR_STEPS_DIR / script} is missing")
        retain = not props.config.remove_data_on_destroy
        self.steps_deployment = s3_deployment.BucketDeployment(
            self, "EmrSteps",
            sources=[s3_deployment.Source.asset(str(EMR_STEPS_DIR), exclude=SCRIPT_EXCLUDES)],
            destination_bucket=props.storage.artifacts_bucket,
            destination_key_prefix=f"{props.scripts_prefix}steps/",
            retain_on_delete=retain,
        )
        self.library_deployment = s3_deployment.BucketDeployment(
            self, "EmrLibrary",
            sources=[s3_deployment.Source.asset(str(assemble_glue_library()))],
            destination_bucket=props.storage.artifacts_bucket,
            destination_key_prefix=f"{props.scripts_prefix}library/",
            extract=False,  # the zip itself is the --py-files archive
            retain_on_delete=retain,
        )
        python_deps = EMR_PYTHON_DEPS.verified()  # refuses a missing or stale build, naming the command to run
        self.python_deps_deployment = s3_deployment.BucketDeployment(
            self, "EmrPythonDeps",
            sources=[s3_deployment.Source.asset(str(python_deps.site_dir))],  # the zip's root is the packages
            destination_bucket=props.storage.artifacts_bucket,
            destination_key_prefix=f"{props.scripts_prefix}python/",
            extract=False,  # the zip itself is the spark.archives archive
            retain_on_delete=retain,
        )

    # ------------------------------------------------------------------ grants
    def _grant_read(self, bucket: s3.IBucket, prefix: str = "") -> None:
        list_statement = iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn])
        if prefix:
            list_statement.add_condition("StringLike", {"s3:prefix": [prefix, f"{prefix}*"]})
        self.job_role.add_to_policy(list_statement)
        self.job_role.add_to_policy(iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{prefix}*")],
        ))

    def _grant_write(self, bucket: s3.IBucket, prefix: str = "") -> None:
        self.job_role.add_to_policy(iam.PolicyStatement(
            actions=["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            resources=[bucket.arn_for_objects(f"{prefix}*")],
        ))

    def _acknowledge_object_wildcards(self) -> None:
        storage, props = self._props.storage, self._props
        reasons = {
            (storage.curated_bucket, ""): "Spark reads whole curated tables (every partition object of every "
            "dataset), and object keys are not known at deploy time: s3:GetObject on the curated bucket's objects.",
            (storage.analytics_bucket, ""): "The analytics jobs read gold tables and rewrite the partitions they "
            "own (Spark writes, replaces and cleans up part files): s3:GetObject, s3:PutObject, s3:DeleteObject "
            "and s3:AbortMultipartUpload on the analytics bucket's objects only.",
            (storage.artifacts_bucket, props.scripts_prefix): "Job runs read their entry points and the shared "
            f"package: s3:GetObject limited to the {props.scripts_prefix} prefix of the artifacts bucket.",
            (storage.artifacts_bucket, props.logs_prefix): "EMR Serverless writes driver and executor logs under "
            "run-generated keys: s3:PutObject, s3:DeleteObject and s3:AbortMultipartUpload limited to the "
            f"{props.logs_prefix} prefix of the artifacts bucket.",
        }
        for (bucket, prefix), reason in reasons.items():
            finding = objects_wildcard_finding(self.job_role, bucket)  # "...Resource::<arn>/*]"
            acknowledge(self.job_role, finding.removesuffix("/*]") + f"/{prefix}*]", reason)
        acknowledge(self.job_role, "AwsSolutions-IAM5[Resource::*]",
                    "cloudwatch:PutMetricData supports no resource-level permission; the statement is limited by the "
                    f"cloudwatch:namespace condition to the data quality namespace {METRICS_NAMESPACE}.")

    def _acknowledge_bucket_deployment_handler(self) -> None:
        acknowledge_bucket_deployment_provider(Stack.of(self), self._props.storage.artifacts_bucket,
                                               "the EMR steps, the package zip and the Python packages zip")

