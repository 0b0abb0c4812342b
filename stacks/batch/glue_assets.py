"""What the Glue jobs ship: the entry scripts (`glue_jobs/`) and the shared `retail_lake` package, assembled by
plain Python at synth time into build/glue/library (a folder holding `retail_lake/`, zipped by the CDK asset so
that the zip's root is the package, as `--extra-py-files` wants it)."""

from __future__ import annotations

from pathlib import Path

from stacks.ingestion.lambda_assets import assemble_package_asset

REPO_ROOT = Path(__file__).resolve().parents[2]
GLUE_SCRIPTS_DIR = REPO_ROOT / "glue_jobs"
SHARED_PACKAGE = REPO_ROOT / "retail_lake"
GLUE_LIBRARY_ASSET = REPO_ROOT / "build" / "glue" / "library"
SCRIPT_EXCLUDES = ["README.md", "__pycache__", "*.pyc"]
RAW_TO_CURATED_SCRIPT = "raw_to_curated.py"
CURATED_TO_ANALYTICS_SCRIPT = "curated_to_analytics.py"
QUALITY_GATE_SCRIPT = "quality_gate.py"


def assemble_glue_library() -> Path:
    """Copy `retail_lake/` (no byte code) into the library asset folder; return the folder."""
    for script in (RAW_TO_CURATED_SCRIPT, CURATED_TO_ANALYTICS_SCRIPT, QUALITY_GATE_SCRIPT):
        if not (GLUE_SCRIPTS_DIR / script).is_file():
            raise FileNotFoundError(f"the Glue entry script {GLUE_SCRIPTS_DIR / script} is missing")
    return assemble_package_asset(GLUE_LIBRARY_ASSET)
