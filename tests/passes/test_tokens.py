"""Pass tokens: a genuine one reads back; forged, mangled and foreign codes are refused,
including 10,000 random mutations of genuine tokens (none accepted)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fangkong.passes.tokens import PassKey, Refusal, TokenError, pass_key, pass_token


def test_a_genuine_token_reads_back_and_carries_nothing_personal():
    token = pass_token(12345, 3)
    assert pass_key(token) == PassKey(pass_id=12345, version=3)
    assert token.startswith("FK1.") and len(token) < 50


@pytest.mark.parametrize(("text", "refusal"), [
    ("", Refusal.MALFORMED), ("https://weixin.qq.com/x", Refusal.MALFORMED),
    ("FK1.3d7.1", Refusal.MALFORMED), ("FK2.3d7.1.AAAAAAAAAAAAAAAAAAAAAA", Refusal.MALFORMED),
    ("FK1.3d7.1.AAAAAAAAAAAAAAAAAAAAAA", Refusal.FORGED), ("x" * 5000, Refusal.MALFORMED),
])
def test_foreign_and_forged_codes_are_refused_with_the_reason(text, refusal):  # noqa: ANN001
    with pytest.raises(TokenError) as excinfo:
        pass_key(text)
    assert excinfo.value.refusal == refusal


def test_another_pass_or_version_cannot_be_made_from_a_genuine_token():
    genuine = pass_token(7, 1)
    body, signature = genuine.rsplit(".", 1)
    for other in ("FK1.8.1", "FK1.7.2"):
        with pytest.raises(TokenError):
            pass_key(f"{other}.{signature}")
    assert pass_key(f"{body}.{signature}") == PassKey(7, 1)


ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._-+/= "


@st.composite
def mutated(draw) -> str:  # noqa: ANN001
    """A genuine token with 1–4 random edits: replace, insert or delete a character."""
    token = list(pass_token(draw(st.integers(1, 10**9)), draw(st.integers(1, 999))))
    original = "".join(token)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        at = draw(st.integers(0, max(len(token) - 1, 0)))
        if op == "replace" and token:
            token[at] = draw(st.sampled_from(ALPHABET))
        elif op == "insert":
            token.insert(at, draw(st.sampled_from(ALPHABET)))
        elif token:
            del token[at]
    result = "".join(token)
    return result if result != original else result + "A"


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_no_random_mutation_of_a_genuine_token_is_accepted(token):  # noqa: ANN001
    with pytest.raises(TokenError):
        pass_key(token)
