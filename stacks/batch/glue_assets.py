"""What the Glue jobs ship: the entry scripts (`glue_jobs/`) and the shared `retail_lake` package, assembled by
plain Python at synth time into build/glue/library (a folder holding `retail_lake/`, zipped by the CDK asset so
that the zip's root is the package, as `--extra-py-files` wants it)."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from retail_lake.quality.deequ import PYDEEQU_VERSION
from stacks.ingestion.lambda_assets import assemble_package_asset

REPO_ROOT = Path(__file__).resolve().parents[2]
GLUE_SCRIPTS_DIR = REPO_ROOT / "glue_jobs"
SHARED_PACKAGE = REPO_ROOT / "retail_lake"
GLUE_LIBRARY_ASSET = REPO_ROOT / "build" / "glue" / "library"
SCRIPT_EXCLUDES = ["README.md", "__pycache__", "*.pyc"]
RAW_TO_CURATED_SCRIPT = "raw_to_curated.py"
CURATED_TO_ANALYTICS_SCRIPT = "curated_to_analytics.py"
QUALITY_GATE_SCRIPT = "quality_gate.py"
CDC_MERGE_SCRIPT = "cdc_merge.py"

# What the Glue 5.0 image runs a job with: Spark and Glue's own modules, the AWS SDK and Arrow. Everything else a
# job imports (through `retail_lake`) is installed by Glue with pip when the job starts (`job_python_modules`).
GLUE_PROVIDED_MODULES = frozenset({"pyspark", "py4j", "awsglue", "boto3", "botocore", "pyarrow"})
# The distributions each entry script needs beyond those, as `--additional-python-modules` pins them: the versions
# this project pins and tests (requirements/constraints.txt), whatever version the Glue image would carry.
# great_expectations is the quality gate's engine when the Deequ jar is not on the job's class path.
_JOB_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    RAW_TO_CURATED_SCRIPT: ("msgspec", "PyYAML"),
    CURATED_TO_ANALYTICS_SCRIPT: ("msgspec",),
    QUALITY_GATE_SCRIPT: ("pydeequ", "PyYAML", "msgspec", "great_expectations"),
    CDC_MERGE_SCRIPT: (),
}


def job_python_modules(script: str) -> tuple[str, ...]:
    """`name==version` of each distribution `script` installs at start (empty: the job needs none)."""
    if script not in _JOB_DISTRIBUTIONS:
        raise KeyError(f"no module list for the Glue script {script!r}; add it to _JOB_DISTRIBUTIONS")
    return tuple(f"{name}=={PYDEEQU_VERSION if name == 'pydeequ' else version(name)}"
                 for name in _JOB_DISTRIBUTIONS[script])


def assemble_glue_library() -> Path:
    """Copy `retail_lake/` (no byte code) into the library asset folder; return the folder."""
    for script in (RAW_TO_CURATED_SCRIPT, CURATED_TO_ANALYTICS_SCRIPT, QUALITY_GATE_SCRIPT):
        if not (GLUE_SCRIPTS_DIR / script).is_file():
            raise FileNotFoundError(f"the Glue entry script {GLUE_SCRIPTS_DIR / script} is missing")
    return assemble_package_asset(GLUE_LIBRARY_ASSET)
