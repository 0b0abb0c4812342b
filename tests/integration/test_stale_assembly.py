"""A cloud assembly synthesized before the code changed must not run silently on the twin: the Lambda asset's
copy of `retail_lake` is shadowed by the working tree's (already imported), so an old handler would run against
new domain code. `stale_lambda_packages` tells before deploying; the Lambda runtime refuses to load the function."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from retail_lake.twin import Twin
from retail_lake.twin.assembly import (
    AssemblyError,
    CloudAssembly,
    StaleAssemblyError,
    stale_lambda_packages,
)

pytestmark = pytest.mark.integration

INGESTION = "RetailLake-dev-Ingestion"
EDITED = "retail_lake/reconcile.py"


def _function_code_dir(assembly_dir: Path) -> Path:
    stack = next(s for s in CloudAssembly(assembly_dir).stacks.values() if s.stack_name == INGESTION)
    (code_dir,) = set(stack.function_code_dirs().values())
    return code_dir


@pytest.fixture(scope="module")
def stale_assembly(dev_assembly: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the dev assembly whose stream-transform asset holds an older `retail_lake/reconcile.py`, and a
    vendored copy of an installed distribution (boto3) that differs from the installed one."""
    copy = tmp_path_factory.mktemp("stale") / "cdk.out"
    shutil.copytree(dev_assembly, copy)
    code_dir = _function_code_dir(copy)
    edited = code_dir / EDITED
    edited.write_text(edited.read_text() + "\n# an older revision of this module\n")
    (code_dir / "boto3").mkdir()
    (code_dir / "boto3" / "__init__.py").write_text("VENDORED = True\n")
    return copy


def test_the_synthesized_assembly_and_an_untouched_copy_are_fresh(dev_assembly: Path, tmp_path: Path) -> None:
    assert stale_lambda_packages(dev_assembly) == []
    copy = tmp_path / "cdk.out"
    shutil.copytree(dev_assembly, copy)
    assert stale_lambda_packages(copy) == []


def test_the_check_reports_the_edited_package_before_deploying(stale_assembly: Path) -> None:
    reasons = stale_lambda_packages(stale_assembly)
    assert len(reasons) == 1, reasons  # retail_lake only: the vendored boto3 is an installed distribution's
    (reason,) = reasons
    code_dir = _function_code_dir(stale_assembly)
    assert "'retail_lake'" in reason
    assert str(code_dir) in reason
    assert "changed: " in reason and "reconcile.py" in reason
    assert "cdk.out is older than the code: run `make synth` (or `retail-lake demo --synth`)" in reason
    assert stale_lambda_packages(stale_assembly, stacks=[INGESTION]) == reasons


def test_the_lambda_runtime_refuses_the_stale_function(stale_assembly: Path) -> None:
    with Twin() as twin:
        twin.deploy(stale_assembly)  # deploying is not refused: the check runs when the code would run
        (function,) = twin.deployments[-1].stacks[INGESTION].of_type("AWS::Lambda::Function")
        with pytest.raises(StaleAssemblyError) as raised:
            twin.lambda_runtime.function(function.physical_id)
        with pytest.raises(StaleAssemblyError):
            twin.lambda_runtime.invoke(function.physical_id, {"Records": []})
    assert isinstance(raised.value, AssemblyError)
    message = str(raised.value)
    assert "'retail_lake'" in message and function.physical_id in message
    assert str(_function_code_dir(stale_assembly)) in message
    assert "run `make synth` (or `retail-lake demo --synth`)" in message
