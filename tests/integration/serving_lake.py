"""A twin with the dev stage's Serving stack (and what it depends on) deployed and a synthetic analytics zone
(`retail_lake.serving.sample`) written where the batch jobs write it; the serving views created."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from retail_lake.serving.athena import create_views
from retail_lake.serving.sample import SampleLake, SampleSize
from retail_lake.twin import Twin

STORAGE, BATCH, SERVING = "RetailLake-dev-Storage", "RetailLake-dev-Batch", "RetailLake-dev-Serving"


@dataclass
class ServingLake:
    twin: Twin
    lake: SampleLake
    workgroup: str
    database: str
    quality_database: str
    analytics_bucket: str
    raw_bucket: str
    results_bucket: str


def deploy_serving_lake(twin: Twin, assembly: Path, size: SampleSize = SampleSize()) -> ServingLake:
    twin.deploy(assembly, stacks=[SERVING])
    outputs = twin.outputs
    storage, serving = outputs[STORAGE], outputs[SERVING]
    database = outputs[BATCH]["AnalyticsDatabaseName"]
    quality_database = outputs[BATCH]["QualityDatabaseName"]  # quality_results, catalogued by the Batch stack
    lake = SampleLake.build(size)
    lake.write(twin.client("s3"), analytics_bucket=storage["AnalyticsBucketName"], raw_bucket=storage["RawBucketName"])
    create_views(twin.client("athena"), workgroup=serving["AthenaWorkGroupName"], analytics_database=database)
    return ServingLake(twin, lake, serving["AthenaWorkGroupName"], database, quality_database,
                       storage["AnalyticsBucketName"], storage["RawBucketName"], storage["AthenaResultsBucketName"])

