"""The quality gate in the Batch stack: its Glue job (interface of the orchestration: name, arguments), a role that
reads curated and writes only results and reports, the KMS-encrypted topic, alarms on failed gates, the results
table, and Glue Data Quality rulesets generated from the same rule files."""

from __future__ import annotations

import json
from pathlib import Path

from retail_lake.contracts.registry import DATASETS
from retail_lake.quality.dqdl import ruleset
from retail_lake.quality.output_gate import gated_output_tables
from retail_lake.quality.results import RESULT_COLUMNS
from retail_lake.quality.rules import rule_datasets, rules_for
from tests.conftest import Synthesized
from tests.infrastructure.test_batch_stack import _jobs, _location, _object_prefixes, _path, _role_of, _statements

CONSTRAINTS = Path(__file__).resolve().parents[2] / "requirements" / "constraints.txt"


def _one(synth: Synthesized, resource_type: str, contains: str = "") -> tuple[str, dict]:
    (found,) = [(k, v) for k, v in synth.resources("Batch", resource_type).items() if contains in k]
    return found


def test_the_gate_job_has_the_interface_the_orchestration_calls(synthesized: Synthesized) -> None:
    stage = synthesized.stage
    job = _jobs(synthesized)[f"retail-lake-{stage}-quality-gate"]["Properties"]
    assert _path(job["Command"]["ScriptLocation"]) == "/glue/scripts/quality_gate.py"
    assert job["GlueVersion"] == "5.0" and job["MaxRetries"] == 0
    arguments = job["DefaultArguments"]
    topic_id, _ = _one(synthesized, "AWS::SNS::Topic", "Quality")
    assert arguments["--topic_arn"] == {"Ref": topic_id}
    assert arguments["--datasets"] == ",".join(DATASETS)
    assert "--date" not in arguments  # each run names its business date
    assert _location(arguments["--curated_path"]) == ("curated", "/")
    assert _location(arguments["--results_path"]) == ("analytics", "/quality_results/")
    assert _location(arguments["--report_path"]) == ("analytics", "/quality_reports/")
    assert arguments["--pipeline"] == f"retail-lake-{stage}"
    assert arguments["--metrics_namespace"] == "RetailLake/Quality"
    # Deequ on AWS: the jar for Spark 3.5 from the artifacts bucket, pydeequ installed by Glue; with it the modules the
    # job imports that Glue 5.0 does not provide, at the versions the project pins (the rule files are YAML)
    assert _location(arguments["--extra-jars"]) == ("artifacts", "/glue/jars/deequ-2.0.21-spark-3.5.jar")
    pins = dict(line.strip().split("==") for line in CONSTRAINTS.read_text().splitlines() if "==" in line)
    assert arguments["--additional-python-modules"] == (
        f"pydeequ==1.7.0,PyYAML=={pins['PyYAML']},msgspec=={pins['msgspec']},"
        f"great_expectations=={pins['great-expectations']}")
    outputs = synthesized.template("Batch")["Outputs"]
    assert outputs["QualityGateJobName"]["Value"] == {"Ref": next(
        k for k, v in synthesized.resources("Batch", "AWS::Glue::Job").items()
        if v["Properties"]["Name"] == f"retail-lake-{stage}-quality-gate")}
    assert outputs["QualityTopicArn"]["Value"] == {"Ref": topic_id}
    assert {"QualityDatabaseName", "QualityResultsTableName"} <= set(outputs)


def test_the_gate_role_reads_curated_and_writes_only_results_and_reports(synthesized: Synthesized) -> None:
    name = f"retail-lake-{synthesized.stage}-quality-gate"
    statements = _statements(synthesized, _role_of(_jobs(synthesized)[name]))
    code = {("artifacts", "glue/scripts/*"), ("artifacts", "glue/library/*")}
    assert _object_prefixes(statements["ReadInputsAndCode"]) == {("curated", "*"), ("artifacts", "glue/jars/*"), *code}
    assert _object_prefixes(statements["RewriteOutputPartitions"]) == {
        ("analytics", "quality_results/*"), ("analytics", "quality_reports/*"), ("artifacts", f"glue/temp/{name}/*")}
    topic_id, _ = _one(synthesized, "AWS::SNS::Topic", "Quality")
    assert statements["NotifyQualityTopic"] == {"Sid": "NotifyQualityTopic", "Action": "sns:Publish",
                                                "Effect": "Allow", "Resource": {"Ref": topic_id}}
    key_id, _ = _one(synthesized, "AWS::KMS::Key", "QualityKey")
    assert statements["EncryptQualityMessages"]["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert statements["PublishQualityMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "RetailLake/Quality"}}


