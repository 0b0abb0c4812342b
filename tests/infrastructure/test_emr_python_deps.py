"""The EMR driver's Python packages (requirements/emr-python.txt, built by scripts/build_emr_python.py): exact pins,
a build holding exactly those distributions as CPython 3.9 manylinux x86_64 or pure wheels, whose dependency
markers for Python 3.9 the pins satisfy, the Deequ jar pydeequ expects, a synth that refuses a missing or stale
build, and the job role and outputs in the dev app."""

from __future__ import annotations

import email.parser
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from retail_lake.quality.deequ import DEEQU_MAVEN_COORDINATE
from retail_lake.quality.results import METRICS_NAMESPACE
from stacks.dependency_builds import EMR_PYTHON_DEPS, STAMP_NAME, DependencyBuildError
from tests.conftest import Synthesized

# What the EMR 7.5.0 driver runs: CPython 3.9 on Amazon Linux 2023, x86_64.
PYTHON_39 = {**default_environment(), "python_version": "3.9", "python_full_version": "3.9.20",
             "implementation_name": "cpython", "platform_python_implementation": "CPython",
             "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix"}
# Every tag of a built wheel: CPython 3.9 (or the stable ABI) for manylinux x86_64, or pure Python; and at least one
# tag the build's platform (manylinux2014 = glibc 2.17) accepts. Amazon Linux 2023 has glibc 2.34.
BINARY_TAG = re.compile(r"^cp39-(cp39|abi3)-manylinux(2014|_2_(?P<glibc>\d+))_x86_64$")
PURE_TAG = re.compile(r"^py[23]-none-any$")
INSTALLABLE_TAG = re.compile(r"^(cp39-(cp39|abi3)-(manylinux2014|manylinux_2_(5|12|17))_x86_64|py3-none-any)$")


def _pins() -> dict[str, Version]:
    pins = {}
    for line in EMR_PYTHON_DEPS.requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==" and not requirement.marker and not requirement.extras, line
            pins[canonicalize_name(requirement.name)] = Version(specifier.version)
    return pins


def _dist_infos() -> dict[str, Path]:
    site = EMR_PYTHON_DEPS.verified().site_dir
    return {canonicalize_name(path.name.removesuffix(".dist-info").rsplit("-", 1)[0]): path
            for path in site.glob("*.dist-info")}


def _metadata(dist_info: Path):
    return email.parser.Parser().parsestr((dist_info / "METADATA").read_text())


def test_every_package_is_pinned_exactly() -> None:
    pins = _pins()
    assert {"pydeequ", "pyyaml", "boto3", "pandas", "numpy"} <= set(pins)
    assert pins["pydeequ"] == Version("1.7.0") and pins["pyyaml"] == Version("6.0.3")


def test_the_build_holds_exactly_the_pinned_distributions() -> None:
    dist_infos = _dist_infos()
    versions = {name: Version(_metadata(path)["Version"]) for name, path in dist_infos.items()}
    assert versions == _pins()
    assert not list(EMR_PYTHON_DEPS.site_dir.rglob("__pycache__"))


def test_every_wheel_is_for_cpython_39_on_manylinux_x86_64_or_pure() -> None:
    for name, dist_info in _dist_infos().items():
        tags = [line.split(":", 1)[1].strip() for line in (dist_info / "WHEEL").read_text().splitlines()
                if line.startswith("Tag:")]
        assert any(INSTALLABLE_TAG.match(tag) for tag in tags), (name, tags)
        for tag in tags:
            binary = BINARY_TAG.match(tag)
            assert binary or PURE_TAG.match(tag), (name, tag)
            assert not binary or int(binary["glibc"] or 17) <= 34, (name, tag)


def test_the_pins_satisfy_every_dependency_for_python_39() -> None:
    """pip evaluates markers for the interpreter running it; here they are evaluated for the EMR driver's 3.9."""
    pins = _pins()
    for name, dist_info in _dist_infos().items():
        metadata = _metadata(dist_info)
        requires_python = metadata["Requires-Python"]
        if requires_python:
            assert SpecifierSet(requires_python).contains("3.9"), (name, requires_python)
        for line in metadata.get_all("Requires-Dist") or []:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate({**PYTHON_39, "extra": ""}):
                continue
            dependency = canonicalize_name(requirement.name)
            assert dependency in pins, f"{name} requires {line}, which requirements/emr-python.txt does not pin"
            assert requirement.specifier.contains(pins[dependency], prereleases=True), (
                f"{name} requires {line} on Python 3.9; pinned {dependency}=={pins[dependency]}")


