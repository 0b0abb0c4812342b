"""Per-stage configuration: one typed place, read from the `stages` context of cdk.json, validated at synth.

Select a stage with `cdk synth -c stage=prod` (default `dev`). Every value a stack needs that differs
between stages lives here; a wrong value fails the synth with a message naming the stage, the key and
what is allowed.

Optional settings, left out of cdk.json's dev and prod:

- `account`, `region`: pin the stage's environment (otherwise CDK_DEFAULT_ACCOUNT/REGION, else agnostic).
- `alarm_email`: an e-mail address subscribed to the stage's alarm topic (SNS sends a confirmation message
  that must be accepted before alarms are delivered). Left out or empty (`""`), the topic has no
  subscriber: alarms still change state and show in CloudWatch but notify no one, so set it in the
  stage's entry of cdk.json for any stage someone is on call for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from stacks.serving.serving_config import ServingConfig
from stacks.sources.sources_config import SourcesConfig

DEFAULT_STAGE = "dev"

STREAM_MODES = ("on_demand", "provisioned")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)
# A plausible address, not RFC 5322: local part, "@", a dotted domain ending in a 2+ letter TLD.
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_PROJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{1,30}$")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9]{1,15}$")
# The managed layer of AWS SDK for pandas for the Lambda runtime we deploy (Python 3.11, x86_64); see
# https://aws-sdk-pandas.readthedocs.io/en/stable/layers.html. The version number differs by region.
_PANDAS_LAYER_ARN = re.compile(r"^arn:aws:lambda:(\$\{AWS::Region\}|[a-z0-9-]+):\d{12}:layer:AWSSDKPandas-Python311:\d+$")


class StageConfigError(ValueError):
    """A stage's configuration in cdk.json is missing a key or has a value that is not allowed."""


class _Reader:
    """Reads one section of a stage's configuration and reports errors with the full key path."""

    def __init__(self, stage: str, path: str, raw: Any) -> None:
        self.stage = stage
        self.path = path
        if not isinstance(raw, Mapping):
            self.fail(path, f"must be an object, got {type(raw).__name__}")
        self.raw: Mapping[str, Any] = raw
        self._seen: set[str] = set()

    def fail(self, key: str, problem: str) -> None:
        raise StageConfigError(
            f"stage {self.stage!r}: cdk.json context 'stages.{self.stage}.{key}' {problem}"
        )

    def _key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def _get(self, name: str, default: Any = ..., optional: bool = False) -> Any:
        self._seen.add(name)
        if name not in self.raw:
            if default is not ... or optional:
                return None if default is ... else default
            self.fail(self._key(name), "is missing")
        return self.raw[name]

    def section(self, name: str) -> "_Reader":
        return _Reader(self.stage, self._key(name), self._get(name))

    def string(self, name: str, *, pattern: re.Pattern[str] | None = None, allowed: tuple[str, ...] | None = None,
               hint: str = "") -> str:
        value = self._get(name)
        if not isinstance(value, str) or not value:
            self.fail(self._key(name), f"must be a non-empty string, got {value!r}")
        if allowed is not None and value not in allowed:
            self.fail(self._key(name), f"is {value!r}; allowed: {', '.join(allowed)}")
        if pattern is not None and not pattern.match(value):
            self.fail(self._key(name), f"is {value!r}; {hint or 'must match ' + pattern.pattern}")
        return value

    def optional_string(self, name: str, *, pattern: re.Pattern[str], hint: str,
                        empty_is_unset: bool = False) -> str | None:
        value = self._get(name, optional=True)
        if value is None or (empty_is_unset and value == ""):
            return None
        if not isinstance(value, str) or not pattern.fullmatch(value):
            self.fail(self._key(name), f"is {value!r}; {hint}")
        return value

    def boolean(self, name: str) -> bool:
        value = self._get(name)
        if not isinstance(value, bool):
            self.fail(self._key(name), f"must be true or false, got {value!r}")
        return value

    def integer(self, name: str, *, minimum: int, maximum: int | None = None,
                allowed: tuple[int, ...] | None = None, optional: bool = False) -> int | None:
        value = self._get(name, optional=optional)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(self._key(name), f"must be an integer, got {value!r}")
        if allowed is not None and value not in allowed:
            self.fail(self._key(name), f"is {value}; allowed: {', '.join(map(str, allowed))}")
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            self.fail(self._key(name), f"is {value}; must be an integer {bounds}")
        return value

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self._seen)
        if unknown:
            self.fail(self._key(unknown[0]),
                      f"is not a known setting; known settings here: {', '.join(sorted(self._seen))}")


