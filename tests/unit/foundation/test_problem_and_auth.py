"""Problem bodies (RFC 9457) and JWT bearer authentication."""

from __future__ import annotations

import time

import jwt
import pytest
from aiohttp.test_utils import make_mocked_request

from shared.errors import Conflict, NotFound, Problem, ServiceUnavailable
from shared.http.auth import ALGORITHM, authenticate, decode_token, mint_token

SECRET = "unit-test-secret-long-enough-for-hs256-0123456789"
OTHER_SECRET = "another-secret-long-enough-for-hs256-9876543210"


def test_problem_body_has_the_rfc_9457_members() -> None:
    body = Problem(409, "slot taken", slot_id="s1").to_dict(instance="/bookings")
    assert body == {
        "type": "https://errors.suite.local/conflict",
        "title": "Conflict",
        "status": 409,
        "detail": "slot taken",
        "instance": "/bookings",
        "slot_id": "s1",
    }


def test_problem_without_detail_or_instance_leaves_them_out() -> None:
    body = Problem(404).to_dict()
    assert body == {
        "type": "https://errors.suite.local/not-found",
        "title": "Not Found",
        "status": 404,
    }


def test_problem_title_and_type_can_be_given() -> None:
    body = Problem(402, "no money", title="Insufficient balance", type_="urn:x").to_dict()
    assert (body["title"], body["type"], body["status"]) == ("Insufficient balance", "urn:x", 402)


def test_problem_subclasses_keep_their_status() -> None:
    assert NotFound("booking", "b1").to_dict()["detail"] == "booking b1 does not exist"
    assert Conflict("taken").status == 409
    unavailable = ServiceUnavailable("db down", retry_after=3)
    assert (unavailable.status, unavailable.retry_after) == (503, 3)


def test_a_minted_token_decodes_to_its_principal() -> None:
    principal = decode_token(SECRET, mint_token(SECRET, "u-1", "provider"))
    assert (principal.sub, principal.role) == ("u-1", "provider")


def test_minting_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        mint_token(SECRET, "u-1", "superuser")


def test_an_expired_token_is_401() -> None:
    token = mint_token(SECRET, "u-1", "user", ttl=-10)
    with pytest.raises(Problem) as caught:
        decode_token(SECRET, token)
    assert caught.value.status == 401
    assert "expired" in (caught.value.detail or "")


def test_a_token_signed_with_another_secret_is_401() -> None:
    with pytest.raises(Problem) as caught:
        decode_token(SECRET, mint_token(OTHER_SECRET, "u-1", "user"))
    assert caught.value.status == 401


def test_garbage_is_401() -> None:
    with pytest.raises(Problem) as caught:
        decode_token(SECRET, "not.a.jwt")
    assert caught.value.status == 401


@pytest.mark.parametrize("missing", ["sub", "role", "exp"])
def test_a_token_missing_a_required_claim_is_401(missing: str) -> None:
    claims = {"sub": "u-1", "role": "user", "exp": int(time.time()) + 60}
    del claims[missing]
    token = jwt.encode(claims, SECRET, ALGORITHM)
    with pytest.raises(Problem) as caught:
        decode_token(SECRET, token)
    assert caught.value.status == 401


def test_a_token_with_an_unknown_role_is_401() -> None:
    token = jwt.encode({"sub": "u-1", "role": "root", "exp": int(time.time()) + 60}, SECRET)
    with pytest.raises(Problem) as caught:
        decode_token(SECRET, token)
    assert caught.value.status == 401


def test_a_token_with_an_empty_subject_is_401() -> None:
    token = jwt.encode({"sub": "", "role": "user", "exp": int(time.time()) + 60}, SECRET)
    with pytest.raises(Problem) as caught:
        decode_token(SECRET, token)
    assert caught.value.status == 401


def _request(headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return make_mocked_request("GET", "/wallet", headers=headers)


def test_authenticate_returns_the_caller_with_an_allowed_role() -> None:
    token = mint_token(SECRET, "c-1", "customer")
    request = _request({"Authorization": f"Bearer {token}"})
    principal = authenticate(request, SECRET, "customer", "admin")
    assert principal.sub == "c-1"


def test_authenticate_with_the_wrong_role_is_403() -> None:
    token = mint_token(SECRET, "u-1", "user")
    with pytest.raises(Problem) as caught:
        authenticate(_request({"Authorization": f"Bearer {token}"}), SECRET, "admin")
    assert caught.value.status == 403


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz"])
def test_authenticate_without_a_bearer_token_is_401(header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    with pytest.raises(Problem) as caught:
        authenticate(_request(headers), SECRET, "user")
    assert caught.value.status == 401
