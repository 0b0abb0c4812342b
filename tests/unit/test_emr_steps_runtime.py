"""The EMR steps run on the release's own Python: EMR 7.x (emr-7.5.0, the analytics application's release) runs
PySpark on Amazon Linux 2023's Python 3.9. So every module a step imports (the entry scripts and, transitively, the
`retail_lake` modules they reach, the output quality gate included) must be Python 3.9 code, and every third-party
package it needs must be pyspark (the release's) or one the job runs get from the packages zip built from
requirements/emr-python.txt (pydeequ, PyYAML, boto3). Great Expectations is the gate's engine only where the Deequ
jar is missing (here, the twin): it is reached through `retail_lake/quality/expectations.py` alone, which the gate
imports only in that case. See emr_steps/README.md.
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
# what a step may import besides the standard library and retail_lake: pyspark is the release's Spark; the others
# come with the job run (requirements/emr-python.txt), by import name -> distribution
SHIPPED = {"pydeequ": "pydeequ", "yaml": "PyYAML", "boto3": "boto3"}
ALLOWED_THIRD_PARTY = {"pyspark", *SHIPPED}
LOCAL_FALLBACK = "great_expectations"  # the engine where the Deequ jar is missing; never imported on EMR
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
    assert package == ["retail_lake/__init__.py", "retail_lake/batch/__init__.py", "retail_lake/batch/emr_python.py",
                       "retail_lake/batch/ml.py", "retail_lake/batch/partitions.py", "retail_lake/batch/schemas.py",
                       "retail_lake/quality/__init__.py", "retail_lake/quality/deequ.py",
                       "retail_lake/quality/expectations.py", "retail_lake/quality/gate.py",
                       "retail_lake/quality/output_gate.py", "retail_lake/quality/resolve.py",
                       "retail_lake/quality/results.py", "retail_lake/quality/row_checks.py",
                       "retail_lake/quality/rules.py"]


def test_steps_import_nothing_the_emr_release_and_the_job_packages_lack(closure) -> None:
    _, external = closure
    third_party = {name for name in external if name not in sys.stdlib_module_names and name != "__future__"}
    assert third_party == ALLOWED_THIRD_PARTY | {LOCAL_FALLBACK}


def test_the_shipped_packages_are_pinned_for_the_job_runs() -> None:
    pins = {line.split("==")[0].lower() for line in (REPO / "requirements" / "emr-python.txt").read_text().splitlines()
            if "==" in line and not line.lstrip().startswith("#")}
    assert {distribution.lower() for distribution in SHIPPED.values()} <= pins


def test_great_expectations_is_reached_only_through_the_fallback_engine(closure) -> None:
    files, _ = closure
    importers = [path.relative_to(REPO).as_posix() for path in files
                 if any(name.split(".")[0] == LOCAL_FALLBACK for name in _imports(ast.parse(path.read_text())))]
    assert importers == ["retail_lake/quality/expectations.py"]
    gate = ast.parse((REPO / "retail_lake/quality/gate.py").read_text())
    lazy = [node for node in ast.walk(gate) if isinstance(node, ast.ImportFrom) and node.module == "retail_lake.quality"
            and any(alias.name == "expectations" for alias in node.names)]
    assert len(lazy) == 1 and lazy[0].col_offset > 0  # inside the function, after the Deequ branch returned
    assert not any(isinstance(node, ast.ImportFrom) and node.module == "retail_lake.quality.expectations"
                   for node in gate.body)


def test_rule_files_load_from_inside_the_package_zip(tmp_path) -> None:
    """On EMR and Glue the package is a zip on the Python path (`--py-files`, `--extra-py-files`): the rules are read
    as package resources, not through `__file__`."""
    import zipfile

    library = tmp_path / "library.zip"
    with zipfile.ZipFile(library, "w") as archive:
        for path in sorted((REPO / "retail_lake").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(REPO).as_posix())
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import retail_lake.quality.rules as r; "
             "assert r.__file__.startswith(sys.argv[1]), r.__file__; "
             "print(len(r.rules_for('demand_forecast')), ','.join(r.rule_datasets()))")
    result = subprocess.run([sys.executable, "-c", probe, str(library)], cwd=tmp_path, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    count, datasets = result.stdout.split()
    assert int(count) >= 5 and "demand_forecast" in datasets.split(",") and "pos_sales" in datasets.split(",")


def test_the_entry_points_put_the_shipped_packages_first(tmp_path, monkeypatch) -> None:
    from retail_lake.batch.emr_python import EMR_PYTHON_DEPS_ALIAS, use_shipped_packages

    assert use_shipped_packages(str(tmp_path)) is None  # no archive unpacked here: nothing changes
    (tmp_path / EMR_PYTHON_DEPS_ALIAS).mkdir()
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert use_shipped_packages(str(tmp_path)) == str(tmp_path / EMR_PYTHON_DEPS_ALIAS) == sys.path[0]
    for script in EMR_STEPS:  # the call comes before every other import of the script
        body = ast.parse(script.read_text()).body
        first_call = next(i for i, node in enumerate(body)
                          if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call))
        later_imports = [node for node in body[first_call:] if isinstance(node, (ast.Import, ast.ImportFrom))]
        earlier = [node for node in body[:first_call] if isinstance(node, (ast.Import, ast.ImportFrom))]
        assert ast.unparse(body[first_call]) == "use_shipped_packages()", script.name
        assert [ast.unparse(n) for n in earlier] == ["from __future__ import annotations",
                                                     "from retail_lake.batch.emr_python import use_shipped_packages"]
        assert later_imports, script.name


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
    assert annotated >= 10


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
