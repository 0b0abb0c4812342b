"""The pinned CDK CLI synthesizes the app offline (`npx cdk synth`), as users and `make` run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from stacks.app_builder import REPO_ROOT

CDK_BIN = REPO_ROOT / "node_modules" / ".bin" / "cdk"


def test_cdk_cli_synth_offline(tmp_path: Path) -> None:
    assert CDK_BIN.exists(), (
        f"{CDK_BIN} is missing: run `npm ci` in {REPO_ROOT} (the Makefile does) to install the pinned "
        "aws-cdk CLI from package-lock.json"
    )
    outdir = tmp_path / "cdk.out"
    env = {
        **os.environ,
        # cdk.json runs `python app.py`: put this interpreter's bin (the venv) first on PATH.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    result = subprocess.run(
        ["npx", "--no-install", "cdk", "synth", "--no-notices", "--quiet", "-o", str(outdir), "-c", "stage=prod"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = {name for name, artifact in manifest["artifacts"].items()
              if artifact["type"] == "aws:cloudformation:stack"}
    assert stacks >= {"RetailLake-prod-Storage", "RetailLake-prod-Ingestion", "RetailLake-prod-Batch"}
    ingestion = json.loads((outdir / "RetailLake-prod-Ingestion.template.json").read_text())
    stream = next(r for r in ingestion["Resources"].values() if r["Type"] == "AWS::Kinesis::Stream")
    assert stream["Properties"]["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
