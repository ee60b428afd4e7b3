"""Webhooks: when a job ends (succeeded, failed, cancelled) and was created with a
`webhook_url`, that URL gets `POST` with JSON `{"id", "type", "status", "result_url",
"error"}`, signed in `X-Paneas-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>" with JOBS_WEBHOOK_SECRET>`.

Delivery is a Celery task of its own (`housekeeping.install`), acknowledged late: a timeout,
a connection error or an answer other than 2xx is retried with exponential backoff
(JOBS_WEBHOOK_ATTEMPTS, JOBS_WEBHOOK_RETRY_BASE_SECONDS), and each attempt is recorded on the
job. Delivery is at least once: a worker that dies after the receiver answered sends again,
so receivers deduplicate by job id and status.

Targets are checked against SSRF: every address the host resolves to must be public unless
JOBS_WEBHOOK_ALLOW_PRIVATE=true. The gateway checks when the job is created (400) and the
worker again before each attempt (DNS may have changed since), then connects to the address
it checked, not to a second resolution of the name; redirects are not followed.
"""

import asyncio
import hashlib
import hmac
import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy import Row, update
from sqlalchemy.ext.asyncio import AsyncEngine

from paneas.gateway.jobs.models import jobs
from paneas.gateway.jobs.settings import JobsSettings
from paneas.services.runtime.settings import secret_problem

log = structlog.get_logger("paneas.jobs.webhooks")

