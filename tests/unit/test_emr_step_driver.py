"""The `jobDriver` of each EMR step: the package zip, the Deequ jar and the driver's Python packages in
sparkSubmitParameters, the quality gate's arguments after the step's own, every location from a stack output (a
missing one named), and the same drivers in the daily pipeline's run plan."""

from __future__ import annotations

import pytest

from retail_lake.batch.emr_python import EMR_PYTHON_DEPS_ALIAS
from retail_lake.orchestration.analytics_steps import STEPS, AnalyticsStepError, step_job_driver
from retail_lake.orchestration.run_plan import emr_step_drivers

TOPIC = "arn:aws:sns:eu-west-1:123456789012:RetailLake-dev-Batch-QualityTopic"
ANALYTICS = {"EmrStepsUri": "s3://art/emr/steps/", "EmrLibraryKey": "emr/library/lib.zip",
             "EmrPythonDepsKey": "emr/python/deps.zip", "EmrDeequJarKey": "glue/jars/deequ-2.0.21-spark-3.5.jar",
             "EmrQualityPipeline": "retail-lake-dev"}
STORAGE = {"ArtifactsBucketName": "art", "CuratedBucketName": "cur", "AnalyticsBucketName": "ana"}
BATCH = {"QualityTopicArn": TOPIC}
PARAMETERS = ("--py-files s3://art/emr/library/lib.zip --jars s3://art/glue/jars/deequ-2.0.21-spark-3.5.jar "
              "--conf spark.archives=s3://art/emr/python/deps.zip#pydeps")
QUALITY = {"--results_path": "s3://ana/quality_results/", "--report_path": "s3://ana/quality_reports/",
           "--topic_arn": TOPIC, "--pipeline": "retail-lake-dev"}


def _arguments(submit: dict) -> dict[str, str]:
    arguments = submit["entryPointArguments"]
    return dict(zip(arguments[::2], arguments[1::2]))


def test_the_alias_is_pydeps() -> None:
    assert EMR_PYTHON_DEPS_ALIAS == "pydeps"


@pytest.mark.parametrize(("step", "inputs"), [
    ("customer_segmentation", {"--analytics_path": "s3://ana/"}),
    ("product_affinity", {"--curated_path": "s3://cur/"}),
    ("demand_forecast", {"--analytics_path": "s3://ana/"}),
])
def test_each_step_ships_the_packages_the_jar_and_the_quality_arguments(step, inputs) -> None:
    submit = step_job_driver(step, ANALYTICS, STORAGE, BATCH, "2026-11-05")["sparkSubmit"]
    assert submit["entryPoint"] == f"s3://art/emr/steps/{STEPS[step][0]}"
    assert submit["sparkSubmitParameters"] == PARAMETERS
    assert submit["entryPointArguments"][:6] == ["--run_date", "2026-11-05", *next(iter(inputs.items())),
                                                 "--output_path", "s3://ana/"]
    assert _arguments(submit) == {"--run_date": "2026-11-05", **inputs, "--output_path": "s3://ana/", **QUALITY}
    assert "--metrics_namespace" not in submit["entryPointArguments"]  # the entry point's default


def test_extra_arguments_add_or_override_and_the_pipeline_is_optional() -> None:
    analytics = {k: v for k, v in ANALYTICS.items() if k != "EmrQualityPipeline"}
    submit = step_job_driver("demand_forecast", analytics, STORAGE, BATCH, "2026-11-05",
                             {"season": 1, "--run_date": "2026-11-04"})["sparkSubmit"]
    arguments = _arguments(submit)
    assert "--pipeline" not in arguments
    assert arguments["--season"] == "1" and arguments["--run_date"] == "2026-11-04"
    assert arguments["--topic_arn"] == TOPIC


@pytest.mark.parametrize(("outputs", "missing", "stack"), [
    ("analytics", "EmrPythonDepsKey", "AnalyticsCluster"),
    ("analytics", "EmrDeequJarKey", "AnalyticsCluster"),
    ("batch", "QualityTopicArn", "Batch"),
])
def test_a_missing_output_is_named_with_its_stack(outputs, missing, stack) -> None:
    given = {"analytics": dict(ANALYTICS), "batch": dict(BATCH)}
    del given[outputs][missing]
    with pytest.raises(AnalyticsStepError, match=f"the {stack} stack has no output {missing}"):
        step_job_driver("product_affinity", given["analytics"], STORAGE, given["batch"], "2026-11-05")


def test_the_run_plan_drivers_carry_the_same_parameters_and_arguments() -> None:
    emr = {"steps_uri": "s3://art/emr/steps/", "library_key": "emr/library/lib.zip",
           "python_deps_key": "emr/python/deps.zip", "deequ_jar_key": "glue/jars/deequ-2.0.21-spark-3.5.jar",
           "quality_topic_arn": TOPIC, "quality_pipeline": "retail-lake-dev",
           "artifacts_bucket": "art", "curated_bucket": "cur", "analytics_bucket": "ana"}
    drivers = emr_step_drivers(emr, "2026-11-05")
    assert [d["step"] for d in drivers] == list(STEPS)
    for driver in drivers:
        submit = driver["job_driver"]["SparkSubmit"]
        expected = step_job_driver(driver["step"], ANALYTICS, STORAGE, BATCH, "2026-11-05")["sparkSubmit"]
        assert submit == {"EntryPoint": expected["entryPoint"], "EntryPointArguments": expected["entryPointArguments"],
                          "SparkSubmitParameters": PARAMETERS}
    del emr["python_deps_key"]
    with pytest.raises(AnalyticsStepError, match="no output EmrPythonDepsKey"):
        emr_step_drivers(emr, "2026-11-05")
