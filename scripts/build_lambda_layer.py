"""Build the stream-transform dependency layer: manylinux x86_64 wheels for Python 3.11, no Docker.

    python scripts/build_lambda_layer.py [--force]

Installs lambdas/stream_transform/requirements.txt into build/layers/stream_deps/python (the layout
Lambda expects) and writes build/layers/stream_deps/.stamp with the requirements' hash. When the stamp matches,
nothing is rebuilt. The CDK app refuses to synthesize without an up-to-date layer.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO_ROOT / "lambdas" / "stream_transform" / "requirements.txt"
LAYER_DIR = REPO_ROOT / "build" / "layers" / "stream_deps"
SITE_DIR = LAYER_DIR / "python"
STAMP = LAYER_DIR / ".stamp"  # the Makefile's target; excluded from the layer asset

# Matches the Lambda function: Python 3.11 on x86_64 (Amazon Linux 2, glibc 2.26 -> manylinux2014).
PLATFORM = "manylinux2014_x86_64"
PYTHON_VERSION = "3.11"


def requirements_hash(requirements: Path = REQUIREMENTS) -> str:
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(f"{PLATFORM}/{PYTHON_VERSION}".encode())
    return digest.hexdigest()


def is_up_to_date() -> bool:
    return SITE_DIR.is_dir() and STAMP.is_file() and STAMP.read_text().strip() == requirements_hash()


def build(force: bool = False) -> bool:
    """Build the layer if needed; returns True when it (re)built."""
    if not force and is_up_to_date():
        STAMP.touch()  # newer than requirements.txt again, so make considers the layer done
        return False
    staging = LAYER_DIR.with_name("stream_deps.staging")
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        sys.executable, "-m", "pip", "install",
        "--disable-pip-version-check", "--no-compile", "--quiet",
        "--platform", PLATFORM,
        "--python-version", PYTHON_VERSION,
        "--implementation", "cp",
        "--only-binary=:all:",
        "--no-deps",
        "--target", str(staging / "python"),
        "-r", str(REQUIREMENTS),
    ]
    subprocess.run(command, check=True)
    for cache in (staging / "python").rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    (staging / STAMP.name).write_text(requirements_hash() + "\n")
    shutil.rmtree(LAYER_DIR, ignore_errors=True)
    staging.rename(LAYER_DIR)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="rebuild even when the stamp says up to date")
    args = parser.parse_args(argv)
    try:
        rebuilt = build(force=args.force)
    except subprocess.CalledProcessError as error:
        print(f"error: pip failed ({error.returncode}) building {SITE_DIR}", file=sys.stderr)
        return 1
    state = "built" if rebuilt else "up to date"
    print(f"stream-transform layer {state}: {SITE_DIR.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
