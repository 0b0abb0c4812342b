"""Payment card numbers (PANs) as terminals send them: Luhn-valid, with real brand prefixes."""

from __future__ import annotations

import numpy as np

# brand, prefix, total length, share of card tenders
CARD_BRANDS: tuple[tuple[str, str, int, float], ...] = (
    ("visa", "4", 16, 0.50),
    ("mastercard", "51", 16, 0.06),
    ("mastercard", "52", 16, 0.06),
    ("mastercard", "53", 16, 0.06),
    ("mastercard", "54", 16, 0.06),
    ("mastercard", "55", 16, 0.06),
    ("amex", "34", 15, 0.06),
    ("amex", "37", 15, 0.06),
    ("discover", "6011", 16, 0.08),
)


def _luhn_check_digits(body: np.ndarray) -> np.ndarray:
    """Check digits for a (n, L) matrix of digits (the number without its check digit)."""
    doubled = body[:, ::-1].copy()  # rightmost body digit first: it is doubled
    doubled[:, 0::2] *= 2
    doubled[doubled > 9] -= 9
    return (10 - doubled.sum(axis=1) % 10) % 10


def card_numbers(rng: np.random.Generator, n: int) -> list[str]:
    """`n` Luhn-valid PANs with brands drawn by their share of card tenders."""
    if n == 0:
        return []
    shares = np.array([b[3] for b in CARD_BRANDS])
    brand_index = rng.choice(len(CARD_BRANDS), size=n, p=shares / shares.sum())
    out = np.empty(n, dtype=object)
    for i, (_, prefix, length, _) in enumerate(CARD_BRANDS):
        rows = np.flatnonzero(brand_index == i)
        if rows.size == 0:
            continue
        body_random = rng.integers(0, 10, size=(rows.size, length - 1 - len(prefix)), dtype=np.int64)
        prefix_digits = np.tile(np.array([int(c) for c in prefix], dtype=np.int64), (rows.size, 1))
        body = np.concatenate([prefix_digits, body_random], axis=1)
        digits = np.concatenate([body, _luhn_check_digits(body)[:, None]], axis=1)
        text = (digits.astype(np.uint8) + 48).tobytes().decode("ascii")
        out[rows] = [text[j : j + length] for j in range(0, rows.size * length, length)]
    return out.tolist()
