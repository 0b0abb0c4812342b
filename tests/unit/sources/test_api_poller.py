"""The API poller against the local stand-in server (127.0.0.1): retries with backoff on 429, 5xx, timeouts,
dropped connections and malformed bodies; rate limit; every page landed once, none lost."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
from moto import mock_aws

from retail_lake.sources.external_apis.client import ApiClient, ApiError, RetryPolicy, TokenBucket
from retail_lake.sources.external_apis.poller import Poller, page_key
from retail_lake.twin.external_apis import ExternalApiStandIn

NOW = dt.datetime(2026, 11, 20, 14, 37, tzinfo=dt.timezone.utc)
STORES = [{"store_id": "ST0001", "latitude": 40.7128, "longitude": -74.006},
          {"store_id": "ST0002", "latitude": 34.0522, "longitude": -118.2437}]


@pytest.fixture
def api():
    with ExternalApiStandIn(api_key="secret-key", pages=3, page_size=5, slow_seconds=1.5) as server:
        yield server


@pytest.fixture
def s3(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="raw")
        yield client


def _client(api: ExternalApiStandIn, **kwargs) -> ApiClient:
    sleeps: list[float] = []
    client = ApiClient(api.base_url, api_key="secret-key", timeout=0.5, rate_per_second=200, seed=1,
                       retry=RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.05),
                       sleep=lambda s: sleeps.append(s), **kwargs)
    client.sleeps = sleeps  # type: ignore[attr-defined]
    return client


def _landed(s3, key: str) -> list[dict]:
    return [json.loads(line) for line in s3.get_object(Bucket="raw", Key=key)["Body"].read().decode().splitlines()]


def test_poller_survives_every_failure_mode_without_losing_or_duplicating_a_page(api, s3) -> None:
    api.fail("/competitor-prices", "429", "500", "timeout", "malformed", "503")  # page 1 succeeds on its 6th attempt
    api.fail("/promotions", "502", "drop")
    api.fail("/weather", "malformed")
    client = _client(api)
    client.retry = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05)
    report = Poller(client, s3, "raw", STORES).poll(NOW)
    assert report.ok, report.failures
    assert report.pages == {"weather": 2, "competitor_prices": 3, "promotions": 3}
    for path, source in (("/competitor-prices", "competitor_prices"), ("/promotions", "promotions")):
        landed = [r for page in (1, 2, 3) for r in _landed(s3, page_key(source, NOW.replace(minute=0), f"page-{page:05d}"))]
        assert [{k: v for k, v in r.items() if not k.startswith("_")} for r in landed] == api.expected_items(path)
    weather = _landed(s3, page_key("weather", NOW.replace(minute=0), "store-ST0001"))
    assert len(weather) == 1 and weather[0]["store_id"] == "ST0001" and weather[0]["_window"] == "2026-11-20T14:00:00+00:00"
    outcomes = [o for _, path, _, o in api.requests if path == "/competitor-prices"]
    assert outcomes[:6] == ["429", "500", "timeout", "malformed", "503", "ok"]
    assert client.stats["retries"] == 8


def test_a_rerun_of_the_same_window_rewrites_the_same_keys(api, s3) -> None:
    first = Poller(_client(api), s3, "raw", STORES).poll(NOW)
    second = Poller(_client(api), s3, "raw", STORES).poll(NOW + dt.timedelta(minutes=10))
    assert first.keys == second.keys
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="raw")["Contents"]]
    assert sorted(keys) == sorted(first.keys) and len(keys) == 2 + 3 + 3


def test_backoff_grows_exponentially_with_full_jitter_and_honours_retry_after() -> None:
    import random

    policy, rng = RetryPolicy(max_attempts=6, base_delay=0.5, max_delay=8), random.Random(3)
    delays = [[policy.delay(attempt, None, rng) for _ in range(200)] for attempt in range(1, 6)]
    ceilings = [max(d) for d in delays]
    assert all(0 <= min(d) for d in delays)
    assert [c <= b for c, b in zip(ceilings, (0.5, 1, 2, 4, 8))] == [True] * 5
    assert ceilings[4] > 4  # the fifth retry can wait up to 8 s, the first at most 0.5 s
    assert policy.delay(1, 3.0, rng) == 3.0  # a server's Retry-After wins over a shorter backoff


def test_a_page_that_keeps_failing_is_reported_and_the_other_sources_still_land(api, s3) -> None:
    api.fail("/promotions", "500", "500", "500", "500", "500")
    report = Poller(_client(api), s3, "raw", STORES).poll(NOW)
    assert [f["source"] for f in report.failures] == ["promotions"]
    assert "gave up after 5 attempts" in report.failures[0]["error"]
    assert report.pages == {"weather": 2, "competitor_prices": 3}


def test_client_errors_are_not_retried(api) -> None:
    client = ApiClient(api.base_url, api_key="wrong", timeout=0.5, retry=RetryPolicy(max_attempts=5), sleep=lambda s: None)
    with pytest.raises(ApiError, match="HTTP 401 is not retryable"):
        client.get_json("/promotions", {"page": "1"})
    assert client.stats["requests"] == 1


def test_rate_limit_spaces_requests_to_the_server(api) -> None:
    client = ApiClient(api.base_url, api_key="secret-key", timeout=1, rate_per_second=20, burst=1)
    for page in range(1, 4):
        for _ in range(4):
            client.get_json("/competitor-prices", {"page": str(page)})
    times = [t for t, _, _, _ in api.requests]
    assert len(times) == 12
    assert times[-1] - times[0] >= 11 / 20 * 0.95  # 12 requests at 20/s take at least 0.55 s


def test_token_bucket_allows_bursts_then_the_rate() -> None:
    clock = [0.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        clock[0] += s

    bucket = TokenBucket(rate=4, burst=2, clock=lambda: clock[0], sleep=sleep)
    for _ in range(6):
        bucket.acquire()
    assert waits == pytest.approx([0.25, 0.25, 0.25, 0.25])