def test_the_topic_is_encrypted_with_a_rotated_key_and_refuses_plain_http(synthesized: Synthesized) -> None:
    key_id, key = _one(synthesized, "AWS::KMS::Key", "QualityKey")
    assert key["Properties"]["EnableKeyRotation"] is True
    principals = json.dumps(key["Properties"]["KeyPolicy"])
    assert "cloudwatch.amazonaws.com" in principals  # alarms can publish to the encrypted topic
    _, topic = _one(synthesized, "AWS::SNS::Topic", "Quality")
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    _, policy = _one(synthesized, "AWS::SNS::TopicPolicy", "Quality")
    (deny,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_alarms_on_a_failed_gate_and_on_error_rules_per_dataset(synthesized: Synthesized) -> None:
    topic_id, _ = _one(synthesized, "AWS::SNS::Topic", "Quality")
    alarms = {k: v["Properties"] for k, v in synthesized.resources("Batch", "AWS::CloudWatch::Alarm").items()
              if "QualityGate" in k}
    pipeline = f"retail-lake-{synthesized.stage}"
    by_metric = {}
    for alarm in alarms.values():
        assert alarm["Namespace"] == "RetailLake/Quality" and alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        dims = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        by_metric.setdefault(alarm["MetricName"], []).append(dims)
    assert by_metric["GateFailed"] == [{"Pipeline": pipeline}]
    assert sorted(d["Dataset"] for d in by_metric["FailedRules"]) == sorted(
        [*DATASETS, "customer_segments", "product_affinity", "demand_forecast"])  # + the gated EMR outputs
    assert all(d["Level"] == "error" and d["Pipeline"] == pipeline for d in by_metric["FailedRules"])


def test_glue_data_quality_rulesets_come_from_the_rule_files(synthesized: Synthesized) -> None:
    rulesets = {v["Properties"]["TargetTable"]["TableName"]: v["Properties"]
                for v in synthesized.resources("Batch", "AWS::Glue::DataQualityRuleset").values()}
    assert set(rulesets) == {*DATASETS, *gated_output_tables()} == set(rule_datasets())
    assert set(gated_output_tables()) == {"customer_segments", "product_affinity", "demand_forecast"}
    for dataset, props in rulesets.items():
        document, gate_only = ruleset(rules_for(dataset))
        assert props["Ruleset"] == document
        assert props["Name"] == f"retail-lake-{synthesized.stage}-{dataset.replace('_', '-')}"
        assert all(rule_id in props["Description"] for rule_id in gate_only)
        zone = "AnalyticsDatabase" if dataset in gated_output_tables() else "CuratedDatabase"
        assert zone in props["TargetTable"]["DatabaseName"]["Ref"], (dataset, props["TargetTable"])
    tables = {k: v["Properties"]["TableInput"]["Name"]
              for k, v in synthesized.resources("Batch", "AWS::Glue::Table").items()}
    for resource in synthesized.resources("Batch", "AWS::Glue::DataQualityRuleset").values():
        dataset = resource["Properties"]["TargetTable"]["TableName"]  # created after the table it evaluates
        assert dataset in [tables.get(logical_id) for logical_id in resource.get("DependsOn", [])], dataset


def test_the_results_table_is_registered_for_athena(synthesized: Synthesized) -> None:
    _, table = _one(synthesized, "AWS::Glue::Table", "QualityResults")
    _, database = _one(synthesized, "AWS::Glue::Database", "QualityDatabase")
    assert database["Properties"]["DatabaseInput"]["Name"] == f"retail_lake_{synthesized.stage}_quality"
    table_input = table["Properties"]["TableInput"]
    assert table_input["Name"] == "quality_results"
    columns = [(c["Name"], c["Type"]) for c in table_input["StorageDescriptor"]["Columns"]]
    assert columns == [(name, glue_type) for name, glue_type, _ in RESULT_COLUMNS]
    assert [(c["Name"], c["Type"]) for c in table_input["PartitionKeys"]] == [("run_date", "date")]
    assert table_input["Parameters"]["projection.enabled"] == "true"
    assert table_input["Parameters"]["projection.run_date.type"] == "date"


def test_raw_to_curated_jobs_write_quarantined_rows_to_their_own_prefix(synthesized: Synthesized) -> None:
    jobs = _jobs(synthesized)
    for dataset in DATASETS:
        arguments = jobs[f"retail-lake-{synthesized.stage}-raw-to-curated-{dataset.replace('_', '-')}"][
            "Properties"]["DefaultArguments"]
        assert _location(arguments["--quarantine_path"]) == ("quarantine", f"/curated/{dataset}/")
