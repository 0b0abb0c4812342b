"""The twin's endpoint: moto on a free loopback port for the twin's lifetime, or an external one untouched."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

from retail_lake.twin import ENDPOINT_ENV, Twin

pytestmark = pytest.mark.integration


def _accepts_connections(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.skipif(bool(os.environ.get(ENDPOINT_ENV)), reason="an external endpoint is configured")
def test_embedded_twin_serves_on_a_free_loopback_port_and_closes_it_on_exit(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://before.invalid")
    with Twin() as twin:
        endpoint = urlparse(twin.endpoint_url)
        assert endpoint.hostname == "localhost"
        assert twin.is_embedded and endpoint.port == twin.port
        assert _accepts_connections(twin.port)
        assert os.environ["AWS_ENDPOINT_URL"] == twin.endpoint_url
        assert twin.client("sts").get_caller_identity()["Account"] == twin.account_id
        import boto3

        boto3.client("s3").create_bucket(Bucket="reached-through-the-environment")
        assert "reached-through-the-environment" in {b["Name"] for b in twin.client("s3").list_buckets()["Buckets"]}
        port = twin.port
    assert not _accepts_connections(port)
    assert os.environ["AWS_ENDPOINT_URL"] == "http://before.invalid"


def test_an_external_endpoint_starts_no_server(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    twin = Twin(endpoint_url="http://localhost:4566")
    with twin:
        assert not twin.is_embedded
        assert twin._server is None
        assert os.environ["AWS_ENDPOINT_URL"] == "http://localhost:4566"
    assert "AWS_ENDPOINT_URL" not in os.environ
