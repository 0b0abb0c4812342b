"""Fast, vectorised text pieces of events: ids and ISO 8601 timestamps."""

from __future__ import annotations

import datetime as dt

import numpy as np

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_MS_PER_DAY = 86_400_000
_EPOCH = dt.date(1970, 1, 1)


def uuid4_strings(rng: np.random.Generator, n: int) -> list[str]:
    """`n` random version-4 UUIDs in canonical text form, drawn from `rng` (deterministic)."""
    if n == 0:
        return []
    hex_chars = np.frombuffer(rng.bytes(16 * n).hex().encode("ascii"), dtype=np.uint8).reshape(n, 32).copy()
    hex_chars[:, 12] = ord("4")  # version 4
    hex_chars[:, 16] = _HEX[8 + (hex_chars[:, 16] & 3)]  # RFC 4122 variant: 8, 9, a or b
    chars = np.full((n, 36), ord("-"), dtype=np.uint8)
    chars[:, 0:8] = hex_chars[:, 0:8]
    chars[:, 9:13] = hex_chars[:, 8:12]
    chars[:, 14:18] = hex_chars[:, 12:16]
    chars[:, 19:23] = hex_chars[:, 16:20]
    chars[:, 24:36] = hex_chars[:, 20:32]
    text = chars.tobytes().decode("ascii")
    return [text[i : i + 36] for i in range(0, 36 * n, 36)]


def epoch_day(day: dt.date) -> int:
    return (day - _EPOCH).days


def _offset_text(minutes: int) -> str:
    if minutes == 0:
        return "Z"
    sign = "+" if minutes > 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


class TimestampFormatter:
    """Formats UTC epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmm±HH:MM` (or `Z`), with lookup tables."""

    def __init__(self, first_day: dt.date, last_day: dt.date):
        self._first = epoch_day(first_day) - 2
        n_days = (last_day - first_day).days + 5
        self._dates = [(first_day + dt.timedelta(days=d - 2)).isoformat() + "T" for d in range(n_days)]
        self._hms = [f"{h:02d}:{m:02d}:{s:02d}." for h in range(24) for m in range(60) for s in range(60)]
        self._ms = [f"{m:03d}" for m in range(1000)]
        self._offsets: dict[int, str] = {}

    def format(self, utc_ms: np.ndarray, offset_minutes: np.ndarray | int = 0) -> list[str]:
        local = np.asarray(utc_ms, dtype=np.int64) + np.asarray(offset_minutes, dtype=np.int64) * 60_000
        day = local // _MS_PER_DAY - self._first
        if local.size and (day.min() < 0 or day.max() >= len(self._dates)):
            raise ValueError("timestamp outside the generated date range")
        in_day = local % _MS_PER_DAY
        sec = (in_day // 1000).tolist()
        ms = (in_day % 1000).tolist()
        dates, hms, mss = self._dates, self._hms, self._ms
        if np.ndim(offset_minutes) == 0:
            off = self._offset(int(offset_minutes))
            return [f"{dates[d]}{hms[s]}{mss[m]}{off}" for d, s, m in zip(day.tolist(), sec, ms)]
        unique, inverse = np.unique(np.asarray(offset_minutes), return_inverse=True)
        texts = [self._offset(int(u)) for u in unique]
        offs = [texts[i] for i in inverse.ravel().tolist()]
        return [f"{dates[d]}{hms[s]}{mss[m]}{o}" for d, s, m, o in zip(day.tolist(), sec, ms, offs)]

    def _offset(self, minutes: int) -> str:
        text = self._offsets.get(minutes)
        if text is None:
            text = self._offsets[minutes] = _offset_text(minutes)
        return text


def money(cents: int) -> str:
    """Cents as a JSON number with two decimals."""
    return f"{cents // 100}.{cents % 100:02d}"
