"""The batch layer on AWS Glue: raw -> curated jobs (one per dataset), the curated -> analytics job, their roles,
the curated and analytics Glue databases, and the job code deployed to the artifacts bucket.

One job per dataset rather than one parameterized job: each gets a role that reads only its dataset's raw prefix
and writes only its curated prefix, its own run history, metrics and concurrency, and a failing dataset can be
rerun alone; the script is the same file (`--dataset` in the job's default arguments selects the steps).

Code: `glue_jobs/*.py` go to `s3://<artifacts>/glue/scripts/` and a zip of the `retail_lake` package to
`s3://<artifacts>/glue/library/<asset hash>.zip` (`--extra-py-files`), both with `BucketDeployment` (a
CloudFormation custom resource backed by the CDK's Lambda; the twin provisions it itself).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3_deployment
from constructs import Construct, IConstruct

from stacks.batch.batch_processing_props import GLUE_VERSION, BatchProcessingProps, GlueCapacity
from stacks.batch.glue_assets import (
    CURATED_TO_ANALYTICS_SCRIPT,
    GLUE_SCRIPTS_DIR,
    RAW_TO_CURATED_SCRIPT,
    SCRIPT_EXCLUDES,
    assemble_glue_library,
    job_python_modules,
)
from retail_lake.quality.results import QUARANTINE_PREFIX as CURATED_QUARANTINE_PREFIX
from stacks.nag import acknowledge, acknowledge_bucket_deployment_provider, nag_pseudo

# The CDK names the singleton Lambda behind every BucketDeployment of a stack with this prefix.
GLUE_LOG_GROUPS = "/aws-glue/*"


class BatchProcessing(Construct):
    """Glue databases `curated_database`, `analytics_database`; jobs `raw_to_curated_jobs[dataset]` and
    `curated_to_analytics_job`; their roles in `job_roles[job name]`; the code in `scripts_deployment` and
    `library_deployment`.

    Every job runs under `security_configuration`: what it writes to S3 is SSE-KMS with the lake key, its
    CloudWatch logs and job bookmarks are encrypted with `job_key` (rotated; its policy lets CloudWatch Logs of
    this region use it only for the /aws-glue/ log groups of this account).
    """

    curated_database: glue.CfnDatabase
    analytics_database: glue.CfnDatabase
    raw_to_curated_jobs: dict[str, glue.CfnJob]
    curated_to_analytics_job: glue.CfnJob
    job_roles: dict[str, iam.Role]
    job_key: kms.Key
    security_configuration: glue.CfnSecurityConfiguration
    scripts_deployment: s3_deployment.BucketDeployment
    library_deployment: s3_deployment.BucketDeployment

    def __init__(self, scope: Construct, construct_id: str, *, props: BatchProcessingProps) -> None:
        super().__init__(scope, construct_id)
        self._props = props
        storage = props.storage
        self.curated_database = self._database(
            "CuratedDatabase", props.curated_database_name, storage.curated_bucket,
            "Curated zone: typed, deduplicated events with conformed keys, partitioned by event_date",
        )
        self.analytics_database = self._database(
            "AnalyticsDatabase", props.analytics_database_name, storage.analytics_bucket,
            "Analytics zone: gold tables (daily sales, inventory position, customer 360, sessions, funnel)",
        )
        self._deploy_code()
        self._secure_jobs()
        self.job_roles = {}
        self.raw_to_curated_jobs = {dataset: self._raw_to_curated_job(dataset) for dataset in props.datasets}
        self.curated_to_analytics_job = self._curated_to_analytics_job()
        self._acknowledge_bucket_deployment_handler()

    # ------------------------------------------------------------------------------------------ locations
    def script_location(self, script: str) -> str:
        return self._props.storage.artifacts_bucket.s3_url_for_object(f"{self._props.artifacts_prefix}scripts/{script}")

    @property
    def library_key(self) -> str:
        """Key of the `retail_lake` package zip in the artifacts bucket (deploy-time value: the asset's hash)."""
        zip_key = Fn.select(0, self.library_deployment.object_keys)
        return Fn.join("", [f"{self._props.artifacts_prefix}library/", zip_key])

    @property
    def library_location(self) -> str:
        """s3:// URI of the `retail_lake` package zip (`--extra-py-files`)."""
        return Fn.join("", ["s3://", self._props.storage.artifacts_bucket.bucket_name, "/", self.library_key])

    # ------------------------------------------------------------------------------------------ more jobs
    # Other constructs of the batch layer (the quality gate) add their jobs with the same code, security
    # configuration and role shape through these.
    @property
    def storage(self):
        return self._props.storage

    @property
    def artifacts_prefix(self) -> str:
        return self._props.artifacts_prefix

    @property
    def datasets(self) -> tuple[str, ...]:
        return self._props.datasets

    @property
    def curated_capacity(self) -> GlueCapacity:
        return self._props.curated_capacity

    def create_job_role(self, construct_id: str, job_name: str, *, reads: list[tuple[s3.IBucket, list[str]]],
                        writes: list[tuple[s3.IBucket, list[str]]], description: str) -> iam.Role:
        return self._job_role(construct_id, job_name, reads=reads, writes=writes, description=description)

    def create_job(self, construct_id: str, name: str, role: iam.Role, script: str, capacity: GlueCapacity, *,
                   description: str, arguments: dict[str, str]) -> glue.CfnJob:
        return self._job(construct_id, name, role, script, capacity, description=description, arguments=arguments)

    def _temp_prefix(self, job_name: str) -> str:
        return f"{self._props.artifacts_prefix}temp/{job_name}/"

    # ------------------------------------------------------------------------------------------ pieces
    def _database(self, construct_id: str, name: str, bucket: s3.IBucket, description: str) -> glue.CfnDatabase:
        return glue.CfnDatabase(
            self, construct_id,
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=name, description=description, location_uri=f"s3://{bucket.bucket_name}/",
            ),
        )

    def _deploy_code(self) -> None:
        artifacts, prefix = self._props.storage.artifacts_bucket, self._props.artifacts_prefix
        self.scripts_deployment = s3_deployment.BucketDeployment(
            self, "GlueScripts",
            sources=[s3_deployment.Source.asset(str(GLUE_SCRIPTS_DIR), exclude=SCRIPT_EXCLUDES)],
            destination_bucket=artifacts,
            destination_key_prefix=f"{prefix}scripts/",
            retain_on_delete=not self._props.remove_data_on_destroy,
        )
        self.library_deployment = s3_deployment.BucketDeployment(
            self, "GlueLibrary",
            sources=[s3_deployment.Source.asset(str(assemble_glue_library()))],
            destination_bucket=artifacts,
            destination_key_prefix=f"{prefix}library/",
            extract=False,  # the zip itself is the --extra-py-files archive
            retain_on_delete=not self._props.remove_data_on_destroy,
        )

    def _secure_jobs(self) -> None:
        props, stack = self._props, Stack.of(self)
        remove = props.remove_data_on_destroy
        self.job_key = kms.Key(
            self, "JobKey",
            description="Encrypts the Glue jobs' CloudWatch logs and job bookmarks",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY if remove else RemovalPolicy.RETAIN,
            pending_window=Duration.days(7) if remove else Duration.days(30),
        )
        self.job_key.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchLogsEncryptsGlueLogGroups",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": self._glue_log_groups_arn()}},
        ))
        self.security_configuration = glue.CfnSecurityConfiguration(
            self, "JobSecurityConfiguration",
            name=f"{props.job_name_prefix}-glue-jobs",
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                s3_encryptions=[glue.CfnSecurityConfiguration.S3EncryptionProperty(
                    s3_encryption_mode="SSE-KMS", kms_key_arn=props.storage.data_lake_key.key_arn,
                )],
                cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                    cloud_watch_encryption_mode="SSE-KMS", kms_key_arn=self.job_key.key_arn,
                ),
                job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=self.job_key.key_arn,
                ),
            ),
        )

    def _glue_log_groups_arn(self) -> str:
        return Stack.of(self).format_arn(service="logs", resource="log-group", resource_name=GLUE_LOG_GROUPS,
                                         arn_format=ArnFormat.COLON_RESOURCE_NAME)

    def _raw_to_curated_job(self, dataset: str) -> glue.CfnJob:
        props, storage = self._props, self._props.storage
        name = f"{props.job_name_prefix}-raw-to-curated-{dataset.replace('_', '-')}"
        role = self._job_role(
            f"RawToCurated{_pascal(dataset)}Role", name,
            reads=[(storage.raw_bucket, [f"{dataset}/", props.reference_prefix])],
            writes=[(storage.curated_bucket, [f"{dataset}/"]),
                    (storage.quarantine_bucket, [f"{CURATED_QUARANTINE_PREFIX}{dataset}/"])],
            description=f"{name}: read raw {dataset}/ and reference/, write curated {dataset}/",
        )
        return self._job(
            f"RawToCurated{_pascal(dataset)}Job", name, role, RAW_TO_CURATED_SCRIPT, props.curated_capacity,
            description=f"raw -> curated for {dataset}: cast, dedupe, event dates, conformed keys (one business "
                        "date per run: --run_date)",
            arguments={
                "--dataset": dataset,
                "--raw_path": storage.raw_bucket.s3_url_for_object(f"{dataset}/"),
                "--reference_path": storage.raw_bucket.s3_url_for_object(props.reference_prefix),
                "--curated_path": storage.curated_bucket.s3_url_for_object(f"{dataset}/"),
                # events broken by the dataset's error-level row rules (retail_lake/contracts/rules/)
                "--quarantine_path": storage.quarantine_bucket.s3_url_for_object(
                    f"{CURATED_QUARANTINE_PREFIX}{dataset}/"),
            },
        )

    def _curated_to_analytics_job(self) -> glue.CfnJob:
        props, storage = self._props, self._props.storage
        name = f"{props.job_name_prefix}-curated-to-analytics"
        role = self._job_role(
            "CuratedToAnalyticsRole", name,
            reads=[(storage.curated_bucket, [""]), (storage.raw_bucket, [props.reference_prefix])],
            writes=[(storage.analytics_bucket, [f"{table}/" for table in props.analytics_tables])],
            description=f"{name}: read curated and reference/, write the analytics tables",
        )
        return self._job(
            "CuratedToAnalyticsJob", name, role, CURATED_TO_ANALYTICS_SCRIPT, props.analytics_capacity,
            description="curated -> analytics: " + ", ".join(props.analytics_tables) + " (one business date per run)",
            arguments={
                "--curated_path": storage.curated_bucket.s3_url_for_object(""),
                "--reference_path": storage.raw_bucket.s3_url_for_object(props.reference_prefix),
                "--analytics_path": storage.analytics_bucket.s3_url_for_object(""),
            },
        )

    def _job(
        self, construct_id: str, name: str, role: iam.Role, script: str, capacity: GlueCapacity, *,
        description: str, arguments: dict[str, str],
    ) -> glue.CfnJob:
        artifacts = self._props.storage.artifacts_bucket
        job = glue.CfnJob(
            self, construct_id,
            name=name,
            description=description,
            role=role.role_arn,
            command=glue.CfnJob.JobCommandProperty(
                name="glueetl", python_version="3", script_location=self.script_location(script),
            ),
            glue_version=GLUE_VERSION,
            worker_type=capacity.worker_type,
            number_of_workers=capacity.number_of_workers,
            timeout=capacity.timeout_minutes,
            max_retries=capacity.max_retries,
            execution_property=glue.CfnJob.ExecutionPropertyProperty(max_concurrent_runs=1),
            security_configuration=self.security_configuration.ref,
            default_arguments={
                "--job-language": "python",
                "--extra-py-files": self.library_location,
                "--enable-metrics": "true",
                "--enable-continuous-cloudwatch-log": "true",
                "--enable-glue-datacatalog": "true",
                "--job-bookmark-option": "job-bookmark-disable",
                "--TempDir": artifacts.s3_url_for_object(self._temp_prefix(name)),
                **({"--additional-python-modules": ",".join(modules)} if (modules := job_python_modules(script)) else {}),
                **arguments,
            },
        )
        # the job's first run needs its script in place (the library is referenced through the deployment already)
        job.node.add_dependency(self.scripts_deployment)
        return job

    def _job_role(
        self, construct_id: str, job_name: str, *, reads: list[tuple[s3.IBucket, list[str]]],
        writes: list[tuple[s3.IBucket, list[str]]], description: str,
    ) -> iam.Role:
        storage, props = self._props.storage, self._props
        role = iam.Role(self, construct_id, assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
                        description=description)
        temp = self._temp_prefix(job_name)
        code_prefix = [f"{props.artifacts_prefix}scripts/", f"{props.artifacts_prefix}library/"]
        listed: dict[str, tuple[s3.IBucket, list[str]]] = {}
        for bucket, prefixes in [*reads, *writes, (storage.artifacts_bucket, [*code_prefix, temp])]:
            entry = listed.setdefault(bucket.node.path, (bucket, []))
            entry[1].extend(prefixes)
        for index, (bucket, prefixes) in enumerate(listed.values()):
            role.add_to_policy(iam.PolicyStatement(
                sid=f"ListPrefixes{index}",
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": _listed_prefixes(prefixes)}},
            ))
        read_resources = [bucket.arn_for_objects(p + "*") for bucket, prefixes in reads for p in prefixes]
        read_resources += [storage.artifacts_bucket.arn_for_objects(p + "*") for p in code_prefix]
        role.add_to_policy(iam.PolicyStatement(sid="ReadInputsAndCode", actions=["s3:GetObject"],
                                               resources=read_resources))
        write_resources = [bucket.arn_for_objects(p + "*") for bucket, prefixes in writes for p in prefixes]
        write_resources.append(storage.artifacts_bucket.arn_for_objects(temp + "*"))
        role.add_to_policy(iam.PolicyStatement(
            sid="RewriteOutputPartitions",
            actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            resources=write_resources,
        ))
        role.add_to_policy(iam.PolicyStatement(
            sid="UseLakeKey", actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=[storage.data_lake_key.key_arn],
        ))
        role.add_to_policy(iam.PolicyStatement(  # the security configuration's bookmark encryption (CSE-KMS)
            sid="UseJobKey", actions=["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
            resources=[self.job_key.key_arn],
        ))
        stack = Stack.of(self)
        role.add_to_policy(iam.PolicyStatement(
            sid="WriteGlueLogs",  # AssociateKmsKey: Glue puts the job key on the log groups it creates
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"],
            resources=[stack.format_arn(service="logs", resource="log-group", resource_name=GLUE_LOG_GROUPS + ":*",
                                        arn_format=ArnFormat.COLON_RESOURCE_NAME)],
        ))
        role.add_to_policy(iam.PolicyStatement(
            sid="PublishGlueMetrics", actions=["cloudwatch:PutMetricData"], resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": "Glue"}},
        ))
        role.add_to_policy(iam.PolicyStatement(
            sid="ReadCatalogDatabases", actions=["glue:GetDatabase", "glue:GetDatabases"],
            resources=[
                stack.format_arn(service="glue", resource="catalog"),
                *[stack.format_arn(service="glue", resource="database", resource_name=name)
                  for name in ("default", props.curated_database_name, props.analytics_database_name)],
            ],
        ))
        self.job_roles[job_name] = role
        self._acknowledge_role(role, reads, writes, [*code_prefix, temp])
        return role

    def _acknowledge_role(self, role: iam.Role, reads, writes, artifact_prefixes: list[str]) -> None:
        for bucket, prefixes in [*reads, *writes, (self._props.storage.artifacts_bucket, artifact_prefixes)]:
            for prefix in prefixes:
                acknowledge(
                    role, _objects_finding(role, bucket, prefix + "*"),
                    f"Object access limited to the '{prefix or '(whole bucket)'}' prefix this job reads or rewrites: "
                    "Spark reads and rewrites partitions whose keys depend on dates and part-file names.",
                )
        acknowledge(
            role, f"AwsSolutions-IAM5[Resource::{_nag_arn(Stack.of(self), 'logs', f'log-group:{GLUE_LOG_GROUPS}:*')}]",
            "Glue writes its continuous and output logs to log groups and streams it names per run under "
            "/aws-glue/; scoped to that path in this account and region.",
        )
        acknowledge(
            role, "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData supports no resource-level permission; the statement is limited by the "
            "cloudwatch:namespace condition to Glue's job metrics.",
        )

    def _acknowledge_bucket_deployment_handler(self) -> None:
        acknowledge_bucket_deployment_provider(Stack.of(self), self._props.storage.artifacts_bucket, "the job code")

def _listed_prefixes(prefixes: list[str]) -> list[str]:
    """`s3:prefix` patterns letting Spark list under each prefix and see the prefix itself (`dataset/*`, `dataset`)."""
    return sorted({p + "*" for p in prefixes} | {p.rstrip("/") for p in prefixes if p})




def _nag_arn(stack: Stack, service: str, resource: str) -> str:
    return (f"arn:{nag_pseudo(stack.partition, 'Partition')}:{service}:{nag_pseudo(stack.region, 'Region')}:"
            f"{nag_pseudo(stack.account, 'AccountId')}:{resource}")


def _objects_finding(consumer: IConstruct, bucket: s3.IBucket, pattern: str) -> str:
    """The AwsSolutions-IAM5 finding for `bucket.arn_for_objects(pattern)` in a policy of `consumer`'s stack."""
    producer = Stack.of(bucket)
    if producer is Stack.of(consumer):
        logical_id = producer.resolve(producer.get_logical_id(bucket.node.default_child))
        return f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/{pattern}]"
    export_name = producer.resolve(producer.export_value(bucket.bucket_arn))["Fn::ImportValue"]
    return f"AwsSolutions-IAM5[Resource::{export_name}/{pattern}]"


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))
