"""JWT bearer authentication (HS256) with roles, and local token minting."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import jwt
from aiohttp import web

from shared.errors import Forbidden, Unauthorized

ROLES = frozenset({"user", "provider", "customer", "admin"})
ALGORITHM = "HS256"
VERIFIED_TOKENS = 4096  # tokens remembered as verified (a few hundred bytes each)


@dataclass(frozen=True)
class Principal:
    sub: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def require(self, *roles: str) -> Principal:
        if self.role not in roles:
            raise Forbidden(f"role {self.role!r} may not do this; needs one of {sorted(roles)}")
        return self

    def require_owner(self, owner_id: str, what: str = "resource") -> Principal:
        """Go on when the caller is `owner_id` or an admin; 403 otherwise."""
        if not self.is_admin and self.sub != owner_id:
            raise Forbidden(f"this is someone else's {what}")
        return self


def mint_token(secret: str, sub: str, role: str, *, ttl: float = 3600.0) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {sorted(ROLES)}")
    now = int(time.time())
    return jwt.encode(
        {"sub": sub, "role": role, "iat": now, "exp": now + int(ttl)}, secret, ALGORITHM
    )


def decode_token(secret: str, token: str) -> Principal:
    """The principal of a valid token; 401 otherwise.

    A client sends the same token with every request until it expires, and checking its
    signature costs more than the rest of a cheap request's Python (PyJWT's HS256 key
    preparation alone raises and catches an exception each time). So a token verified once
    is remembered, with its expiry, which is checked again on every use; a token that failed
    is never remembered, so it fails the same way each time."""
    principal, expires_at = _verified(secret, token)
    if time.time() >= expires_at:  # PyJWT's rule with no leeway: expired once exp <= now
        raise Unauthorized("the token has expired")
    return principal


@lru_cache(maxsize=VERIFIED_TOKENS)
def _verified(secret: str, token: str) -> tuple[Principal, int]:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "role", "exp"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"the token is invalid: {exc}") from None
    role = claims.get("role")
    if role not in ROLES or not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise Unauthorized("the token has no valid sub and role")
    return Principal(sub=claims["sub"], role=role), int(claims["exp"])


def authenticate(request: web.Request, secret: str, *roles: str) -> Principal:
    """The caller of the request; 401 without a valid token, 403 without one of `roles`."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("an Authorization: Bearer token is required")
    principal = decode_token(secret, token.strip())
    return principal.require(*roles) if roles else principal