@dataclass(frozen=True)
class KinesisConfig:
    stream_mode: str  # "on_demand" | "provisioned"
    shard_count: int | None  # only with "provisioned"
    retention_hours: int


@dataclass(frozen=True)
class LambdaConfig:
    memory_mb: int
    timeout_seconds: int
    reserved_concurrency: int | None
    log_level: str


@dataclass(frozen=True)
class EventSourceConfig:
    batch_size: int
    max_batching_window_seconds: int
    parallelization_factor: int
    max_retry_attempts: int
    max_record_age_seconds: int


@dataclass(frozen=True)
class ZoneLifecycle:
    """Lifecycle of a bucket holding immutable landed data (raw, quarantine).

    Objects move to STANDARD_IA, then to S3 Glacier Instant Retrieval (GLACIER_IR), the one Glacier class
    Athena and Glue still read in place: the raw zone's tables are queried with partition projection over
    the whole history, and GLACIER (Flexible Retrieval) or DEEP_ARCHIVE objects would fail those queries.
    """

    transition_to_ia_days: int
    transition_to_glacier_days: int
    noncurrent_version_expiration_days: int


@dataclass(frozen=True)
class LifecycleConfig:
    raw: ZoneLifecycle
    quarantine: ZoneLifecycle
    noncurrent_version_expiration_days: int  # curated, analytics, artifacts
    athena_results_expiration_days: int
    access_logs_expiration_days: int


@dataclass(frozen=True)
class AlarmConfig:
    iterator_age_ms: int
    dlq_depth: int


@dataclass(frozen=True)
class MwaaConfig:
    """Managed Airflow (MWAA): billed per hour while the environment exists, whether DAGs run or not."""

    enabled: bool = False
    environment_class: str = "mw1.small"
    max_workers: int = 2


@dataclass(frozen=True)
class OrchestrationConfig:
    """The daily pipeline (Step Functions): business dates are days in `time_zone`; the EventBridge schedule
    (`schedule`, an EventBridge cron or rate expression evaluated in `time_zone`) starts yesterday's run when
    `schedule_enabled`."""

    time_zone: str = "UTC"
    schedule: str = "cron(0 6 * * ? *)"
    schedule_enabled: bool = False
    curated_max_concurrency: int = 3
    mwaa: MwaaConfig = MwaaConfig()


@dataclass(frozen=True)
class StageConfig:
    stage: str
    project_name: str
    account: str | None
    region: str | None
    remove_data_on_destroy: bool
    kinesis: KinesisConfig
    stream_lambda: LambdaConfig
    event_source: EventSourceConfig
    lifecycle: LifecycleConfig
    alarms: AlarmConfig
    log_retention_days: int
    aws_sdk_pandas_layer_arn: str
    alarm_email: str | None = None  # subscribed (e-mail protocol) to the alarm topic when set
    orchestration: OrchestrationConfig = OrchestrationConfig()
    sources: SourcesConfig = SourcesConfig()  # database and batch sources (stacks/sources/sources_config.py)
    serving: ServingConfig = ServingConfig()  # Athena, Redshift, QuickSight, SageMaker (stacks/serving/serving_config.py)

    def stack_name(self, component: str) -> str:
        return f"{self.project_name}-{self.stage}-{component}"


def _zone_lifecycle(section: _Reader) -> ZoneLifecycle:
    ia = section.integer("transition_to_ia_days", minimum=30)  # S3 requires >= 30 days before STANDARD_IA
    glacier = section.integer("transition_to_glacier_days", minimum=1)
    if glacier <= ia:
        section.fail(f"{section.path}.transition_to_glacier_days",
                     f"is {glacier}; must be greater than transition_to_ia_days ({ia})")
    noncurrent = section.integer("noncurrent_version_expiration_days", minimum=1)
    section.done()
    return ZoneLifecycle(ia, glacier, noncurrent)