SIGNATURE_HEADER = "X-Paneas-Signature"
# The statuses a webhook is sent for.
ENDED = frozenset({"succeeded", "failed", "cancelled"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookRefused(ValueError):
    """The URL is malformed, or it reaches an address webhooks may not: never delivered."""


class WebhookUnresolved(ValueError):
    """The host does not resolve (now): refused at creation, tried again at delivery."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Paneas-Signature` value of `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def backoff_seconds(retry: int, base: float) -> float:
    """How long before retry number `retry` (0 for the first retry, after attempt 1)."""
    return base * 2**retry


def schedule(attempts: int, base: float) -> list[float]:
    """Seconds from the first attempt to each attempt."""
    at, times = 0.0, [0.0]
    for retry in range(attempts - 1):
        at += backoff_seconds(retry, base)
        times.append(at)
    return times


def address_problem(address: IPAddress) -> str | None:
    """What kind of non-public address `address` is, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 reaches 127.0.0.1.
        address = address.ipv4_mapped
    kinds = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        # Shared (carrier-grade NAT), documentation, 6to4 relays and the like.
        ("non-global", not address.is_global),
    )
    return next((kind for kind, matches in kinds if matches), None)


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    # Every address `host` resolved to, all checked; a delivery connects to the first.
    addresses: tuple[IPAddress, ...]


def split_url(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise WebhookRefused(f"webhook_url {url!r} is not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused(
            f"webhook_url {url!r} is not an http(s) URL with a host, e.g. "
            "https://example.com/hooks/paneas"
        )
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused(
            f"webhook_url {parts.scheme}://{parts.hostname}...: credentials in the URL are "
            "not supported; authenticate the webhook by its signature"
        )
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def _resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    try:
        return (ipaddress.ip_address(host),)
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise WebhookUnresolved(f"webhook_url's host {host!r} does not resolve: {error}") from None
    # An IPv6 scope (fe80::1%eth0) is not part of the address.
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    return tuple(dict.fromkeys(addresses))


async def check_target(url: str, allow_private: bool) -> Target:
    """The target of `url`, resolved and checked; raises WebhookRefused or
    WebhookUnresolved."""
    scheme, host, port = split_url(url)
    addresses = await _resolve(host, port)
    if not addresses:
        raise WebhookUnresolved(f"webhook_url's host {host!r} resolves to no address")
    if not allow_private:
        for address in addresses:
            if problem := address_problem(address):
                named = "" if host == str(address) else f"{host!r} resolves to "
                raise WebhookRefused(
                    f"webhook_url {url!r}: {named}{address}, a {problem} address; webhooks "
                    "go to public addresses only unless the server sets "
                    "JOBS_WEBHOOK_ALLOW_PRIVATE=true"
                )
    return Target(url, scheme, host, port, addresses)


def secret_refusal(settings: JobsSettings) -> str | None:
    """Why webhooks cannot be signed on this server, or None."""
    if not settings.webhook_secret:
        return (
            "webhooks are off on this server: JOBS_WEBHOOK_SECRET is not set (its operator "
            "sets one, e.g. `openssl rand -hex 24`); create the job without webhook_url and "
            "poll GET /api/v1/jobs/{id}"
        )
    return secret_problem("JOBS_WEBHOOK_SECRET", settings.webhook_secret)


def payload(row: Row, public_url: str) -> bytes:
    result_url = None
    if row.status == "succeeded":
        result_url = f"{public_url.rstrip('/')}/api/v1/jobs/{row.id}/result"
    error = None
    if row.error_code:
        error = {"code": row.error_code, "message": row.error_message or ""}
    body = {
        "id": row.id,
        "type": row.type,
        "status": row.status,
        "result_url": result_url,
        "error": error,
    }
    return json.dumps(body, separators=(",", ":")).encode()


async def post(target: Target, body: bytes, secret: str, deadline_seconds: float) -> int:
    """One attempt: the answer's HTTP status; raises httpx.HTTPError when there is none."""
    address = target.addresses[0]
    default_port = 443 if target.scheme == "https" else 80
    # The connection goes to the address that was checked; the Host header and TLS (SNI and
    # the certificate's name) still name the host.
    pinned = httpx.URL(target.url).copy_with(host=str(address))
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    if target.port != default_port:
        host_header += f":{target.port}"
    headers = {
        "Host": host_header,
        "Content-Type": "application/json",
        "User-Agent": "paneas-jobs-webhook",
        SIGNATURE_HEADER: signature(secret, int(time.time()), body),
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    # No proxies from the environment: they would connect by name, around the check.
    async with httpx.AsyncClient(
        timeout=deadline_seconds, follow_redirects=False, trust_env=False
    ) as client:
        response = await client.post(pinned, content=body, headers=headers, extensions=extensions)
    return response.status_code


async def _record(
    engine: AsyncEngine, job_id: str, state: str, status: int | None, error: str | None
) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(
                webhook_state=state,
                webhook_attempts=jobs.c.webhook_attempts + 1,
                webhook_last_status=status,
                webhook_last_error=error,
            )
        )


async def deliver(engine: AsyncEngine, row: Row, settings: JobsSettings, final: bool) -> str:
    """One delivery attempt of the ended job `row`'s webhook, recorded on the job. The
    outcome: delivered, retried (another attempt should follow), failed (none should),
    refused (none can succeed) or skipped (nothing to send)."""
    if not row.webhook_url or row.status not in ENDED:
        return "skipped"
    if row.webhook_state in ("delivered", "failed", "refused"):
        # A task delivered again after its worker died: the attempt was made and recorded.
        return "skipped"
    if problem := secret_refusal(settings):
        await _record(engine, row.id, "refused", None, problem)
        return "refused"
    status, error = None, None
    try:
        target = await check_target(row.webhook_url, settings.webhook_allow_private)
        status = await post(
            target,
            payload(row, settings.public_url),
            settings.webhook_secret,
            settings.webhook_timeout_seconds,
        )
    except WebhookRefused as refused:
        await _record(engine, row.id, "refused", None, str(refused))
        log.warning("webhook refused", job_id=row.id, error=str(refused))
        return "refused"
    except WebhookUnresolved as unresolved:
        error = str(unresolved)
    except httpx.TimeoutException as timeout:
        error = f"no answer within {settings.webhook_timeout_seconds} s ({type(timeout).__name__})"
    except httpx.HTTPError as failed:
        error = f"{type(failed).__name__}: {failed}"
    if status is not None and 200 <= status < 300:
        await _record(engine, row.id, "delivered", status, None)
        log.info("webhook delivered", job_id=row.id, http_status=status)
        return "delivered"
    if status is not None:
        error = f"answered HTTP {status}; only 2xx counts as delivered (redirects are not followed)"
    await _record(engine, row.id, "failed" if final else "pending", status, error)
    log.warning("webhook attempt failed", job_id=row.id, error=error, final=final)
    return "failed" if final else "retried"
