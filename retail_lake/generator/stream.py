"""The event stream: reference data -> POS sales -> inventory movements -> clickstream, merged by event
time, with defects injected. `generate` and `write_jsonl` are the entry points."""

from __future__ import annotations

import gc
import math
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import numpy as np

from retail_lake.contracts.registry import contract_for_record_type
from retail_lake.generator.clickstream import finish_events, plan_sessions, render_sessions
from retail_lake.generator.config import DEFECT_CLASSES, EXTRA_LINE_CLASSES, GeneratorConfig, GeneratorConfigError
from retail_lake.generator.defects import CLICK, INVENTORY, POS, inject_defects
from retail_lake.generator.formatting import TimestampFormatter, uuid4_strings
from retail_lake.generator.inventory import render_movements, simulate_inventory
from retail_lake.generator.pos import render_sales, simulate_sales
from retail_lake.generator.reference import reference_data
from retail_lake.generator.report import GenerationReport, expected_outcomes
from retail_lake.generator.seeding import rng_for
from retail_lake.generator.timeline import build_calendar

# When `events` is given: share of clean events that are store-side (POS sales and inventory movements),
# and how many store-side events one sale brings on average (itself + ~2.4 sale movements + the rest).
STORE_SIDE_SHARE = 0.55
EVENTS_PER_SALE = 3.55


class GeneratedStream:
    """The generated lines (JSON, no newline) as an iterator of bytes, with the report alongside."""

    def __init__(self, lines: list[str], report: GenerationReport):
        self.lines = lines
        self.report = report
        self._it = iter(lines)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._it).encode()

    def __len__(self) -> int:
        return len(self.lines)


def _defect_counts(config: GeneratorConfig, base: int) -> dict[str, int]:
    return {c: config.defect_count(c, base) for c in DEFECT_CLASSES}


def generate(config: GeneratorConfig) -> GeneratedStream:
    """Generate the stream for `config`; same config, byte-identical lines."""
    # Millions of short-lived strings and tuples, no reference cycles: the cyclic collector only costs time
    # here (~30% of the run), so it is paused and restored.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(config)
    finally:
        if was_enabled:
            gc.enable()


def _generate(config: GeneratorConfig) -> GeneratedStream:
    ref = reference_data(config)
    cal = build_calendar(config.start_date, config.days, [s.timezone for s in ref.stores])
    fmt = TimestampFormatter(config.start_date, config.end_date)

    if config.events is not None:
        counts = _defect_counts(config, config.events)
        clean_target = config.events - sum(counts[c] for c in EXTRA_LINE_CLASSES)
        if clean_target < 1:
            raise GeneratorConfigError(
                f"events={config.events} leaves no room for clean events next to "
                f"{sum(counts[c] for c in EXTRA_LINE_CLASSES)} defective lines: raise events or lower the defects"
            )
        n_sales = max(1, round(clean_target * STORE_SIDE_SHARE / EVENTS_PER_SALE))
    else:
        counts = None
        clean_target = None
        n_sales = max(1, round(config.transactions_per_store_day * config.stores * cal.store_day_weight.sum()))

    sales = simulate_sales(rng_for(config, "pos"), ref, cal, n_sales)
    movements = simulate_inventory(rng_for(config, "inventory"), sales, ref, cal)
    store_side = sales.n_sales + movements.n

    if clean_target is not None:
        budget = max(0, clean_target - store_side)
    else:
        budget = None
    plan_rng = rng_for(config, "sessions")
    n_planned = (
        math.ceil(budget / 3.0) + 16
        if budget is not None
        else round(config.sessions_per_store_day * config.stores * cal.web_day_weight.sum())
    )
    plan = plan_sessions(plan_rng, ref, cal, n_planned)
    while budget is not None and int(plan.length.sum()) < budget:  # rare: draw a bigger plan
        n_planned *= 2
        plan = plan_sessions(plan_rng, ref, cal, n_planned)
    click_times, click_rest = render_sessions(
        rng_for(config, "clicks"), plan, ref, cal, budget if budget is not None else int(plan.length.sum())
    )

    ids = uuid4_strings(rng_for(config, "event_ids"), store_side + len(click_rest))
    pos_lines = render_sales(sales, ref, fmt, ids[: sales.n_sales], config.currency)
    inv_lines = render_movements(movements, ref, cal, fmt, ids[sales.n_sales : store_side])
    click_lines = finish_events(click_times, click_rest, fmt, ids[store_side:])

    times = np.concatenate([sales.utc_ms, movements.utc_ms, click_times])
    rtype = np.repeat(np.array([POS, INVENTORY, CLICK]), [sales.n_sales, movements.n, len(click_lines)])
    order = np.argsort(times, kind="stable")
    if clean_target is not None and order.size > clean_target:
        order = order[:clean_target]  # tiny configs only: the store side alone overshot the target
    unsorted = pos_lines + inv_lines + click_lines
    lines = [unsorted[i] for i in order.tolist()]
    times, rtype = times[order], rtype[order]
    del unsorted

    if counts is None:
        counts = _defect_counts(config, len(lines))
    result = inject_defects(lines, times, rtype, counts, rng_for(config, "defects"))

    stamps = fmt.format(np.array([times[0], times[-1]]), 0) if times.size else [None, None]
    report = GenerationReport(
        seed=config.seed,
        total_lines=len(result.lines),
        clean_events=len(lines),
        events_by_record_type=result.lines_by_record_type,
        defects=result.defects,
        defects_by_dataset={contract_for_record_type(record_type).dataset: by_class
                            for record_type, by_class in result.defects_by_record_type.items()},
        expected=expected_outcomes(len(result.lines), result.defects, result.raw_by_record_type),
        first_event_time=stamps[0],
        last_event_time=stamps[1],
        reference={
            "stores": len(ref.stores), "products": len(ref.products), "customers": len(ref.customers),
            "promotions": len(ref.promotions),
        },
        config={k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in asdict(config).items()},
    )
    if config.events is not None and report.total_lines != config.events:
        raise AssertionError(f"generated {report.total_lines} lines, {config.events} asked")  # a bug, not input
    return GeneratedStream(result.lines, report)


def write_jsonl(config: GeneratorConfig, path: str | Path) -> GenerationReport:
    """Write the stream to `path` (one JSON event per line) and return the report."""
    stream = generate(config)
    lines, chunk = stream.lines, 50_000
    with open(path, "wb") as out:
        for start in range(0, len(lines), chunk):
            out.write(("\n".join(lines[start : start + chunk]) + "\n").encode())
    return stream.report
