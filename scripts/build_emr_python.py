"""Build the EMR Serverless driver's Python packages: manylinux2014 x86_64 wheels for CPython 3.9, no Docker.

    python scripts/build_emr_python.py [--force]

Installs requirements/emr-python.txt (exact pins, the whole dependency set: pip runs with --no-deps) into
build/emr/python_deps/site and writes build/emr/python_deps/.stamp with the requirements' hash. When the stamp
matches, nothing is rebuilt. The AnalyticsCluster stack deploys the folder as one zip, which the job runs unpack
with `spark.archives`; the CDK app refuses to synthesize without an up-to-date build (`stacks.dependency_builds`).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: `stacks` (standard library only)

from stacks.dependency_builds import EMR_PYTHON_DEPS, build_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(build_main(EMR_PYTHON_DEPS, description=__doc__))
