import pytest

from retail_lake.orchestration.batch_day import BatchRunError, run_batch_day

OUTPUTS = {
    "RawToCuratedPosSalesJobName": "pos",
    "RawToCuratedClickstreamJobName": "click",
    "RawToCuratedInventoryMovementsJobName": "inv",
    "CuratedToAnalyticsJobName": "gold",
}


class FakeGlue:
    def __init__(self, fail=None):
        self.started, self.fail, self.polls = [], fail, 0

    def start_job_run(self, JobName, Arguments):  # noqa: N803 - boto3 names
        self.started.append((JobName, dict(Arguments)))
        return {"JobRunId": f"jr_{len(self.started)}"}

    def get_job_run(self, JobName, RunId, PredecessorsIncluded):  # noqa: N803
        self.polls += 1
        if self.polls % 2:  # every run is seen RUNNING once before it ends
            return {"JobRun": {"JobRunState": "RUNNING"}}
        if JobName == self.fail:
            return {"JobRun": {"JobRunState": "FAILED", "ErrorMessage": "ValueError: boom"}}
        return {"JobRun": {"JobRunState": "SUCCEEDED"}}


def test_curated_jobs_run_before_the_analytics_job_with_the_date(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    glue = FakeGlue()
    result = run_batch_day(glue, OUTPUTS, "2026-11-07", backfill=True)
    assert [job for job, _ in glue.started] == ["pos", "click", "inv", "gold"]
    assert all(args == {"--run_date": "2026-11-07", "--backfill": "true"} for _, args in glue.started)
    assert result.ok and [r.state for r in result.runs] == ["SUCCEEDED"] * 4


def test_a_failed_run_stops_the_day_with_its_error(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    glue = FakeGlue(fail="click")
    with pytest.raises(BatchRunError, match=r"click \(clickstream\) on 2026-11-07 ended FAILED: ValueError: boom"):
        run_batch_day(glue, OUTPUTS, "2026-11-07")
    assert [job for job, _ in glue.started] == ["pos", "click"]


def test_a_missing_output_names_the_stack_problem():
    with pytest.raises(BatchRunError, match="no output RawToCuratedPosSalesJobName"):
        run_batch_day(FakeGlue(), {}, "2026-11-07")
