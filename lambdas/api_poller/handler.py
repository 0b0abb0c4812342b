"""API poller Lambda (EventBridge schedule): weather per store, competitor prices and promotions -> raw.

Thin entry point: Powertools for logging, metrics and the secret; the client (timeouts, retries with backoff,
rate limit) and the landing are `retail_lake.sources.external_apis`. Store locations come from the curated
`stores` table the operational-store merge writes.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext

from retail_lake.sources.external_apis.client import ApiClient
from retail_lake.sources.external_apis.poller import Poller

RAW_BUCKET = os.environ["RAW_BUCKET"]
CURATED_BUCKET = os.environ["CURATED_BUCKET"]
STORES_PREFIX = os.environ.get("STORES_PREFIX", "operational/stores/")
SECRET_ARN = os.environ["API_SECRET_ARN"]
TIMEOUT_SECONDS = float(os.environ.get("API_TIMEOUT_SECONDS", "5"))
RATE_PER_SECOND = float(os.environ.get("API_RATE_PER_SECOND", "5"))
MAX_ATTEMPTS = int(os.environ.get("API_MAX_ATTEMPTS", "5"))

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
secrets = parameters.SecretsProvider(boto3_client=boto3.client("secretsmanager"))


def _stores() -> list[dict]:
    import pyarrow.parquet as pq

    rows: list[dict] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=CURATED_BUCKET, Prefix=STORES_PREFIX):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".parquet"):
                body = s3.get_object(Bucket=CURATED_BUCKET, Key=obj["Key"])["Body"].read()
                rows += pq.read_table(io.BytesIO(body), columns=["store_id", "latitude", "longitude"]).to_pylist()
    return sorted(rows, key=lambda r: r["store_id"])


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    from retail_lake.sources.external_apis.client import RetryPolicy

    secret = json.loads(secrets.get(SECRET_ARN, max_age=300))
    client = ApiClient(secret["base_url"], api_key=secret["api_key"], timeout=TIMEOUT_SECONDS,
                       rate_per_second=RATE_PER_SECOND, retry=RetryPolicy(max_attempts=MAX_ATTEMPTS))
    now = dt.datetime.fromisoformat(event["time"].replace("Z", "+00:00")) if event.get("time") else \
        dt.datetime.now(dt.timezone.utc)
    report = Poller(client, s3, RAW_BUCKET, _stores()).poll(now)
    for source, pages in report.pages.items():
        metrics.add_metric(name=f"ApiPages_{source}", unit=MetricUnit.Count, value=pages)
    metrics.add_metric(name="ApiPageFailures", unit=MetricUnit.Count, value=len(report.failures))
    metrics.add_metric(name="ApiRetries", unit=MetricUnit.Count, value=client.stats["retries"])
    logger.info("poll", extra={"window": report.window, "pages": report.pages, "failures": report.failures})
    return {"window": report.window, "pages": report.pages, "records": report.records, "failures": report.failures,
            "requests": client.stats["requests"], "retries": client.stats["retries"]}
