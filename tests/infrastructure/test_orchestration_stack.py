"""The Orchestration stack's template: the Standard state machine with encrypted logs and X-Ray, the encrypted
topic, ledger and key, the schedule per stage, the failed-executions alarm; MWAA only when a stage enables it (and
then in private subnets, with its own key, a least-privilege role, the DAGs uploaded, cdk-nag and cfn-lint clean)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.app_builder import build_app
from stacks.orchestration.mwaa_environment import airflow_cron
from stacks.stage_config import StageConfigError, load_stage_config, parse_stage_config

pytestmark = pytest.mark.infrastructure


def _one(synthesized, resource_type: str) -> dict:
    (resource,) = synthesized.resources("Orchestration", resource_type).values()
    return resource["Properties"]


def test_the_state_machine_is_standard_logged_and_traced(synthesized) -> None:
    machine = _one(synthesized, "AWS::StepFunctions::StateMachine")
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["StateMachineName"] == f"RetailLake-{synthesized.stage}-daily-pipeline"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    (log_group_id,) = [d["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
                       for d in machine["LoggingConfiguration"]["Destinations"]]
    log_group = synthesized.template("Orchestration")["Resources"][log_group_id]["Properties"]
    assert "KmsKeyId" in log_group and log_group["RetentionInDays"] >= 1


def test_topic_ledger_and_key_are_encrypted(synthesized) -> None:
    assert "KmsMasterKeyId" in _one(synthesized, "AWS::SNS::Topic")
    table = _one(synthesized, "AWS::DynamoDB::Table")
    assert table["SSESpecification"]["SSEEnabled"] is True and table["SSESpecification"]["SSEType"] == "KMS"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["run_date", "record"]
    assert _one(synthesized, "AWS::KMS::Key")["EnableKeyRotation"] is True
    policy = _one(synthesized, "AWS::SNS::TopicPolicy")["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy)


def test_the_schedule_runs_daily_in_the_stages_time_zone_off_in_dev(synthesized) -> None:
    schedule = _one(synthesized, "AWS::Scheduler::Schedule")
    config = load_stage_config(json.loads(Path("cdk.json").read_text())["context"]["stages"], synthesized.stage)
    assert schedule["ScheduleExpression"] == config.orchestration.schedule
    assert schedule["ScheduleExpressionTimezone"] == config.orchestration.time_zone
    assert schedule["State"] == ("DISABLED" if synthesized.stage == "dev" else "ENABLED")
    assert json.loads(schedule["Target"]["Input"]) == {}  # the state machine takes yesterday in the stage's zone


def test_an_alarm_fires_on_failed_timed_out_or_aborted_executions(synthesized) -> None:
    alarm = _one(synthesized, "AWS::CloudWatch::Alarm")
    assert [m["Expression"] for m in alarm["Metrics"] if "Expression" in m] == ["failed + timedout + aborted"]
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert names == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [{"Ref": next(iter(synthesized.resources("Orchestration", "AWS::SNS::Topic")))}]


def test_mwaa_is_off_unless_the_stage_enables_it(synthesized) -> None:
    assert synthesized.resources("Orchestration", "AWS::MWAA::Environment") == {}


def test_the_orchestration_settings_are_validated() -> None:
    stages = json.loads(Path("cdk.json").read_text())["context"]["stages"]
    raw = dict(stages["dev"])
    for bad, message in ((("time_zone", "Mars/Olympus"), "IANA time zone"),
                         (("schedule", "every day"), "EventBridge expression"),
                         (("curated_max_concurrency", 0), "between 1 and 40")):
        with pytest.raises(StageConfigError, match=message):
            parse_stage_config("dev", {**raw, "orchestration": {**raw["orchestration"], bad[0]: bad[1]}})
    assert airflow_cron("cron(0 6 * * ? *)") == "0 6 * * *"


@pytest.fixture(scope="module")
def with_mwaa(tmp_path_factory):
    stages = json.loads(Path("cdk.json").read_text())["context"]["stages"]
    config = load_stage_config(stages, "dev")
    config = dataclasses.replace(config, orchestration=dataclasses.replace(
        config.orchestration, mwaa=dataclasses.replace(config.orchestration.mwaa, enabled=True)))
    outdir = tmp_path_factory.mktemp("cdk-dev-mwaa")
    app = build_app("dev", outdir, config=config)
    app.synth()  # raises when cdk-nag reports an unacknowledged finding
    return outdir, json.loads((outdir / "RetailLake-dev-Orchestration.template.json").read_text())


def test_mwaa_runs_in_private_subnets_with_its_own_key_and_a_least_privilege_role(with_mwaa) -> None:
    outdir, template = with_mwaa
    resources = template["Resources"]
    (environment,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::MWAA::Environment"]
    assert environment["WebserverAccessMode"] == "PRIVATE_ONLY" and environment["DagS3Path"] == "dags"
    subnets = [s["Ref"] for s in environment["NetworkConfiguration"]["SubnetIds"]]
    assert len(subnets) == 2 and all("private" in s.lower() for s in subnets)
    key_id = environment["KmsKey"]["Fn::GetAtt"][0]
    assert resources[key_id]["Type"] == "AWS::KMS::Key" and "Airflow" in key_id
    assert all(environment["LoggingConfiguration"][k]["Enabled"] for k in environment["LoggingConfiguration"])
    assert set(environment["AirflowConfigurationOptions"]) == {
        "retail_lake.state_machine_arn", "retail_lake.time_zone", "retail_lake.schedule"}
    role_id = environment["ExecutionRoleArn"]["Fn::GetAtt"][0]
    policies = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::IAM::Policy"
                and {"Ref": role_id} in r["Properties"]["Roles"]]
    actions = {a for p in policies for s in p["PolicyDocument"]["Statement"]
               for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"states:StartExecution", "states:DescribeExecution", "airflow:PublishMetrics"} <= actions
    assert not any(a.endswith(":*") or a == "*" for a in actions)
    assert not any(a.startswith(("glue:", "emr-serverless:", "iam:")) for a in actions)
    deployments = [r for r in resources.values() if r["Type"] == "Custom::CDKBucketDeployment"]
    assert deployments and deployments[0]["Properties"]["DestinationBucketKeyPrefix"] == "dags/"
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint) if cfn_lint.exists() else shutil.which("cfn-lint"), "--format",
                             "parseable", str(outdir / "RetailLake-dev-Orchestration.template.json")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
