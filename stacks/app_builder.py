"""Build the CDK app for one stage: used by app.py (the CLI), the tests and the local twin, in-process."""

from __future__ import annotations

import json
import os
from pathlib import Path

from aws_cdk import App, Environment, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from stacks.analytics_cluster.analytics_cluster_stack import AnalyticsClusterStack
from stacks.batch.batch_processing_props import job_name_prefix
from stacks.batch.batch_stack import BatchStack
from stacks.ingestion.ingestion_stack import IngestionStack
from stacks.orchestration.orchestration_stack import OrchestrationStack
from stacks.serving.serving_stack import ServingStack
from stacks.sources.sources_stack import SourcesStack, add_cdc_merge_job
from stacks.stage_config import DEFAULT_STAGE, StageConfig, load_stage_config
from stacks.storage.storage_stack import StorageStack

REPO_ROOT = Path(__file__).resolve().parents[1]
CDK_JSON = REPO_ROOT / "cdk.json"


def _cdk_json_context() -> dict:
    return json.loads(CDK_JSON.read_text())["context"]


def stage_config(app: App, stage: str | None = None) -> StageConfig:
    """The validated config of `stage`, else of the `stage` context value (`-c stage=...`), else dev."""
    selected = stage or app.node.try_get_context("stage") or DEFAULT_STAGE
    return load_stage_config(app.node.try_get_context("stages"), selected)


def _environment(config: StageConfig) -> Environment | None:
    account = config.account or os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = config.region or os.environ.get("CDK_DEFAULT_REGION")
    if account is None and region is None:
        return None  # environment-agnostic templates (AWS::AccountId / AWS::Region resolve at deploy)
    return Environment(account=account, region=region)


def build_app(
    stage: str | None = None,
    outdir: str | os.PathLike[str] | None = None,
    *,
    nag: bool = True,
    config: StageConfig | None = None,
) -> App:
    """Create the app with every stack of `stage`; call `.synth()` on the result to write the assembly.

    `outdir` defaults to CDK_OUTDIR (set by the CDK CLI) or cdk.out. With `nag`, cdk-nag's AwsSolutions
    checks run at synth and any unacknowledged finding fails it. `config`, when given, is used instead of
    the stage read from cdk.json (e.g. a test's `dataclasses.replace` of one value).
    """
    # cdk.json's context is what the CLI would pass; the CLI's own context (CDK_CONTEXT_JSON) overrides it.
    app = App(context=_cdk_json_context(), outdir=str(outdir) if outdir is not None else None)
    if config is not None and stage is not None and stage != config.stage:
        raise ValueError(f"build_app: stage {stage!r} disagrees with the given config's stage {config.stage!r}")
    config = config or stage_config(app, stage)
    env = _environment(config)

    storage = StorageStack(
        app,
        config.stack_name("Storage"),
        config=config,
        env=env,
        description=f"retail-lake {config.stage}: S3 lake zones, support buckets and the lake KMS key",
    )
    ingestion = IngestionStack(
        app,
        config.stack_name("Ingestion"),
        config=config,
        storage=storage.storage,
        env=env,
        description=f"retail-lake {config.stage}: Kinesis stream, stream-transform Lambda, failure queue, alarms",
    )
    batch = BatchStack(
        app,
        config.stack_name("Batch"),
        config=config,
        storage=storage.storage,
        env=env,
        description=f"retail-lake {config.stage}: Glue jobs raw -> curated -> analytics, their databases and code",
    )
    cdc_merge = add_cdc_merge_job(batch.batch, job_name_prefix(config.project_name, config.stage),
                                  ingestion.ingestion.pseudonymization_secret, ingestion.ingestion.ingestion_key,
                                  config=config)
    SourcesStack(
        app,
        config.stack_name("Sources"),
        config=config,
        storage=storage.storage,
        cdc_landing=cdc_merge.landing,
        curated_database_name=batch.batch.curated_database.ref,
        env=env,
        description=f"retail-lake {config.stage}: DMS CDC from the operational store, file drops, API poller",
    )
    analytics_cluster = AnalyticsClusterStack(
        app,
        config.stack_name("Analytics"),
        config=config,
        storage=storage.storage,
        quality_gate=batch.quality_gate,
        env=env,
        description=f"retail-lake {config.stage}: EMR Serverless application and job role for the heavy analytics",
    )
    serving = ServingStack(
        app,
        config.stack_name("Serving"),
        config=config,
        storage=storage.storage,
        batch=batch.batch,
        quality_database=batch.quality_gate.database,
        env=env,
        description=f"retail-lake {config.stage}: Athena workgroup, named queries and views; optional Redshift "
                    "Serverless, QuickSight and SageMaker notebooks",
    )
    OrchestrationStack(
        app,
        config.stack_name("Orchestration"),
        config=config,
        storage=storage.storage,
        batch=batch.batch,
        quality_gate_job=batch.quality_gate.job,
        analytics_cluster=analytics_cluster.cluster,
        serving=serving,
        env=env,
        description=f"retail-lake {config.stage}: the daily pipeline state machine, its schedule, ledger and alerts",
    )

    Tags.of(app).add("project", config.project_name)
    Tags.of(app).add("stage", config.stage)
    if nag:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app
