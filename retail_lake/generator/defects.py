"""Defect injection: exact counts per class, one class per defective line, chosen deterministically.

Extra-line classes add lines derived from a clean event (a byte copy for `duplicate`, a copy with a
fresh event id and one defect for the others). `late_event` and `out_of_order` move a clean event later
in the stream, right behind a later event of its own record type (dataset), so its event time falls behind
that event's: the dataset's arrival-order rules see every displaced event, whatever the other datasets do.

Only events that stay in place are copied or displaced, and an event other lines are emitted after (an
anchor) is never displaced, so each defective line has exactly one class and the counts per record type in
`InjectionResult.defects_by_record_type` are exact.
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
LATE_THRESHOLD_MS = 3_600_000  # the arrival lag from which an event is late (`*.event_time.late`: 3600 s)
# How far behind the newest event of its dataset a displaced event arrives, a second clear of the threshold on
# either side (no rounding of seconds moves one across it): late events by more than an hour, up to 3 days;
# out-of-order events by 1 ms to just under an hour.
LATE_MIN_MS = LATE_THRESHOLD_MS + 1_000
LATE_MAX_MS = 3 * 86_400_000
OUT_OF_ORDER_MAX_MS = LATE_THRESHOLD_MS - 1_000

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
    # record type -> defect class -> lines (by the record type of the clean event the line was made from)
    defects_by_record_type: dict[str, dict[str, int]]


def inject_defects(lines: list[str], times: np.ndarray, rtype: np.ndarray, counts: dict[str, int],
                   rng: np.random.Generator) -> InjectionResult:
    """Inject `counts` defects into `lines` (clean events sorted by `times`, of record types `rtype`)."""
    n = len(lines)
    displaced = np.zeros(n, dtype=bool)
    anchored = np.zeros(n, dtype=bool)  # positions other lines are emitted after: never displaced
    attach: dict[int, list[str]] = defaultdict(list)
    by_class = {c: np.zeros(3, dtype=np.int64) for c in DEFECT_CLASSES}
    own_positions = [np.flatnonzero(rtype == t) for t in (POS, CLICK, INVENTORY)]
    for defect_class, late in (("late_event", True), ("out_of_order", False)):
        by_class[defect_class] += _displace(rng, times, rtype, own_positions, displaced, anchored, attach, lines,
                                            counts.get(defect_class, 0), late=late)

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

    def add(anchor: int, line: str, t: int, raw: bool, defect_class: str) -> None:
        attach[anchor].append(line)
        anchored[anchor] = True
        extra_types.append(t)
        by_class[defect_class][t] += 1
        if raw:
            raw_extra[t] += 1

    # duplicates: byte copies of clean events, re-sent a little to a lot later
    for p in pick(stay, counts.get("duplicate", 0), what="duplicate"):
        gap = int(min(n - 1 - p, rng.geometric(1 / 200)))
        add(p + gap, lines[p], int(rtype[p]), raw=True, defect_class="duplicate")

    all_types = np.concatenate([by_type[POS], by_type[CLICK], by_type[INVENTORY]])
    for p in pick(all_types, counts.get("malformed_json", 0), what="malformed_json"):
        add(p, _malformed(rng, _with_fresh_id(lines[p], next(fresh_ids))), int(rtype[p]), raw=False,
            defect_class="malformed_json")
    for p in pick(all_types, counts.get("missing_required_field", 0), what="missing_required_field"):
        name = _REQUIRED[int(rtype[p])][rng.integers(0, 7)]
        add(p, _drop_field(_with_fresh_id(lines[p], next(fresh_ids)), name), int(rtype[p]), raw=False,
            defect_class="missing_required_field")
    for p in pick(all_types, counts.get("wrong_type", 0), what="wrong_type"):
        add(p, _wrong_type(rng, _with_fresh_id(lines[p], next(fresh_ids)), int(rtype[p])), int(rtype[p]), raw=False,
            defect_class="wrong_type")
    for p in pick(by_type[POS], counts.get("negative_quantity", 0), what="negative_quantity (POS)"):
        line = _with_fresh_id(lines[p], next(fresh_ids))
        add(p, re.sub(r'"quantity":(\d+)', r'"quantity":-\1', line, count=1), POS, raw=False,
            defect_class="negative_quantity")
    for p in pick(all_types, counts.get("unknown_extra_field", 0), what="unknown_extra_field"):
        extra = _EXTRA_FIELDS[rng.integers(0, len(_EXTRA_FIELDS))]
        line = _with_fresh_id(lines[p], next(fresh_ids))
        add(p, line[:-1] + extra + "}", int(rtype[p]), raw=False, defect_class="unknown_extra_field")

    sku_events = np.concatenate([by_type[POS], by_type[CLICK]])
    has_sku = lambda s: '"sku":"SKU-' in s  # noqa: E731
    for p in pick(sku_events, counts.get("unknown_sku", 0), has_sku, what="unknown_sku"):
        unknown = f"SKU-9{rng.integers(0, 100_000):05d}"
        add(p, _unknown_sku(_with_fresh_id(lines[p], next(fresh_ids)), unknown, int(rtype[p])), int(rtype[p]),
            raw=True, defect_class="unknown_sku")
    searches = pick(by_type[CLICK], counts.get("raw_card_number", 0), lambda s: '"search_query":"' in s,
                    what="raw_card_number (clickstream searches)")
    for p, pan in zip(searches, card_numbers(rng, len(searches))):
        line = _with_fresh_id(lines[p], next(fresh_ids))
        line = re.sub(r'"search_query":"[^"]*","page_url":"([^"?]*)\?q=[^"]*"',
                      lambda m: f'"search_query":"{pan}","page_url":"{m.group(1)}"', line, count=1)
        add(p, line, CLICK, raw=True, defect_class="raw_card_number")

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
        defects_by_record_type={RECORD_TYPES[t]: {c: int(by_class[c][t]) for c in DEFECT_CLASSES} for t in range(3)},
    )


def _random_order(rng: np.random.Generator, size: int, k: int):
    """Distinct random positions in [0, size): a cheap oversample first, the full permutation if needed."""
    if size == 0:
        return
    sample = rng.integers(0, size, size=min(size, 4 * k + 64)).tolist()
    yield from dict.fromkeys(sample)
    yield from rng.permutation(size).tolist()  # repeats are harmless: callers skip what they have used


def _displace(rng, times, rtype, own_positions, displaced, anchored, attach, lines, k: int,
              late: bool) -> np.ndarray:
    """Move `k` clean events right behind a later event of their own record type: one more than an hour (up to
    3 days) later (late), or one of their next few, less than an hour later (out of order). Returns the count
    per record type.

    The event it lands behind (its anchor) stays in place and is the newest of its record type when the
    moved event arrives (the stream is in time order and every moved event is older than its anchor), so
    the moved event arrives exactly `times[anchor] - times[p]` behind its dataset. Events with no later
    event of their type far enough ahead (the last ones of a dataset, ties in time) are not chosen.
    """
    n = times.size
    moved = np.zeros(3, dtype=np.int64)
    if k == 0:
        return moved
    rank = np.empty(n, dtype=np.int64)  # position of each event among the events of its record type
    for positions in own_positions:
        rank[positions] = np.arange(positions.size)
    own_times = [times[positions] for positions in own_positions]
    done = 0
    batch = 4 * k + 64
    delays = np.exp(rng.uniform(np.log(LATE_MIN_MS), np.log(LATE_MAX_MS), size=batch)).astype(np.int64)
    steps = rng.integers(1, 6, size=batch)
    for j, p in enumerate(_random_order(rng, n, k)):
        if displaced[p] or anchored[p]:
            continue
        t = int(rtype[p])
        positions = own_positions[t]
        if late:
            i = int(np.searchsorted(own_times[t], times[p] + delays[j % batch], side="left"))
        else:
            i = int(rank[p]) + int(steps[j % batch])
        while i < positions.size and displaced[positions[i]]:
            i += 1
        if i >= positions.size:
            continue
        anchor = int(positions[i])
        behind = times[anchor] - times[p]
        if not (behind >= LATE_MIN_MS if late else 0 < behind <= OUT_OF_ORDER_MAX_MS):
            continue
        displaced[p] = True
        anchored[anchor] = True
        attach[anchor].append(lines[p])
        moved[t] += 1
        done += 1
        if done == k:
            return moved
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