_SCHEDULE = re.compile(r"^(cron\([^()]+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$")
MWAA_ENVIRONMENT_CLASSES = ("mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge")


def _orchestration(root: _Reader) -> OrchestrationConfig:
    if "orchestration" not in root.raw:
        root._seen.add("orchestration")
        return OrchestrationConfig()
    section = root.section("orchestration")
    defaults = OrchestrationConfig()
    time_zone = section._get("time_zone", defaults.time_zone)
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(str(time_zone))
    except Exception:  # ZoneInfoNotFoundError, ValueError for malformed keys
        section.fail("orchestration.time_zone", f"is {time_zone!r}; must be an IANA time zone such as Europe/Paris")
    schedule = section._get("schedule", defaults.schedule)
    if not isinstance(schedule, str) or not _SCHEDULE.match(schedule):
        section.fail("orchestration.schedule", f"is {schedule!r}; must be an EventBridge expression such as "
                                               "cron(0 6 * * ? *) or rate(1 day)")
    enabled = section._get("schedule_enabled", defaults.schedule_enabled)
    if not isinstance(enabled, bool):
        section.fail("orchestration.schedule_enabled", f"must be true or false, got {enabled!r}")
    concurrency = section._get("curated_max_concurrency", defaults.curated_max_concurrency)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 40:
        section.fail("orchestration.curated_max_concurrency", f"is {concurrency!r}; must be an integer between 1 and 40")
    mwaa = MwaaConfig()
    if "mwaa" in section.raw:
        mw = section.section("mwaa")
        mwaa_enabled = mw._get("enabled", False)
        if not isinstance(mwaa_enabled, bool):
            mw.fail("orchestration.mwaa.enabled", f"must be true or false, got {mwaa_enabled!r}")
        mwaa = MwaaConfig(
            enabled=mwaa_enabled,
            environment_class=mw.string("environment_class", allowed=MWAA_ENVIRONMENT_CLASSES)
            if "environment_class" in mw.raw else MwaaConfig.environment_class,
            max_workers=mw.integer("max_workers", minimum=1, maximum=25)
            if "max_workers" in mw.raw else MwaaConfig.max_workers,
        )
        mw.done()
    section.done()
    return OrchestrationConfig(time_zone=str(time_zone), schedule=schedule, schedule_enabled=enabled,
                               curated_max_concurrency=concurrency, mwaa=mwaa)


def _sources(root: _Reader) -> SourcesConfig:
    from stacks.sources.sources_config import parse_sources

    if "sources" not in root.raw:
        root._seen.add("sources")
        return SourcesConfig()
    return parse_sources(root.section("sources"))


def _serving(root: _Reader) -> ServingConfig:
    from stacks.serving.serving_config import parse_serving

    if "serving" not in root.raw:
        root._seen.add("serving")
        return ServingConfig()
    return parse_serving(root.section("serving"))


