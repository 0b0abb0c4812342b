"""What `cdk bootstrap` and cdk-assets do, for the twin: the assets bucket, the bootstrap version parameter, and
file assets zipped or copied to their destinations."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

from retail_lake.twin.assembly import FileAsset

QUALIFIER = "hnb659fds"
BOOTSTRAP_VERSION = "21"
BOOTSTRAP_VERSION_PARAMETER = f"/cdk-bootstrap/{QUALIFIER}/version"
# A fixed timestamp keeps asset zips byte-identical between runs (the content hash is in the key already).
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def substitute_placeholders(value: str, account_id: str, region: str) -> str:
    return (
        value.replace("${AWS::AccountId}", account_id)
        .replace("${AWS::Region}", region)
        .replace("${AWS::Partition}", "aws")
    )


def assets_bucket_name(account_id: str, region: str) -> str:
    return f"cdk-{QUALIFIER}-assets-{account_id}-{region}"


def bootstrap(s3: Any, ssm: Any, account_id: str, region: str) -> str:
    """Create the bootstrap assets bucket and version parameter if missing; return the bucket name."""
    bucket = assets_bucket_name(account_id, region)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    ssm.put_parameter(Name=BOOTSTRAP_VERSION_PARAMETER, Value=BOOTSTRAP_VERSION, Type="String", Overwrite=True)
    return bucket


def zip_directory(directory: Path) -> bytes:
    """A deterministic zip of `directory` (sorted entries, fixed dates, executable bits kept)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for root, dirs, files in os.walk(directory):
            dirs.sort()
            for name in sorted(files):
                path = Path(root) / name
                info = zipfile.ZipInfo(path.relative_to(directory).as_posix(), date_time=_ZIP_DATE)
                info.external_attr = (path.stat().st_mode & 0o777) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def asset_bytes(asset: FileAsset) -> bytes:
    if asset.packaging == "zip" and asset.source_path.is_dir():
        return zip_directory(asset.source_path)
    if asset.packaging == "zip" and asset.source_path.suffix in {".zip", ".jar"}:
        return asset.source_path.read_bytes()
    if asset.packaging == "zip":
        raise ValueError(f"asset {asset.asset_id}: zip packaging of {asset.source_path}, which is not a directory")
    return asset.source_path.read_bytes()


def publish(s3: Any, assets: list[FileAsset], account_id: str, region: str) -> int:
    """Upload each asset to every destination; return the number of objects written (existing keys are kept,
    since keys are content hashes)."""
    written = 0
    for asset in assets:
        body: bytes | None = None
        for destination in asset.destinations:
            bucket = substitute_placeholders(destination["bucketName"], account_id, region)
            key = substitute_placeholders(destination["objectKey"], account_id, region)
            try:
                s3.head_object(Bucket=bucket, Key=key)
                continue
            except s3.exceptions.ClientError:
                pass
            if body is None:
                body = asset_bytes(asset)
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            written += 1
    return written
