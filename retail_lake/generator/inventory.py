"""Inventory movements consistent with the sales: every sold line moves stock, low stock is replenished.

Per store x SKU the on-hand count starts from an opening stock (`InventoryMovements.opening_on_hand`)
and changes only through the movements emitted here, so `on_hand_after` of each movement equals the
previous one plus its `delta` and is never negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retail_lake.generator.formatting import TimestampFormatter
from retail_lake.generator.pos import PosSales
from retail_lake.generator.reference import ReferenceData
from retail_lake.generator.timeline import MS_PER_HOUR, Calendar

REASONS = ("sale", "receipt", "shrink", "transfer", "adjustment")
SALE, RECEIPT, SHRINK, TRANSFER, ADJUSTMENT = range(5)
# Occasional movements, per sold line.
SHRINK_PER_LINE = 0.012
TRANSFER_OUT_PER_LINE = 0.004
TRANSFER_IN_PER_LINE = 0.004
CYCLE_COUNT_PER_LINE = 0.006
CASE_PACK = 6
RECEIPT_HOUR = 5  # deliveries are booked at 05:00 local the day after the order


@dataclass
class InventoryMovements:
    utc_ms: np.ndarray
    store: np.ndarray
    sku: np.ndarray
    day: np.ndarray
    delta: np.ndarray
    reason: np.ndarray
    on_hand_after: np.ndarray
    reference_ids: list[str | None]
    opening_on_hand: dict[tuple[int, int], int]  # (store, sku) -> units before the first movement

    @property
    def n(self) -> int:
        return int(self.utc_ms.size)


def _occasional(rng, sales: PosSales, cal: Calendar, ref: ReferenceData, share: float, hours: tuple[float, float]):
    """Movements of random sold (store, SKU) pairs on random days, at local times within `hours`."""
    n_lines = sales.line_sku.size
    n = int(rng.poisson(share * n_lines)) if n_lines else 0
    rows = rng.integers(0, n_lines, size=n)
    line_sale = sales.line_sale[rows]
    store, sku = sales.store[line_sale], sales.line_sku[rows]
    day = rng.integers(0, len(cal.days), size=n)
    lo, hi = hours
    local = ((lo + (hi - lo) * rng.random(n)) * MS_PER_HOUR).astype(np.int64)
    return store, sku, day, cal.midnight_utc_ms[store, day] + local


def simulate_inventory(rng: np.random.Generator, sales: PosSales, ref: ReferenceData, cal: Calendar) -> InventoryMovements:
    n_skus, n_days = len(ref.products), len(cal.days)
    line_sale = sales.line_sale
    parts = [(sales.store[line_sale], sales.line_sku, sales.day[line_sale], sales.line_movement_ms(),
              np.full(line_sale.size, SALE), -sales.line_qty, line_sale)]
    for kind, share, hours, sign in (
        (SHRINK, SHRINK_PER_LINE, (8.0, 21.0), -1),
        (TRANSFER, TRANSFER_OUT_PER_LINE, (10.0, 16.0), -1),
        (TRANSFER, TRANSFER_IN_PER_LINE, (10.0, 16.0), 1),
        (ADJUSTMENT, CYCLE_COUNT_PER_LINE, (22.5, 23.5), 0),
    ):
        store, sku, day, t = _occasional(rng, sales, cal, ref, share, hours)
        size = rng.integers(1, 5, size=store.size) if sign else rng.choice([-3, -2, -1, 1, 2], size=store.size)
        parts.append((store, sku, day, t, np.full(store.size, kind), size * (sign or 1), np.full(store.size, -1)))
    store, sku, day, t, kind, want, sale_idx = (np.concatenate(col) for col in zip(*parts))
    group = store * n_skus + sku
    order = np.lexsort((t, group))

    # reorder policy per store x SKU, sized on expected daily unit sales
    lines_per_store_day = sales.line_sku.size / max(1, len(ref.stores) * n_days)
    expected = lines_per_store_day * ref.store_weight[store] * ref.popularity[sku] * 1.35
    reorder_point = np.ceil(2 * expected).astype(np.int64) + 2
    order_up_to = reorder_point + np.ceil(5 * expected).astype(np.int64) + CASE_PACK
    opening = reorder_point + 1 + (rng.random(store.size) * (order_up_to - reorder_point)).astype(np.int64)

    receipt_ms = (cal.midnight_utc_ms + RECEIPT_HOUR * MS_PER_HOUR).tolist()  # [store][day]
    store_ids = ref.store_ids
    booked: list[tuple] = []  # (time, store, sku, day, delta, reason, on_hand_after, reference_id)
    book = booked.append
    openings: dict[tuple[int, int], int] = {}
    n_po = n_tr = 0
    tids = sales.transaction_ids
    ymd = [d.strftime("%Y%m%d") for d in cal.days]
    current = -1
    on_hand = pending_at = pending_qty = pending_day = rp = up_to = 0
    last_s = last_k = 0
    cols = [a[order].tolist() for a in (group, store, sku, day, t, kind, want, sale_idx, reorder_point,
                                        order_up_to, opening)]

    for g, s, k, d, ts, kd, w, si, r, u, op in zip(*cols):
        if g != current:
            if pending_at:  # the last order of the previous store x SKU still arrives inside the window
                n_po += 1
                book((pending_at, last_s, last_k, pending_day, pending_qty, RECEIPT, on_hand + pending_qty,
                      f"PO-{store_ids[last_s]}-{n_po:06d}"))
            current, on_hand, pending_at, rp, up_to, last_s, last_k = g, op, 0, r, u, s, k
            openings[(s, k)] = op
        if pending_at and pending_at <= ts:
            on_hand += pending_qty
            n_po += 1
            book((pending_at, s, k, pending_day, pending_qty, RECEIPT, on_hand, f"PO-{store_ids[s]}-{n_po:06d}"))
            pending_at = 0
        if kd == SALE:
            if on_hand + w < 0:  # the books say less than was sold: a count correction comes first
                fix = -(on_hand + w)
                on_hand += fix
                book((ts - 1, s, k, d, fix, ADJUSTMENT, on_hand, f"CC-{store_ids[s]}-{ymd[d]}"))
            delta, ref_id = w, tids[si]
        else:
            delta = max(w, -on_hand)
            if delta == 0:
                continue
            if kd == TRANSFER:
                n_tr += 1
                ref_id = f"TR-{n_tr:07d}"
            elif kd == ADJUSTMENT:
                ref_id = f"CC-{store_ids[s]}-{ymd[d]}"
            else:
                ref_id = None
        on_hand += delta
        book((ts, s, k, d, delta, kd, on_hand, ref_id))
        if on_hand <= rp and not pending_at and d + 1 < n_days:
            pending_day = d + 1
            pending_at = receipt_ms[s][pending_day]
            pending_qty = -(-(up_to - on_hand) // CASE_PACK) * CASE_PACK
    if pending_at:
        n_po += 1
        book((pending_at, last_s, last_k, pending_day, pending_qty, RECEIPT, on_hand + pending_qty,
              f"PO-{store_ids[last_s]}-{n_po:06d}"))
    o_time, o_store, o_sku, o_day, o_delta, o_reason, o_after, o_ref = (
        zip(*booked) if booked else ([] for _ in range(8))
    )
    return InventoryMovements(
        utc_ms=np.array(o_time, dtype=np.int64), store=np.array(o_store, dtype=np.int64),
        sku=np.array(o_sku, dtype=np.int64), day=np.array(o_day, dtype=np.int64),
        delta=np.array(o_delta, dtype=np.int64), reason=np.array(o_reason, dtype=np.int64),
        on_hand_after=np.array(o_after, dtype=np.int64), reference_ids=list(o_ref), opening_on_hand=openings,
    )


def render_movements(mv: InventoryMovements, ref: ReferenceData, cal: Calendar, fmt: TimestampFormatter,
                     event_ids: list[str]) -> list[str]:
    times = fmt.format(mv.utc_ms, cal.offset_minutes[mv.store, mv.day])
    store_ids, sku_ids = ref.store_ids, ref.sku_ids
    return [
        f'{{"record_type":"inventory_movement","schema_version":1,"event_id":"{eid}","event_time":"{ts}",'
        f'"store_id":"{store_ids[s]}","sku":"{sku_ids[k]}","delta":{delta},"reason":"{REASONS[r]}",'
        f'"on_hand_after":{after}' + (f',"reference_id":"{rid}"}}' if rid else "}")
        for eid, ts, s, k, delta, r, after, rid in zip(
            event_ids, times, mv.store.tolist(), mv.sku.tolist(), mv.delta.tolist(), mv.reason.tolist(),
            mv.on_hand_after.tolist(), mv.reference_ids,
        )
    ]
