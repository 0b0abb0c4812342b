"""File-drop Lambda: an S3 ObjectCreated event for `landing/<feed>/*.csv` -> curated rows + quarantined rows.

Thin entry point: Powertools for logging and metrics; the work (schema check, quarantine, exactly-once manifest)
is `retail_lake.sources.file_drops.processing`.
"""

from __future__ import annotations

import os
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from retail_lake.sources.file_drops.processing import Buckets, process_object

BUCKETS = Buckets(landing=os.environ["LANDING_BUCKET"], curated=os.environ["CURATED_BUCKET"],
                  quarantine=os.environ["QUARANTINE_BUCKET"])

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    results = []
    for record in event.get("Records", []):
        key = unquote_plus(record["s3"]["object"]["key"])
        result = process_object(s3, BUCKETS, key)
        logger.info("file drop", extra=result)
        if result["status"] == "processed":
            metrics.add_metric(name="FileDropRows", unit=MetricUnit.Count, value=result["rows"])
            metrics.add_metric(name="FileDropRejectedRows", unit=MetricUnit.Count, value=result["rejected"])
        elif result["status"] == "duplicate":
            metrics.add_metric(name="FileDropDuplicates", unit=MetricUnit.Count, value=1)
        results.append(result)
    return {"results": results}
