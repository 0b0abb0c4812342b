"""`retail-lake run-batch`: the Glue day, then with `--emr` the EMR steps for the same date (stack outputs and
clients from the environment's AWS SDK settings; the AWS calls themselves are tested on the twin)."""

from __future__ import annotations

import json

import pytest

from retail_lake import cli
from retail_lake.orchestration import analytics_steps, batch_day


@pytest.fixture
def glue_day(monkeypatch: pytest.MonkeyPatch) -> list:
    calls: list = []
    monkeypatch.setattr("boto3.client", lambda service, *a, **k: f"<{service} client>")
    monkeypatch.setattr(batch_day, "stack_outputs", lambda cfn, name: {"stack": name, "AnalyticsBucketName": "a"})
    monkeypatch.setattr(batch_day, "lake_summary", lambda s3, storage: {"curated": {}, "analytics": {}})

    def run_day(glue, outputs, date, backfill=False, progress=None):
        calls.append(("glue", date))
        return batch_day.BatchDayResult(date, [batch_day.JobRunResult("job", "jr_1", "SUCCEEDED", 1.0)])

    monkeypatch.setattr(batch_day, "run_batch_day", run_day)
    return calls


def _emr(calls: list, ok: bool):
    def run(cloudformation, emr, s3, stage, date, storage, **kwargs):
        calls.append(("emr", stage, date, emr, storage["stack"]))
        return {"ok": ok, **({} if ok else {"error": "customer_segmentation (run 1) ended FAILED: boom"})}
    return run


def test_without_emr_only_the_glue_day_runs(glue_day, monkeypatch, capsys) -> None:
    monkeypatch.setattr(analytics_steps, "run_emr_for_batch_day", _emr(glue_day, True))
    assert cli.main(["run-batch", "--date", "2026-11-08", "--json"]) == 0
    assert glue_day == [("glue", "2026-11-08")]
    assert "emr" not in json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_emr_runs_the_steps_for_the_same_date_after_the_glue_day(glue_day, monkeypatch, capsys) -> None:
    monkeypatch.setattr(analytics_steps, "run_emr_for_batch_day", _emr(glue_day, True))
    assert cli.main(["run-batch", "--date", "2026-11-08", "--stage", "prod", "--emr", "--json"]) == 0
    assert glue_day == [("glue", "2026-11-08"),
                        ("emr", "prod", "2026-11-08", "<emr-serverless client>", "RetailLake-prod-Storage")]
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["emr"] == {"ok": True}


def test_a_failed_step_fails_the_command_with_its_error(glue_day, monkeypatch, capsys) -> None:
    monkeypatch.setattr(analytics_steps, "run_emr_for_batch_day", _emr(glue_day, False))
    assert cli.main(["run-batch", "--date", "2026-11-08", "--emr", "--json"]) == 1
    out = capsys.readouterr()
    assert "run-batch failed: customer_segmentation (run 1) ended FAILED: boom" in out.err
    assert json.loads(out.out.strip().splitlines()[-1])["emr"]["ok"] is False
