"""One HTTP POST to a notification receiver, and what its outcome says (the HTTP channel kinds
share this: Discord, ntfy, Gotify, generic webhook).

Every way a POST can end becomes a :class:`SendResult`; nothing raises for a refused,
unreachable, slow or failing receiver. The detail is shown in the delivery log, so it must never
carry a secret: the URL is never put in it (a Discord webhook URL *is* the credential, a Gotify
token rides in the query), exception texts that may quote the URL are replaced by fixed
wording, and the caller's secrets are scrubbed from whatever the receiver answered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import aiohttp

from .models import SendResult

__all__ = ["DETAIL_BODY_CHARS", "describe_failure", "post", "scrub"]

log = logging.getLogger(__name__)

# How much of an error body the detail quotes, and how much is read at all.
DETAIL_BODY_CHARS: Final = 200
_READ_LIMIT: Final = 64 * 1024
_REDACTED: Final = "[secret]"
# A secret shorter than this is not scrubbed from bodies: replacing "1" everywhere would garble
# the detail, and so short a value protects nothing anyway.
_MIN_SCRUB: Final = 4

# Reads an error reply (status, body text, headers) and returns the detail to show for it;
# None means the default "HTTP <status>: <body>".
Interpret = Callable[[int, str, Mapping[str, str]], str | None]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret in ``text`` (longest first)."""
    for secret in sorted({s for s in secrets if s and len(s) >= _MIN_SCRUB}, key=len,
                         reverse=True):
        text = text.replace(secret, _REDACTED)
    return text


def _body_excerpt(body: str) -> str:
    return " ".join(body.split())[:DETAIL_BODY_CHARS]


def describe_failure(err: BaseException, timeout: float) -> str:
    """A secret-free description of a transport failure.

    Texts of aiohttp exceptions are not used as they are: several quote the request URL.
    """
    if isinstance(err, TimeoutError):  # also aiohttp.ServerTimeoutError
        return f"timed out after {timeout:g} s"
    if isinstance(err, aiohttp.ClientSSLError):
        reason = getattr(err.os_error, "reason", None) or type(err.os_error).__name__
        return f"TLS error: {reason}"
    if isinstance(err, aiohttp.ClientConnectorError):
        if isinstance(err.os_error, ConnectionRefusedError):
            return "connection refused (nothing listens at that address)"
        return f"cannot connect: {err.os_error.strerror or type(err.os_error).__name__}"
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without answering"
    if isinstance(err, aiohttp.InvalidURL):
        return "invalid URL"
    if isinstance(err, aiohttp.ClientPayloadError):
        return "the reply was cut off"
    return f"request failed ({type(err).__name__})"


async def post(
    http: aiohttp.ClientSession,
    url: str,
    *,
    timeout: float,  # noqa: ASYNC109 - the budget of one POST, passed to aiohttp
    secrets: Iterable[str],
    json: Any = None,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    interpret: Interpret | None = None,
) -> SendResult:
    """POST once and report how it went.

    Args:
        http: The shared client session.
        url: Where to post (may be a secret; never logged or reported).
        timeout: Seconds for the whole exchange, connect to last byte.
        secrets: Values to scrub from the detail (tokens, the URL, header values).
        json: A JSON body, or
        data: a raw body.
        headers: Request headers.
        params: Query parameters.
        interpret: Turns an error reply into a detail (e.g. a rate limit's retry delay).

    Returns:
        ``ok`` for a 2xx reply. Redirects are not followed: aiohttp would repeat a redirected
        POST as a GET without its body, and the new location may hold a secret; the detail
        says to fix the URL instead.
    """
    secret_list = list(secrets)
    try:
        async with http.post(
            url,
            json=json,
            data=data,
            headers=headers,
            params=params,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as resp:
            raw = await resp.content.read(_READ_LIMIT)
            status = resp.status
            reply_headers = {k: v for k, v in resp.headers.items()}
    except (TimeoutError, aiohttp.ClientError) as err:
        return SendResult(ok=False, status=None, detail=describe_failure(err, timeout))
    if 200 <= status < 300:
        return SendResult(ok=True, status=status, detail=f"HTTP {status}")
    body = raw.decode("utf-8", errors="replace")
    if 300 <= status < 400:
        detail = f"HTTP {status}: redirected elsewhere; use the final URL"
    else:
        special = interpret(status, body, reply_headers) if interpret else None
        excerpt = _body_excerpt(scrub(body, secret_list))
        detail = special or (f"HTTP {status}: {excerpt}" if excerpt else f"HTTP {status}")
    return SendResult(ok=False, status=status, detail=scrub(detail, secret_list))
