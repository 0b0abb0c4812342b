"""Lambda code and layer assets, assembled by plain Python at synth time (no Docker bundling).

The function asset is the handler's modules plus the shared `retail_lake` package, copied into
build/lambda/stream_transform. Third-party dependencies come from the layer that
scripts/build_lambda_layer.py builds into build/layers/stream_deps (pyarrow/numpy from the AWS SDK for
pandas managed layer, boto3 from the runtime).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from stacks.dependency_builds import STAMP_NAME, STREAM_DEPS

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = REPO_ROOT / "build"
STREAM_TRANSFORM_SOURCE = REPO_ROOT / "lambdas" / "stream_transform"
SHARED_PACKAGE = REPO_ROOT / "retail_lake"
STREAM_TRANSFORM_ASSET = BUILD_DIR / "lambda" / "stream_transform"
STREAM_DEPS_STAMP_NAME = STAMP_NAME  # written by scripts/build_lambda_layer.py, excluded from the asset


class LambdaAssetError(RuntimeError):
    """A Lambda asset cannot be assembled; the message says what to run."""


def assemble_package_asset(target: Path, modules: list[Path] | None = None) -> Path:
    """Copy `modules` (entry-point files) and the shared `retail_lake/` package (no byte code) into `target`.
    The tree is assembled beside the target and swapped in, so a concurrent synth never sees it half-copied."""
    staging = target.with_name(f"{target.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for module in modules or []:
        shutil.copy2(module, staging / module.name)
    shutil.copytree(SHARED_PACKAGE, staging / SHARED_PACKAGE.name,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo"))
    previous = target.with_name(f"{target.name}.previous-{os.getpid()}")
    if target.exists():
        target.rename(previous)
    staging.rename(target)
    shutil.rmtree(previous, ignore_errors=True)
    return target


def assemble_stream_transform_code() -> Path:
    """Copy the handler modules and `retail_lake/` into the asset directory; return the directory."""
    if not STREAM_TRANSFORM_SOURCE.is_dir():
        raise LambdaAssetError(f"the stream-transform handler folder {STREAM_TRANSFORM_SOURCE} does not exist")
    return assemble_package_asset(STREAM_TRANSFORM_ASSET, sorted(STREAM_TRANSFORM_SOURCE.glob("*.py")))


def stream_deps_layer_dir() -> Path:
    """The built dependency layer (with `python/` inside), verified to match requirements.txt."""
    return STREAM_DEPS.verified(LambdaAssetError).root
