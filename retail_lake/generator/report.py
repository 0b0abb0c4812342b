"""What a generation produced and what the stream Lambda should make of it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from retail_lake.generator.defects import DEFECT_OUTCOMES


@dataclass
class GenerationReport:
    seed: int
    total_lines: int
    clean_events: int  # generated events, including those moved late/out of order
    events_by_record_type: dict[str, int]  # every line, by the record type it was generated as
    defects: dict[str, int]  # lines per defect class; a defective line has exactly one class
    # dataset -> defect class -> lines, by the dataset of the clean event the line was made from: what each
    # dataset's quality rules must find (docs/quality.md lists the rule meant for each class)
    defects_by_dataset: dict[str, dict[str, int]]
    expected: dict  # what ingestion should produce; see `expected_outcomes`
    first_event_time: str | None = None
    last_event_time: str | None = None
    reference: dict[str, int] = field(default_factory=dict)  # rows per reference table
    config: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str)


def expected_outcomes(total_lines: int, defects: dict[str, int], raw_by_record_type: dict[str, int]) -> dict:
    quarantined: dict[str, int] = {}
    for defect_class, (outcome, reason) in DEFECT_OUTCOMES.items():
        if outcome == "quarantine":
            quarantined[reason] = quarantined.get(reason, 0) + defects.get(defect_class, 0)
    raw = total_lines - sum(quarantined.values())
    return {
        "raw": raw,
        "raw_by_record_type": raw_by_record_type,
        "quarantined": quarantined,
        "duplicates": defects.get("duplicate", 0),
        "distinct_after_dedupe": raw - defects.get("duplicate", 0),
        "unknown_skus": defects.get("unknown_sku", 0),
        "late_events": defects.get("late_event", 0),
        "out_of_order": defects.get("out_of_order", 0),
        "card_numbers_in_free_text": defects.get("raw_card_number", 0),
        "outcome_by_defect_class": {
            c: (f"quarantine:{reason}" if outcome == "quarantine" else outcome)
            for c, (outcome, reason) in DEFECT_OUTCOMES.items()
        },
    }
