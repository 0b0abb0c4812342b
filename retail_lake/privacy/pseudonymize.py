"""Keyed pseudonymization of personal data (emails, phone numbers, names, street addresses).

HMAC-SHA256 with a key held in Secrets Manager: the same input gives the same pseudonym across datasets
(so joins still work) while nobody without the key can test a guessed address against the lake.
"""

from __future__ import annotations

import hmac
import json
import re

_NON_DIGITS = re.compile(r"[^0-9]")
EMAIL_TEXT = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# International or North-American phone numbers as people write them (+1 (555) 010-1234, 555.010.1234),
# standing alone (not glued to a word or a dash: that is checked in code, which lets the regular
# expression engine skip ahead to digits instead of testing a look-behind at every character).
PHONE_TEXT = re.compile(r"\+?[0-9][0-9 ().\-]{6,18}[0-9]")
_GLUE = re.compile(r"[\w-]")
# Kinds of personal data and how each is normalized before the HMAC: `trim_lower` (surrounding whitespace removed,
# lower case) or `digits` (every non-digit removed). Spark computes the same (`retail_lake.sources.cdc.merge`).
PSEUDONYM_KINDS = {"email": "trim_lower", "phone": "digits", "name": "trim_lower", "street": "trim_lower"}


class Pseudonymizer:
    # Customers come back: a batch sees the same address many times, so recent pseudonyms are kept.
    CACHE_SIZE = 50_000

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the pseudonymization key must be at least 16 bytes; rotate the secret to a longer one")
        self._key = key
        self._cache: dict[bytes, str] = {}

    def _digest(self, kind: bytes, value: str) -> str:
        message = kind + b":" + value.encode("utf-8")
        digest = self._cache.get(message)
        if digest is None:
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.clear()
            digest = self._cache[message] = hmac.digest(self._key, message, "sha256").hex()
        return digest

    def email(self, value: str) -> str:
        return self._digest(b"email", value.strip().lower())

    def phone(self, value: str) -> str:
        digits = _NON_DIGITS.sub("", value)
        return self._digest(b"phone", digits)

    def name(self, value: str) -> str:
        """A person's first or last name: case and surrounding blanks do not change the pseudonym."""
        return self._digest(b"name", value.strip().lower())

    def street(self, value: str) -> str:
        return self._digest(b"street", value.strip().lower())

    def of_kind(self, kind: str, value: str) -> str:
        """The pseudonym of `value` as personal data of `kind` (email, phone, name, street)."""
        if kind not in PSEUDONYM_KINDS:
            raise ValueError(f"no pseudonym kind {kind!r}; known: {', '.join(PSEUDONYM_KINDS)}")
        return getattr(self, kind)(value)

    def scrub_text(self, text: str) -> str:
        """Replace emails and phone numbers found in free text (quarantined payloads) with pseudonyms."""
        if "@" in text:
            text = EMAIL_TEXT.sub(lambda m: f"<email:{self.email(m.group(0))[:16]}>", text)

        def phone(match: re.Match[str]) -> str:
            candidate = match.group(0)
            start, end = match.span()
            glued = (start > 0 and _GLUE.match(text, start - 1)) or (end < len(text) and _GLUE.match(text, end))
            if glued or len(_NON_DIGITS.sub("", candidate)) < 9:  # part of an id, a date, a short code
                return candidate
            return f"<phone:{self.phone(candidate)[:16]}>"

        return PHONE_TEXT.sub(phone, text)


def key_from_secret_string(secret: str) -> bytes:
    """The key from a Secrets Manager secret string: either the raw string or JSON with a `key` member."""
    stripped = secret.strip()
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped)
        except json.JSONDecodeError as error:
            raise ValueError(f"the pseudonymization secret looks like JSON but does not parse: {error}") from None
        if not isinstance(document, dict) or not isinstance(document.get("key"), str):
            raise ValueError('the pseudonymization secret JSON must have a string member "key"')
        stripped = document["key"]
    return stripped.encode("utf-8")
