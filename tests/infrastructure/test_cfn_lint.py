"""cfn-lint on every synthesized template (both stages)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import Synthesized

# Rules skipped on a single resource through its `cfn-lint` metadata, each with the reason.
ALLOWED_RESOURCE_IGNORES = {
    "W3005": "aws-cdk-lib's lambda.Function always adds DependsOn its role, which its Role GetAtt already "
             "implies; redundant but harmless, and not removable from the construct.",
}


def test_templates_pass_cfn_lint(synthesized: Synthesized) -> None:
    templates = sorted(str(path) for path in synthesized.outdir.glob("*.template.json"))
    stacks = {Path(t).name.removesuffix(".template.json").rsplit("-", 1)[-1] for t in templates}
    assert {"Storage", "Ingestion", "Batch"} <= stacks
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    executable = str(cfn_lint) if cfn_lint.exists() else shutil.which("cfn-lint")
    assert executable, "cfn-lint is not installed; install the `cdk` extra (pip install -e '.[cdk]')"
    result = subprocess.run(
        [executable, "--format", "parseable", *templates],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_documented_rules_are_ignored(synthesized: Synthesized) -> None:
    for name, template in synthesized.templates.items():
        assert "cfn-lint" not in json.dumps(template.get("Metadata", {})), f"{name}: template-wide ignore"
        for logical_id, resource in template["Resources"].items():
            config = resource.get("Metadata", {}).get("cfn-lint", {}).get("config", {})
            for rule in config.get("ignore_checks", []):
                assert rule in ALLOWED_RESOURCE_IGNORES, f"{name}/{logical_id} ignores {rule} without a reason"
                assert resource["Type"] == "AWS::Lambda::Function"
