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
    assert arguments.pop("gate") == {"--date": "2026-11-07", "--backfill": "true"}  # judges what was rewritten
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
    assert glue.started[-1][1] == {"--date": "2026-11-07"}  # the gate's default window is the jobs' window


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


def _results_file(rows):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


def _result(run_id, dataset, rule_id, level, status, at, failing_rows=None, partition="event_date=2026-11-07"):
    return {"run_id": run_id, "dataset": dataset, "data_partition": partition, "rule_id": rule_id, "level": level,
            "scope": "row", "rule_type": "range", "status": status, "observed_value": "0.99",
            "threshold": "== 1.000000", "failing_rows": failing_rows, "evaluated_rows": 100,
            "engine": "great_expectations", "evaluated_at": at}


def test_the_gate_summary_reports_the_latest_gate_run_of_each_dataset_across_dates():
    import datetime as dt

    import boto3
    from moto import mock_aws

    from retail_lake.orchestration.batch_day import quality_gate_summary

    first, rerun = dt.datetime(2026, 11, 8, 1), dt.datetime(2026, 11, 8, 2)
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_object(Bucket="lake", Key="quality_results/run_date=2026-11-08/first.parquet", Body=_results_file([
            _result("jr_1", "pos_sales", "pos_sales.qty.range", "error", "failed", first, 7),
            _result("jr_1", "pos_sales", "pos_sales.rows.anomaly", "warning", "passed", first),
        ]))
        s3.put_object(Bucket="lake", Key="quality_results/run_date=2026-11-08/rerun.parquet", Body=_results_file([
            _result("jr_2", "pos_sales", "pos_sales.qty.range", "error", "passed", rerun),
            _result("jr_2", "pos_sales", "pos_sales.rows.anomaly", "warning", "failed", rerun),
            _result("jr_2", "pos_sales", "pos_sales.qty.range", "error", "passed", rerun,
                    partition="event_date=2026-11-08"),
        ]))
        s3.put_object(Bucket="lake", Key="quality_results/run_date=2026-11-07/emr.parquet", Body=_results_file([
            _result("qg_1", "demand_forecast", "demand_forecast.units.range", "error", "failed", first, 3,
                    partition="as_of_date=2026-11-07"),
        ]))
        summary = quality_gate_summary(s3, {"AnalyticsBucketName": "lake"}, ["2026-11-08", "2026-11-07", "2026-11-08"])
    assert [gate["dataset"] for gate in summary] == ["demand_forecast", "pos_sales"]
    forecast, pos = summary
    assert (forecast["run_date"], forecast["failed_errors"], forecast["failing_rows"]) == ("2026-11-07", 1, 3)
    assert forecast["failed"] == [{"rule_id": "demand_forecast.units.range", "level": "error",
                                   "data_partition": "as_of_date=2026-11-07", "observed_value": "0.99",
                                   "threshold": "== 1.000000", "failing_rows": 3}]
    # the rerun replaced the first run's verdicts: its error passed, a warning failed
    assert {key: pos[key] for key in ("rules", "partitions", "checks", "passed", "failed_errors", "failed_warnings",
                                      "failing_rows")} == {"rules": 2, "partitions": 2, "checks": 3, "passed": 2,
                                                           "failed_errors": 0, "failed_warnings": 1, "failing_rows": 0}
    assert [check["rule_id"] for check in pos["failed"]] == ["pos_sales.rows.anomaly"]
