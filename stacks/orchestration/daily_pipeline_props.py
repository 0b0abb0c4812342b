"""Props of `DailyPipeline`: what the pipeline runs, passed by reference from the stacks that own it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam

from stacks.stage_config import StageConfig
from stacks.storage.data_lake_storage import DataLakeStorage

# Errors worth retrying: throttling, service-side faults and a run refused because another run of the same job
# (MaxConcurrentRuns = 1) is still finishing. A job run that FAILED (States.TaskFailed) is not retried: the job
# itself failed (bad data, a failed quality rule, a code error), and a rerun of the date is a decision.
GLUE_TRANSIENT_ERRORS = (
    "Glue.ConcurrentRunsExceededException",
    "Glue.ThrottlingException",
    "Glue.InternalServiceException",
    "Glue.OperationTimeoutException",
    "Glue.AWSGlueException",
)
LAMBDA_TRANSIENT_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
)
EMR_SERVERLESS_TRANSIENT_ERRORS = (
    "EmrServerless.InternalServerException",
    "EmrServerless.ThrottlingException",
    "EmrServerless.ServiceQuotaExceededException",
)
ATHENA_TRANSIENT_ERRORS = ("Athena.InternalServerException", "Athena.TooManyRequestsException")
REDSHIFT_DATA_TRANSIENT_ERRORS = ("RedshiftData.InternalServerException", "RedshiftData.ThrottlingException")
SNS_TRANSIENT_ERRORS = ("Sns.InternalErrorException", "Sns.ThrottledException", "SNS.InternalErrorException",
                        "SNS.ThrottledException")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: interval, x backoff_rate each attempt, capped at max_delay."""

    interval_seconds: int = 5
    max_attempts: int = 4
    backoff_rate: float = 2.0
    max_delay_seconds: int = 120


@dataclass(frozen=True)
class AthenaViews:
    """Views refreshed after the partitions are registered: `CREATE OR REPLACE VIEW` named queries."""

    workgroup: str
    named_query_ids: Sequence[str]
    database: str  # the Glue database the views live in (plain name: IAM resources name it)


@dataclass(frozen=True)
class WarehouseLoad:
    """The Redshift Serverless load (Data API), when the stage has a warehouse."""

    workgroup_name: str
    database: str
    sql: Sequence[str]
    workgroup_arn: str  # the Data API authenticates with temporary credentials of this Serverless workgroup


@dataclass(frozen=True)
class DailyPipelineProps:
    config: StageConfig
    storage: DataLakeStorage
    curated_jobs: dict[str, glue.CfnJob]  # dataset -> raw -> curated job
    analytics_job: glue.CfnJob
    catalog_databases: Sequence[str]  # Glue databases whose partitions are registered after the jobs
    emr_application_id: str | None = None
    emr_application_arn: str | None = None
    emr_job_role: iam.IRole | None = None
    emr_steps_uri: str | None = None
    emr_library_key: str | None = None
    # what the steps' quality gates need: the driver's Python packages zip, the Deequ jar (keys in the artifacts
    # bucket), the quality topic and the pipeline name of their metrics
    emr_python_deps_key: str | None = None
    emr_deequ_jar_key: str | None = None
    quality_topic_arn: str | None = None
    emr_quality_pipeline: str | None = None
    quality_gate_job: glue.CfnJob | None = None
    views: AthenaViews | None = None
    warehouse: WarehouseLoad | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
