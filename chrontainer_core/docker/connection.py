"""EngineConnection: one Docker Engine connection and the error mapping of every call.

Every engine call goes through :meth:`EngineConnection._request` /
:meth:`EngineConnection._response`, which map aiodocker/aiohttp failures onto the core's error
tree (``raise ... from err``). Raw calls use aiodocker's private ``_query`` helper (pinned to
``aiodocker>=0.27,<0.28`` for that reason). The API version is negotiated with the engine,
never pinned.

:class:`~chrontainer_core.docker.host.DockerHost` is this connection plus the typed calls of
each Docker concept (``volumes.py``, ``networks.py``, ``archive.py`` hold theirs as mixins).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError

from ..errors import (
    ChrontainerError,
    Conflict,
    EngineError,
    HostUnreachable,
    InvalidInput,
    NotFound,
)
from ..models import EngineVersion, HostSpec
from . import parse
from .tls import build_ssl_context, describe_tls_failure, https_url

JSON = dict[str, Any]

# aiodocker reports a failed connection as a DockerError with this pseudo status.
_CONNECT_FAILED = 900


def _map_error(
    host: str, what: str, err: BaseException, *, tls: bool = False,
    refusal: type[ChrontainerError] | None = None,
) -> ChrontainerError:
    """Translate a lower-layer failure into the core's error tree.

    ``tls``: the host uses TLS (connection failures then get a TLS-specific explanation).
    ``refusal``: the error an engine's answer becomes (with the engine's own message) when
    the failure is a third party's, not the host's: a pull's registry.
    """
    if isinstance(err, DockerError):
        message = str(err.message).strip()
        if err.status == _CONNECT_FAILED:
            tls_failure = describe_tls_failure(err, tls_host=tls)
            if tls_failure is not None:
                return HostUnreachable(f"host {host}: {tls_failure}")
            return HostUnreachable(f"host {host}: cannot connect to the Docker engine")
        if err.status == 400 and "HTTPS server" in message:
            # A TLS engine answering a plain-HTTP request: a host configuration problem, not
            # bad input of the request being made.
            return HostUnreachable(
                f"host {host}: the engine requires TLS: set the host's CA certificate, "
                "client certificate and client key"
            )
        if refusal is not None:
            return refusal(message, details={"engine_status": err.status})
        if err.status == 404:
            return NotFound(f"{what}: {message}")
        # The engine's 403 means "not possible in this state" (a network with endpoints, an
        # address already taken, a predefined network), never an authorization failure.
        if err.status in (403, 409):
            return Conflict(f"{what}: {message}")
        if err.status == 400:
            return InvalidInput(f"{what}: {message}")
        return EngineError(f"host {host}: {what} failed: [{err.status}] {message}")
    if isinstance(err, TimeoutError):
        return HostUnreachable(f"host {host}: the Docker engine did not answer in time")
    tls_failure = describe_tls_failure(err)
    if tls_failure is not None:
        return HostUnreachable(f"host {host}: {tls_failure}")
    return HostUnreachable(f"host {host}: {type(err).__name__}: {err}")


_LOWER_ERRORS = (DockerError, aiohttp.ClientError, TimeoutError, OSError, ValueError)


class EngineConnection:
    """A connection to one Docker engine (``unix://`` or ``tcp://``).

    Args:
        spec: the host's slug, display name, URL and TLS material (``tcp://`` with TLS is
            spoken as ``https://``).
        connect_timeout: seconds to establish a connection.
        request_timeout: seconds for a whole non-streaming request.
    """

    def __init__(
        self, spec: HostSpec, *, connect_timeout: float = 5.0, request_timeout: float = 30.0
    ) -> None:
        self.spec = spec
        self._timeout = aiohttp.ClientTimeout(
            total=request_timeout, connect=connect_timeout, sock_connect=connect_timeout
        )
        # Streams (logs, events) have no total timeout but still must connect in time.
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None, sock_read=None, connect=connect_timeout, sock_connect=connect_timeout
        )
        self._client: aiodocker.Docker | None = None
        # Built from spec.tls on first use; a changed spec.tls gets a new DockerHost.
        self._ssl_context: ssl.SSLContext | None = None
        # Streams (logs, events) currently open; lets tests and diagnostics see that a
        # client disconnect really closed the engine side.
        self.open_streams = 0

    @property
    def slug(self) -> str:
        return self.spec.slug

    def _docker(self) -> aiodocker.Docker:
        if self._client is None:
            url, ssl_context = self.spec.url, None
            if self.spec.tls is not None:
                # Normally prepared off the loop by _prepare_tls(); a direct caller gets it
                # built here (a few milliseconds of file I/O).
                if self._ssl_context is None:
                    self._ssl_context = build_ssl_context(self.slug, self.spec.tls)
                url, ssl_context = https_url(url), self._ssl_context
            # aiodocker wants a running loop for its session, so create lazily.
            self._client = aiodocker.Docker(
                url=url, timeout=self._timeout, ssl_context=ssl_context
            )
        return self._client

    async def _prepare_tls(self) -> None:
        """Build the SSL context of a TLS host once, in a thread (it writes temporary files).

        Raises:
            SecretUnavailable: The stored client key could not be decrypted.
            HostUnreachable: The TLS material cannot be used.
        """
        if self.spec.tls is not None and self._ssl_context is None:
            self._ssl_context = await asyncio.to_thread(
                build_ssl_context, self.slug, self.spec.tls
            )

    async def close(self) -> None:
        """Close the connection pool; the next call reconnects."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    @asynccontextmanager
    async def _response(
        self,
        what: str,
        path: str,
        method: str = "GET",
        *,
        params: Mapping[str, Any] | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        refusal: type[ChrontainerError] | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Perform one request and yield the response, mapping every failure (``refusal``:
        see :func:`_map_error`)."""
        await self._prepare_tls()
        try:
            async with self._docker()._query(
                path,
                method,
                params=dict(params) if params else None,
                data=data,
                headers=dict(headers) if headers else None,
                timeout=self._stream_timeout if stream else self._timeout,
            ) as response:
                self.open_streams += stream
                try:
                    yield response
                finally:
                    self.open_streams -= stream
                    # Release the connection now: a half-read stream must not linger.
                    response.close()
        except _LOWER_ERRORS as err:
            raise _map_error(self.slug, what, err, tls=self.spec.tls is not None,
                             refusal=refusal) from err

    async def _request(
        self,
        what: str,
        path: str,
        method: str = "GET",
        *,
        params: Mapping[str, Any] | None = None,
        data: Any = None,
    ) -> tuple[int, Any]:
        """Perform a request and return (status, decoded JSON body or None)."""
        payload = json.dumps(data) if data is not None else None
        async with self._response(what, path, method, params=params, data=payload) as response:
            try:
                body = await response.read()
            except _LOWER_ERRORS as err:
                raise _map_error(self.slug, what, err) from err
            if not body or "json" not in response.headers.get("Content-Type", ""):
                return response.status, None
            return response.status, json.loads(body)

    # -- engine ----------------------------------------------------------------------------

    async def version(self) -> EngineVersion:
        """``GET /version``; also a cheap liveness check."""
        _, doc = await self._request("version", "version")
        return parse.parse_version(doc)

    async def api_version(self) -> tuple[int, int]:
        """The API version negotiated with the engine, e.g. ``(1, 41)``."""
        client = self._docker()
        if client.api_version == "auto":
            # aiodocker negotiates on its first request; make one if none happened yet.
            await self.version()
            client = self._docker()
        return parse.parse_api_version(client.api_version)

    async def _system_df(self) -> JSON:
        _, doc = await self._request("disk usage", "system/df")
        if not isinstance(doc, dict):
            raise EngineError(f"host {self.slug}: disk usage returned no document")
        return doc
