"""The Registry v2 HTTP client: the only code that talks HTTP to registries.

Authentication follows the Docker registry protocol. A request goes out anonymously (or with a
cached token); a ``401`` carries ``WWW-Authenticate``:

- ``Basic realm="..."``: the request is repeated with HTTP Basic credentials;
- ``Bearer realm="https://auth/token",service="...",scope="repository:x:pull"``: a token is
  fetched from the realm (``GET realm?service=&scope=``, with Basic credentials when there are
  any), then the request is repeated with ``Authorization: Bearer <token>``. Tokens are cached
  per scope until shortly before they expire.

Credentials go only to the registry's own origin and to the realm its challenge names, never
along a redirect (redirects are not followed). Errors map to the core's tree: a refusal after
authenticating is :class:`RegistryAuthFailed`, 404 / ``NAME_UNKNOWN`` is :class:`ImageNotFound`,
connection failures, timeouts and TLS errors are :class:`RegistryUnreachable`, anything else
:class:`RegistryError`. Nothing here logs a credential or a token.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

import aiohttp

from ..errors import ImageNotFound, RegistryAuthFailed, RegistryError, RegistryUnreachable
from .models import CatalogPage

__all__ = [
    "DEFAULT_TIMEOUT",
    "Challenge",
    "RegistryClient",
    "next_last",
    "parse_challenge",
]

log = logging.getLogger(__name__)

# Bounded everywhere: a registry that hangs must not hold an API request forever.
DEFAULT_TIMEOUT: Final = aiohttp.ClientTimeout(total=20, connect=5, sock_read=15)
# Catalog pages and tag lists are JSON documents; a few MB is plenty for 1000 names.
MAX_BODY: Final = 8 * 1024 * 1024
# A token is renewed this long before it expires, so it never expires in flight.
TOKEN_MARGIN: Final = 10.0
# Registries may omit expires_in; the spec's default is 60 seconds.
DEFAULT_TOKEN_TTL: Final = 60.0
MAX_TAG_PAGES: Final = 20
_AUTH_PARAM: Final = re.compile(r'([A-Za-z][\w-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')
_LINK: Final = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,]+)*)')
_DIGEST: Final = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}")
# Every manifest kind an engine pulls: asking for the list/index first makes the registry
# answer the digest engines record in RepoDigests for multi-platform images.
MANIFEST_ACCEPT: Final = ", ".join((
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
))


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: the scheme (lower case) and its parameters."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")


def parse_challenge(header: str) -> Challenge | None:
    """Parse ``Basic realm="x"`` or ``Bearer realm="...",service="...",scope="a:b:pull,push"``.

    Quoted values may contain commas (scopes do) and backslash escapes. Returns None for an
    empty or unparsable header.
    """
    text = header.strip()
    scheme, _, rest = text.partition(" ")
    if not scheme or not re.fullmatch(r"[A-Za-z][\w-]*", scheme):
        return None
    params: dict[str, str] = {}
    for match in _AUTH_PARAM.finditer(rest):
        value = match.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[match.group(1).lower()] = value
    return Challenge(scheme=scheme.lower(), params=params)


def next_last(link: str | None) -> str | None:
    """The ``last`` cursor of the ``rel="next"`` link of a paged answer, if there is one.

    ``Link: </v2/_catalog?last=b&n=2>; rel="next"`` -> ``"b"``.
    """
    if not link:
        return None
    for match in _LINK.finditer(link):
        target, params = match.group(1), match.group(2)
        rels = re.findall(r'rel\s*=\s*"?([^";]+)"?', params)
        if any("next" in rel.split() for rel in rels):
            values = parse_qs(urlsplit(target).query).get("last")
            return values[0] if values else None
    return None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


@dataclass(slots=True)
class _Token:
    value: str
    expires: float


class RegistryClient:
    """A client of one registry's Registry v2 API.

    Args:
        http: The shared HTTP session (injected, DESIGN §3).
        url: Where the API answers (``https://ghcr.io``, ``http://127.0.0.1:5001``).
        registry: The canonical host, for messages and error details.
        username: The login, or None for anonymous access.
        password: Its password or token.
        timeout: Per-request bounds.
    """

    def __init__(self, http: aiohttp.ClientSession, *, url: str, registry: str,
                 username: str | None = None, password: str | None = None,
                 timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT) -> None:
        self._http = http
        self.url = url.rstrip("/")
        self.registry = registry
        self._username = username or None
        self._password = password or ""
        self._timeout = timeout
        self._basic = False  # the registry asked for Basic: send it up front from now on
        self._tokens: dict[str, _Token] = {}
        # What ``GET /v2/`` answered once (see _prepare): None = not asked yet.
        self._probed = False
        self._bearer: Challenge | None = None

    @property
    def has_credentials(self) -> bool:
        return self._username is not None

    # -- public API --------------------------------------------------------------------------

    async def ping(self) -> None:
        """Check the API answers ``GET /v2/``, logging in as the registry asks.

        Raises:
            RegistryAuthFailed: The credentials were refused (or none were given and the
                registry wants some).
            RegistryUnreachable: The registry did not answer.
            RegistryError: It answered something else.
        """
        await self._get("/v2/", scope="")

    async def catalog(self, *, n: int = 100, last: str | None = None) -> CatalogPage:
        """One page of the registry's repositories (``GET /v2/_catalog?n=&last=``).

        Raises:
            RegistryAuthFailed, RegistryUnreachable, RegistryError: See :meth:`ping`.
        """
        query: dict[str, str | int] = {"n": n}
        if last:
            query["last"] = last
        doc, headers = await self._get("/v2/_catalog?" + urlencode(query),
                                       scope="registry:catalog:*")
        repositories = doc.get("repositories") if isinstance(doc, dict) else None
        if repositories is None:
            repositories = []
        if not isinstance(repositories, list) or not all(
                isinstance(r, str) for r in repositories):
            raise self._error("answered a catalog that is not a list of names")
        return CatalogPage(repositories=tuple(repositories),
                           next=next_last(headers.get("Link")))

    async def tags(self, repository: str) -> list[str]:
        """Every tag of ``repository`` (``GET /v2/<name>/tags/list``, following pages).

        Raises:
            ImageNotFound: The registry has no such repository.
            RegistryAuthFailed, RegistryUnreachable, RegistryError: See :meth:`ping`.
        """
        tags: list[str] = []
        path = f"/v2/{quote(repository, safe='/')}/tags/list?n=1000"
        for _ in range(MAX_TAG_PAGES):
            doc, headers = await self._get(path, scope=f"repository:{repository}:pull",
                                           what=repository)
            page = doc.get("tags") if isinstance(doc, dict) else None
            if page is None:
                page = []
            if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                raise self._error("answered a tag list that is not a list of names")
            tags.extend(page)
            cursor = next_last(headers.get("Link"))
            if cursor is None:
                break
            path = (f"/v2/{quote(repository, safe='/')}/tags/list?"
                    + urlencode({"n": 1000, "last": cursor}))
        return tags

    async def manifest_digest(self, repository: str, reference: str) -> str:
        """The digest the registry serves for ``repository:reference`` (a tag or a digest).

        ``HEAD /v2/<repository>/manifests/<reference>`` accepting manifest lists, OCI indexes
        and single manifests; the answer's ``Docker-Content-Digest``. A registry that omits the
        header is asked once more with GET, and the digest is the SHA-256 of the manifest bytes.
        Authentication is settled beforehand (see :meth:`_prepare`), so a registry that behaves
        sees one manifest request per call.

        Raises:
            ImageNotFound: The registry has no such repository or tag.
            RegistryAuthFailed: Credentials are missing or refused.
            RegistryUnreachable: The registry did not answer.
            RegistryError: It answered something else (or an unusable digest).
        """
        scope = f"repository:{repository}:pull"
        subject = (f"{repository}@{reference}" if ":" in reference
                   else f"{repository}:{reference}")
        path = (f"/v2/{quote(repository, safe='/')}/manifests/"
                f"{quote(reference, safe=':')}")
        await self._prepare(scope)
        for method in ("HEAD", "GET"):
            status, body, headers, authenticated = await self._send(
                method, path, scope=scope, accept=MANIFEST_ACCEPT)
            if not 200 <= status < 300:
                codes, _ = _registry_errors(body)
                if status == 404 or codes & {"MANIFEST_UNKNOWN", "NAME_UNKNOWN"}:
                    raise self._error(f"has no {subject}", ImageNotFound)
                raise self._failure(status, body, headers, what=repository,
                                    authenticated=authenticated)
            digest = headers.get("Docker-Content-Digest", "").strip()
            if digest:
                if not _DIGEST.fullmatch(digest):
                    raise self._error(f"answered an unusable digest for {subject}")
                return digest
            if method == "GET":
                return "sha256:" + hashlib.sha256(body).hexdigest()
        raise AssertionError("unreachable: the GET round returns or raises")

    # -- requests ----------------------------------------------------------------------------

    def _error(self, message: str, cls: type[RegistryError] = RegistryError) -> RegistryError:
        return cls(f"{self.registry} {message}", details={"registry": self.registry})

    def _unreachable(self, err: BaseException) -> RegistryUnreachable:
        reason = str(err) or type(err).__name__
        if isinstance(err, asyncio.TimeoutError):
            reason = "timed out"
        return RegistryUnreachable(f"{self.registry} is unreachable: {reason}",
                                   details={"registry": self.registry})

    def _basic_header(self) -> str:
        raw = f"{self._username or ''}:{self._password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def _cached_token(self, scope: str) -> str | None:
        token = self._tokens.get(scope)
        if token is not None and token.expires > time.monotonic():
            return token.value
        return None

    async def _get(self, path: str, *, scope: str,
                   what: str | None = None) -> tuple[Any, Mapping[str, str]]:
        """GET ``path`` with authentication as needed; the JSON body and the headers."""
        status, body, response_headers, authenticated = await self._send(
            "GET", path, scope=scope, accept="application/json")
        return self._result(status, body, response_headers, what=what,
                            authenticated=authenticated), response_headers

    async def _prepare(self, scope: str) -> None:
        """Settle authentication for ``scope`` before the request itself, as engines do.

        Without this the first request of a scope goes out anonymously, draws a 401 and goes
        out again: two requests where callers that count them (update checks) expect one. The
        registry's challenge is learnt once from ``GET /v2/``; then Basic is sent up front, or
        a token for ``scope`` is fetched from the challenge's realm (cached as usual). When the
        registry later refuses, :meth:`_send` still answers its challenge as before.
        """
        if self._cached_token(scope) is not None or (self._basic and
                                                     self._username is not None):
            return
        if not self._probed:
            status, _, headers = await self._request(self.url + "/v2/",
                                                     {"Accept": "application/json"})
            self._probed = True
            challenge = (parse_challenge(headers.get("WWW-Authenticate", ""))
                         if status == 401 else None)
            if challenge is not None and challenge.scheme == "basic":
                self._basic = True
            elif challenge is not None and challenge.scheme == "bearer":
                self._bearer = challenge
        if self._bearer is not None:
            await self._fetch_token(self._bearer, scope)

    async def _send(self, method: str, path: str, *, scope: str,
                    accept: str) -> tuple[int, bytes, Mapping[str, str], bool]:
        """``method path`` with authentication as needed: the status, body, headers, and
        whether the request that answered carried credentials or a token."""
        url = self.url + path
        headers: dict[str, str] = {"Accept": accept}
        token = self._cached_token(scope)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        elif self._basic and self._username is not None:
            headers["Authorization"] = self._basic_header()
        authenticated = "Authorization" in headers
        for attempt in range(2):
            status, body, response_headers = await self._request(url, headers, method=method)
            if status != 401:
                break
            challenge = parse_challenge(response_headers.get("WWW-Authenticate", ""))
            if attempt == 1 or challenge is None:
                break
            if challenge.scheme == "basic":
                if self._username is None or authenticated:
                    break
                self._basic = True
                headers["Authorization"] = self._basic_header()
            elif challenge.scheme == "bearer":
                token_scope = challenge.scope if challenge.scope is not None else scope
                value = await self._fetch_token(challenge, token_scope)
                self._tokens[scope] = self._tokens[token_scope]
                headers["Authorization"] = f"Bearer {value}"
            else:
                raise self._error(f"asks for an unsupported authentication: "
                                  f"{challenge.scheme}")
            authenticated = True
        return status, body, response_headers, authenticated

    def _result(self, status: int, body: bytes, headers: Mapping[str, str], *,
                what: str | None, authenticated: bool) -> Any:
        if 200 <= status < 300:
            if not body:
                return {}
            try:
                return json.loads(body)
            except ValueError:
                raise self._error("answered something that is not JSON") from None
        raise self._failure(status, body, headers, what=what, authenticated=authenticated)

    def _failure(self, status: int, body: bytes, headers: Mapping[str, str], *,
                 what: str | None, authenticated: bool) -> RegistryError:
        """The error a non-2xx answer means."""
        codes, message = _registry_errors(body)
        if status in (401, 403):
            if authenticated and self.has_credentials:
                return self._error("refused the credentials" if status == 401
                                   else f"denied access{': ' + message if message else ''}",
                                   RegistryAuthFailed)
            return self._error("requires credentials" if status == 401
                               else f"denied access{': ' + message if message else ''}",
                               RegistryAuthFailed)
        if status == 404 or "NAME_UNKNOWN" in codes:
            subject = f"has no repository {what}" if what else "has no such resource"
            return self._error(subject, ImageNotFound)
        if 300 <= status < 400:
            return self._error(f"redirected to {headers.get('Location', '?')[:200]} "
                               "(check the registry URL)")
        detail = f": {message}" if message else ""
        return self._error(f"answered HTTP {status}{detail}")

    async def _request(self, url: str, headers: Mapping[str, str], *,
                       params: Mapping[str, str] | None = None, method: str = "GET"
                       ) -> tuple[int, bytes, Mapping[str, str]]:
        try:
            async with self._http.request(method, url, headers=headers, params=params,
                                          allow_redirects=False,
                                          timeout=self._timeout) as resp:
                body = await resp.content.read(MAX_BODY + 1)
                if len(body) > MAX_BODY:
                    raise self._error("answered more than 8 MB")
                return resp.status, body, resp.headers
        except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as err:
            raise self._unreachable(err) from err
        except (aiohttp.InvalidURL, ValueError) as err:
            raise self._error(f"has an unusable URL ({err})") from err
        except aiohttp.ClientError as err:
            raise self._error(f"failed: {err}") from err

    async def _fetch_token(self, challenge: Challenge, scope: str) -> str:
        """Get a bearer token from the challenge's realm (cached per scope until it expires)."""
        realm = challenge.realm
        if not realm:
            raise self._error("sent a Bearer challenge without a realm")
        realm = urljoin(self.url + "/", realm)
        realm_scheme = urlsplit(realm).scheme
        if realm_scheme not in ("http", "https"):
            raise self._error("names a token realm that is not an http(s) URL")
        if urlsplit(self.url).scheme == "https" and realm_scheme == "http":
            # The password would travel in clear to a realm the registry chose.
            raise self._error("names an insecure (http) token realm")
        params: dict[str, str] = {}
        if challenge.service:
            params["service"] = challenge.service
        if scope:
            params["scope"] = scope
        if self._username is not None:
            params["account"] = self._username
        headers = {"Accept": "application/json"}
        if self._username is not None:
            headers["Authorization"] = self._basic_header()
        status, body, _ = await self._request(realm, headers, params=params)
        if status in (401, 403):
            if self._username is None:
                raise self._error("requires credentials", RegistryAuthFailed)
            raise self._error("refused the credentials", RegistryAuthFailed)
        if not 200 <= status < 300:
            raise self._error(f"token service answered HTTP {status}")
        try:
            doc = json.loads(body)
        except ValueError:
            raise self._error("token service answered something that is not JSON") from None
        value = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(value, str) or not value:
            raise self._error("token service answered no token")
        ttl = doc.get("expires_in")
        if not isinstance(ttl, int | float) or isinstance(ttl, bool) or ttl <= 0:
            ttl = DEFAULT_TOKEN_TTL
        self._tokens[scope] = _Token(value=value,
                                     expires=time.monotonic() + max(ttl - TOKEN_MARGIN, 1.0))
        return value


def _registry_errors(body: bytes) -> tuple[set[str], str]:
    """The error codes and first message of a registry's ``{"errors": [...]}`` body."""
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        return set(), ""
    if not isinstance(doc, dict) or not isinstance(doc.get("errors"), list):
        return set(), ""
    codes: set[str] = set()
    message = ""
    for entry in doc["errors"]:
        if isinstance(entry, dict):
            if isinstance(entry.get("code"), str):
                codes.add(entry["code"])
            if not message and isinstance(entry.get("message"), str):
                message = entry["message"][:200]
    return codes, message
