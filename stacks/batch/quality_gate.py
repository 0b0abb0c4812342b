"""The data quality gate between curated and analytics: the Glue job that evaluates the rule files
(`retail_lake/contracts/rules/`), the encrypted topic it and the EMR steps' output gates notify, alarms on failed
gates (per curated dataset and per gated EMR output table), and Glue Data Quality rulesets generated from the same
rules for teams that run the managed service.

The job is one more job of `BatchProcessing` (same code deployment, security configuration and role shape); it
reads every curated prefix (the partition and its trailing days), appends to `quality_results/` and writes
`quality_reports/` in the analytics bucket. Deequ: the jar is taken from the artifacts bucket
(`DEEQU_JAR_KEY`, uploaded once per account, see docs/quality.md) and pydeequ is installed by Glue
(`--additional-python-modules`, with the other modules the job imports: `glue_assets.job_python_modules`); without
the jar on the classpath the job falls back to Great Expectations.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as sns_subscriptions
from constructs import Construct

from retail_lake.quality.deequ import DEEQU_MAVEN_COORDINATE
from retail_lake.quality.dqdl import ruleset
from retail_lake.quality.output_gate import gated_output_tables
from retail_lake.quality.results import (
    METRICS_NAMESPACE,
    REPORTS_PREFIX,
    RESULTS_PREFIX,
    RESULTS_TABLE,
    results_table_definition,
)
from retail_lake.quality.rules import rules_for
from stacks.batch.batch_processing import BatchProcessing
from stacks.batch.glue_assets import QUALITY_GATE_SCRIPT
from stacks.catalog.zone_tables import ZoneTables

DEEQU_JAR_KEY = "jars/deequ-" + DEEQU_MAVEN_COORDINATE.rsplit(":", 1)[1] + ".jar"  # under the artifacts prefix


@dataclass(frozen=True)
class QualityGateProps:
    batch: BatchProcessing
    pipeline: str  # e.g. "retail-lake-dev": the job is <pipeline>-quality-gate, the metrics' Pipeline dimension
    database_name: str  # Glue database of quality_results, e.g. retail_lake_dev_quality
    remove_data_on_destroy: bool = False
    alarm_email: str | None = None


class QualityGate(Construct):
    """`job` (Glue), `topic` (SNS, KMS-encrypted with `key`), `alarms`, `rulesets[dataset]` (Glue Data Quality),
    `database` and `results_table` (quality_results, Parquet in the analytics bucket, partition projection)."""

    database: glue.CfnDatabase
    results_table: glue.CfnTable

    job: glue.CfnJob
    key: kms.Key
    topic: sns.Topic
    deequ_jar_key: str  # the Deequ jar's key in the artifacts bucket (the EMR steps use the same object)
    alarms: list[cloudwatch.Alarm]
    rulesets: dict[str, glue.CfnDataQualityRuleset]

    def __init__(self, scope: Construct, construct_id: str, *, props: QualityGateProps) -> None:
        super().__init__(scope, construct_id)
        self._props = props
        self.deequ_jar_key = props.batch.artifacts_prefix + DEEQU_JAR_KEY
        remove = props.remove_data_on_destroy
        self.key = kms.Key(
            self, "QualityKey",
            description="Encrypts the data quality topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY if remove else RemovalPolicy.RETAIN,
            pending_window=Duration.days(7) if remove else Duration.days(30),
        )
        # CloudWatch alarms publish to the encrypted topic (documented SNS/KMS requirement).
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToUseTheKeyForSns",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],  # in a key policy, "*" means this key
        ))
        self.topic = sns.Topic(self, "QualityTopic", master_key=self.key, enforce_ssl=True,
                               display_name=f"{props.pipeline} data quality")
        if props.alarm_email:
            self.topic.add_subscription(sns_subscriptions.EmailSubscription(props.alarm_email))
        analytics = props.batch.storage.analytics_bucket
        self.database = glue.CfnDatabase(
            self, "QualityDatabase", catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=props.database_name, location_uri=f"s3://{analytics.bucket_name}/{RESULTS_PREFIX}",
                description="Data quality results of the gate between curated and analytics"),
        )
        self.results_table = ZoneTables(self, "Tables", database=self.database, bucket=analytics,
                                        definitions=(results_table_definition(),)).tables[RESULTS_TABLE]
        self.job = self._job()
        self.alarms = self._alarms()
        self.rulesets = {dataset: self._ruleset(dataset, props.batch.curated_database)
                         for dataset in props.batch.datasets}
        # the EMR steps' output tables with rules, in the analytics database
        self.rulesets.update({table: self._ruleset(table, props.batch.analytics_database)
                              for table in gated_output_tables()})

    def _job(self) -> glue.CfnJob:
        batch, props = self._props.batch, self._props
        storage = batch.storage
        name = f"{props.pipeline}-quality-gate"
        artifacts_prefix = batch.artifacts_prefix
        role = batch.create_job_role(
            "QualityGateRole", name,
            reads=[(storage.curated_bucket, [""]), (storage.artifacts_bucket, [artifacts_prefix + "jars/"])],
            writes=[(storage.analytics_bucket, [RESULTS_PREFIX, REPORTS_PREFIX])],
            description=f"{name}: read curated, write quality results and reports, notify the quality topic",
        )
        grant_quality_publishing(role, self.topic, self.key)
        return batch.create_job(
            "QualityGateJob", name, role, QUALITY_GATE_SCRIPT, batch.curated_capacity,
            description="data quality gate: the rule files on the curated partitions the run of --date rewrote; "
                        "fails with QualityGateFailed when an error rule fails",
            arguments={
                "--curated_path": storage.curated_bucket.s3_url_for_object(""),
                "--results_path": storage.analytics_bucket.s3_url_for_object(RESULTS_PREFIX),
                "--report_path": storage.analytics_bucket.s3_url_for_object(REPORTS_PREFIX),
                "--topic_arn": self.topic.topic_arn,
                "--pipeline": props.pipeline,
                "--metrics_namespace": METRICS_NAMESPACE,
                "--datasets": ",".join(batch.datasets),
                "--extra-jars": storage.artifacts_bucket.s3_url_for_object(self.deequ_jar_key),
            },
        )

    @property
    def pipeline(self) -> str:
        """The Pipeline dimension of the quality metrics and the name in the messages (e.g. retail-lake-dev)."""
        return self._props.pipeline

    def _metric(self, name: str, dimensions: dict[str, str]) -> cloudwatch.Metric:
        return cloudwatch.Metric(namespace=METRICS_NAMESPACE, metric_name=name, statistic="Maximum",
                                 period=Duration.minutes(5), dimensions_map=dimensions)

    def _alarms(self) -> list[cloudwatch.Alarm]:
        pipeline = self._props.pipeline
        alarms = [cloudwatch.Alarm(
            self, "GateFailedAlarm",
            alarm_description=f"The data quality gate of {pipeline} failed: an error-level rule failed and analytics "
                              "was not built (the gate's message on the quality topic lists the rules)",
            metric=self._metric("GateFailed", {"Pipeline": pipeline}),
            threshold=1, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )]
        for dataset in (*self._props.batch.datasets, *gated_output_tables()):
            alarms.append(cloudwatch.Alarm(
                self, f"{_pascal(dataset)}ErrorRulesAlarm",
                alarm_description=f"Error-level quality rules failed on {dataset} ({pipeline})",
                metric=self._metric("FailedRules", {"Pipeline": pipeline, "Dataset": dataset, "Level": "error"}),
                threshold=1, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ))
        action = cloudwatch_actions.SnsAction(self.topic)
        for alarm in alarms:
            alarm.add_alarm_action(action)
        return alarms

    def _ruleset(self, dataset: str, database: glue.CfnDatabase) -> glue.CfnDataQualityRuleset:
        document, gate_only = ruleset(rules_for(dataset))
        description = f"Generated from retail_lake/contracts/rules/{dataset}.yaml"
        if gate_only:
            description += "; evaluated by the quality gates only: " + ", ".join(gate_only)
        return glue.CfnDataQualityRuleset(
            self, f"{_pascal(dataset)}Ruleset",
            name=f"{self._props.pipeline}-{dataset.replace('_', '-')}",
            description=description[:2048],
            ruleset=document,
            target_table=glue.CfnDataQualityRuleset.DataQualityTargetTableProperty(
                database_name=database.ref, table_name=dataset,
            ),
        )


def grant_quality_publishing(role: iam.IRole, topic: sns.ITopic, key: kms.IKey) -> None:
    """What a gate's role does besides reading and writing the lake (the Glue gate job's, the EMR job runs'): publish
    to the quality topic, encrypted with its key, and put metrics in the quality namespace only."""
    role.add_to_principal_policy(iam.PolicyStatement(sid="NotifyQualityTopic", actions=["sns:Publish"],
                                                     resources=[topic.topic_arn]))
    role.add_to_principal_policy(iam.PolicyStatement(sid="EncryptQualityMessages",  # the topic is KMS-encrypted
                                                     actions=["kms:GenerateDataKey", "kms:Decrypt"],
                                                     resources=[key.key_arn]))
    role.add_to_principal_policy(iam.PolicyStatement(
        sid="PublishQualityMetrics", actions=["cloudwatch:PutMetricData"], resources=["*"],
        conditions={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
    ))


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))