def test_the_deequ_jar_is_the_one_pydeequ_maps_spark_35_to() -> None:
    configs = (EMR_PYTHON_DEPS.site_dir / "pydeequ" / "configs.py").read_text()
    mapping = re.search(r"SPARK_TO_DEEQU_COORD_MAPPING\s*=\s*\{(.*?)\}", configs, re.DOTALL)
    assert mapping, "pydeequ/configs.py has no SPARK_TO_DEEQU_COORD_MAPPING"
    coordinates = dict(re.findall(r'"(\d+\.\d+)"\s*:\s*"([^"]+)"', mapping.group(1)))
    assert coordinates["3.5"] == DEEQU_MAVEN_COORDINATE


def test_a_missing_build_names_the_build_command(tmp_path: Path) -> None:
    missing = replace(EMR_PYTHON_DEPS, root=tmp_path / "python_deps")
    with pytest.raises(DependencyBuildError, match=r"missing .*python scripts/build_emr_python\.py"):
        missing.verified()


def test_a_stale_build_names_the_build_command(tmp_path: Path) -> None:
    stale = replace(EMR_PYTHON_DEPS, root=tmp_path / "python_deps")
    stale.site_dir.mkdir(parents=True)
    (stale.root / STAMP_NAME).write_text("not-the-hash\n")
    with pytest.raises(DependencyBuildError,
                       match=r"out of date with requirements/emr-python\.txt.*build_emr_python\.py"):
        stale.verified()
    (stale.root / STAMP_NAME).write_text(stale.requirements_hash() + "\n")
    assert stale.verified() == stale


# ------------------------------------------------------------------------------------------ the dev app
def _job_role_statements(dev: Synthesized) -> list[dict]:
    (policy,) = [p for k, p in dev.resources("Analytics", "AWS::IAM::Policy").items()
                 if k.startswith("AnalyticsClusterJobRole")]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def _actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_the_job_role_reads_the_packages_zip_and_exactly_the_deequ_jar(dev: Synthesized) -> None:
    reads = [s for s in _job_role_statements(dev) if _actions(s) == ["s3:GetObject"]]
    resources = json.dumps([s["Resource"] for s in reads])
    assert '"/emr/*"' in resources  # the scripts prefix: entry points, package zip and emr/python/<hash>.zip
    (jar,) = [s for s in reads if s.get("Sid") == "ReadDeequJar"]
    assert jar["Resource"]["Fn::Join"][1][1] == "/glue/jars/deequ-" + DEEQU_MAVEN_COORDINATE.rsplit(":", 1)[1] + ".jar"
    outputs = dev.template("Analytics")["Outputs"]
    assert outputs["EmrDeequJarKey"]["Value"] == jar["Resource"]["Fn::Join"][1][1].lstrip("/")
    assert outputs["EmrPythonDepsKey"]["Value"]["Fn::Join"][1][0] == "emr/python/"
    assert outputs["EmrQualityPipeline"]["Value"] == "retail-lake-dev"


def test_the_job_role_notifies_the_quality_topic_and_puts_metrics_in_its_namespace(dev: Synthesized) -> None:
    statements = {s.get("Sid"): s for s in _job_role_statements(dev)}
    batch_outputs = dev.template("Batch")["Outputs"]
    topic = batch_outputs["QualityTopicArn"]["Value"]  # {"Ref": <topic>} in the Batch stack, imported here
    assert statements["NotifyQualityTopic"]["Action"] == "sns:Publish"
    assert topic["Ref"] in json.dumps(statements["NotifyQualityTopic"]["Resource"])
    assert sorted(statements["EncryptQualityMessages"]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert "QualityKey" in json.dumps(statements["EncryptQualityMessages"]["Resource"])
    metrics = statements["PublishQualityMetrics"]
    assert (metrics["Action"], metrics["Resource"]) == ("cloudwatch:PutMetricData", "*")
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}}


def test_the_begin_run_function_knows_the_emr_quality_locations(dev: Synthesized) -> None:
    functions = dev.resources("Orchestration", "AWS::Lambda::Function")
    (begin_run,) = [f for f in functions.values()
                    if "EMR_LOCATIONS" in f["Properties"].get("Environment", {}).get("Variables", {})]
    locations = json.dumps(begin_run["Properties"]["Environment"]["Variables"]["EMR_LOCATIONS"])
    for key in ("python_deps_key", "deequ_jar_key", "quality_topic_arn", "quality_pipeline"):
        assert f'\\"{key}\\"' in locations, key
    assert "EmrPythonDepsKey" in locations and "deequ-" in locations
