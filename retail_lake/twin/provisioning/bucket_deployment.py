"""Provisioner for the CDK's `BucketDeployment` (`Custom::CDKBucketDeployment`): moto cannot run its Lambda
provider (Python + the AWS CLI layer), so the twin does what that handler does on Create/Update.

The source zips (`SourceBucketNames[i]`/`SourceObjectKeys[i]`) are the stack's file assets, already published
to the assets bucket by the twin's deployer. Like the handler:
- with `Extract` (default true) every source zip is unpacked into one tree, later sources overwriting earlier
  ones; with `Extract: false` each zip is copied as is under its own object key's base name;
- the tree is synced to `s3://DestinationBucketName/DestinationBucketKeyPrefix` (an `aws s3 sync`): every file is
  uploaded, and with `Prune` (default true) objects under the prefix that the tree lacks are deleted;
- `Exclude`/`Include` filters (the CLI's glob patterns, applied in order, last match wins) limit both;
- the physical id is `aws.cdk.s3deployment.<uuid>`; attributes `DestinationBucketArn` and `SourceObjectKeys`.
Not emulated: `SourceMarkers` substitution (deploy-time values inside files: refused with a clear error),
object metadata (`UserMetadata`/`SystemMetadata`), CloudFront invalidation, EFS. Delete leaves the objects
(`RetainOnDelete` is the usual setting; the twin is thrown away anyway).
"""

from __future__ import annotations

import fnmatch
import io
import uuid
import zipfile
from typing import Any

from retail_lake.twin.provisioning import REGISTRY, Provisioned, ProvisionRequest, ResourceProvisioner


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _included(key: str, exclude: list[str], include: list[str]) -> bool:
    """The AWS CLI's --exclude/--include semantics: filters in order, the last matching one decides."""
    decision = True
    for patterns, verdict in ((exclude, False), (include, True)):
        for pattern in patterns:
            if fnmatch.fnmatchcase(key, pattern):
                decision = verdict
    return decision


def deployment_tree(s3: Any, properties: dict[str, Any]) -> dict[str, bytes]:
    """Relative key -> content of what the deployment puts under its prefix."""
    buckets, keys = properties.get("SourceBucketNames", []), properties.get("SourceObjectKeys", [])
    if len(buckets) != len(keys):
        raise ValueError(
            f"Custom::CDKBucketDeployment: {len(buckets)} SourceBucketNames but {len(keys)} SourceObjectKeys"
        )
    if any(markers for markers in properties.get("SourceMarkers") or []):
        raise NotImplementedError(
            "Custom::CDKBucketDeployment with SourceMarkers (deploy-time values substituted into the files) is not "
            "emulated by the twin; deploy plain files (Source.asset) or extend retail_lake.twin.provisioning."
            "bucket_deployment"
        )
    extract = _flag(properties.get("Extract"), True)
    tree: dict[str, bytes] = {}
    for bucket, key in zip(buckets, keys):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        if not extract:
            tree[key.rsplit("/", 1)[-1]] = body
            continue
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    tree[info.filename] = archive.read(info)
    return tree


@REGISTRY.provisioner
class BucketDeploymentProvisioner(ResourceProvisioner):
    resource_type = "Custom::CDKBucketDeployment"

    def create(self, request: ProvisionRequest) -> Provisioned:
        properties, s3 = request.properties, request.client("s3")
        bucket = properties["DestinationBucketName"]
        prefix = properties.get("DestinationBucketKeyPrefix") or ""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        exclude, include = list(properties.get("Exclude") or []), list(properties.get("Include") or [])
        tree = {k: v for k, v in deployment_tree(s3, properties).items() if _included(k, exclude, include)}
        for relative, body in sorted(tree.items()):
            s3.put_object(Bucket=bucket, Key=prefix + relative, Body=body)
        if _flag(properties.get("Prune"), True):
            stale = []
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                stale += [o["Key"] for o in page.get("Contents", [])
                          if o["Key"][len(prefix):] not in tree and _included(o["Key"][len(prefix):], exclude, include)]
            for key in stale:
                s3.delete_object(Bucket=bucket, Key=key)
        return Provisioned(
            physical_id=f"aws.cdk.s3deployment.{uuid.uuid4()}",
            attributes={
                "DestinationBucketArn": properties.get("DestinationBucketArn", f"arn:aws:s3:::{bucket}"),
                "SourceObjectKeys": list(properties.get("SourceObjectKeys", [])),
            },
        )
