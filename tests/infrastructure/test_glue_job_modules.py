"""Every module a Glue entry script imports (itself or through `retail_lake`, at any depth, lazy imports included)
is in the Python standard library, in the Glue 5.0 image (`GLUE_PROVIDED_MODULES`) or installed by the job from
its `--additional-python-modules`, pinned as the project pins it. A job that misses one fails with an import
error on AWS only: the twin runs the scripts in this environment, where everything is installed."""

from __future__ import annotations

import ast
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from retail_lake.quality.deequ import PYDEEQU_VERSION
from stacks.batch.glue_assets import GLUE_PROVIDED_MODULES, GLUE_SCRIPTS_DIR, REPO_ROOT, job_python_modules
from tests.conftest import Synthesized

SCRIPTS = sorted(p.name for p in GLUE_SCRIPTS_DIR.glob("*.py"))
CONSTRAINTS = REPO_ROOT / "requirements" / "constraints.txt"


def _module_file(dotted: str) -> Path | None:
    path = REPO_ROOT.joinpath(*dotted.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def third_party_imports(script: Path) -> dict[str, set[str]]:
    """Top-level names of the non-standard modules imported by `script` and the `retail_lake` modules it reaches
    -> the files importing each."""
    found: dict[str, set[str]] = {}
    seen: set[Path] = set()
    pending = [script]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "retail_lake":  # the package and every package on the way (their __init__ runs too)
                    parts = name.split(".")
                    pending += [f for i in range(1, len(parts) + 1) if (f := _module_file(".".join(parts[:i])))]
                elif top not in sys.stdlib_module_names and top != "__future__":
                    found.setdefault(top, set()).add(str(path.relative_to(REPO_ROOT)))
    return found


def _distribution(module: str) -> str:
    """The distribution installing `module`; for one not installed here (pydeequ: it needs the Deequ jar, which
    only the AWS job has), its own name."""
    names = packages_distributions().get(module) or [module]
    return names[0].lower().replace("_", "-")


def _pins() -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in CONSTRAINTS.read_text().splitlines()]
    return {name.lower().replace("_", "-"): pin for name, pin in (line.split("==") for line in lines if "==" in line)}


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_import_of_a_glue_script_is_provided_or_installed(script: str) -> None:
    shipped = {spec.split("==")[0].lower().replace("_", "-"): spec.split("==")[1] for spec in job_python_modules(script)}
    missing = {
        module: sorted(importers) for module, importers in third_party_imports(GLUE_SCRIPTS_DIR / script).items()
        if module not in GLUE_PROVIDED_MODULES and _distribution(module) not in shipped
    }
    assert not missing, f"{script} imports modules Glue 5.0 does not provide and the job does not install: {missing}"
    pins = {**_pins(), "pydeequ": PYDEEQU_VERSION}  # pydeequ only runs on AWS, next to the Deequ jar
    assert {name: pins.get(name) for name in shipped} == shipped, "the job's pins differ from constraints.txt"


def test_the_walk_finds_lazy_imports_deep_in_the_package() -> None:
    """The quality gate reaches Great Expectations only inside a function, three modules down."""
    imports = third_party_imports(GLUE_SCRIPTS_DIR / "quality_gate.py")
    assert "retail_lake/quality/expectations.py" in imports["great_expectations"]
    assert "retail_lake/quality/rules.py" in imports["yaml"]


def test_each_deployed_job_installs_its_scripts_modules(synthesized: Synthesized) -> None:
    jobs = [job for component in ("Batch", "Sources") if f"RetailLake-{synthesized.stage}-{component}" in
            synthesized.templates for job in synthesized.resources(component, "AWS::Glue::Job").values()]
    assert len(jobs) >= 5
    for job in jobs:
        script = job["Properties"]["Command"]["ScriptLocation"]
        name = next(s for s in SCRIPTS if s in str(script))  # a plain key or an Fn::Join ending in it
        expected = ",".join(job_python_modules(name))
        assert job["Properties"]["DefaultArguments"].get("--additional-python-modules", "") == expected, name