def parse_stage_config(stage: str, raw: Any) -> StageConfig:
    """Validate one stage's raw context dict and return its typed configuration."""
    if not _STAGE_NAME.match(stage):
        raise StageConfigError(f"stage {stage!r}: a stage name must be 2-16 lowercase letters or digits")
    root = _Reader(stage, "", raw)

    kinesis_raw = root.section("kinesis")
    mode = kinesis_raw.string("stream_mode", allowed=STREAM_MODES)
    shard_count = kinesis_raw.integer("shard_count", minimum=1, maximum=500, optional=True)
    if mode == "provisioned" and shard_count is None:
        kinesis_raw.fail("kinesis.shard_count", "is missing; stream_mode 'provisioned' needs a shard_count >= 1")
    if mode == "on_demand" and shard_count is not None:
        kinesis_raw.fail("kinesis.shard_count", "must be left out with stream_mode 'on_demand'")
    kinesis = KinesisConfig(mode, shard_count, kinesis_raw.integer("retention_hours", minimum=24, maximum=8760))
    kinesis_raw.done()

    lam = root.section("stream_lambda")
    stream_lambda = LambdaConfig(
        memory_mb=lam.integer("memory_mb", minimum=128, maximum=10240),
        timeout_seconds=lam.integer("timeout_seconds", minimum=1, maximum=900),
        reserved_concurrency=lam.integer("reserved_concurrency", minimum=1, optional=True),
        log_level=lam.string("log_level", allowed=LOG_LEVELS),
    )
    lam.done()

    esm = root.section("event_source")
    event_source = EventSourceConfig(
        batch_size=esm.integer("batch_size", minimum=1, maximum=10000),
        max_batching_window_seconds=esm.integer("max_batching_window_seconds", minimum=0, maximum=300),
        parallelization_factor=esm.integer("parallelization_factor", minimum=1, maximum=10),
        max_retry_attempts=esm.integer("max_retry_attempts", minimum=0, maximum=10000),
        max_record_age_seconds=esm.integer("max_record_age_seconds", minimum=60, maximum=604800),
    )
    esm.done()

    lc = root.section("lifecycle")
    lifecycle = LifecycleConfig(
        raw=_zone_lifecycle(lc.section("raw")),
        quarantine=_zone_lifecycle(lc.section("quarantine")),
        noncurrent_version_expiration_days=lc.integer("noncurrent_version_expiration_days", minimum=1),
        athena_results_expiration_days=lc.integer("athena_results_expiration_days", minimum=1),
        access_logs_expiration_days=lc.integer("access_logs_expiration_days", minimum=1),
    )
    lc.done()

    al = root.section("alarms")
    alarms = AlarmConfig(
        iterator_age_ms=al.integer("iterator_age_ms", minimum=1000),
        dlq_depth=al.integer("dlq_depth", minimum=0),
    )
    al.done()

    config = StageConfig(
        stage=stage,
        project_name=root.string("project_name", pattern=_PROJECT_NAME,
                                 hint="must be 2-31 letters or digits starting with a letter (e.g. RetailLake)"),
        account=root.optional_string("account", pattern=re.compile(r"^\d{12}$"), hint="must be a 12-digit account id"),
        region=root.optional_string("region", pattern=re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$"),
                                    hint="must be a region name such as eu-west-1"),
        remove_data_on_destroy=root.boolean("remove_data_on_destroy"),
        kinesis=kinesis,
        stream_lambda=stream_lambda,
        event_source=event_source,
        lifecycle=lifecycle,
        alarms=alarms,
        log_retention_days=root.integer("log_retention_days", minimum=1, allowed=LOG_RETENTION_DAYS),
        aws_sdk_pandas_layer_arn=root.string(
            "aws_sdk_pandas_layer_arn", pattern=_PANDAS_LAYER_ARN,
            hint="must be the AWS SDK for pandas managed layer for Python 3.11 x86_64, e.g. "
                 "arn:aws:lambda:${AWS::Region}:336392948345:layer:AWSSDKPandas-Python311:<version>",
        ),
        alarm_email=root.optional_string(
            "alarm_email", pattern=_EMAIL, empty_is_unset=True,
            hint="must be an e-mail address such as ops@example.com, or empty / left out for no subscription",
        ),
        orchestration=_orchestration(root),
        sources=_sources(root),
        serving=_serving(root),
    )
    if config.event_source.max_batching_window_seconds > 0 and config.stream_lambda.timeout_seconds < 10:
        root.fail("stream_lambda.timeout_seconds", "must be >= 10 when batches are windowed")
    root.done()
    return config


def load_stage_config(stages: Any, stage: str | None) -> StageConfig:
    """Pick `stage` (default dev) from the `stages` context of cdk.json and validate it."""
    stage = stage or DEFAULT_STAGE
    if not isinstance(stages, Mapping) or not stages:
        raise StageConfigError("cdk.json context 'stages' is missing or empty; it must map stage names to settings")
    if stage not in stages:
        raise StageConfigError(f"stage {stage!r} is not defined in cdk.json context 'stages'; "
                               f"defined stages: {', '.join(sorted(stages))}")
    return parse_stage_config(stage, stages[stage])
