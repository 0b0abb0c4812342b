"""An HTTP JSON client for third-party APIs: per-request timeout, retries with exponential backoff and full jitter
on 429, 5xx, timeouts, connection errors and malformed bodies (honouring `Retry-After`), and a token-bucket rate
limit shared by every request of the client. Standard library only (it runs in Lambda without a layer).

    client = ApiClient("https://api.example.com", api_key=..., rate_per_second=5, timeout=5)
    body = client.get_json("/weather", {"lat": "40.7", "lon": "-74.0"})     # or raises ApiError
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class ApiError(RuntimeError):
    """A request that failed for good: a non-retryable status, or retries exhausted. `attempts` lists why each
    attempt failed."""

    def __init__(self, message: str, attempts: list[str]) -> None:
        super().__init__(f"{message} (attempts: {'; '.join(attempts)})")
        self.attempts = attempts


class TokenBucket:
    """At most `rate` requests per second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int = 1, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate_per_second must be positive")
        self.rate, self.capacity, self._clock, self._sleep = rate, float(burst), clock, sleep
        self._tokens, self._updated = float(burst), clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
            self._tokens -= 1  # may go negative: the debt is the wait just computed
        if wait > 0:
            self._sleep(wait)


@dataclass
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 20.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        jittered = rng.uniform(0, backoff)  # full jitter
        return min(self.max_delay, max(jittered, retry_after or 0.0))


@dataclass
class ApiClient:
    base_url: str
    api_key: str | None = None
    timeout: float = 5.0
    rate_per_second: float = 5.0
    burst: int = 1
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    seed: int | None = None
    stats: dict[str, int] = field(default_factory=lambda: {"requests": 0, "retries": 0})

    def __post_init__(self) -> None:
        self._bucket = TokenBucket(self.rate_per_second, self.burst)
        self._rng = random.Random(self.seed)

    def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        url = self.base_url.rstrip("/") + path + ("?" + urllib.parse.urlencode(params) if params else "")
        attempts: list[str] = []
        for attempt in range(1, self.retry.max_attempts + 1):
            retry_after: float | None = None
            self._bucket.acquire()
            self.stats["requests"] += 1
            request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                          **({"x-api-key": self.api_key} if self.api_key else {})})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read()
                try:
                    return json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as error:
                    attempts.append(f"malformed body ({error.msg if hasattr(error, 'msg') else error})")
            except urllib.error.HTTPError as error:
                if error.code not in RETRYABLE_STATUS:
                    attempts.append(f"HTTP {error.code}")
                    raise ApiError(f"GET {path}: HTTP {error.code} is not retryable", attempts) from None
                attempts.append(f"HTTP {error.code}")
                retry_after = _retry_after(error.headers.get("Retry-After"))
            except (TimeoutError, socket.timeout):
                attempts.append(f"timeout after {self.timeout}s")
            except urllib.error.URLError as error:
                if isinstance(error.reason, (TimeoutError, socket.timeout)):
                    attempts.append(f"timeout after {self.timeout}s")
                else:
                    attempts.append(f"connection error ({error.reason})")
            except (ConnectionError, http.client.HTTPException) as error:
                attempts.append(f"connection error ({type(error).__name__})")
            if attempt < self.retry.max_attempts:
                self.stats["retries"] += 1
                self.sleep(self.retry.delay(attempt, retry_after, self._rng))
        raise ApiError(f"GET {path}: gave up after {self.retry.max_attempts} attempts", attempts)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to the backoff
