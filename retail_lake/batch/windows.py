"""Which partitions a batch run for one business date reads and rewrites (pure dates, no Spark).

Raw files are partitioned by ingestion date (`dt`, UTC); curated and analytics tables by `event_date`
(the store's local date, UTC for clickstream). The two differ: a 23:30 sale in New York is ingested the
next UTC day, and late events arrive days after they happened. A run for business date D therefore:

- rewrites the event dates D - late_days .. D (dynamic partition overwrite, never append), so an event
  arriving up to `late_days` late is picked up by a later run and lands in its own event date;
- reads every raw ingestion date that can hold events of those dates: from the first of them minus one
  day (local dates start up to 14 hours before UTC ones) to D + 1 (local evenings are ingested the next
  UTC day), and deduplicates over all of it before keeping the event dates it rewrites.

Given the same raw files, a rerun of D rewrites the same partitions with the same rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

DEFAULT_LATE_DAYS = 3
BACKFILL_FIRST_EVENT_DATE = dt.date(2000, 1, 1)  # a backfill rewrites every event date up to the run date


@dataclass(frozen=True)
class RunWindow:
    run_date: dt.date
    first_event_date: dt.date  # event-date partitions rewritten: first_event_date .. last_event_date
    last_event_date: dt.date
    first_raw_dt: dt.date  # raw ingestion partitions read: first_raw_dt .. last_raw_dt
    last_raw_dt: dt.date

    @property
    def event_dates(self) -> list[dt.date]:
        return _days(self.first_event_date, self.last_event_date)

    def first_rewritten(self, backfill: bool) -> dt.date:
        """The first event date a run rewrites (the curated and analytics jobs) and the quality gate judges: the
        window's, or every date before the run date when the run replays history (`--backfill true`)."""
        return BACKFILL_FIRST_EVENT_DATE if backfill else self.first_event_date

    @property
    def raw_dts(self) -> list[str]:
        """The raw zone's `dt=` partition values to read, YYYY-MM-DD."""
        return [d.isoformat() for d in _days(self.first_raw_dt, self.last_raw_dt)]


def run_window(run_date: dt.date | str, late_days: int = DEFAULT_LATE_DAYS) -> RunWindow:
    """The partitions a batch run for business date `run_date` reads and rewrites (see module docstring)."""
    if isinstance(run_date, str):
        try:
            run_date = dt.date.fromisoformat(run_date)
        except ValueError:
            raise ValueError(f"run date {run_date!r} is not a date: pass YYYY-MM-DD") from None
    if late_days < 0:
        raise ValueError(f"late_days must be 0 or more, got {late_days}")
    first = run_date - dt.timedelta(days=late_days)
    return RunWindow(
        run_date=run_date,
        first_event_date=first,
        last_event_date=run_date,
        first_raw_dt=first - dt.timedelta(days=1),
        last_raw_dt=run_date + dt.timedelta(days=1),
    )


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
