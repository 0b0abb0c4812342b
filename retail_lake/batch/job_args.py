"""Job arguments the same way in AWS Glue, on the twin and in tests.

Glue passes `--JOB_NAME <name> --key value ...` and scripts read them with `awsglue.utils.getResolvedOptions`;
that module exists only inside Glue (the PyPI stand-ins aside), so elsewhere argparse reads the same argv.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence


# What Glue's getResolvedOptions parses (and returns) on its own: naming one of these again is an argparse
# "conflicting option string" error inside Glue, so they are read from its result instead of being asked for.
GLUE_RESERVED = frozenset({"JOB_ID", "JOB_RUN_ID", "SECURITY_CONFIGURATION", "TempDir", "RedshiftTempDir"})


class JobArgumentError(ValueError):
    """A required job argument is missing; the message names it and how to pass it."""


def resolve_args(
    argv: Sequence[str], required: Sequence[str], optional: Mapping[str, str] | None = None
) -> dict[str, str]:
    """`{name: value}` for every `required` name and every `optional` one (its default unless given).

    Names are without the leading `--`, as `getResolvedOptions` takes them. Unknown arguments (Glue adds its own,
    such as `--job-bookmark-option` or `--TempDir`) are ignored. Optional names are only asked of
    `getResolvedOptions` when present in argv, since it fails on any listed name that is absent.
    """
    optional = dict(optional or {})
    argv = list(argv)
    missing = [name for name in required if not _given(argv, name)]
    if missing:
        given = " ".join(a for a in argv[1:] if a.startswith("--")) or "none"
        raise JobArgumentError(
            f"missing job argument(s) {', '.join('--' + m for m in missing)} (arguments given: {given}); "
            "pass them in the job's DefaultArguments or in StartJobRun Arguments"
        )
    present = [name for name in optional if _given(argv, name)]
    try:
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]
    except ImportError:
        parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
        for name in [*required, *present]:
            parser.add_argument(f"--{name}", required=name in required)
        resolved = vars(parser.parse_known_args(argv[1:])[0])
    else:
        resolved = getResolvedOptions(argv, [name for name in [*required, *present] if name not in GLUE_RESERVED])
        resolved = {name: resolved.get(name) for name in [*required, *present]}
    return {**optional, **{name: value for name, value in resolved.items() if value is not None}}


def _given(argv: list[str], name: str) -> bool:
    return f"--{name}" in argv or any(arg.startswith(f"--{name}=") for arg in argv)
