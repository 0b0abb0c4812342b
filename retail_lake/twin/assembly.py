"""Reading a cloud assembly (the `cdk.out` directory `cdk synth` writes): stacks, templates, file assets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

STACK_ARTIFACT = "aws:cloudformation:stack"
ASSET_MANIFEST_ARTIFACT = "cdk:asset-manifest"
NESTED_ASSEMBLY_ARTIFACT = "cdk:cloud-assembly"


class AssemblyError(RuntimeError):
    """The directory is not a usable cloud assembly."""


@dataclass(frozen=True)
class FileAsset:
    asset_id: str
    source_path: Path  # absolute
    packaging: str  # "file" | "zip"
    destinations: tuple[dict[str, Any], ...]


@dataclass
class StackArtifact:
    artifact_id: str
    stack_name: str
    template_path: Path
    assembly_dir: Path
    dependencies: list[str]  # artifact ids (stacks and asset manifests)
    asset_manifest: Path | None = None
    _template: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def template(self) -> dict[str, Any]:
        if self._template is None:
            self._template = json.loads(self.template_path.read_text())
        return self._template

    def file_assets(self) -> list[FileAsset]:
        if self.asset_manifest is None:
            return []
        manifest = json.loads(self.asset_manifest.read_text())
        assets = []
        for asset_id, entry in manifest.get("files", {}).items():
            source = entry["source"]
            if "path" not in source:
                raise AssemblyError(
                    f"asset {asset_id} of {self.stack_name} is built by an executable ({source}); "
                    "the twin only publishes path assets: use Code.from_asset(dir) without bundling"
                )
            assets.append(
                FileAsset(
                    asset_id=asset_id,
                    source_path=(self.asset_manifest.parent / source["path"]).resolve(),
                    packaging=source.get("packaging", "file"),
                    destinations=tuple(entry["destinations"].values()),
                )
            )
        return assets

    def asset_source_for_key(self, object_key: str) -> FileAsset | None:
        """The file asset published under `object_key` (e.g. a Lambda's `Code.S3Key`)."""
        for asset in self.file_assets():
            if any(d.get("objectKey") == object_key for d in asset.destinations):
                return asset
        return None


class CloudAssembly:
    """The stacks of a cloud assembly directory, in deployment order (dependencies first)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).resolve()
        manifest_path = self.directory / "manifest.json"
        if not manifest_path.is_file():
            raise AssemblyError(
                f"{self.directory} has no manifest.json: pass the directory `cdk synth` wrote (cdk.out, or the "
                "App's outdir)"
            )
        self.stacks: dict[str, StackArtifact] = {}
        self._read(self.directory, prefix="")

    def _read(self, directory: Path, prefix: str) -> None:
        manifest = json.loads((directory / "manifest.json").read_text())
        artifacts = manifest.get("artifacts", {})
        asset_files = {
            artifact_id: directory / a["properties"]["file"]
            for artifact_id, a in artifacts.items()
            if a.get("type") == ASSET_MANIFEST_ARTIFACT
        }
        for artifact_id, artifact in artifacts.items():
            kind = artifact.get("type")
            if kind == NESTED_ASSEMBLY_ARTIFACT:  # a Stage: its stacks live in a sub-assembly
                self._read(directory / artifact["properties"]["directoryName"], prefix=f"{prefix}{artifact_id}/")
            elif kind == STACK_ARTIFACT:
                props = artifact["properties"]
                deps = list(artifact.get("dependencies", []))
                asset_manifest = next((asset_files[d] for d in deps if d in asset_files), None)
                stack = StackArtifact(
                    artifact_id=prefix + artifact_id,
                    stack_name=props.get("stackName", artifact.get("displayName", artifact_id)).replace("/", "-"),
                    template_path=directory / props["templateFile"],
                    assembly_dir=directory,
                    dependencies=[prefix + d for d in deps if d not in asset_files],
                    asset_manifest=asset_manifest,
                )
                self.stacks[stack.artifact_id] = stack

    def ordered(self, only: list[str] | None = None) -> list[StackArtifact]:
        """Stacks in dependency order; `only` (stack names or artifact ids) keeps those and what they depend on."""
        graph = {sid: {d for d in s.dependencies if d in self.stacks} for sid, s in self.stacks.items()}
        try:
            order = list(TopologicalSorter(graph).static_order())
        except CycleError as error:
            raise AssemblyError(f"stack dependency cycle in {self.directory}: {error.args[1]}") from error
        if only:
            by_name = {s.stack_name: sid for sid, s in self.stacks.items()}
            wanted = set()
            pending = [by_name.get(name, name) for name in only]
            unknown = [p for p in pending if p not in self.stacks]
            if unknown:
                raise AssemblyError(f"no stacks {unknown} in {self.directory}; it has {sorted(by_name)}")
            while pending:
                sid = pending.pop()
                if sid not in wanted:
                    wanted.add(sid)
                    pending.extend(graph[sid])
            order = [sid for sid in order if sid in wanted]
        return [self.stacks[sid] for sid in order]
