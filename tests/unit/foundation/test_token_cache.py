"""A verified token is remembered (its signature is checked once), but never past its
expiry, and a token that failed is not remembered."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from shared.errors import Unauthorized
from shared.http.auth import decode_token, mint_token

SECRET = "s" * 48


def test_a_remembered_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = mint_token(SECRET, "u-1", "user", ttl=60)
    assert decode_token(SECRET, token).sub == "u-1"  # verified, now remembered
    expiry = jwt.decode(token, options={"verify_signature": False})["exp"]
    monkeypatch.setattr(time, "time", lambda: float(expiry))
    with pytest.raises(Unauthorized, match="expired"):
        decode_token(SECRET, token)


def test_the_signature_is_checked_once_per_token(monkeypatch: pytest.MonkeyPatch) -> None:
    token = mint_token(SECRET, "u-2", "provider")
    calls: list[str] = []
    real = jwt.decode

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(token)
        return real(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counted)
    for _ in range(3):
        assert decode_token(SECRET, token).role == "provider"
    assert len(calls) <= 1  # once, or not at all when an earlier test verified it


def test_a_token_of_another_secret_is_checked_against_it() -> None:
    token = mint_token(SECRET, "u-3", "user")
    decode_token(SECRET, token)
    with pytest.raises(Unauthorized, match="invalid"):
        decode_token("t" * 48, token)


def test_a_refused_token_is_refused_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    now = int(time.time())
    token = jwt.encode({"sub": "u-4", "role": "user", "exp": now - 1}, SECRET, "HS256")
    for _ in range(2):
        with pytest.raises(Unauthorized, match="expired"):
            decode_token(SECRET, token)
    forged = mint_token(SECRET, "u-5", "admin")[:-2] + "xx"
    for _ in range(2):
        with pytest.raises(Unauthorized, match="invalid"):
            decode_token(SECRET, forged)
