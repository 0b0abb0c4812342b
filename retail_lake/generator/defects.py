"""Defect injection: exact counts per class, one class per defective line, chosen deterministically.

Extra-line classes add lines derived from a clean event (a byte copy for `duplicate`, a copy with a
fresh event id and one defect for the others). `late_event` and `out_of_order` move a clean event later
in the stream, so its event time falls behind events emitted before it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from retail_lake.generator.cards import card_numbers
from retail_lake.generator.config import DEFECT_CLASSES
from retail_lake.generator.formatting import uuid4_strings

POS, CLICK, INVENTORY = 0, 1, 2
RECORD_TYPES = ("pos_sale", "clickstream", "inventory_movement")
LATE_MIN_MS = 3_600_000  # a late event is at least an hour behind the stream
LATE_MAX_MS = 3 * 86_400_000
OUT_OF_ORDER_MAX_MS = LATE_MIN_MS - 1

# What the stream Lambda does with each class: (outcome, quarantine reason).
DEFECT_OUTCOMES: dict[str, tuple[str, str | None]] = {
    "duplicate": ("raw", None),  # stored; the curated zone dedupes on event_id
    "malformed_json": ("quarantine", "malformed_json"),
    "missing_required_field": ("quarantine", "missing_field"),
    "wrong_type": ("quarantine", "wrong_type"),
    "negative_quantity": ("quarantine", "invalid_value"),
    "unknown_sku": ("raw", None),  # referential integrity is checked in curated
    "late_event": ("raw", None),
    "out_of_order": ("raw", None),
    "unknown_extra_field": ("quarantine", "unknown_field"),
    "raw_card_number": ("raw", None),  # stored with the number masked
}

_REQUIRED = {
    POS: ("event_id", "event_time", "transaction_id", "store_id", "register_id", "tender_type", "currency"),
    CLICK: ("event_id", "event_time", "session_id", "anonymous_id", "event_type", "page_url", "device"),
    INVENTORY: ("event_id", "event_time", "store_id", "sku", "delta", "reason", "on_hand_after"),
}
_EXTRA_FIELDS = (
    ',"debug":true', ',"source_system":"gateway-2"', ',"replayed":1', ',"coupon_code":"SAVE10"', ',"_ts":1793000000',
)
_FIELD_VALUE = r'("[^"]*"|-?\d+(\.\d+)?)'


@dataclass
class InjectionResult:
    lines: list[str]
    defects: dict[str, int]
    lines_by_record_type: dict[str, int]
    raw_by_record_type: dict[str, int]


def inject_defects(lines: list[str], times: np.ndarray, rtype: np.ndarray, counts: dict[str, int],
                   rng: np.random.Generator) -> InjectionResult:
    n = len(lines)
    displaced = np.zeros(n, dtype=bool)
    anchored = np.zeros(n, dtype=bool)  # positions other lines are emitted after: never displaced
    attach: dict[int, list[str]] = defaultdict(list)
    _displace(rng, times, displaced, anchored, attach, lines, counts.get("late_event", 0), late=True)
    _displace(rng, times, displaced, anchored, attach, lines, counts.get("out_of_order", 0), late=False)

    stay = np.flatnonzero(~displaced)
    by_type = {t: stay[rtype[stay] == t] for t in (POS, CLICK, INVENTORY)}
    fresh_ids = iter(uuid4_strings(rng, sum(counts.values()) + 1))
    extra_types: list[int] = []
    raw_extra = np.zeros(3, dtype=np.int64)

    def pick(candidates: np.ndarray, k: int, accept=None, what: str = "") -> list[int]:
        """`k` distinct random positions among `candidates` whose line passes `accept`."""
        if k == 0:
            return []
        chosen: list[int] = []
        taken: set[int] = set()
        for idx in _random_order(rng, candidates.size, k):
            p = int(candidates[idx])
            if p not in taken and (accept is None or accept(lines[p])):
                taken.add(p)
                chosen.append(p)
                if len(chosen) == k:
                    return sorted(chosen)
        raise ValueError(f"only {len(chosen)} events can carry {what} defects, {k} asked: generate more events")

    def add(anchor: int, line: str, t: int, raw: bool) -> None:
        attach[anchor].append(line)
        anchored[anchor] = True
        extra_types.append(t)
        if raw:
            raw_extra[t] += 1

    # duplicates: byte copies of clean events, re-sent a little to a lot later
    for p in pick(stay, counts.get("duplicate", 0), what="duplicate"):
        gap = int(min(n - 1 - p, rng.geometric(1 / 200)))
        add(p + gap, lines[p], int(rtype[p]), raw=True)

    all_types = np.concatenate([by_type[POS], by_type[CLICK], by_type[INVENTORY]])
    for p in pick(all_types, counts.get("malformed_json", 0), what="malformed_json"):
        add(p, _malformed(rng, _with_fresh_id(lines[p], next(fresh_ids))), int(rtype[p]), raw=False)
    for p in pick(all_types, counts.get("missing_required_field", 0), what="missing_required_field"):
        name = _REQUIRED[int(rtype[p])][rng.integers(0, 7)]
        add(p, _drop_field(_with_fresh_id(lines[p], next(fresh_ids)), name), int(rtype[p]), raw=False)
    for p in pick(all_types, counts.get("wrong_type", 0), what="wrong_type"):
        add(p, _wrong_type(rng, _with_fresh_id(lines[p], next(fresh_ids)), int(rtype[p])), int(rtype[p]), raw=False)
    for p in pick(by_type[POS], counts.get("negative_quantity", 0), what="negative_quantity (POS)"):
        line = _with_fresh_id(lines[p], next(fresh_ids))
        add(p, re.sub(r'"quantity":(\d+)', r'"quantity":-\1', line, count=1), POS, raw=False)
    for p in pick(all_types, counts.get("unknown_extra_field", 0), what="unknown_extra_field"):
        extra = _EXTRA_FIELDS[rng.integers(0, len(_EXTRA_FIELDS))]
        line = _with_fresh_id(lines[p], next(fresh_ids))
        add(p, line[:-1] + extra + "}", int(rtype[p]), raw=False)

    sku_events = np.concatenate([by_type[POS], by_type[CLICK]])
    has_sku = lambda s: '"sku":"SKU-' in s  # noqa: E731
    for p in pick(sku_events, counts.get("unknown_sku", 0), has_sku, what="unknown_sku"):
        unknown = f"SKU-9{rng.integers(0, 100_000):05d}"
        add(p, _unknown_sku(_with_fresh_id(lines[p], next(fresh_ids)), unknown, int(rtype[p])), int(rtype[p]),
            raw=True)
    searches = pick(by_type[CLICK], counts.get("raw_card_number", 0), lambda s: '"search_query":"' in s,
                    what="raw_card_number (clickstream searches)")
    for p, pan in zip(searches, card_numbers(rng, len(searches))):
        line = _with_fresh_id(lines[p], next(fresh_ids))
        line = re.sub(r'"search_query":"[^"]*","page_url":"([^"?]*)\?q=[^"]*"',
                      lambda m: f'"search_query":"{pan}","page_url":"{m.group(1)}"', line, count=1)
        add(p, line, CLICK, raw=True)

    emit: list[str | None] = list(lines)
    for p in np.flatnonzero(displaced).tolist():
        emit[p] = None
    out: list = []
    previous = 0
    for anchor in sorted(attach):
        out.extend(emit[previous : anchor + 1])
        out.extend(attach[anchor])
        previous = anchor + 1
    out.extend(emit[previous:])
    if displaced.any():
        out = [line for line in out if line is not None]
    line_types = np.bincount(np.r_[rtype, np.array(extra_types, dtype=np.int64)], minlength=3)
    raw_types = np.bincount(rtype, minlength=3) + raw_extra
    return InjectionResult(
        lines=out,
        defects={c: int(counts.get(c, 0)) for c in DEFECT_CLASSES},
        lines_by_record_type={RECORD_TYPES[t]: int(line_types[t]) for t in range(3)},
        raw_by_record_type={RECORD_TYPES[t]: int(raw_types[t]) for t in range(3)},
    )


def _random_order(rng: np.random.Generator, size: int, k: int):
    """Distinct random positions in [0, size): a cheap oversample first, the full permutation if needed."""
    if size == 0:
        return
    sample = rng.integers(0, size, size=min(size, 4 * k + 64)).tolist()
    yield from dict.fromkeys(sample)
    yield from rng.permutation(size).tolist()  # repeats are harmless: callers skip what they have used


def _displace(rng, times, displaced, anchored, attach, lines, k: int, late: bool) -> None:
    """Move `k` clean events later: hours to days (late) or a few events, under an hour (out of order)."""
    n = times.size
    if k == 0:
        return
    done = 0
    batch = 4 * k + 64
    delays = np.exp(rng.uniform(np.log(LATE_MIN_MS), np.log(LATE_MAX_MS), size=batch)).astype(np.int64)
    steps = rng.integers(1, 6, size=batch)
    for j, p in enumerate(_random_order(rng, n, k)):
        if displaced[p] or anchored[p]:
            continue
        if late:
            anchor = int(np.searchsorted(times, times[p] + delays[j % batch], side="left"))
        else:
            anchor = p + int(steps[j % batch])
        while anchor < n and displaced[anchor]:
            anchor += 1
        if anchor >= n:
            continue
        behind = times[anchor] - times[p]
        if not (behind >= LATE_MIN_MS if late else 0 < behind <= OUT_OF_ORDER_MAX_MS):
            continue
        displaced[p] = True
        anchored[anchor] = True
        attach[anchor].append(lines[p])
        done += 1
        if done == k:
            return
    kind = "late_event" if late else "out_of_order"
    raise ValueError(f"only {done} events can be made {kind}, {k} asked: generate more events or days")


def _with_fresh_id(line: str, event_id: str) -> str:
    start = line.index('"event_id":"') + 12
    return line[:start] + event_id + line[start + 36 :]


def _malformed(rng, line: str) -> str:
    variant = int(rng.integers(0, 4))
    if variant == 0:  # truncated in flight
        return line[: int(rng.integers(len(line) // 4, len(line) - 1))]
    if variant == 1:  # a producer that writes Python reprs
        return line.replace('"', "'")
    if variant == 2:  # a missing colon
        return line.replace('":', '"', 1)
    return line + "}"  # trailing garbage


def _drop_field(line: str, name: str) -> str:
    out, n = re.subn(rf',"{name}":{_FIELD_VALUE}', "", line, count=1)
    if n != 1:
        raise AssertionError(f"field {name} not found in {line[:120]}")
    return out


def _wrong_type(rng, line: str, rtype: int) -> str:
    variant = int(rng.integers(0, 2))
    if rtype == POS:
        if variant == 0:
            return re.sub(r'"quantity":(\d+)', r'"quantity":"\1"', line, count=1)
        return re.sub(r'"store_id":"ST(\d+)"', lambda m: f'"store_id":{int(m.group(1))}', line, count=1)
    if rtype == CLICK:
        if variant == 0:
            return re.sub(r'"session_id":"[^"]*"', '"session_id":48213', line, count=1)
        return re.sub(r'"device":"[^"]*"', '"device":["mobile"]', line, count=1)
    if variant == 0:
        return re.sub(r'"delta":(-?\d+)', r'"delta":"\1"', line, count=1)
    return re.sub(r'"on_hand_after":(\d+)', r'"on_hand_after":"\1"', line, count=1)


def _unknown_sku(line: str, unknown: str, rtype: int) -> str:
    if rtype == CLICK:
        sku = re.search(r'"sku":"(SKU-\d{6})"', line).group(1)
        return line.replace(sku, unknown)
    # a POS sale with one line item of an unknown SKU; its own transaction id
    line = re.sub(r'"transaction_id":"([^"]*)"', lambda m: f'"transaction_id":"{m.group(1)}-U"', line, count=1)
    start = line.index('"line_items":[')
    return line[:start] + f'"line_items":[{{"sku":"{unknown}","quantity":1,"unit_price":9.99,"discount":0.00}}]}}'
