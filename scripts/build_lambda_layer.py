"""Build the stream-transform dependency layer: manylinux x86_64 wheels for Python 3.11, no Docker.

    python scripts/build_lambda_layer.py [--force]

Installs lambdas/stream_transform/requirements.txt into build/layers/stream_deps/python (the layout Lambda expects)
and writes build/layers/stream_deps/.stamp with the requirements' hash. When the stamp matches, nothing is rebuilt.
The CDK app refuses to synthesize without an up-to-date layer (`stacks.dependency_builds`).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: `stacks` (standard library only)

from stacks.dependency_builds import STREAM_DEPS, build_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(build_main(STREAM_DEPS, description=__doc__))
