"""The stream-transform asset is assembled by plain Python; a missing layer fails synth with what to run."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from stacks.ingestion import lambda_assets
from tests.conftest import Synthesized


def _asset_dir(synth: Synthesized, code: dict) -> Path:
    """The assembly directory of a Lambda code/content asset, found through the stack's asset manifest."""
    asset_hash = code["S3Key"].removesuffix(".zip")
    manifest = json.loads((synth.outdir / f"RetailLake-{synth.stage}-Ingestion.assets.json").read_text())
    return synth.outdir / manifest["files"][asset_hash]["source"]["path"]


def test_function_asset_holds_handler_modules_and_the_shared_package(dev: Synthesized) -> None:
    (function,) = dev.resources("Ingestion", "AWS::Lambda::Function").values()
    asset = _asset_dir(dev, function["Properties"]["Code"])
    assert (asset / "retail_lake" / "__init__.py").is_file()
    assert (asset / "retail_lake" / "contracts" / "registry.py").is_file()
    assert not list(asset.rglob("__pycache__"))
    handler_modules = {p.name for p in lambda_assets.STREAM_TRANSFORM_SOURCE.glob("*.py")}
    assert handler_modules <= {p.name for p in asset.glob("*.py")}
    assert not (asset / "requirements.txt").exists()


def test_layer_asset_has_the_python_directory(dev: Synthesized) -> None:
    ((_, layer),) = dev.resources("Ingestion", "AWS::Lambda::LayerVersion").items()
    site = _asset_dir(dev, layer["Properties"]["Content"]) / "python"
    assert (site / "msgspec").is_dir() and (site / "aws_lambda_powertools").is_dir()
    assert not (site / "boto3").exists() and not (site / "pyarrow").exists()
    assert not (site.parent / ".stamp").exists()
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.11"]


def test_missing_layer_names_the_build_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(lambda_assets, "STREAM_DEPS", replace(lambda_assets.STREAM_DEPS,
                                                              root=tmp_path / "stream_deps"))
    with pytest.raises(lambda_assets.LambdaAssetError, match=r"python scripts/build_lambda_layer\.py"):
        lambda_assets.stream_deps_layer_dir()


def test_stale_layer_names_the_build_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "stream_deps" / "python").mkdir(parents=True)
    (tmp_path / "stream_deps" / ".stamp").write_text("not-the-hash\n")
    monkeypatch.setattr(lambda_assets, "STREAM_DEPS", replace(lambda_assets.STREAM_DEPS,
                                                              root=tmp_path / "stream_deps"))
    with pytest.raises(lambda_assets.LambdaAssetError, match="out of date"):
        lambda_assets.stream_deps_layer_dir()
