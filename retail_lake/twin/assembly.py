"""Reading a cloud assembly (the `cdk.out` directory `cdk synth` writes): stacks, templates, file assets; and
telling whether its Lambda code is older than the code this process runs (`stale_lambda_packages`)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import site
import sys
import sysconfig
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

STACK_ARTIFACT = "aws:cloudformation:stack"
ASSET_MANIFEST_ARTIFACT = "cdk:asset-manifest"
NESTED_ASSEMBLY_ARTIFACT = "cdk:cloud-assembly"


class AssemblyError(RuntimeError):
    """The directory is not a usable cloud assembly."""


class StaleAssemblyError(AssemblyError):
    """A Lambda asset in the cloud assembly carries a different copy of a package this process has imported
    (the working tree's, which shadows the asset's when the twin runs the handler): the code changed after
    `cdk synth`."""


SYNTH_HINT = "cdk.out is older than the code: run `make synth` (or `retail-lake demo --synth`)"


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

    def function_code_dir(self, logical_id: str) -> Path | None:
        """The asset directory a Lambda function's code was published from (`Code.from_asset(<dir>)`), or None
        (inline code, an image, a bucket the assembly does not publish to)."""
        resource = self.template.get("Resources", {}).get(logical_id, {})
        asset_path = resource.get("Metadata", {}).get("aws:asset:path")
        if asset_path:
            return (self.assembly_dir / asset_path).resolve()
        key = resource.get("Properties", {}).get("Code", {}).get("S3Key")
        asset = self.asset_source_for_key(key) if isinstance(key, str) else None
        if asset is not None and asset.source_path.is_dir():
            return asset.source_path
        return None

    def function_code_dirs(self) -> dict[str, Path]:
        """logical id -> asset directory of every `AWS::Lambda::Function` built from an asset directory."""
        dirs = {}
        for logical_id, resource in self.template.get("Resources", {}).items():
            if resource.get("Type") == "AWS::Lambda::Function":
                code_dir = self.function_code_dir(logical_id)
                if code_dir is not None:
                    dirs[logical_id] = code_dir
        return dirs


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


# ---------------------------------------------------------------------------------------------- staleness
# The twin imports a function's handler from its asset directory with that directory appended to sys.path, so
# a package the process has already imported (the working tree's `retail_lake`) wins over the asset's copy.
# When the two differ, cdk.out was synthesized from older code and the twin would run the new domain code under
# the old handler without anyone noticing: these functions detect that.


def package_digest(package_dir: Path) -> dict[str, str]:
    """relative path -> sha256 of every `*.py` file under `package_dir` (`__pycache__` ignored)."""
    digests = {}
    for path in sorted(package_dir.rglob("*.py")):
        relative = path.relative_to(package_dir)
        if "__pycache__" in relative.parts or not path.is_file():
            continue
        digests[relative.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def _installed_roots() -> list[Path]:
    roots = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    roots.update(getattr(site, "getsitepackages", lambda: [])())
    user_site = getattr(site, "getusersitepackages", lambda: None)()
    if user_site:
        roots.add(user_site)
    return [Path(root).resolve() for root in roots]


def _imported_package_dirs(name: str) -> list[Path] | None:
    """The directories `import name` resolves to in this process (without importing it), or None when it is not
    importable, not a package, or an installed distribution (site-packages): a dependency an asset vendors at
    another version is not code `cdk synth` copied from this working tree."""
    module = sys.modules.get(name)
    locations = getattr(module, "__path__", None) if module is not None else None
    if locations is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        if spec is None or spec.submodule_search_locations is None:
            return None
        locations = spec.submodule_search_locations
    dirs = [Path(location).resolve() for location in locations if Path(location).is_dir()]
    installed = _installed_roots()
    if not dirs or all(any(d.is_relative_to(root) for root in installed) for d in dirs):
        return None
    return dirs


def _describe_difference(asset: dict[str, str], imported: dict[str, str], limit: int = 5) -> str:
    changed = sorted(p for p in asset.keys() & imported.keys() if asset[p] != imported[p])
    only_imported = sorted(imported.keys() - asset.keys())
    only_asset = sorted(asset.keys() - imported.keys())
    parts = []
    for label, paths in (("changed", changed), ("not in the asset", only_imported), ("only in the asset", only_asset)):
        if paths:
            shown = ", ".join(paths[:limit]) + (f" and {len(paths) - limit} more" if len(paths) > limit else "")
            parts.append(f"{label}: {shown}")
    return "; ".join(parts)


def stale_packages_in_code_dir(code_dir: Path, *, function: str | None = None) -> list[str]:
    """Reasons (one per package) why the Lambda asset `code_dir` is stale: each top-level package directory of
    the asset that this process imports from elsewhere (today `retail_lake`, from the working tree) must hold
    the same `*.py` files, byte for byte. Empty when fresh."""
    code_dir = Path(code_dir)
    reasons = []
    for package_dir in sorted(p for p in code_dir.iterdir() if p.is_dir()):
        name = package_dir.name
        if not name.isidentifier() or name == "__pycache__":
            continue
        imported_dirs = _imported_package_dirs(name)
        if imported_dirs is None or package_dir.resolve() in imported_dirs:
            continue
        imported: dict[str, str] = {}
        for directory in reversed(imported_dirs):  # the first location wins, as for imports
            imported.update(package_digest(directory))
        asset = package_digest(package_dir)
        if asset != imported:
            owner = f" of function {function}" if function else ""
            where = ", ".join(str(d) for d in imported_dirs)
            reasons.append(
                f"package {name!r} in the Lambda asset {code_dir}{owner} differs from the {name!r} this process "
                f"imports ({where}) [{_describe_difference(asset, imported)}]; {SYNTH_HINT}"
            )
    return reasons


def ensure_fresh_code_dir(code_dir: Path, *, function: str | None = None) -> None:
    """Raise StaleAssemblyError when the Lambda asset `code_dir` is stale (see `stale_packages_in_code_dir`)."""
    reasons = stale_packages_in_code_dir(code_dir, function=function)
    if reasons:
        raise StaleAssemblyError("\n".join(reasons))


def stale_lambda_packages(assembly_dir: str | Path, stacks: list[str] | None = None) -> list[str]:
    """Why the cloud assembly's Lambda code is older than the code this process runs: one human-readable reason
    per function asset and package (see `stale_packages_in_code_dir`); empty when fresh. Cheap (hashes the
    `*.py` files of the packages involved, deploys nothing), so call it before deploying."""
    assembly = CloudAssembly(assembly_dir)
    reasons: list[str] = []
    checked: set[Path] = set()
    for stack in assembly.ordered(stacks):
        for logical_id, code_dir in stack.function_code_dirs().items():
            if code_dir in checked or not code_dir.is_dir():
                continue
            checked.add(code_dir)
            reasons += stale_packages_in_code_dir(code_dir, function=f"{stack.stack_name}/{logical_id}")
    return reasons
