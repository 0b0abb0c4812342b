"""A local HTTP server on 127.0.0.1 standing in for the external APIs the poller calls, with their failure modes.

    with ExternalApiStandIn(api_key="k") as api:          # free port; api.base_url
        api.fail("/competitor-prices", "429", "500", "timeout", "malformed")   # the next 4 requests to that path
        ...
        api.requests                                      # (monotonic time, path, query, outcome) of every request

Endpoints (JSON, `x-api-key` required, else 401): `/weather?store_id&lat&lon` (one observation per store),
`/competitor-prices?page=N` and `/promotions?page=N` (`items` plus `next_page`, null on the last page). Failure
modes queued per path: `429` (with `Retry-After: 0`), `500`, `502`, `503`, `timeout` (answers after
`slow_seconds`, longer than the client waits), `malformed` (a truncated JSON body with status 200), `drop`
(closes the connection without an answer).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

MODES = ("429", "500", "502", "503", "timeout", "malformed", "drop")


def _competitor_page(page: int, page_size: int) -> list[dict[str, Any]]:
    return [{"competitor": ("ShopCo", "MegaMart", "ValueHub")[i % 3], "product_id": f"SKU-{(page - 1) * page_size + i + 1:06d}",
             "price": round(5 + ((page * 31 + i * 7) % 400) / 10, 2), "currency": "USD"} for i in range(page_size)]


def _promotion_page(page: int, page_size: int) -> list[dict[str, Any]]:
    return [{"promotion_id": f"PR-{(page - 1) * page_size + i + 1:05d}", "product_id": f"SKU-{(page * 13 + i) % 120 + 1:06d}",
             "discount_pct": 5 + (i * 5) % 30, "starts_on": "2026-11-20", "ends_on": "2026-11-30"}
            for i in range(page_size)]


class ExternalApiStandIn:
    def __init__(self, api_key: str = "test-key", *, pages: int = 3, page_size: int = 20,
                 slow_seconds: float = 2.0) -> None:
        self.api_key, self.pages, self.page_size, self.slow_seconds = api_key, pages, page_size, slow_seconds
        self.requests: list[tuple[float, str, dict[str, list[str]], str]] = []
        self._failures: dict[str, deque[str]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the stand-in is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail(self, path: str, *modes: str) -> None:
        unknown = [m for m in modes if m not in MODES]
        if unknown:
            raise ValueError(f"unknown failure mode(s) {unknown}; known: {', '.join(MODES)}")
        with self._lock:
            self._failures.setdefault(path, deque()).extend(modes)

    def _next_failure(self, path: str) -> str | None:
        with self._lock:
            queue = self._failures.get(path)
            return queue.popleft() if queue else None

    def expected_items(self, path: str) -> list[dict[str, Any]]:
        make = _competitor_page if path == "/competitor-prices" else _promotion_page
        return [item for page in range(1, self.pages + 1) for item in make(page, self.page_size)]

    def start(self) -> ExternalApiStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                query = parse_qs(url.query)
                if self.headers.get("x-api-key") != stand_in.api_key:
                    stand_in.requests.append((time.monotonic(), url.path, query, "401"))
                    return self._send(401, b'{"message": "missing or wrong x-api-key"}')
                mode = stand_in._next_failure(url.path)
                stand_in.requests.append((time.monotonic(), url.path, query, mode or "ok"))
                if mode in ("429", "500", "502", "503"):
                    return self._send(int(mode), b'{"message": "try again"}',
                                      {"Retry-After": "0"} if mode == "429" else None)
                if mode == "drop":
                    self.close_connection = True
                    return
                body = stand_in._body(url.path, query)
                if body is None:
                    return self._send(404, b'{"message": "no such resource"}')
                data = json.dumps(body).encode()
                if mode == "timeout":
                    time.sleep(stand_in.slow_seconds)
                if mode == "malformed":
                    data = data[: len(data) // 2]
                try:
                    self._send(200, data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="external-api-stand-in", daemon=True)
        self._thread.start()
        return self

    def _body(self, path: str, query: dict[str, list[str]]) -> dict[str, Any] | None:
        if path == "/weather":
            store = query.get("store_id", ["?"])[0]
            seed = sum(map(ord, store))
            return {"items": [{"store_id": store, "lat": float(query.get("lat", ["0"])[0]),
                               "lon": float(query.get("lon", ["0"])[0]), "temperature_c": round(-5 + seed % 35, 1),
                               "precipitation_mm": round((seed % 7) * 0.8, 1), "condition": ("sun", "rain", "snow")[seed % 3]}],
                    "next_page": None}
        if path in ("/competitor-prices", "/promotions"):
            page = int(query.get("page", ["1"])[0])
            if not 1 <= page <= self.pages:
                return {"items": [], "next_page": None}
            make = _competitor_page if path == "/competitor-prices" else _promotion_page
            return {"items": make(page, self.page_size), "next_page": page + 1 if page < self.pages else None}
        return None

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ExternalApiStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
