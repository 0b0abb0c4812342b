"""Session-wide fixtures: one synthesized app per stage for the whole test session.

Synth costs seconds; infrastructure tests read the templates, integration tests deploy the same cloud
assembly to the embedded twin.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import pytest  # noqa: E402
from aws_cdk import App  # noqa: E402

from stacks.app_builder import build_app  # noqa: E402


@dataclass
class Synthesized:
    stage: str
    app: App
    outdir: Path
    nag_error: str | None  # the synth error when cdk-nag (or anything else) failed validation
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def template(self, component: str) -> dict[str, Any]:
        return self.templates[f"RetailLake-{self.stage}-{component}"]

    def resources(self, component: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template(component)["Resources"].items()
            if resource["Type"] == resource_type
        }

    @property
    def validation_report(self) -> dict[str, Any]:
        return json.loads((self.outdir / "validation-report.json").read_text())


def _synthesize(stage: str, outdir: Path) -> Synthesized:
    app = build_app(stage, outdir)
    nag_error = None
    try:
        app.synth()
    except RuntimeError as error:  # the templates are written before validation runs; tests inspect both
        nag_error = str(error)
    templates = {path.name.removesuffix(".template.json"): json.loads(path.read_text())
                 for path in outdir.glob("*.template.json")}
    return Synthesized(stage=stage, app=app, outdir=outdir, nag_error=nag_error, templates=templates)


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synthesize("dev", tmp_path_factory.mktemp("cdk-dev"))


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synthesize("prod", tmp_path_factory.mktemp("cdk-prod"))


@pytest.fixture(scope="session", params=["dev", "prod"])
def synthesized(request: pytest.FixtureRequest) -> Iterator[Synthesized]:
    yield request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def dev_assembly(dev: Synthesized) -> Path:
    """The dev stage's cloud assembly directory, as `cdk synth` writes it, for the twin to deploy."""
    if dev.nag_error:
        pytest.fail(f"the dev app did not synthesize cleanly: {dev.nag_error}")
    return dev.outdir
