"""Props of `AnalyticsCluster`."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns

from stacks.stage_config import StageConfig
from stacks.storage.data_lake_storage import DataLakeStorage

# EMR 7.x releases all carry Spark 3.5 (7.0.0: 3.5.0 ... 7.5.0: 3.5.2, as Glue 5.0); the jobs target the 3.5 API.
EMR_RELEASE_LABEL = "emr-7.5.0"


@dataclass(frozen=True)
class AnalyticsClusterProps:
    storage: DataLakeStorage  # reads curated (and analytics), writes analytics; scripts and logs in artifacts
    config: StageConfig
    # The data quality gate the steps run on their outputs (as the Glue gate job does): its topic and the topic's
    # key, the Deequ jar's key in the artifacts bucket, and the pipeline name of its metrics and messages.
    quality_topic: sns.ITopic
    quality_key: kms.IKey
    deequ_jar_key: str
    quality_pipeline: str
    release_label: str = EMR_RELEASE_LABEL
    # Upper bound of what the application's running jobs may hold together (EMR Serverless units).
    maximum_cpu: str = "16 vCPU"
    maximum_memory: str = "64 GB"
    maximum_disk: str = "200 GB"
    idle_timeout_minutes: int = 15  # auto-stop after this much idleness (auto-start on job submission)
    scripts_prefix: str = "emr/"  # entry points, the shared package and the Python packages, under artifacts
    logs_prefix: str = "emr-serverless/logs/"  # S3 monitoring (driver and executor logs), under artifacts

    def __post_init__(self) -> None:
        if not 1 <= self.idle_timeout_minutes <= 10080:
            raise ValueError(f"idle_timeout_minutes must be 1..10080, got {self.idle_timeout_minutes}")
        for name in ("scripts_prefix", "logs_prefix"):
            value = getattr(self, name)
            if not value.endswith("/") or value.startswith("/") or "*" in value:
                raise ValueError(f"{name} must be a key prefix like 'emr/', got {value!r}")
