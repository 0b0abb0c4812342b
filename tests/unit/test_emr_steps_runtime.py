"""The EMR steps run on the release's own Python: EMR 7.x (emr-7.5.0, the analytics application's release) runs
PySpark on Amazon Linux 2023's Python 3.9 unless a custom environment is shipped. So every module a step imports
(the entry scripts and, transitively, the `retail_lake` modules they reach) must be Python 3.9 code that needs no
package the release lacks: only pyspark (numpy, which pyspark.ml imports, comes with it). See emr_steps/README.md.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EMR_STEPS = sorted((REPO / "emr_steps").glob("*.py"))
EMR_PYTHON = (3, 9)
# what a step may import besides the standard library and retail_lake: pyspark is the release's Spark
ALLOWED_THIRD_PARTY = {"pyspark"}
VERMIN = [sys.executable, "-c", "import sys, vermin; sys.exit(vermin.main())"]  # the `vermin` command


def _imports(tree: ast.Module) -> set[str]:
    """Modules a module imports when it runs (imports under `if TYPE_CHECKING:` excluded)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from pkg import module`
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _module_file(name: str) -> Path | None:
    base = REPO / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def import_closure(entry_points: list[Path]) -> tuple[list[Path], set[str]]:
    """(the project's files the entry points load, every other top-level module they import)."""
    files: dict[Path, None] = {}
    external: set[str] = set()
    pending = list(entry_points)
    while pending:
        path = pending.pop()
        if path in files:
            continue
        files[path] = None
        for name in _imports(ast.parse(path.read_text(), str(path))):
            top = name.split(".")[0]
            if top != "retail_lake":
                external.add(top)
                continue
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # a package's __init__ runs before its modules
                module = _module_file(".".join(parts[:depth]))
                if module is not None:
                    pending.append(module)
    return sorted(files), external


@pytest.fixture(scope="module")
def closure() -> tuple[list[Path], set[str]]:
    files, external = import_closure(EMR_STEPS)
    assert len(EMR_STEPS) == 3 and set(EMR_STEPS) <= set(files)
    return files, external


def test_the_closure_is_the_steps_and_the_few_modules_they_need(closure) -> None:
    files, _ = closure
    package = sorted(str(f.relative_to(REPO)) for f in files if f not in EMR_STEPS)
    assert package == ["retail_lake/__init__.py", "retail_lake/batch/__init__.py", "retail_lake/batch/ml.py",
                       "retail_lake/batch/schemas.py"]


def test_steps_import_nothing_the_emr_release_lacks(closure) -> None:
    _, external = closure
    third_party = {name for name in external if name not in sys.stdlib_module_names and name != "__future__"}
    assert third_party == ALLOWED_THIRD_PARTY


def test_every_module_parses_as_python_3_9(closure) -> None:
    files, _ = closure
    for path in files:
        ast.parse(path.read_text(), str(path), feature_version=EMR_PYTHON)  # SyntaxError on 3.10+ syntax


def test_annotations_are_never_evaluated(closure) -> None:
    """`X | None` and `list[int]` in annotations are 3.10 / 3.9 syntax at run time; postponed they are strings."""
    files, _ = closure
    annotated = 0
    for path in files:
        tree = ast.parse(path.read_text())
        has_annotations = any(
            isinstance(node, ast.AnnAssign) or (isinstance(node, ast.arg) and node.annotation is not None)
            or (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None)
            for node in ast.walk(tree)
        )
        if not has_annotations:
            continue
        annotated += 1
        future = [node for node in tree.body if isinstance(node, ast.ImportFrom) and node.module == "__future__"]
        assert any(alias.name == "annotations" for node in future for alias in node.names), path
    assert annotated >= 4


def test_vermin_finds_no_feature_newer_than_python_3_9(closure) -> None:
    """vermin checks syntax and the standard library's modules, functions, parameters and methods by the version
    that introduced them; it exits non-zero when a file needs more than the target."""
    files, _ = closure
    result = subprocess.run(
        [*VERMIN, f"--target={EMR_PYTHON[0]}.{EMR_PYTHON[1]}-", "--violations", "--no-tips",
         "--no-parse-comments", *map(str, files)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_vermin_would_catch_a_python_3_10_feature(tmp_path) -> None:
    newer = tmp_path / "newer.py"
    newer.write_text("import itertools\n\nPAIRS = list(itertools.pairwise([1, 2, 3]))\n"
                     "def f(value):\n    match value:\n        case 1:\n            return zip([1], [2], strict=True)\n")
    result = subprocess.run(
        [*VERMIN, "--target=3.9-", "--violations", "--no-tips", str(newer)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode != 0 and "pairwise" in result.stdout and "strict" in result.stdout, result.stdout
