"""Short-lived, single-use tickets that let a browser open the live-stream WebSocket
(`?ticket=...`) without putting its bearer token in the URL.

A ticket is `base64url(payload).base64url(HMAC-SHA256(secret, payload))`; the payload holds
an id, an expiry and an HMAC of the token it was issued to (never the token), so the gateway
can forward the right bearer token to the ASR service, and optionally the session
configuration it was minted with (a Realtime client secret's `session`), signed with it so
the browser that holds it cannot change it. Any replica with the same secret
(`GATEWAY_TICKET_SECRET`) accepts it; "single use" is remembered by the replica that
redeemed it, so a load balancer should not spread one client's reconnects over replicas
within a ticket's lifetime (60 s by default).
"""

import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Redemption(NamedTuple):
    token: str
    # The session configuration the ticket was issued with, if any.
    session: dict | None


class TicketBook:
    def __init__(
        self, secret: bytes, ttl_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        if not secret:
            raise ValueError("the ticket secret must not be empty")
        self._secret = secret
        self._ttl = ttl_seconds
        self._clock = clock
        # Redeemed ticket ids -> their expiry; forgotten once expired (they fail anyway).
        self._redeemed: dict[str, float] = {}

    def _sign(self, data: bytes) -> bytes:
        return hmac.new(self._secret, data, hashlib.sha256).digest()

    def _subject(self, token: str) -> str:
        return _encode(self._sign(b"token:" + token.encode()))[:32]

    def issue(
        self, token: str, ttl_seconds: float | None = None, session: dict | None = None
    ) -> tuple[str, int]:
        """A ticket for `token`, and its lifetime in whole seconds (the book's unless
        `ttl_seconds` says otherwise: Realtime client secrets choose theirs); `session` rides
        along, signed, and comes back on redemption."""
        ttl = self._ttl if ttl_seconds is None else ttl_seconds
        payload = {
            "jti": secrets.token_urlsafe(16),
            "exp": self._clock() + ttl,
            "sub": self._subject(token),
        }
        if session is not None:
            payload["ses"] = session
        data = json.dumps(payload, separators=(",", ":")).encode()
        return f"{_encode(data)}.{_encode(self._sign(data))}", math.ceil(ttl)

    def redeem(self, ticket: str, tokens: Sequence[str]) -> Redemption | None:
        """The token the ticket was issued to (and its session), if the ticket is genuine,
        unexpired, unused and its token is still accepted; the ticket is used up either way
        once genuine."""
        body, _, signature = ticket.partition(".")
        try:
            data, mac = _decode(body), _decode(signature)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(mac, self._sign(data)):
            return None
        try:
            payload = json.loads(data)
            jti, expires, subject = str(payload["jti"]), float(payload["exp"]), payload["sub"]
            session = payload.get("ses")
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        now = self._clock()
        self._forget_expired(now)
        if expires <= now or jti in self._redeemed:
            return None
        self._redeemed[jti] = expires
        for token in tokens:
            if hmac.compare_digest(self._subject(token), str(subject)):
                return Redemption(token, session if isinstance(session, dict) else None)
        return None

    def _forget_expired(self, now: float) -> None:
        expired = [jti for jti, expires in self._redeemed.items() if expires <= now]
        for jti in expired:
            del self._redeemed[jti]
