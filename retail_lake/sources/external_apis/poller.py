"""Poll the external APIs and land every page in raw, once per poll window.

Sources (paths on the API's base URL): `weather` (GET /weather?store_id&lat&lon, one request per store),
`competitor_prices` (GET /competitor-prices?page=N, paged until `next_page` is null) and `promotions`
(GET /promotions?page=N, likewise). Every page is written as its own object,
`external_apis/<source>/dt=YYYY-MM-DD/hour=HH/<page id>.json` (JSON lines, each record with `_source`,
`_fetched_at`, `_window`), where the window is the poll's hour: a page is written only after it was received
whole and parsed, and a rerun of the same window overwrites the same keys, so a page is never lost nor landed
twice. A page that fails for good is reported (`failures`), the other pages and sources still land.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from retail_lake.sources.external_apis.client import ApiClient, ApiError

RAW_PREFIX = "external_apis/"
SOURCES = ("weather", "competitor_prices", "promotions")
MAX_PAGES = 1000


@dataclass
class PollReport:
    window: str
    pages: dict[str, int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def page_key(source: str, window: dt.datetime, page_id: str) -> str:
    return f"{RAW_PREFIX}{source}/dt={window:%Y-%m-%d}/hour={window:%H}/{page_id}.json"


def _records(body: Any, source: str) -> list[dict[str, Any]]:
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError(f"{source}: the body has no list of objects under 'items'")
    return items


class Poller:
    def __init__(self, client: ApiClient, s3: Any, raw_bucket: str, stores: list[dict[str, Any]]) -> None:
        self.client, self.s3, self.raw_bucket, self.stores = client, s3, raw_bucket, stores

    def _land(self, report: PollReport, source: str, window: dt.datetime, page_id: str,
              records: list[dict[str, Any]]) -> None:
        fetched = dt.datetime.now(dt.timezone.utc).isoformat()
        lines = [json.dumps({**r, "_source": source, "_fetched_at": fetched, "_window": report.window},
                            sort_keys=True) for r in records]
        key = page_key(source, window, page_id)
        self.s3.put_object(Bucket=self.raw_bucket, Key=key, Body=("\n".join(lines) + "\n").encode())
        report.keys.append(key)
        report.pages[source] = report.pages.get(source, 0) + 1
        report.records[source] = report.records.get(source, 0) + len(records)

    def poll(self, now: dt.datetime, sources: tuple[str, ...] = SOURCES) -> PollReport:
        window = now.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
        report = PollReport(window=window.isoformat())
        for source in sources:
            if source == "weather":
                for store in self.stores:
                    page_id = f"store-{store['store_id']}"
                    try:
                        body = self.client.get_json("/weather", {"store_id": store["store_id"],
                                                                 "lat": str(store["latitude"]),
                                                                 "lon": str(store["longitude"])})
                        self._land(report, source, window, page_id, _records(body, source))
                    except (ApiError, ValueError) as error:
                        report.failures.append({"source": source, "page": page_id, "error": str(error)})
                continue
            path = {"competitor_prices": "/competitor-prices", "promotions": "/promotions"}[source]
            page: int | None = 1
            while page is not None and page <= MAX_PAGES:
                page_id = f"page-{page:05d}"
                try:
                    body = self.client.get_json(path, {"page": str(page)})
                    self._land(report, source, window, page_id, _records(body, source))
                except (ApiError, ValueError) as error:
                    # the next page is only known from this one: the source stops here and is retried next window
                    report.failures.append({"source": source, "page": page_id, "error": str(error)})
                    break
                following = body.get("next_page")
                page = int(following) if isinstance(following, int) and following > page else None
        return report
