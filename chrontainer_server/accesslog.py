"""The access log, without secrets: webhook tokens travel in the URL path, so they are cut out.

:class:`RedactingAccessLogger` writes aiohttp's usual access line (same format, same logger),
except that ``/webhooks/trigger/<token>`` reads ``/webhooks/trigger/<redacted>`` wherever the
line would show it: the request line, and any header the format prints (a ``Referer`` of a
page opened from a trigger URL). ``serve`` installs it; DESIGN §3 "Logging".
"""

from __future__ import annotations

import re
from typing import Any, Final, cast

from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["REDACTED", "RedactingAccessLogger", "redact"]

REDACTED: Final = "<redacted>"
_MARK: Final = "/webhooks/trigger/"
# Everything after the marker up to the query string or fragment is the token (or junk that
# someone sent as one: it is redacted too).
_TOKEN: Final = re.compile(r"(/webhooks/trigger/)[^?#\s\"]*")


def redact(text: str) -> str:
    """``text`` with every webhook token replaced by :data:`REDACTED`."""
    if _MARK not in text:
        return text
    return _TOKEN.sub(rf"\g<1>{REDACTED}", text)


class _RedactedRequest:
    """What the access log formatters read of a request, tokens removed; anything else is
    the real request's."""

    __slots__ = ("_request", "headers", "path", "path_qs", "raw_path")

    def __init__(self, request: BaseRequest) -> None:
        self._request = request
        self.path = redact(request.path)
        self.path_qs = redact(request.path_qs)
        self.raw_path = redact(request.raw_path)
        self.headers = CIMultiDictProxy(CIMultiDict(
            (name, redact(value)) for name, value in request.headers.items()))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)


def _needs_redaction(request: BaseRequest) -> bool:
    # Percent-encoded paths decode before matching (aiohttp routes the decoded path), so
    # check both spellings; headers are short and few.
    return (_MARK in request.raw_path or _MARK in request.path
            or any(_MARK in value for value in request.headers.values()))


class RedactingAccessLogger(AccessLogger):
    """aiohttp's access logger, with webhook tokens redacted (see the module docstring).

    Use it as ``web.AppRunner(app, access_log_class=RedactingAccessLogger)``.
    """

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        """Write the access line of one request, tokens redacted."""
        if request is not None and _needs_redaction(request):
            request = cast(BaseRequest, _RedactedRequest(request))
        super().log(request, response, time)
