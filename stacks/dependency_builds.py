"""Third-party wheels installed by pip into a build folder for another platform than this machine's (no Docker):
the stream-transform Lambda layer (`STREAM_DEPS`) and the EMR Serverless driver's packages (`EMR_PYTHON_DEPS`).
The folder's stamp holds the hash of its requirements file and target platform: scripts/build_lambda_layer.py and
scripts/build_emr_python.py write it (`DependencyBuild.build`), and the CDK app refuses to synthesize from a folder
that is missing or whose stamp does not match (`DependencyBuild.verified`).

Standard library only: the build scripts import it before anything else is installed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = REPO_ROOT / "build"
STAMP_NAME = ".stamp"  # beside the installed packages, excluded from the assets; the Makefile's target


class DependencyBuildError(RuntimeError):
    """A dependency build is missing or out of date; the message says what to run."""


@dataclass(frozen=True)
class DependencyBuild:
    """`requirements` installed with `pip install --target <root>/<site> --no-deps` for CPython `python_version`
    on `platform`, binary wheels only; `<root>/.stamp` records what was installed."""

    description: str  # e.g. "the stream-transform dependency layer"
    requirements: Path
    root: Path
    site: str  # the folder under `root` pip installs into
    platform: str  # a wheel platform tag, e.g. manylinux2014_x86_64
    python_version: str  # e.g. "3.11"
    build_command: str  # what a user runs to build it, e.g. "`python scripts/build_lambda_layer.py` (or `make layer`)"

    @property
    def site_dir(self) -> Path:
        return self.root / self.site

    @property
    def stamp(self) -> Path:
        return self.root / STAMP_NAME

    def requirements_hash(self) -> str:
        digest = hashlib.sha256(self.requirements.read_bytes())
        digest.update(f"{self.platform}/{self.python_version}".encode())
        return digest.hexdigest()

    def is_up_to_date(self) -> bool:
        return (self.site_dir.is_dir() and self.stamp.is_file()
                and self.stamp.read_text().strip() == self.requirements_hash())

    def verified(self, error: type[Exception] = DependencyBuildError) -> DependencyBuild:
        """This build, when its folder exists and matches the requirements; else raises `error` saying what to run."""
        hint = f"run {self.build_command} from the repository root, then synth again"
        if not self.site_dir.is_dir():
            raise error(f"{self.description} is missing ({self.site_dir}); {hint}")
        if not self.is_up_to_date():
            requirements = (self.requirements.relative_to(REPO_ROOT) if self.requirements.is_relative_to(REPO_ROOT)
                            else self.requirements)
            raise error(f"{self.description} in {self.root} is out of date with {requirements}; {hint}")
        return self

    def build(self, force: bool = False) -> bool:
        """Install the requirements if the stamp does not match (or with `force`); True when it (re)built. The
        folder is built beside `root` and swapped in, so a failed build leaves the previous one as it was."""
        if not force and self.is_up_to_date():
            self.stamp.touch()  # newer than the requirements file again, so make considers the target done
            return False
        staging = self.root.with_name(f"{self.root.name}.staging")
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run([
            sys.executable, "-m", "pip", "install",
            "--disable-pip-version-check", "--no-compile", "--quiet",
            "--platform", self.platform,
            "--python-version", self.python_version,
            "--implementation", "cp",
            "--only-binary=:all:",
            "--no-deps",
            "--target", str(staging / self.site),
            "-r", str(self.requirements),
        ], check=True)
        for cache in list((staging / self.site).rglob("__pycache__")):
            shutil.rmtree(cache, ignore_errors=True)
        (staging / STAMP_NAME).write_text(self.requirements_hash() + "\n")
        shutil.rmtree(self.root, ignore_errors=True)
        staging.rename(self.root)
        return True


def build_main(build: DependencyBuild, argv: list[str] | None = None, description: str | None = None) -> int:
    """The command line of a build script: `[--force]`; prints what it did, 1 when pip failed."""
    import argparse

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="rebuild even when the stamp says up to date")
    args = parser.parse_args(argv)
    try:
        rebuilt = build.build(force=args.force)
    except subprocess.CalledProcessError as error:
        print(f"error: pip failed ({error.returncode}) building {build.site_dir}", file=sys.stderr)
        return 1
    state = "built" if rebuilt else "up to date"
    where = build.site_dir.relative_to(REPO_ROOT) if build.site_dir.is_relative_to(REPO_ROOT) else build.site_dir
    print(f"{build.description} {state}: {where}")
    return 0


# The stream-transform function's Python 3.11 on x86_64 (Amazon Linux 2, glibc 2.26 -> manylinux2014), installed
# into `python/` (the layout Lambda expects); the other source functions share the layer.
STREAM_DEPS = DependencyBuild(
    description="the stream-transform dependency layer",
    requirements=REPO_ROOT / "lambdas" / "stream_transform" / "requirements.txt",
    root=BUILD_DIR / "layers" / "stream_deps",
    site="python",
    platform="manylinux2014_x86_64",
    python_version="3.11",
    build_command="`python scripts/build_lambda_layer.py` (or `make layer`)",
)

# The EMR Serverless driver's packages beyond pyspark (pydeequ, PyYAML, boto3, ...): EMR 7.5.0 runs PySpark on
# the release's Python 3.9 on Amazon Linux 2023, X86_64 (glibc 2.34, so manylinux2014 wheels run). The zip root is
# `site`'s content, shipped with `spark.archives` (retail_lake.batch.emr_python.EMR_PYTHON_DEPS_ALIAS).
EMR_PYTHON_DEPS = DependencyBuild(
    description="the EMR driver's Python packages",
    requirements=REPO_ROOT / "requirements" / "emr-python.txt",
    root=BUILD_DIR / "emr" / "python_deps",
    site="site",
    platform="manylinux2014_x86_64",
    python_version="3.9",
    build_command="`python scripts/build_emr_python.py` (or `make emr-python`)",
)
