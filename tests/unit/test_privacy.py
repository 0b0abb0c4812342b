import pytest

from retail_lake.privacy.cards import (
    card_brand,
    luhn_valid,
    mask_card_numbers_in_free_text,
    mask_pans,
    mask_quarantined_text,
)
from retail_lake.privacy.pseudonymize import Pseudonymizer, key_from_secret_string

KEY = b"unit-test-pseudonymization-key-0123456789"


@pytest.mark.parametrize(
    ("pan", "brand"),
    [
        ("4111111111111111", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3530111333300000", "jcb"),
    ],
)
def test_known_test_cards_are_luhn_valid_with_their_brand(pan, brand):
    assert luhn_valid(pan)
    assert card_brand(pan) == brand


def test_luhn_rejects_a_changed_digit():
    assert not luhn_valid("4111111111111112")


def test_mask_keeps_only_last_four_and_separators():
    masked, count = mask_pans("pay with 4111 1111 1111 1111 please")
    assert masked == "pay with **** **** **** 1111 please"
    assert count == 1


def test_mask_skips_numbers_failing_the_checksum():
    assert mask_pans("order 1234567890123") == ("order 1234567890123", 0)


@pytest.mark.parametrize(
    "identifier",
    ["T0010-20261103-05-00006", "44624316-7514-40ed-a4d3-f4b462743723", "908-4931-9688-901", "SKU-000123",
     "x4111111111111111"],
)
def test_identifiers_are_not_card_numbers(identifier):
    assert mask_pans(identifier) == (identifier, 0)


@pytest.mark.parametrize("written", ["4111 1111 1111 1111", "4111-1111-1111-1111", "3782 822463 10005",
                                     "4111111111111111", "6011 1111 1111 1117"])
def test_card_numbers_standing_alone_are_found_by_the_identifier_rule(written):
    masked, count = mask_pans(f"value {written}")
    assert count == 1 and masked.endswith(written[-4:]) and written not in masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("cc%3D4111111111111111&x=1", "cc%3D************1111&x=1"),
        ("q=4111%201111%201111%201111", "q=****%20****%20****%201111"),
        ("q=4111+1111+1111+1111", "q=****+****+****+1111"),
        ("card_4111111111111111", "card_************1111"),
        ("4111.1111.1111.1111", "****.****.****.1111"),
        ("4111/1111/1111/1111/", "****/****/****/1111/"),
    ],
)
def test_free_text_rule_finds_card_numbers_in_any_shape(text, masked):
    assert mask_card_numbers_in_free_text(text) == (masked, 1)


@pytest.mark.parametrize(
    "text", ["T0010-20261103-05-00006", "2026-11-03T14:05:09.250Z", "call 555-010-1234", "order 1234567890123"]
)
def test_free_text_rule_leaves_dates_ids_and_phones(text):
    assert mask_card_numbers_in_free_text(text) == (text, 0)


@pytest.mark.parametrize(
    "payload",
    [
        '{"card_number":"%B4111111111111111^DOE/JANE^2512101"}',
        '{"card_number":"4111111111111111x"}',
        '{"card_number":"\\u0034111111111111111"}',
        '{"card_number":"4111111111111112"',  # a mistyped card number is still one
        '{"loyalty_card":"378282246310005"}',
    ],
)
def test_quarantine_rule_masks_card_numbers_in_any_shape(payload):
    masked, count = mask_quarantined_text(payload)
    assert count >= 1
    for secret in ("4111111111111111", "4111111111111112", "378282246310005", "DOE/JANE", "u0034111"):
        assert secret not in masked


def test_pseudonyms_are_keyed_stable_and_normalized():
    p = Pseudonymizer(KEY)
    assert p.email("Jane.Doe@Example.com ") == p.email("jane.doe@example.com")
    assert p.phone("+1 (555) 010-1234") == p.phone("15550101234")
    assert p.email("jane.doe@example.com") != Pseudonymizer(KEY[::-1]).email("jane.doe@example.com")
    assert len(p.email("a@b.co")) == 64 and "@" not in p.email("a@b.co")


def test_scrub_text_hides_emails_and_phones_but_not_dates():
    scrubbed = Pseudonymizer(KEY).scrub_text('{"e":"jane@example.com","p":"+1 (555) 010-1234","d":"2026-11-03"}')
    assert "jane@example.com" not in scrubbed and "555" not in scrubbed
    assert "2026-11-03" in scrubbed


def test_short_keys_are_refused():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Pseudonymizer(b"short")


def test_key_from_secret_string_accepts_plain_and_json():
    assert key_from_secret_string("abc") == b"abc"
    assert key_from_secret_string('{"key": "xyz"}') == b"xyz"
    with pytest.raises(ValueError, match='"key"'):
        key_from_secret_string('{"other": 1}')


def test_luhn_matches_the_textbook_definition_on_random_numbers():
    import random

    def textbook(digits: str) -> bool:
        total = 0
        for position, char in enumerate(reversed(digits)):
            value = int(char) * (2 if position % 2 else 1)
            total += value - 9 if value > 9 else value
        return total % 10 == 0

    rng = random.Random(20261122)
    for _ in range(5_000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 19)))
        assert luhn_valid(digits) == textbook(digits), digits
    assert not luhn_valid("4111 1111 1111 1111") and not luhn_valid("٤١١١") and not luhn_valid("")
