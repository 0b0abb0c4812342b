"""Per-stage settings of the database and batch sources (`stages.<stage>.sources` in cdk.json), all optional:

    "sources": {
      "dms": {"enabled": true, "instance_class": "dms.t3.medium", "allocated_storage_gb": 50, "multi_az": false,
              "source_host": "orders-db.internal.example.com", "source_port": 5432, "source_database": "retail",
              "cdc_latency_alarm_seconds": 300},
      "api_poll_schedule": "rate(1 hour)",
      "api_base_url": "https://api.example.com",
      "cdc_landing_expiration_days": 5,
      "cdc_merge_schedule": "cron(15 * * * ? *)"
    }

`cdc_landing_expiration_days`: how long DMS's clear-text change files stay in the restricted CDC landing bucket
(1-14 days); the merge must run within that time, which the stage's `cdc_merge_schedule` (a Glue trigger, created
when DMS is on) sees to.

DMS costs money while its replication instance exists, so it is off unless a stage turns it on (dev leaves it off
and runs the same task on the local twin).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_INSTANCE_CLASS = re.compile(r"^dms\.[a-z0-9]+\.[a-z0-9]+$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_SCHEDULE = re.compile(r"^(cron\([^()]+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$")
_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?(/[^\s]*)?$")


@dataclass(frozen=True)
class DmsConfig:
    enabled: bool = False
    instance_class: str = "dms.t3.medium"
    allocated_storage_gb: int = 50
    multi_az: bool = False
    source_host: str = "operational-db.internal"
    source_port: int = 5432
    source_database: str = "retail"
    cdc_latency_alarm_seconds: int = 300


@dataclass(frozen=True)
class SourcesConfig:
    dms: DmsConfig = field(default_factory=DmsConfig)
    api_poll_schedule: str = "rate(1 hour)"
    api_base_url: str = "https://api.example.com"
    cdc_landing_expiration_days: int = 5
    cdc_merge_schedule: str = "cron(15 * * * ? *)"


def parse_sources(section: Any) -> SourcesConfig:
    """`section` is the stage config reader of `sources` (stacks.stage_config._Reader)."""
    defaults, dms_defaults = SourcesConfig(), DmsConfig()
    dms = dms_defaults
    if "dms" in section.raw:
        d = section.section("dms")
        enabled = d._get("enabled", False)
        if not isinstance(enabled, bool):
            d.fail("sources.dms.enabled", f"must be true or false, got {enabled!r}")
        instance_class = d._get("instance_class", dms_defaults.instance_class)
        if not isinstance(instance_class, str) or not _INSTANCE_CLASS.match(instance_class):
            d.fail("sources.dms.instance_class", f"is {instance_class!r}; must be a DMS class such as dms.t3.medium")
        multi_az = d._get("multi_az", dms_defaults.multi_az)
        if not isinstance(multi_az, bool):
            d.fail("sources.dms.multi_az", f"must be true or false, got {multi_az!r}")
        host = d._get("source_host", dms_defaults.source_host)
        if not isinstance(host, str) or not _HOST.match(host):
            d.fail("sources.dms.source_host", f"is {host!r}; must be a host name or address")
        database = d._get("source_database", dms_defaults.source_database)
        if not isinstance(database, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", database):
            d.fail("sources.dms.source_database", f"is {database!r}; must be a PostgreSQL database name")
        dms = DmsConfig(
            enabled=enabled, instance_class=instance_class,
            allocated_storage_gb=d.integer("allocated_storage_gb", minimum=5, maximum=6144, optional=True)
            or dms_defaults.allocated_storage_gb,
            multi_az=multi_az, source_host=host,
            source_port=d.integer("source_port", minimum=1, maximum=65535, optional=True) or dms_defaults.source_port,
            source_database=database,
            cdc_latency_alarm_seconds=d.integer("cdc_latency_alarm_seconds", minimum=10, optional=True)
            or dms_defaults.cdc_latency_alarm_seconds,
        )
        d.done()
    schedule = section._get("api_poll_schedule", defaults.api_poll_schedule)
    if not isinstance(schedule, str) or not _SCHEDULE.match(schedule):
        section.fail("sources.api_poll_schedule", f"is {schedule!r}; must be an EventBridge expression such as "
                                                  "rate(1 hour)")
    base_url = section._get("api_base_url", defaults.api_base_url)
    if not isinstance(base_url, str) or not _URL.match(base_url):
        section.fail("sources.api_base_url", f"is {base_url!r}; must be an https:// URL")
    expiration = section.integer("cdc_landing_expiration_days", minimum=1, maximum=14, optional=True) \
        or defaults.cdc_landing_expiration_days
    merge_schedule = section._get("cdc_merge_schedule", defaults.cdc_merge_schedule)
    if not isinstance(merge_schedule, str) or not merge_schedule.startswith("cron(") or not _SCHEDULE.match(merge_schedule):
        section.fail("sources.cdc_merge_schedule", f"is {merge_schedule!r}; must be a Glue trigger cron expression "
                                                   "such as cron(15 * * * ? *)")
    section.done()
    return SourcesConfig(dms=dms, api_poll_schedule=schedule, api_base_url=base_url,
                         cdc_landing_expiration_days=expiration, cdc_merge_schedule=merge_schedule)
