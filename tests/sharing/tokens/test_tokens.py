"""Tokens at rest: HMAC-SHA256 of the member's token under the platform pepper."""

import hmac
import secrets

import pytest

from sharing.tokens.pepper import pepper_token, pepper_tokens


@pytest.mark.parametrize(
    ("key", "message", "expected"),
    [
        # RFC 4231, test cases 2 (a key shorter than the block) and 6 (longer: hashed first).
        (b"Jefe", "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (
            b"\xaa" * 131,
            "Test Using Larger Than Block-Size Key - Hash Key First",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
    ],
)
def test_peppering_is_hmac_sha256_by_the_rfc_vectors(settings, key, message, expected):
    settings.RISKSHARE_PEPPER = key
    assert pepper_token(message).hex() == expected


@pytest.mark.parametrize("key_length", [1, 32, 63, 64, 65, 200])
def test_peppering_equals_the_standard_library_hmac_for_every_key_length(settings, key_length):
    settings.RISKSHARE_PEPPER = secrets.token_bytes(key_length)
    tokens = [secrets.token_hex(32) for _ in range(50)]
    assert pepper_tokens(tokens) == [hmac.digest(settings.RISKSHARE_PEPPER, t.encode(), "sha256") for t in tokens]


def test_a_changed_pepper_changes_every_token_at_rest(settings):
    token = secrets.token_hex(32)
    settings.RISKSHARE_PEPPER = b"p" * 40
    first = pepper_token(token)
    settings.RISKSHARE_PEPPER = b"q" * 40
    assert pepper_token(token) != first
