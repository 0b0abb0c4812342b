import pytest

from retail_lake.orchestration.batch_day import BatchRunError, QualityGateError, run_batch_day

OUTPUTS = {
    "RawToCuratedPosSalesJobName": "pos",
    "RawToCuratedClickstreamJobName": "click",
    "RawToCuratedInventoryMovementsJobName": "inv",
    "QualityGateJobName": "gate",
    "CuratedToAnalyticsJobName": "gold",
}


class FakeGlue:
    def __init__(self, fail=None, error="ValueError: boom"):
        self.started, self.fail, self.polls, self.error = [], fail, 0, error

    def start_job_run(self, JobName, Arguments):  # noqa: N803 - boto3 names
        self.started.append((JobName, dict(Arguments)))
        return {"JobRunId": f"jr_{len(self.started)}"}

    def get_job_run(self, JobName, RunId, PredecessorsIncluded):  # noqa: N803
        self.polls += 1
        if self.polls % 2:  # every run is seen RUNNING once before it ends
            return {"JobRun": {"JobRunState": "RUNNING"}}
        if JobName == self.fail:
            return {"JobRun": {"JobRunState": "FAILED", "ErrorMessage": self.error}}
        return {"JobRun": {"JobRunState": "SUCCEEDED"}}


def test_curated_jobs_then_the_gate_run_before_the_analytics_job_with_the_date(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    glue = FakeGlue()
    result = run_batch_day(glue, OUTPUTS, "2026-11-07", backfill=True)
    assert [job for job, _ in glue.started] == ["pos", "click", "inv", "gate", "gold"]
    arguments = dict(glue.started)
    assert arguments.pop("gate") == {"--date": "2026-11-07"}
    assert all(args == {"--run_date": "2026-11-07", "--backfill": "true"} for args in arguments.values())
    assert result.ok and [r.state for r in result.runs] == ["SUCCEEDED"] * 5


def test_a_failed_gate_stops_the_day_before_analytics_with_the_rules(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    glue = FakeGlue(fail="gate", error="QualityGateFailed: 1 error rule(s) failed on the curated data of "
                                       "2026-11-07: pos_sales.sku.known (3 failing rows).")
    with pytest.raises(QualityGateError, match=r"quality gate failed on 2026-11-07, analytics was not built: "
                                               r"1 error rule\(s\) failed .* pos_sales.sku.known \(3 failing rows\)") as caught:
        run_batch_day(glue, OUTPUTS, "2026-11-07")
    assert caught.value.run.job == "gate" and caught.value.run.state == "FAILED"
    assert [job for job, _ in glue.started] == ["pos", "click", "inv", "gate"]


def test_a_gate_that_crashed_is_a_plain_batch_failure(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    glue = FakeGlue(fail="gate", error="FileNotFoundError: reference")
    with pytest.raises(BatchRunError, match="gate \\(quality gate\\) on 2026-11-07 ended FAILED") as caught:
        run_batch_day(glue, OUTPUTS, "2026-11-07")
    assert not isinstance(caught.value, QualityGateError)


def test_a_failed_run_stops_the_day_with_its_error(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    glue = FakeGlue(fail="click")
    with pytest.raises(BatchRunError, match=r"click \(clickstream\) on 2026-11-07 ended FAILED: ValueError: boom"):
        run_batch_day(glue, OUTPUTS, "2026-11-07")
    assert [job for job, _ in glue.started] == ["pos", "click"]


def test_a_missing_output_names_the_stack_problem():
    with pytest.raises(BatchRunError, match="no output RawToCuratedPosSalesJobName"):
        run_batch_day(FakeGlue(), {}, "2026-11-07")
