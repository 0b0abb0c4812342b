"""Payment card numbers: detection (Luhn), brand from the issuer prefix, masking.

A card number (PAN) must never reach a bucket. Valid POS events carry the PAN in `card_number`, which is
reduced to brand + last four digits; anywhere else a PAN may hide (free text, quarantined payloads) it
is masked in place, keeping only the last four digits.
"""

from __future__ import annotations

import re

# What a card number looks like when a person or a system writes it: 13-19 digits in one run, or in the
# usual groups (4-4-4-4, 4-4-4-4-3, Amex/Diners 4-6-5 and 4-6-4) separated by the same space or dash, not
# glued to a word, a dash or other digits. Identifiers such as `T0010-20261103-05-00006` or UUIDs do not
# look like that, so they are never mistaken for card numbers.
_CANDIDATE_PATTERN = (
    r"(?<![\w-])(?:"
    r"\d{13,19}"
    r"|\d{4}(?P<g4>[ -])\d{4}(?P=g4)\d{4}(?P=g4)\d{4}(?:(?P=g4)\d{3})?"
    r"|\d{4}(?P<g6>[ -])\d{6}(?P=g6)\d{4,5}"
    r")(?![\w-])"
)
PAN_CANDIDATE_TEXT = re.compile(_CANDIDATE_PATTERN)
_SEPARATORS = str.maketrans("", "", " -")
_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")  # each digit doubled, digits of the result summed


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a digit string (False for anything that is not all ASCII digits)."""
    if not (digits.isascii() and digits.isdigit()):
        return False
    raw = digits.encode("ascii")
    kept, doubled = raw[-1::-2], raw[-2::-2].translate(_DOUBLED)
    return (sum(kept) + sum(doubled) - 48 * len(raw)) % 10 == 0


def card_brand(digits: str) -> str:
    """Card brand from the issuer identification number; `other` when the prefix is not recognised."""
    n = len(digits)
    if digits.startswith("4") and n in (13, 16, 19):
        return "visa"
    two, four, six = int(digits[:2]), int(digits[:4]), int(digits[:6])
    if 51 <= two <= 55 or 222100 <= six <= 272099:
        return "mastercard"
    if two in (34, 37) and n == 15:
        return "amex"
    if digits.startswith("6011") or digits.startswith("65") or 644 <= int(digits[:3]) <= 649 or 622126 <= six <= 622925:
        return "discover"
    if 3528 <= four <= 3589:
        return "jcb"
    if two in (36, 38) or 300 <= int(digits[:3]) <= 305:
        return "diners"
    return "other"


def is_pan(candidate: str) -> bool:
    digits = candidate.translate(_SEPARATORS)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _mask_match(text: str) -> str:
    """Replace every digit but the last four with `*`, keeping separators (and so the text's length)."""
    keep = 4
    out = []
    for char in reversed(text):
        if char.isdigit():
            if keep > 0:
                keep -= 1
                out.append(char)
            else:
                out.append("*")
        else:
            out.append(char)
    return "".join(reversed(out))


def mask_pans(text: str) -> tuple[str, int]:
    """Mask card numbers standing alone in a value (the rule for identifiers): card-like candidates that
    pass the Luhn check keep only their last four digits."""
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        candidate = match.group(0)
        if not is_pan(candidate):
            return candidate
        count += 1
        return _mask_match(candidate)

    masked = PAN_CANDIDATE_TEXT.sub(replace, text)
    return masked, count


# ---------------------------------------------------------------------------------------------- free text
# In free text (search boxes, URLs, referrers) people write card numbers every which way: glued to words
# (`card_4111...`), grouped by dots, slashes or plus signs, URL-encoded (`4111%201111...`). There any run
# of digit groups of three or more, joined by single separators, counts, whatever stands around it. Groups
# of one or two digits (dates, times, `-05-` in an identifier) break a run: no card is written that way.
_PERCENT_SEPARATOR = re.compile(r"%2[0DdEeFf]|%5[Ff]")
_LOOSE_RUN = re.compile(r"\d{3,}(?:(?:[ ._/+\-]|%2[0DdEeFf]|%5[Ff])\d{3,})*")
_NON_DIGITS = re.compile(r"\D")
# Magnetic-stripe track 1 as card readers emit it: %B<PAN>^<NAME>^<YYMM><service code>...
_TRACK_DATA = re.compile(r"%?[Bb]\d{12,19}\^[^^\n\"]{0,30}\^\d{4,}[^\s\"?]*\??")
# RE2 (no look-around) superset of _LOOSE_RUN runs of 13+ digits, to flag candidate values column-wise.
LOOSE_RUN_RE2 = r"\d{13}|\d{3,}(?:[ ._/+-]|%2[0DdEeFf]|%5[Ff])\d{3,}"


def _mask_loose_run(run: str) -> str:
    """Every digit but the last four becomes `*`; separators (and percent-escapes) stay as they are."""
    plain = _PERCENT_SEPARATOR.sub(lambda m: "\0" * len(m.group(0)), run)
    keep = 4
    out = list(run)
    for index in range(len(plain) - 1, -1, -1):
        if plain[index].isdigit():
            if keep:
                keep -= 1
            else:
                out[index] = "*"
    return "".join(out)


def mask_card_numbers_in_free_text(text: str, *, luhn_only: bool = True) -> tuple[str, int]:
    """Mask card numbers in free text, however they are written. A run of 13-19 digits is masked when it
    passes the Luhn check (or always, with `luhn_only=False`); a longer run always, since a card number
    may hide inside it. Track data is removed whole."""
    count = 0

    def track(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return "<track data removed>"

    if "^" in text:  # every track carries its field separators
        text = _TRACK_DATA.sub(track, text)

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        run = match.group(0)
        digits = _NON_DIGITS.sub("", _PERCENT_SEPARATOR.sub("", run))
        if len(digits) < 13 or (len(digits) <= 19 and luhn_only and not luhn_valid(digits)):
            return run
        count += 1
        return _mask_loose_run(run)

    return _LOOSE_RUN.sub(replace, text), count


# ---------------------------------------------------------------------------------------------- quarantine
_JSON_DIGIT_ESCAPE = re.compile(r"\\u003([0-9])")
# Values of keys that name a card number, whatever their content (a mistyped card number is still one).
_CARD_KEY_VALUE = re.compile(r'("\w*(?:card|pan|ccnum|cc_num|credit)\w*"\s*:\s*")([^"]*)(")', re.IGNORECASE)
_CARD_KEY_WORDS = ("card", "pan", "ccnum", "cc_num", "credit")


def mask_quarantined_text(text: str) -> tuple[str, int]:
    """Mask every card number in a payload that failed validation (it may not even be JSON): digits
    written as JSON escapes are read as digits, track data is removed, values of card-like keys are
    masked whatever they hold (a mistyped card number is still one), then the free-text rule runs over
    the whole text."""
    text = _JSON_DIGIT_ESCAPE.sub(r"\1", text)
    count = 0

    def track(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return "<track data removed>"

    if "^" in text:
        text = _TRACK_DATA.sub(track, text)

    def card_value(match: re.Match[str]) -> str:
        nonlocal count
        value = match.group(2)
        digits = _NON_DIGITS.sub("", value)
        if len(digits) <= 4:
            return match.group(0)
        count += 1
        keep = 4
        masked = []
        for char in reversed(value):
            if char.isdigit():
                masked.append(char if keep else "*")
                keep = max(0, keep - 1)
            else:
                masked.append(char)
        return match.group(1) + "".join(reversed(masked)) + match.group(3)

    lowered = text.lower()
    if any(word in lowered for word in _CARD_KEY_WORDS):
        text = _CARD_KEY_VALUE.sub(card_value, text)
    text, more = mask_card_numbers_in_free_text(text)
    return text, count + more
