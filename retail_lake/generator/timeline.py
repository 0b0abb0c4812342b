"""When things happen: the calendar of the generated window, seasonality profiles and store clocks."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

import numpy as np

from retail_lake.generator.formatting import epoch_day

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000

# Monday..Sunday traffic multipliers for stores and for the web shop.
STORE_WEEKDAY = np.array([0.85, 0.80, 0.85, 0.95, 1.15, 1.35, 1.05])
WEB_WEEKDAY = np.array([1.10, 1.00, 0.98, 0.97, 0.92, 0.95, 1.08])

# Share of a store's transactions by local hour (stores are closed outside their opening hours).
STORE_HOURLY = np.array(
    [0, 0, 0, 0, 0, 0, 0.6, 1.4, 2.6, 3.8, 5.0, 6.6, 8.2, 7.6, 6.4, 6.0, 6.8, 8.0, 8.4, 7.2, 5.6, 3.8, 2.2, 1.0]
)
# Share of web/app sessions by the visitor's local hour.
WEB_HOURLY = np.array(
    [1.6, 1.0, 0.6, 0.4, 0.35, 0.5, 1.0, 2.0, 3.0, 3.6, 4.0, 4.3, 4.8, 4.8, 4.5, 4.4, 4.6, 5.0, 5.6, 6.4, 7.2, 7.4, 6.0, 3.6]
)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def holiday_factors(day: dt.date) -> tuple[float, float]:
    """(store, web) traffic multipliers for US retail peak and closure days."""
    thanksgiving = _nth_weekday(day.year, 11, 3, 4)
    if day == thanksgiving:
        return 0.30, 1.40
    if day == thanksgiving + dt.timedelta(days=1):  # Black Friday
        return 2.40, 2.20
    if day == thanksgiving + dt.timedelta(days=4):  # Cyber Monday
        return 1.10, 2.80
    if day == dt.date(day.year, 12, 24):
        return 1.60, 0.80
    if day == dt.date(day.year, 12, 25):
        return 0.05, 0.60
    if dt.date(day.year, 12, 10) <= day <= dt.date(day.year, 12, 23):
        return 1.30, 1.25
    return 1.0, 1.0


@dataclass(frozen=True)
class Calendar:
    """The generated days and, per store and day, the store's UTC offset and local midnight in UTC."""

    days: tuple[dt.date, ...]
    store_day_weight: np.ndarray  # (days,) store traffic multiplier
    web_day_weight: np.ndarray  # (days,) web traffic multiplier
    offset_minutes: np.ndarray  # (stores, days + 1) UTC offset of the store's clock at local noon
    midnight_utc_ms: np.ndarray  # (stores, days + 1) local midnight of each day as UTC epoch ms

    @property
    def window_end_ms(self) -> int:
        """Latest instant activity may have: local midnight after the last day at the westernmost store."""
        return int(self.midnight_utc_ms[:, -1].max())


def build_calendar(start: dt.date, n_days: int, store_timezones: list[str]) -> Calendar:
    days = tuple(start + dt.timedelta(days=d) for d in range(n_days))
    store_w = np.array([STORE_WEEKDAY[d.weekday()] * holiday_factors(d)[0] for d in days])
    web_w = np.array([WEB_WEEKDAY[d.weekday()] * holiday_factors(d)[1] for d in days])
    zones = {name: zoneinfo.ZoneInfo(name) for name in sorted(set(store_timezones))}
    all_days = days + (start + dt.timedelta(days=n_days),)
    offsets_by_zone = {
        name: [
            int(dt.datetime(d.year, d.month, d.day, 12, tzinfo=zone).utcoffset().total_seconds() // 60)
            for d in all_days
        ]
        for name, zone in zones.items()
    }
    offsets = np.array([offsets_by_zone[name] for name in store_timezones], dtype=np.int64).reshape(
        len(store_timezones), len(all_days)
    )
    local_midnight = np.array([epoch_day(d) for d in all_days], dtype=np.int64) * MS_PER_DAY
    midnight_utc = local_midnight[None, :] - offsets * 60_000
    return Calendar(days, store_w, web_w, offsets, midnight_utc)


def draw_hour_ms(rng: np.random.Generator, profile: np.ndarray, n: int) -> np.ndarray:
    """Milliseconds after local midnight, hour drawn from `profile`, uniform within the hour."""
    hours = rng.choice(24, size=n, p=profile / profile.sum())
    return hours.astype(np.int64) * MS_PER_HOUR + rng.integers(0, MS_PER_HOUR, size=n)


def store_hours_profile(opens: int, closes: int) -> np.ndarray:
    """STORE_HOURLY restricted to [opens, closes)."""
    profile = STORE_HOURLY.copy()
    profile[:opens] = 0
    profile[closes:] = 0
    profile[opens:closes] = np.maximum(profile[opens:closes], 0.4)
    return profile
