"""Per-stage settings of the serving layer (`stages.<stage>.serving` in cdk.json), all optional:

    "serving": {
      "athena_bytes_scanned_cutoff_mb": 10240,
      "redshift": {"enabled": true, "base_capacity_rpu": 8, "database": "retail", "admin_username": "lake_admin"},
      "quicksight": {"enabled": true, "principal_arn": "arn:aws:quicksight:eu-west-1:123456789012:user/default/analyst"},
      "sagemaker": {"enabled": true, "instance_type": "ml.t3.medium", "volume_size_gb": 20}
    }

Athena is always deployed. Redshift Serverless and the SageMaker notebook instance cost money while they exist
and need a VPC (created for them, private subnets only); QuickSight needs an account subscription and a user or
group to own its data source and datasets. All three are off unless a stage turns them on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_QUICKSIGHT_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:quicksight:[a-z0-9-]+:\d{12}:(user|group)/[A-Za-z0-9_/+=,.@-]+$")
_SAGEMAKER_INSTANCE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")


@dataclass(frozen=True)
class RedshiftConfig:
    enabled: bool = False
    base_capacity_rpu: int = 8  # Redshift Processing Units, 8..512 in steps of 8
    database: str = "retail"
    admin_username: str = "lake_admin"


@dataclass(frozen=True)
class QuickSightConfig:
    enabled: bool = False
    principal_arn: str | None = None  # the QuickSight user or group granted the data source and datasets


@dataclass(frozen=True)
class SageMakerConfig:
    enabled: bool = False
    instance_type: str = "ml.t3.medium"
    volume_size_gb: int = 20


@dataclass(frozen=True)
class ServingConfig:
    athena_bytes_scanned_cutoff_mb: int = 10240  # a query reading more is cancelled (cost guard)
    redshift: RedshiftConfig = field(default_factory=RedshiftConfig)
    quicksight: QuickSightConfig = field(default_factory=QuickSightConfig)
    sagemaker: SageMakerConfig = field(default_factory=SageMakerConfig)

    @property
    def needs_vpc(self) -> bool:
        return self.redshift.enabled or self.sagemaker.enabled


def _flag(section: Any, key: str, path: str) -> bool:
    value = section._get("enabled", False)
    if not isinstance(value, bool):
        section.fail(f"{path}.enabled", f"must be true or false, got {value!r}")
    return value


def parse_serving(section: Any) -> ServingConfig:
    """`section` is the stage config reader of `serving` (stacks.stage_config._Reader)."""
    defaults = ServingConfig()
    cutoff = (section.integer("athena_bytes_scanned_cutoff_mb", minimum=10, maximum=1_048_576, optional=True)
              or defaults.athena_bytes_scanned_cutoff_mb)
    redshift = defaults.redshift
    if "redshift" in section.raw:
        r = section.section("redshift")
        enabled = _flag(r, "enabled", "serving.redshift")
        rpu = r.integer("base_capacity_rpu", minimum=8, maximum=512, optional=True) or RedshiftConfig.base_capacity_rpu
        if rpu % 8:
            r.fail("serving.redshift.base_capacity_rpu", f"is {rpu}; must be a multiple of 8 between 8 and 512")
        database = r._get("database", RedshiftConfig.database)
        if not isinstance(database, str) or not _DB_NAME.match(database):
            r.fail("serving.redshift.database", f"is {database!r}; must be lowercase letters, digits and _")
        admin = r._get("admin_username", RedshiftConfig.admin_username)
        if not isinstance(admin, str) or not _DB_NAME.match(admin) or admin in ("admin", "rdsadmin"):
            r.fail("serving.redshift.admin_username", f"is {admin!r}; must be lowercase letters, digits and _ "
                                                      "(not a reserved name)")
        redshift = RedshiftConfig(enabled, rpu, database, admin)
        r.done()
    quicksight = defaults.quicksight
    if "quicksight" in section.raw:
        q = section.section("quicksight")
        enabled = _flag(q, "enabled", "serving.quicksight")
        principal = q._get("principal_arn", None)
        if enabled and (not isinstance(principal, str) or not _QUICKSIGHT_PRINCIPAL.match(principal)):
            q.fail("serving.quicksight.principal_arn", f"is {principal!r}; QuickSight needs the ARN of the user or "
                                                       "group that owns the data source and datasets, e.g. "
                                                       "arn:aws:quicksight:eu-west-1:123456789012:user/default/analyst")
        quicksight = QuickSightConfig(enabled, principal if isinstance(principal, str) else None)
        q.done()
    sagemaker = defaults.sagemaker
    if "sagemaker" in section.raw:
        s = section.section("sagemaker")
        enabled = _flag(s, "enabled", "serving.sagemaker")
        instance = s._get("instance_type", SageMakerConfig.instance_type)
        if not isinstance(instance, str) or not _SAGEMAKER_INSTANCE.match(instance):
            s.fail("serving.sagemaker.instance_type", f"is {instance!r}; must be a notebook instance type such as "
                                                      "ml.t3.medium")
        volume = s.integer("volume_size_gb", minimum=5, maximum=16384, optional=True) or SageMakerConfig.volume_size_gb
        sagemaker = SageMakerConfig(enabled, instance, volume)
        s.done()
    section.done()
    return ServingConfig(cutoff, redshift, quicksight, sagemaker)
