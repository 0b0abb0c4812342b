"""Static checks of the daily pipeline's definition exactly as `cdk synth` wrote it (both stages): every state
reachable, no dangling transition, every Task with Retry (transient errors only) and a Catch-all, and every path a
state reads present in the document that reaches it (the plan's shape comes from the code that builds it)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from retail_lake.orchestration.run_plan import build_run_plan
from tests.infrastructure.asl_checks import ANY, dataflow_problems, definition_from_template, structural_problems

pytestmark = pytest.mark.infrastructure


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return ANY


def _plan() -> dict[str, Any]:
    emr = {"steps_uri": "s3://a/emr/steps/", "library_key": "emr/library/x.zip", "python_deps_key": "emr/python/y.zip",
           "deequ_jar_key": "glue/jars/deequ.jar", "quality_topic_arn": "arn:aws:sns:us-east-1:123456789012:q",
           "artifacts_bucket": "a", "curated_bucket": "c", "analytics_bucket": "g"}
    return build_run_plan({}, now=dt.datetime(2026, 11, 8, 12, tzinfo=dt.timezone.utc), time_zone="UTC",
                          curated_jobs={"pos_sales": "job-a"}, emr=emr, views=[{"named_query_id": "q"}])


@pytest.fixture(scope="module", params=["dev", "prod"])
def definition(request) -> dict[str, Any]:
    synthesized = request.getfixturevalue(request.param)
    return definition_from_template(synthesized.template("Orchestration"))


def test_every_state_is_reachable_and_every_transition_lands(definition) -> None:
    assert structural_problems(definition) == []


def test_every_path_a_state_reads_resolves(definition) -> None:
    plan = _plan()
    outcome = {"run_date": ANY, "status": ANY, "summary": ANY, "message": ANY, "failed_state": ANY, "error": ANY}
    problems = dataflow_problems(
        definition, {}, results={"BeginRun": _shape(plan), "RecordSuccess": outcome, "RecordFailure": outcome},
        item_shapes={"$.run.curated": _shape(plan["curated"][0]), "$.run.emr_steps": _shape(plan["emr_steps"][0]),
                     "$.run.views": _shape(plan["views"][0])},
    )
    assert problems == []


def test_the_pipeline_runs_the_batch_day_in_order(definition) -> None:
    states = definition["States"]
    order, name = [], definition["StartAt"]
    while name in states and states[name]["Type"] not in ("Succeed", "Choice"):
        order.append(name)
        name = states[name].get("Next")
    assert order[:7] == ["BeginRun", "CurateDatasets", "QualityGate", "BuildAnalytics", "AnalyticsEmrSteps",
                         "RegisterPartitions", "RefreshViews"]
    if "LoadWarehouse" in states:  # stages with the warehouse: load, poll, then record
        assert order[7:] == ["LoadWarehouse", "WaitForWarehouseLoad", "GetWarehouseLoad"]
        assert states["WarehouseLoaded"]["Next"] == "RecordSuccess"
    else:
        assert order[7:] == ["RecordSuccess", "PublishSummary"]
    assert states["RecordSuccess"]["Next"] == "PublishSummary" and states["PublishSummary"]["Next"] == "Succeeded"
    curate = states["CurateDatasets"]
    assert curate["ItemsPath"] == "$.run.curated" and 1 <= curate["MaxConcurrency"] <= 40
    task = curate["ItemProcessor"]["States"]["RawToCurated"]
    assert task["Resource"].endswith(":states:::glue:startJobRun.sync")
    assert states["QualityGate"]["Parameters"]["Arguments"] == {"--date.$": "$.run.run_date",
                                                               "--datasets.$": "$.run.datasets_csv",
                                                               "--backfill.$": "$.run.backfill"}
    emr = states["AnalyticsEmrSteps"]["ItemProcessor"]["States"]
    assert emr["StartEmrStep"]["Resource"].endswith(":states:::aws-sdk:emrserverless:startJobRun")
    assert emr["GetEmrStep"]["Resource"].endswith(":states:::aws-sdk:emrserverless:getJobRun")


def test_retries_back_off_exponentially_with_jitter_on_named_transient_errors(definition) -> None:
    def tasks(body):
        for state in body["States"].values():
            if state["Type"] == "Task":
                yield state
            if "ItemProcessor" in state:
                yield from tasks(state["ItemProcessor"])

    found = list(tasks(definition))
    assert len(found) >= 10
    for task in found:
        for retrier in task["Retry"]:
            assert retrier["BackoffRate"] >= 2 and retrier["JitterStrategy"] == "FULL" and retrier["MaxDelaySeconds"]
            assert all("." in error and not error.startswith("States.") for error in retrier["ErrorEquals"])


def test_every_catch_leads_to_the_failure_record_and_notification(definition) -> None:
    states = definition["States"]
    for name, state in states.items():
        for catcher in state.get("Catch", []):
            target = states[catcher["Next"]]
            if name in ("RecordFailure", "NotifyFailure", "NotifyUnrecordedFailure"):
                continue
            assert catcher["ResultPath"] == "$.failure"
            assert target["Type"] == "Pass" and target["Result"] == {"state": name}, name
            assert target["Next"] == "RecordFailure"
    assert states["RecordFailure"]["Next"] == "NotifyFailure"
    assert states["NotifyFailure"]["Next"] == "PipelineFailed"
    assert states["PipelineFailed"]["Type"] == "Fail"
