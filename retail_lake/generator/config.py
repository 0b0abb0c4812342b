"""What to generate: `GeneratorConfig`, the one typed place for every knob of the synthetic data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Mapping

# Defect classes, in the order they are reported.
DEFECT_CLASSES: tuple[str, ...] = (
    "duplicate",
    "malformed_json",
    "missing_required_field",
    "wrong_type",
    "negative_quantity",
    "unknown_sku",
    "late_event",
    "out_of_order",
    "unknown_extra_field",
    "raw_card_number",
)

# Classes realised by moving a clean event later in the stream; every other class adds a line.
DISPLACEMENT_CLASSES: tuple[str, ...] = ("late_event", "out_of_order")
EXTRA_LINE_CLASSES: tuple[str, ...] = tuple(c for c in DEFECT_CLASSES if c not in DISPLACEMENT_CLASSES)

DEFAULT_START_DATE = dt.date(2026, 11, 1)
# Catalog SKUs stay below this number so that `SKU-9xxxxx` is always unknown.
MAX_SKUS = 899_999


class GeneratorConfigError(ValueError):
    """A configuration the generator cannot honour; the message says which setting and why."""


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything that determines the output: the same config gives byte-identical output.

    Scale is set by the reference sizes (`stores`, `skus`, `customers`) and `days`; traffic either
    follows the per-store rates below or, when `events` is given, is sized so that the output has
    exactly `events` lines (defective lines included).
    """

    seed: int = 42
    stores: int = 50
    skus: int = 2_000
    customers: int = 20_000
    days: int = 7
    start_date: dt.date = DEFAULT_START_DATE
    events: int | None = None
    # Fraction of lines per defect class (of `events`, or of the clean events when `events` is None).
    defect_rate: float = 0.005
    # Exact per-class counts; override `defect_rate` for the classes they name.
    defect_counts: Mapping[str, int] = field(default_factory=dict)
    # Traffic when `events` is None: POS transactions per average store per average day, and web/app
    # sessions per store per day (the web shop's traffic scales with the chain).
    transactions_per_store_day: float = 200.0
    sessions_per_store_day: float = 120.0
    currency: str = "USD"

    def __post_init__(self) -> None:
        problems = []
        for name in ("stores", "skus", "customers", "days"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1 (got {getattr(self, name)})")
        if self.skus > MAX_SKUS:
            problems.append(f"skus must be at most {MAX_SKUS} so that SKU-9xxxxx stays unknown (got {self.skus})")
        if self.stores > 9_999:
            problems.append(f"stores must be at most 9999 (store ids are ST0001..ST9999; got {self.stores})")
        if self.customers > 9_999_999:
            problems.append(f"customers must be at most 9999999 (got {self.customers})")
        if self.events is not None and self.events < 1:
            problems.append(f"events must be at least 1 when given (got {self.events})")
        if not 0.0 <= self.defect_rate <= 0.05:
            problems.append(f"defect_rate must be between 0 and 0.05 per class (got {self.defect_rate})")
        unknown = sorted(set(self.defect_counts) - set(DEFECT_CLASSES))
        if unknown:
            problems.append(f"unknown defect classes {unknown}; known: {', '.join(DEFECT_CLASSES)}")
        negative = sorted(k for k, v in self.defect_counts.items() if v < 0)
        if negative:
            problems.append(f"defect counts must not be negative: {negative}")
        if self.transactions_per_store_day <= 0 or self.sessions_per_store_day < 0:
            problems.append("transactions_per_store_day must be > 0 and sessions_per_store_day >= 0")
        if problems:
            raise GeneratorConfigError("invalid generator config: " + "; ".join(problems))

    @property
    def end_date(self) -> dt.date:
        """The last day with activity (inclusive)."""
        return self.start_date + dt.timedelta(days=self.days - 1)

    def defect_count(self, defect_class: str, base: int) -> int:
        """How many lines of `defect_class` to inject, given the line count the rate applies to."""
        if defect_class in self.defect_counts:
            return int(self.defect_counts[defect_class])
        return int(round(self.defect_rate * base))

    def __hash__(self) -> int:
        return hash((self.seed, self.stores, self.skus, self.customers, self.days, self.start_date, self.events,
                     self.defect_rate, tuple(sorted(self.defect_counts.items())), self.transactions_per_store_day,
                     self.sessions_per_store_day, self.currency))

    def with_no_defects(self) -> "GeneratorConfig":
        from dataclasses import replace

        return replace(self, defect_rate=0.0, defect_counts={})
