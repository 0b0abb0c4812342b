"""Raw-zone transform of one Kinesis batch: deaggregate, validate, protect, and route every event.

Every user record ends in exactly one place: a row of its dataset's raw table, or a quarantine entry with
the reason. Card numbers are reduced to brand + last four digits (or masked where they hide in free
text or in a quarantined payload); emails and phone numbers are replaced by keyed pseudonyms.

Kinesis retries a failed batch from the lowest failed sequence number, so records after a failure will
be delivered again. `RawBatch` therefore keeps only the records before the first failure: the retry
writes the rest, and nothing is written twice.

This is the hot path of the stream Lambda (200,000+ events/s per core is the target), so the per-event
work is one msgspec decode (parse + structural validation in C) and a few list appends; string patterns
and the search for card numbers in free text run column-wise on the whole batch (`raw_table`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import msgspec
import pyarrow as pa
import pybase64

from retail_lake.contracts.derive import event_decoder, event_struct
from retail_lake.contracts.fields import Contract, Privacy
from retail_lake.contracts.registry import LATEST_BY_RECORD_TYPE
from retail_lake.ingestion import reasons
from retail_lake.ingestion.kpl import deaggregate
from retail_lake.ingestion.raw_table import build_raw_table
from retail_lake.privacy.cards import card_brand, luhn_valid, mask_quarantined_text
from retail_lake.privacy.pseudonymize import Pseudonymizer

_RECORD_TYPE_TEXT = re.compile(r'"record_type"\s*:\s*"([A-Za-z0-9_.\-]{1,64})"')
_EVENT_ID_TEXT = re.compile(r'"event_id"\s*:\s*"([^"\\]{1,64})"')
_INVALID_CARD = -1


class RecordProcessingError(Exception):
    """An unexpected error while processing one Kinesis record; it is reported as a batch item failure."""

    def __init__(self, sequence_number: str, cause: BaseException) -> None:
        super().__init__(f"record {sequence_number}: {type(cause).__name__}: {cause}")
        self.sequence_number = sequence_number
        self.cause = cause


@dataclass(frozen=True)
class _ContractPlan:
    """What to do to an event of one contract before it is stored (derived once per contract)."""

    contract: Contract
    card_field: str | None
    email_fields: tuple[str, ...]
    phone_fields: tuple[str, ...]

    @classmethod
    def of(cls, contract: Contract) -> "_ContractPlan":
        cards = contract.fields_with_privacy(Privacy.CARD_NUMBER)
        if len(cards) > 1:
            raise ValueError(f"{contract.record_type}: at most one card number field is supported")
        return cls(
            contract=contract,
            card_field=cards[0].name if cards else None,
            email_fields=tuple(f.name for f in contract.fields_with_privacy(Privacy.EMAIL)),
            phone_fields=tuple(f.name for f in contract.fields_with_privacy(Privacy.PHONE)),
        )


@dataclass
class DatasetRows:
    """Validated, protected events of one dataset plus their per-row ingestion metadata."""

    contract: Contract
    events: list[Any] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)  # as received, for quarantine by column checks
    card_brand: list[str | None] = field(default_factory=list)
    card_last4: list[str | None] = field(default_factory=list)
    sequence_numbers: list[str] = field(default_factory=list)
    subsequence_numbers: list[int] = field(default_factory=list)
    arrival_times: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.events)

    def truncate(self, length: int) -> None:
        for column in (
            self.events,
            self.payloads,
            self.card_brand,
            self.card_last4,
            self.sequence_numbers,
            self.subsequence_numbers,
            self.arrival_times,
        ):
            del column[length:]


@dataclass
class BatchCounts:
    received: int = 0
    written: Counter = field(default_factory=Counter)  # dataset -> rows
    quarantined: Counter = field(default_factory=Counter)  # reason -> events
    card_numbers_removed: int = 0  # card_number fields reduced to brand + last4
    card_numbers_masked: int = 0  # stray card numbers masked in free text or quarantined payloads
    pseudonymized: int = 0  # emails and phone numbers replaced by keyed pseudonyms

    def as_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "written": dict(self.written),
            "quarantined": dict(self.quarantined),
            "card_numbers_removed": self.card_numbers_removed,
            "card_numbers_masked": self.card_numbers_masked,
            "pseudonymized": self.pseudonymized,
        }


class _Sink:
    """Protects an event of one contract and appends it to its dataset's rows.

    `add` returns 1 when a card number was reduced to brand + last four, 0 when the event had none, and
    `_INVALID_CARD` when it is not a card number (13-19 digits passing the Luhn check): the caller
    quarantines the event."""

    def __init__(self, plan: _ContractPlan, rows: DatasetRows, pseudonymizer: Pseudonymizer) -> None:
        self.plan = plan
        self.rows = rows
        self.pseudonymized = 0
        self.add: Callable[[Any, bytes, int], int] = self._build(pseudonymizer)

    def _build(self, pseudonymizer: Pseudonymizer) -> Callable[[Any, bytes, int], int]:
        plan, rows = self.plan, self.rows
        append_event, append_subsequence = rows.events.append, rows.subsequence_numbers.append
        append_payload = rows.payloads.append
        append_brand, append_last4 = rows.card_brand.append, rows.card_last4.append
        card_field = plan.card_field
        personal = [(name, pseudonymizer.email) for name in plan.email_fields]
        personal += [(name, pseudonymizer.phone) for name in plan.phone_fields]

        if card_field is None and not personal:

            def add(event: Any, payload: bytes, subsequence: int) -> int:
                append_event(event)
                append_payload(payload)
                append_subsequence(subsequence)
                return 0

            return add

        def add_protected(event: Any, payload: bytes, subsequence: int) -> int:
            removed = 0
            if card_field is not None:
                pan = getattr(event, card_field)
                if pan is None:
                    append_brand(None)
                    append_last4(None)
                elif 13 <= len(pan) <= 19 and pan.isdigit() and luhn_valid(pan):
                    append_brand(card_brand(pan))
                    append_last4(pan[-4:])
                    setattr(event, card_field, None)
                    removed = 1
                else:
                    return _INVALID_CARD
            for name, pseudonym in personal:
                value = getattr(event, name)
                if value is not None:
                    setattr(event, name, pseudonym(value))
                    self.pseudonymized += 1
            append_event(event)
            append_payload(payload)
            append_subsequence(subsequence)
            return removed

        return add_protected


class RawBatch:
    """Accumulates the events of one invocation, Kinesis record by Kinesis record, in order."""

    def __init__(self, pseudonymizer: Pseudonymizer, *, shard_id: str, ingest_time: dt.datetime) -> None:
        self.shard_id = shard_id
        self.ingest_time = ingest_time
        self._pseudonymizer = pseudonymizer
        self._decode = event_decoder().decode
        self.rows: dict[str, DatasetRows] = {}
        self._sinks: dict[type, _Sink] = {}
        for contract in LATEST_BY_RECORD_TYPE.values():
            rows = self.rows[contract.dataset] = DatasetRows(contract)
            self._sinks[event_struct(contract)] = _Sink(_ContractPlan.of(contract), rows, pseudonymizer)
        self.quarantine: list[dict[str, Any]] = []
        self.first_sequence_number: str | None = None
        self.last_sequence_number: str | None = None
        self.first_arrival: float | None = None
        self.failed_sequence_number: str | None = None
        self.records = 0
        self._received = 0
        self._cards_removed = 0
        self._cards_masked = 0
        self._pseudonymized_in_text = 0
        self._tables: dict[str, pa.Table] | None = None

    # -------------------------------------------------------------------------------------- records

    def add_record(self, sequence_number: str, arrival_time: float, data: bytes | str) -> None:
        """Route every user record of one Kinesis record (`data` as bytes, or base64 text as in the Lambda
        event). After a failure, later records are ignored: Kinesis delivers them again, starting at the
        failed record."""
        if self.failed_sequence_number is not None:
            return
        marks = {name: len(rows) for name, rows in self.rows.items()}
        quarantined_before = len(self.quarantine)
        pseudonymized_before = {sink: sink.pseudonymized for sink in self._sinks.values()}
        try:
            if isinstance(data, str):
                data = pybase64.b64decode(data, validate=True)
            payloads = deaggregate(data)
            removed, masked = self._route(payloads, sequence_number, arrival_time)
        except Exception as error:  # noqa: BLE001 - any error on one record fails that record only
            for name, rows in self.rows.items():
                rows.truncate(marks[name])
            for sink, count in pseudonymized_before.items():
                sink.pseudonymized = count
            del self.quarantine[quarantined_before:]
            self.failed_sequence_number = sequence_number
            raise RecordProcessingError(sequence_number, error) from error
        for name, rows in self.rows.items():
            added = len(rows.events) - marks[name]
            if added:
                rows.sequence_numbers.extend([sequence_number] * added)
                rows.arrival_times.extend([arrival_time] * added)
        self._received += len(payloads)
        self._cards_removed += removed
        self._cards_masked += masked
        if self.first_sequence_number is None:
            self.first_sequence_number = sequence_number
            self.first_arrival = arrival_time
        self.last_sequence_number = sequence_number
        self.records += 1

    def _route(self, payloads: list[bytes], sequence_number: str, arrival: float) -> tuple[int, int]:
        decode, sinks = self._decode, self._sinks
        removed = masked = 0
        for subsequence, payload in enumerate(payloads):
            try:
                event = decode(payload)
            except msgspec.DecodeError as error:
                masked += self._quarantine(
                    payload, reasons.classify(error), str(error), sequence_number, subsequence, arrival
                )
                continue
            sink = sinks[type(event)]
            outcome = sink.add(event, payload, subsequence)
            if outcome == _INVALID_CARD:
                masked += self._quarantine(
                    payload,
                    reasons.INVALID_VALUE,
                    f"`{sink.plan.card_field}` is not a valid card number (13-19 digits passing the Luhn check)",
                    sequence_number,
                    subsequence,
                    arrival,
                )
                continue
            removed += outcome
        return removed, masked

    def _quarantine(
        self, payload: bytes, reason: str, detail: str, sequence_number: str, subsequence: int, arrival: float
    ) -> int:
        """Store the payload in quarantine with its reason; returns the digit runs masked in it."""
        try:
            text, encoding = payload.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = payload.decode("utf-8", errors="replace"), "utf-8-replaced"
        text, masked = mask_quarantined_text(text)
        detail, masked_in_detail = mask_quarantined_text(detail)
        self._cards_masked += masked_in_detail
        record_type = _RECORD_TYPE_TEXT.search(text)
        event_id = _EVENT_ID_TEXT.search(text)
        text = self._pseudonymizer.scrub_text(text)
        detail = self._pseudonymizer.scrub_text(detail)
        self.quarantine.append(
            {
                "reason": reason,
                "detail": detail,
                "record_type": record_type.group(1) if record_type else None,
                "event_id": event_id.group(1) if event_id else None,
                "source": "kinesis",
                "kinesis_shard_id": self.shard_id,
                "kinesis_sequence_number": sequence_number,
                "kinesis_subsequence_number": subsequence,
                "arrival_time": _iso(arrival),
                "ingest_time": self.ingest_time.isoformat(),
                "payload": text,
                "payload_encoding": encoding,
            }
        )
        return masked

    # -------------------------------------------------------------------------------------- results

    def tables(self) -> dict[str, pa.Table]:
        """The raw table of each dataset with rows, after the column-wise checks; rows failing a pattern
        move to quarantine here. Call once, after the last record."""
        if self._tables is None:
            self._tables = {}
            for name, rows in self.rows.items():
                if not len(rows):
                    continue
                built = build_raw_table(
                    rows, shard_id=self.shard_id, ingest_time=self.ingest_time, pseudonymizer=self._pseudonymizer
                )
                for row, message in built.rejected:
                    self._cards_masked += self._quarantine(
                        rows.payloads[row], reasons.INVALID_VALUE, message, rows.sequence_numbers[row],
                        rows.subsequence_numbers[row], rows.arrival_times[row],
                    )
                self._cards_masked += built.card_numbers_masked
                self._pseudonymized_in_text += built.pseudonymized
                if built.table.num_rows:
                    self._tables[name] = built.table
        return self._tables

    @property
    def counts(self) -> BatchCounts:
        if self._tables is not None:
            written = Counter({name: table.num_rows for name, table in self._tables.items()})
        else:
            written = Counter({name: len(rows) for name, rows in self.rows.items() if len(rows)})
        return BatchCounts(
            received=self._received,
            written=written,
            quarantined=Counter(entry["reason"] for entry in self.quarantine),
            card_numbers_removed=self._cards_removed,
            card_numbers_masked=self._cards_masked,
            pseudonymized=sum(sink.pseudonymized for sink in self._sinks.values()) + self._pseudonymized_in_text,
        )

    @property
    def partition_time(self) -> dt.datetime:
        """The raw partition (ingestion date/hour) of this batch: the arrival time of its first record,
        so a retried batch lands in the same partition under the same key."""
        arrival = self.first_arrival if self.first_arrival is not None else self.ingest_time.timestamp()
        return dt.datetime.fromtimestamp(arrival, tz=dt.timezone.utc)


def _iso(epoch_seconds: float) -> str:
    return dt.datetime.fromtimestamp(epoch_seconds, tz=dt.timezone.utc).isoformat()
