"""Job arguments resolve the same way in Glue (Glue's own `getResolvedOptions`, from the awsglue Python interfaces)
and anywhere else (argparse): the entry scripts call `retail_lake.batch.job_args.resolve_args` with the argv Glue
passes, and get the same values either way."""

from __future__ import annotations

import sys

import pytest

from retail_lake.batch.job_args import JobArgumentError, resolve_args

REQUIRED = ["JOB_NAME", "dataset", "run_date", "raw_path"]
OPTIONAL = {"late_days": "3", "backfill": "false"}
# what Glue passes a run of a job with this project's default arguments (and what the twin's executor passes)
GLUE_ARGV = [
    "raw_to_curated.py", "--JOB_NAME", "retail-lake-dev-raw-to-curated-pos-sales", "--JOB_RUN_ID", "jr_0123",
    "--job-bookmark-option", "job-bookmark-disable", "--TempDir", "s3://artifacts/glue/temp/job/",
    "--enable-metrics", "true", "--enable-continuous-cloudwatch-log", "true", "--enable-glue-datacatalog", "true",
    "--extra-py-files", "s3://artifacts/glue/library/abc.zip", "--job-language", "python",
    "--dataset", "pos_sales", "--raw_path", "s3://raw/pos_sales/", "--run_date", "2026-11-08",
    "--late_days", "5",
]
OURS = {"JOB_NAME": "retail-lake-dev-raw-to-curated-pos-sales", "dataset": "pos_sales",
        "run_date": "2026-11-08", "raw_path": "s3://raw/pos_sales/", "late_days": "5", "backfill": "false"}


@pytest.fixture
def without_glue(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside Glue: `import awsglue.utils` fails, so resolve_args reads argv with argparse."""
    monkeypatch.setitem(sys.modules, "awsglue", None)
    monkeypatch.setitem(sys.modules, "awsglue.utils", None)


def test_glue_path_uses_getresolvedoptions_and_ignores_glues_own_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    import awsglue.utils

    calls = []
    real = awsglue.utils.getResolvedOptions

    def spy(args, options):
        calls.append(list(options))
        return real(args, options)

    monkeypatch.setattr(awsglue.utils, "getResolvedOptions", spy)
    assert resolve_args(GLUE_ARGV, REQUIRED, OPTIONAL) == OURS
    assert calls == [[*REQUIRED, "late_days"]]  # optional names only when given, as Glue fails on absent ones


def test_local_path_gives_the_same_values(without_glue) -> None:
    assert resolve_args(GLUE_ARGV, REQUIRED, OPTIONAL) == OURS


@pytest.mark.parametrize("glue", [True, False], ids=["glue", "local"])
def test_optional_arguments_default_when_absent(glue: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not glue:
        monkeypatch.setitem(sys.modules, "awsglue.utils", None)
    argv = [a for a in GLUE_ARGV if a not in ("--late_days", "5")]
    resolved = resolve_args(argv, REQUIRED, OPTIONAL)
    assert (resolved["late_days"], resolved["backfill"]) == ("3", "false")


@pytest.mark.parametrize("glue", [True, False], ids=["glue", "local"])
def test_a_missing_required_argument_names_itself_and_where_to_pass_it(glue: bool,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if not glue:
        monkeypatch.setitem(sys.modules, "awsglue.utils", None)
    argv = [a for a in GLUE_ARGV if a not in ("--run_date", "2026-11-08")]
    with pytest.raises(JobArgumentError, match=r"missing job argument\(s\) --run_date .*DefaultArguments"):
        resolve_args(argv, REQUIRED, OPTIONAL)


def test_equals_form_works_locally(without_glue) -> None:
    argv = ["script.py", "--JOB_NAME", "j", "--dataset=clickstream", "--run_date=2026-11-08", "--raw_path", "/tmp/r"]
    assert resolve_args(argv, REQUIRED, OPTIONAL)["dataset"] == "clickstream"


@pytest.mark.parametrize("glue", [True, False], ids=["glue", "local"])
def test_glues_reserved_arguments_can_be_asked_for(glue: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Glue's parser defines --JOB_RUN_ID itself (asking getResolvedOptions for it again is an argparse conflict);
    resolve_args returns it all the same, required or optional."""
    if not glue:
        monkeypatch.setitem(sys.modules, "awsglue.utils", None)
    assert resolve_args(GLUE_ARGV, [*REQUIRED, "JOB_RUN_ID"], OPTIONAL)["JOB_RUN_ID"] == "jr_0123"
    optional = {**OPTIONAL, "JOB_RUN_ID": "", "TempDir": ""}
    resolved = resolve_args(GLUE_ARGV, REQUIRED, optional)
    assert (resolved["JOB_RUN_ID"], resolved["TempDir"]) == ("jr_0123", "s3://artifacts/glue/temp/job/")
    without_run_id = [a for a in GLUE_ARGV if a not in ("--JOB_RUN_ID", "jr_0123")]
    assert resolve_args(without_run_id, REQUIRED, optional)["JOB_RUN_ID"] == ""


def test_glues_parser_itself_refuses_a_reserved_name_asked_again() -> None:
    from awsglue.utils import getResolvedOptions

    with pytest.raises(Exception, match="conflicting option string: --JOB_RUN_ID"):
        getResolvedOptions(GLUE_ARGV, ["JOB_NAME", "JOB_RUN_ID"])
