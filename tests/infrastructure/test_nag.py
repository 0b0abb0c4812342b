"""cdk-nag AwsSolutions: zero unacknowledged findings, and every acknowledgement says why."""

from __future__ import annotations

from aws_cdk import Validations
from constructs import IConstruct

from stacks.nag import MIN_REASON_LENGTH
from tests.conftest import Synthesized

# Batch (Glue) roles: object access per prefix of a bucket exported by the Storage stack.
_GLUE_LOGS = "AwsSolutions-IAM5[Resource::arn:*"  # the /aws-glue/* log groups (region literal when the stage fixes it)


def _objects(bucket_export: str, pattern: str) -> str:
    return f"AwsSolutions-IAM5[Resource::{{stack}}-Storage:ExportsOutputFnGetAttDataLake{bucket_export}/{pattern}]"


def _glue_code_objects(job: str) -> list[str]:
    artifacts = "ArtifactsBucket98FD8488Arn6F0FAD5E"
    return [_objects(artifacts, "glue/scripts/*"), _objects(artifacts, "glue/library/*"),
            "AwsSolutions-IAM5[Resource::{stack}-Storage:ExportsOutputFnGetAttDataLake" + artifacts
            + "/glue/temp/retail-lake-{stage}-" + job + "/*]"]


# Every acknowledged rule, by construct path below the stack: a new one must be added here on purpose.
EXPECTED_ACKNOWLEDGEMENTS = {
    "DataLake/AccessLogsBucket": {"AwsSolutions-S1"},
    "StreamIngestion/EventStream": {"AwsSolutions-KDS3"},
    "StreamIngestion/PseudonymizationSecret": {"AwsSolutions-SMG4"},
    "StreamIngestion/OnFailureQueue": {"AwsSolutions-SQS3"},
    "StreamIngestion/StreamTransformFunction": {"AwsSolutions-L1"},
    "StreamIngestion/StreamTransformRole": {
        "AwsSolutions-IAM5[Resource::*]",
        "AwsSolutions-IAM5[Resource::{stack}-Storage:ExportsOutputFnGetAttDataLakeRawBucket*",
        "AwsSolutions-IAM5[Resource::{stack}-Storage:ExportsOutputFnGetAttDataLakeQuarantineBucket*",
    },
    **{
        f"BatchProcessing/RawToCurated{pascal}Role": {
            "AwsSolutions-IAM5[Resource::*]", _GLUE_LOGS,
            *_glue_code_objects(f"raw-to-curated-{dataset.replace('_', '-')}"),
            _objects("RawBucket881B694BArn15CBD933", f"{dataset}/*"),
            _objects("RawBucket881B694BArn15CBD933", "reference/*"),
            _objects("CuratedBucketFF1C9EA8ArnDC7C5773", f"{dataset}/*"),
            # events broken by the row-level quality rules
            _objects("QuarantineBucket580C52A6Arn0B389095", f"curated/{dataset}/*"),
        }
        for dataset, pascal in (("pos_sales", "PosSales"), ("inventory_movements", "InventoryMovements"),
                                ("clickstream", "Clickstream"))
    },
    "BatchProcessing/CuratedToAnalyticsRole": {
        "AwsSolutions-IAM5[Resource::*]", _GLUE_LOGS, *_glue_code_objects("curated-to-analytics"),
        _objects("RawBucket881B694BArn15CBD933", "reference/*"),
        _objects("CuratedBucketFF1C9EA8ArnDC7C5773", "*"),
        *[_objects("AnalyticsBucket218960F6Arn95EA3A2A", f"{table}/*") for table in
          ("daily_sales", "inventory_position", "customer_360", "web_sessions", "conversion_funnel")],
    },
    # the quality gate: reads all of curated, writes its results and reports, reads the Deequ jar
    "BatchProcessing/QualityGateRole": {
        "AwsSolutions-IAM5[Resource::*]", _GLUE_LOGS, *_glue_code_objects("quality-gate"),
        _objects("CuratedBucketFF1C9EA8ArnDC7C5773", "*"),
        _objects("ArtifactsBucket98FD8488Arn6F0FAD5E", "glue/jars/*"),
        _objects("AnalyticsBucket218960F6Arn95EA3A2A", "quality_results/*"),
        _objects("AnalyticsBucket218960F6Arn95EA3A2A", "quality_reports/*"),
    },
    # the CDC merge: reads the DMS change files in the restricted CDC landing bucket, rewrites curated operational/
    "BatchProcessing/CdcMergeRole": {
        "AwsSolutions-IAM5[Resource::*]", _GLUE_LOGS, *_glue_code_objects("cdc-merge"),
        "AwsSolutions-IAM5[Resource::<CdcLandingBucket9A455BD2.Arn>/dms/retail/*]",
        _objects("CuratedBucketFF1C9EA8ArnDC7C5773", "operational/*"),
    },
    # DMS's S3 target role (in every stage: the twin's DMS task writes with it too)
    "CdcLanding/WriterRole": {"AwsSolutions-IAM5[Resource::<CdcLandingBucket9A455BD2.Arn>/dms/*]"},
    # sources: file drops, API poller (the DMS resources are in SOURCES_DMS_ACKNOWLEDGEMENTS, stages with DMS on)
    "FileDrops/FileDropFunction": {"AwsSolutions-L1"},
    "FileDrops/FileDropFunctionRole": {
        "AwsSolutions-IAM5[Resource::<FileDropsLandingBucketE5D5A21A.Arn>/landing/*]",
        _objects("CuratedBucketFF1C9EA8ArnDC7C5773", "file_drops/*"),
        _objects("QuarantineBucket580C52A6Arn0B389095", "file_drops/*"),
    },
    "BucketNotificationsHandler050a0587b7544547bf325f094a3db834": {
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"},
    "ApiPoller/ApiSecret": {"AwsSolutions-SMG4"},
    "ApiPoller/ApiPollerFunction": {"AwsSolutions-L1"},
    "ApiPoller/ScheduleDeadLetterQueue": {"AwsSolutions-SQS3"},
    "ApiPoller/ApiPollerFunctionRole": {
        _objects("RawBucket881B694BArn15CBD933", "external_apis/*"),
        _objects("CuratedBucketFF1C9EA8ArnDC7C5773", "operational/stores/*"),
    },
    # EMR Serverless job role: whole curated and analytics tables, code and logs prefixes of the artifacts bucket,
    # the quality gate's metrics (PutMetricData has no resource-level permission; a namespace condition limits it)
    "AnalyticsCluster/JobRole": {
        _objects("CuratedBucketFF1C9EA8ArnDC7C5773", "*"),
        _objects("AnalyticsBucket218960F6Arn95EA3A2A", "*"),
        _objects("ArtifactsBucket98FD8488Arn6F0FAD5E", "emr/*"),
        _objects("ArtifactsBucket98FD8488Arn6F0FAD5E", "emr-serverless/logs/*"),
        "AwsSolutions-IAM5[Resource::*]",
    },
    # the daily pipeline: task functions (ledger key grants, X-Ray), lease holder look-up, catalog partitions
    **{f"DailyPipeline/{function}Function": {"AwsSolutions-L1"}
       for function in ("BeginRun", "RegisterPartitions", "FinishRun")},
    **{f"DailyPipeline/{function}FunctionRole": {
        "AwsSolutions-IAM5[Resource::*]", "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
        "AwsSolutions-IAM5[Action::kms:ReEncrypt*]", *extra}
       for function, extra in (
           ("BeginRun", ["AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
                         "execution:RetailLake-{stage}-daily-pipeline:*]"]),
           ("RegisterPartitions", [f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:glue:<AWS::Region>:"
                                   f"<AWS::AccountId>:table/retail_lake_{{stage}}_{zone}/*]"
                                   for zone in ("curated", "analytics")]),
           ("FinishRun", []))},
    "DailyPipeline/StateMachine/Role": {
        "AwsSolutions-IAM5[Resource::*]",
        *[f"AwsSolutions-IAM5[Resource::<DailyPipeline{function}.Arn>:*]" for function in (
            "BeginRunFunction5625C71E", "FinishRunFunction5FC9F538", "RegisterPartitionsFunction448E4D26")],
        "AwsSolutions-IAM5[Resource::{stack}-Analytics:ExportsOutputFnGetAttAnalyticsClusterApplication85EC811DArn"
        "0FE805A6/jobruns/*]",
        # Athena view refresh: the analytics tables and the query results
        _objects("AnalyticsBucket218960F6Arn95EA3A2A", "*"), _objects("AthenaResultsBucketAFDC2705Arn228C2FF0", "*"),
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/"
        "retail_lake_{stage}_analytics/*]",
    },
    # the CDK's BucketDeployment provider (a singleton Lambda per stack, id fixed by aws-cdk-lib)
    "Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C": {
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "AwsSolutions-L1",
        *[f"AwsSolutions-IAM5[Action::{action}]" for action in (
            "kms:GenerateDataKey*", "kms:ReEncrypt*", "s3:Abort*", "s3:DeleteObject*", "s3:GetBucket*",
            "s3:GetObject*", "s3:List*")],
        _objects("ArtifactsBucket98FD8488Arn6F0FAD5E", "*"),
        "AwsSolutions-IAM5[Resource::arn:*",  # the CDK assets bucket's objects
    },
}


# Every table of the analytics database (its name imported from the Batch stack's export)
_ANALYTICS_GLUE_TABLES = ("AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/"
                          "{stack}-Batch:ExportsOutputRefBatchProcessingAnalyticsDatabase77E7C1AB7D95D44F/*]")
# Acknowledgements of optional resources, by the stages that have them (cdk.json): DMS, Redshift and the SageMaker
# notebooks are on in prod only.
STAGE_ACKNOWLEDGEMENTS = {
    "prod": {
        "DatabaseReplication/ReplicationVpc/SecretsManagerEndpoint": {"AwsSolutions-EC23"},
        "DatabaseReplication/SourceDatabaseSecret": {"AwsSolutions-SMG4"},
        # serving (Redshift Serverless, SageMaker notebooks): whole analytics tables and the analytics database
        "Redshift/SpectrumRole": {
            _objects("AnalyticsBucket218960F6Arn95EA3A2A", "*"), _ANALYTICS_GLUE_TABLES,
        },
        "Notebooks/Role": {
            _objects("AnalyticsBucket218960F6Arn95EA3A2A", "*"), _ANALYTICS_GLUE_TABLES,
            _objects("RawBucket881B694BArn15CBD933", "reference/*"),
            _objects("AthenaResultsBucketAFDC2705Arn228C2FF0", "results/*"),
            _objects("ArtifactsBucket98FD8488Arn6F0FAD5E", "notebooks/*"),
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
            "/aws/sagemaker/NotebookInstances:*]",
        },
    },
}
# aws-cdk-lib's own template-validation acknowledgements (rule ids "CloudFormation-Validate::..."), not cdk-nag's
_CDK_VALIDATE = "CloudFormation-Validate::"


def _acknowledgements(root: IConstruct) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    stack_of_path = {}

    def walk(construct: IConstruct) -> None:
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                if all(rule_id.startswith(_CDK_VALIDATE) for rule_id in dict(entry.data)):
                    continue
                path = construct.node.path.split("/", 1)[1]
                stack_of_path[path] = construct.node.path.split("/", 1)[0]
                for rule_id, reason in dict(entry.data).items():
                    found.setdefault(path, {})[rule_id.removeprefix("Annotation::")] = reason
        for child in construct.node.children:
            walk(child)

    walk(root)
    return found


def test_synth_passed_cdk_nag_validation(synthesized: Synthesized) -> None:
    assert synthesized.nag_error is None, synthesized.nag_error


def test_validation_report_has_no_findings(synthesized: Synthesized) -> None:
    report = synthesized.validation_report
    findings = [
        (plugin["pluginName"], violation["ruleName"], violation["severity"],
         [c["constructPath"] for c in violation.get("violatingConstructs", [])])
        for plugin in report["pluginReports"]
        for violation in plugin.get("violations", [])
    ]
    assert findings == []


def test_every_acknowledgement_is_expected_and_justified(synthesized: Synthesized) -> None:
    acknowledgements = _acknowledgements(synthesized.app)
    stack = f"RetailLake-{synthesized.stage}"
    wanted = {**EXPECTED_ACKNOWLEDGEMENTS, **STAGE_ACKNOWLEDGEMENTS.get(synthesized.stage, {})}
    assert set(acknowledgements) == set(wanted)
    for path, rules in acknowledgements.items():
        expected = {pattern.format(stack=stack, stage=synthesized.stage) for pattern in wanted[path]}
        for rule_id, reason in rules.items():
            assert any(rule_id == e or (e.endswith("*") and rule_id.startswith(e[:-1])) for e in expected), rule_id
            assert len(reason.strip()) >= MIN_REASON_LENGTH, f"{path} {rule_id}: reason too short: {reason!r}"
        assert len(rules) == len(expected), (path, sorted(rules))


def test_object_wildcard_reasons_name_every_granted_s3_action(synthesized: Synthesized) -> None:
    # The reason must stay true: it names each S3 action the stream-transform role holds on the object wildcard.
    (policy,) = synthesized.resources("Ingestion", "AWS::IAM::Policy").values()
    s3_actions = {
        action.removeprefix("s3:")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        if action.startswith("s3:")
    }
    reasons = {
        rule_id: reason
        for rule_id, reason in _acknowledgements(synthesized.app)["StreamIngestion/StreamTransformRole"].items()
        if rule_id.endswith("/*]")
    }
    assert len(reasons) == 2
    for rule_id, reason in reasons.items():
        assert all(action in reason for action in s3_actions), (rule_id, s3_actions, reason)
