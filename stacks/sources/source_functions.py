"""What the source Lambdas share: their code assets (handler + `retail_lake`), the dependency layers, a role with
its log group, and the acknowledgements every such function carries."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Fn, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.ingestion.lambda_assets import (
    BUILD_DIR,
    REPO_ROOT,
    STREAM_DEPS_STAMP_NAME,
    assemble_package_asset,
    stream_deps_layer_dir,
)
from stacks.nag import acknowledge
from stacks.stage_config import StageConfig

METRICS_NAMESPACE = "RetailLake"


def assemble_handler(name: str) -> Path:
    source = REPO_ROOT / "lambdas" / name
    return assemble_package_asset(BUILD_DIR / "lambda" / name, sorted(source.glob("*.py")))


class SourceFunctionLayers(Construct):
    """The dependency layer (Powertools et al., built by scripts/build_lambda_layer.py) and the AWS SDK for pandas
    managed layer (pyarrow)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, removal: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        deps = lambda_.LayerVersion(
            self, "DepsLayer",
            code=lambda_.Code.from_asset(str(stream_deps_layer_dir()), exclude=[STREAM_DEPS_STAMP_NAME]),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_11],
            compatible_architectures=[lambda_.Architecture.X86_64],
            description="source functions' dependencies (powertools, x-ray)",
            removal_policy=removal,
        )
        pandas = lambda_.LayerVersion.from_layer_version_arn(self, "AwsSdkPandasLayer",
                                                             Fn.sub(config.aws_sdk_pandas_layer_arn))
        self.layers = [deps, pandas]


def source_function(scope: Construct, construct_id: str, *, handler_dir: str, description: str, config: StageConfig,
                    layers: list[lambda_.ILayerVersion], environment: dict[str, str], timeout: Duration,
                    memory_mb: int, service: str, removal: RemovalPolicy) -> tuple[lambda_.Function, iam.Role]:
    log_group = logs.LogGroup(scope, f"{construct_id}LogGroup", removal_policy=removal)
    log_group.node.default_child.retention_in_days = config.log_retention_days  # type: ignore[union-attr]
    role = iam.Role(scope, f"{construct_id}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                    description=f"{service}: {description}")
    log_group.grant_write(role)
    function = lambda_.Function(
        scope, construct_id,
        description=description,
        runtime=lambda_.Runtime.PYTHON_3_11,
        architecture=lambda_.Architecture.X86_64,
        handler="handler.handler",
        code=lambda_.Code.from_asset(str(assemble_handler(handler_dir))),
        layers=layers,
        memory_size=memory_mb,
        timeout=timeout,
        role=role,
        log_group=log_group,
        environment={**environment, "STAGE": config.stage, "POWERTOOLS_SERVICE_NAME": service,
                     "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE, "LOG_LEVEL": config.stream_lambda.log_level},
    )
    function.node.default_child.add_metadata(  # type: ignore[union-attr]
        "cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
    acknowledge(function, "AwsSolutions-L1",
                "Pinned to Python 3.11 on purpose: the AWS SDK for pandas layer, the dependency layer wheels and "
                "the local toolchain (Glue 5.0 parity) all target 3.11.")
    return function, role
