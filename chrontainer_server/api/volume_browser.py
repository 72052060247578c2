"""The read-only volume file browser: directory listings and text previews.

Paths are relative to the volume's root (``/conf`` and ``conf`` are the same); ``..`` and paths
through symbolic links are refused with 400. Listings are for everyone who may read the host;
previews show file contents, so they are for operators, and a scoped API key needs the whole
host (a volume is shared by a host's containers).
"""

from __future__ import annotations

from typing import Any, Final

import voluptuous as vol
from aiohttp import web

from chrontainer_core.volumes.models import DirectoryListing, FilePreview

from .context import core, require_whole_host
from .spec import ApiRoutes, json_response
from .volumes import ONE, ONE_PARAMS

__all__ = ["routes"]

routes = ApiRoutes(tag="volumes")

# Characters: the request line (aiohttp's limit: 8190 bytes) must hold the path percent-encoded,
# up to 12 bytes a character. The core itself takes paths up to 4096.
MAX_PATH: Final = 512
PATH: Final = vol.All(str, vol.Length(max=MAX_PATH))
BROWSE_QUERY = {vol.Optional("path", default="",
                             description="a directory, from the volume's root; empty: the "
                                         "root"): PATH}
FILE_QUERY = {vol.Required("path", description="a text file, from the volume's root"): PATH}


@routes.get(ONE + "/browse", path_params=ONE_PARAMS, query=BROWSE_QUERY,
            response=DirectoryListing, errors=(403, 404, 502))
async def browse_volume(request: web.Request, *, path_params: dict[str, Any],
                        query: dict[str, Any]) -> web.StreamResponse:
    """A directory of a volume: its entries with size and modification time, directories
    first.

    Symbolic links are listed with their target, never followed. A directory's size sums the
    files below it. Past 10000 entries or 512 MiB below the directory the listing stops with
    ``truncated`` and ``truncated_reason``.
    """
    host, name = path_params["host"], path_params["name"]
    return json_response(await core(request).volume_browser.browse(host, name, query["path"]))


@routes.get(ONE + "/file", path_params=ONE_PARAMS, query=FILE_QUERY, response=FilePreview,
            errors=(403, 404, 502))
async def preview_volume_file(request: web.Request, *, path_params: dict[str, Any],
                              query: dict[str, Any]) -> web.StreamResponse:
    """The beginning of a text file of a volume (.txt .log .conf .json .yaml .yml .xml .md .sh
    .env .ini .toml): up to 1 MiB as UTF-8, ``truncated`` when the file is longer.

    A directory, another extension or a symbolic link is refused with 400 (field ``path``).
    """
    host, name = path_params["host"], path_params["name"]
    require_whole_host(request, host)
    return json_response(await core(request).volume_browser.preview(host, name, query["path"]))
