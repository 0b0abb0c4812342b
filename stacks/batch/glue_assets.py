"""What the Glue jobs ship: the entry scripts (`glue_jobs/`) and the shared `retail_lake` package, assembled by
plain Python at synth time into build/glue/library (a folder holding `retail_lake/`, zipped by the CDK asset so
that the zip's root is the package, as `--extra-py-files` wants it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
GLUE_SCRIPTS_DIR = REPO_ROOT / "glue_jobs"
SHARED_PACKAGE = REPO_ROOT / "retail_lake"
GLUE_LIBRARY_ASSET = REPO_ROOT / "build" / "glue" / "library"
SCRIPT_EXCLUDES = ["README.md", "__pycache__", "*.pyc"]
RAW_TO_CURATED_SCRIPT = "raw_to_curated.py"
CURATED_TO_ANALYTICS_SCRIPT = "curated_to_analytics.py"


def assemble_glue_library() -> Path:
    """Copy `retail_lake/` (no byte code) into the library asset folder; return the folder."""
    for script in (RAW_TO_CURATED_SCRIPT, CURATED_TO_ANALYTICS_SCRIPT):
        if not (GLUE_SCRIPTS_DIR / script).is_file():
            raise FileNotFoundError(f"the Glue entry script {GLUE_SCRIPTS_DIR / script} is missing")
    # Assemble beside the target and swap it in, so a concurrent synth never sees a half-copied tree.
    staging = GLUE_LIBRARY_ASSET.with_name(f"{GLUE_LIBRARY_ASSET.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copytree(SHARED_PACKAGE, staging / SHARED_PACKAGE.name,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo"))
    previous = GLUE_LIBRARY_ASSET.with_name(f"{GLUE_LIBRARY_ASSET.name}.previous-{os.getpid()}")
    if GLUE_LIBRARY_ASSET.exists():
        GLUE_LIBRARY_ASSET.rename(previous)
    staging.rename(GLUE_LIBRARY_ASSET)
    shutil.rmtree(previous, ignore_errors=True)
    return GLUE_LIBRARY_ASSET
