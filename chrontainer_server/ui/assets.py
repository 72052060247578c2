"""Static files: content-hashed URLs, precompressed gzip variants, immutable caching.

At start (:meth:`Assets.load`, off the event loop) every file under ``static/`` is read once,
hashed and gzipped into memory. Templates ask :meth:`Assets.url` for ``theme.js`` and get
``/static/theme.3f9a0c1d2e.js``: the hash changes whenever the content does, so a browser may
keep each URL forever (``Cache-Control: immutable``) and a new release is never served stale.

ES modules import each other by relative path (``import { api } from "./api.js"``); at load
the specifier is rewritten to the imported file's versioned URL, so the importer's hash also
changes with what it imports and no unversioned URL is ever requested.

Compression happens once here instead of per request; a client that accepts gzip gets the
precompressed bytes. Brotli is left out on purpose: on these few small text files it saves
about a tenth over gzip, not worth a native dependency and the start-up time of quality 11.
The whole set (vendored htmx included) is well under 100 KiB in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web

__all__ = ["STATIC_PREFIX", "Asset", "Assets", "accepts_gzip"]

STATIC_PREFIX: Final = "/static/"
IMMUTABLE: Final = "public, max-age=31536000, immutable"
# Only these are published; licences and notes beside the vendored files are not.
_TYPES: Final = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
}
# Formats that are already compressed gain nothing from gzip.
_COMPRESSIBLE: Final = frozenset({".css", ".js", ".svg"})
_HASH_CHARS: Final = 10
# A static relative import or re-export of a sibling module: from "./name.js".
_IMPORT: Final = re.compile(r"""(\bfrom\s*)(["'])\./([\w.-]+\.js)\2""")


@dataclass(frozen=True, slots=True, kw_only=True)
class Asset:
    """One static file held in memory.

    Attributes:
        path: Path below ``static/`` (``vendor/htmx.min.js``).
        url: Its versioned URL (``/static/vendor/htmx.min.0a1b2c3d4e.js``).
        content_type: The media type sent with it.
        body: The file's bytes.
        gzipped: The gzip variant, or None when gzip would not make it smaller.
    """

    path: str
    url: str
    content_type: str
    body: bytes
    gzipped: bytes | None

    @property
    def etag(self) -> str:
        """A strong validator: the content hash already in the URL."""
        return '"' + self.url.rsplit(".", 2)[-2] + '"'


def _versioned(path: str, digest: str) -> str:
    stem, dot, suffix = path.rpartition(".")
    if not dot:
        return f"{STATIC_PREFIX}{path}.{digest}"
    return f"{STATIC_PREFIX}{stem}.{digest}.{suffix}"


def _read(root: Path, file: Path, body: bytes | None = None) -> Asset:
    body = file.read_bytes() if body is None else body
    path = file.relative_to(root).as_posix()
    digest = hashlib.sha256(body).hexdigest()[:_HASH_CHARS]
    gzipped = None
    if file.suffix in _COMPRESSIBLE:
        # mtime=0: the same input gives the same bytes, so responses are reproducible.
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        gzipped = packed if len(packed) < len(body) else None
    content_type = _TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0]
    return Asset(path=path, url=_versioned(path, digest), content_type=content_type or "",
                 body=body, gzipped=gzipped)


class Assets:
    """The static files of the UI, keyed by path and by versioned URL.

    Args:
        root: The ``static/`` directory.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_path: dict[str, Asset] = {}
        self._by_url: dict[str, Asset] = {}

    def load(self) -> None:
        """Read, hash and compress every file; blocking, so run it in a thread."""
        files = [file for file in sorted(self.root.rglob("*"))
                 if file.is_file() and file.suffix in _TYPES]
        done: dict[Path, Asset] = {}
        for file in files:
            self._resolve(file, done, ())
        assets = list(done.values())
        self._by_path = {a.path: a for a in assets}
        self._by_url = {a.url: a for a in assets}

    def _resolve(self, file: Path, done: dict[Path, Asset], chain: tuple[Path, ...]) -> Asset:
        """Load ``file``, first loading the modules it imports to put their URLs in it."""
        if file in done:
            return done[file]
        if file in chain:
            raise ValueError(f"import cycle in static modules: {file.name}")
        body = file.read_bytes()
        if file.suffix == ".js":
            text = body.decode()

            def versioned(match: re.Match[str]) -> str:
                imported = self._resolve(file.parent / match.group(3), done, (*chain, file))
                return f"{match.group(1)}{match.group(2)}{imported.url}{match.group(2)}"

            body = _IMPORT.sub(versioned, text).encode()
        done[file] = asset = _read(self.root, file, body)
        return asset

    def __iter__(self) -> Iterator[Asset]:
        return iter(self._by_path.values())

    def url(self, path: str) -> str:
        """The versioned URL of ``path``.

        Raises:
            KeyError: No such asset; a template naming a missing file fails loudly in tests.
        """
        return self._by_path[path].url

    def handler(self, request: web.Request) -> web.StreamResponse:
        """Serve ``GET /static/...``: the exact bytes of a versioned URL, gzipped if accepted.

        Raises:
            web.HTTPNotFound: An unknown or unversioned URL (a page from an older release
                asks for a hash that no longer exists: reloading the page fixes it).
        """
        asset = self._by_url.get(request.path)
        if asset is None:
            raise web.HTTPNotFound()
        headers = {
            "Cache-Control": IMMUTABLE,
            "ETag": asset.etag,
            # Caches must key on Accept-Encoding: the same URL has two bodies.
            "Vary": "Accept-Encoding",
        }
        if request.headers.get("If-None-Match") == asset.etag:
            return web.Response(status=304, headers=headers)
        body = asset.body
        if asset.gzipped is not None and accepts_gzip(request.headers.get("Accept-Encoding", "")):
            body = asset.gzipped
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers, content_type=asset.content_type)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header allows gzip (``gzip;q=0`` refuses it)."""
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() not in ("gzip", "*"):
            continue
        quality = params.strip().removeprefix("q=").strip() if "q=" in params else "1"
        try:
            return float(quality) > 0
        except ValueError:
            return False
    return False
