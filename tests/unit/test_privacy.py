import pytest

from retail_lake.privacy.cards import card_brand, card_like_runs, luhn_valid, mask_pans, pan_digits_in
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


def test_mask_skips_non_luhn_numbers_unless_asked():
    assert mask_pans("order 1234567890123") == ("order 1234567890123", 0)
    assert mask_pans("order 1234567890123", luhn_only=False) == ("order *********0123", 1)


@pytest.mark.parametrize(
    "identifier",
    ["T0010-20261103-05-00006", "44624316-7514-40ed-a4d3-f4b462743723", "908-4931-9688-901", "SKU-000123",
     "x4111111111111111"],
)
def test_identifiers_are_not_card_numbers(identifier):
    assert mask_pans(identifier, luhn_only=False) == (identifier, 0)
    assert pan_digits_in(identifier.encode()) == []


@pytest.mark.parametrize("written", ["4111 1111 1111 1111", "4111-1111-1111-1111", "3782 822463 10005",
                                     "4111111111111111", "6011 1111 1111 1117"])
def test_card_numbers_as_people_write_them_are_found(written):
    assert card_like_runs(written.encode()) >= 1
    assert len(pan_digits_in(f'"{written}"'.encode())) == 1


def test_dates_and_phones_are_not_card_numbers():
    text = b'{"event_time":"2026-11-03T14:05:09Z","phone":"+1-555-010-1234"}'
    assert card_like_runs(text) == 0
    assert pan_digits_in(text) == []


def test_card_number_detected_in_raw_bytes():
    payload = b'{"search_query":"4111-1111-1111-1111","card_number":"378282246310005"}'
    assert card_like_runs(payload) == 2
    assert pan_digits_in(payload) == ["4111111111111111", "378282246310005"]


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
