"""The EMR Serverless job runs' third-party Python packages (requirements/emr-python.txt: pydeequ, PyYAML, boto3 and
their dependencies, built for the release's Python 3.9): one zip that `spark.archives` unpacks into the driver's
working directory under `EMR_PYTHON_DEPS_ALIAS`.

Python 3.9, standard library only: the EMR entry points import it before the packages are on the path.
"""

from __future__ import annotations

# The `#alias` of the zip in `--conf spark.archives=s3://...zip#pydeps`: the folder the packages are unpacked into.
EMR_PYTHON_DEPS_ALIAS = "pydeps"


def use_shipped_packages(working_dir: str | None = None) -> str | None:
    """Put the unpacked packages first on `sys.path` when the job run has them (on EMR Serverless, `spark.archives`
    unpacks the zip into the driver's working directory); returns the folder, or None where there is none (a laptop,
    the twin, EMR on EC2 without the archive: the packages installed there are used). The EMR entry points call it
    before anything imports numpy, so pandas and numpy come from the same build."""
    import os
    import sys

    folder = os.path.abspath(os.path.join(working_dir or os.getcwd(), EMR_PYTHON_DEPS_ALIAS))
    if not os.path.isdir(folder):
        return None
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return folder
