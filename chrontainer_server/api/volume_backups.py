"""Volume backup (a streamed .tar.gz download) and restore (a streamed upload).

Both need a key scoped to the whole host (a volume is shared by a host's containers) and the
operator role (a backup holds every file's contents).

The backup's status line goes out only once the first compressed bytes exist, so an unknown
volume or an unreachable engine still gets its JSON error. An engine failure after that cuts
the connection: the client sees an incomplete download, never a short file that looks whole.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import voluptuous as vol
from aiohttp import web

from chrontainer_core.errors import ChrontainerError, InvalidInput, TooLarge
from chrontainer_core.volumes.models import RestoreResult

from .context import actor, core, require_whole_host
from .spec import ApiRoutes, Content, json_response
from .volumes import ONE, ONE_PARAMS

__all__ = ["routes"]

log = logging.getLogger(__name__)

routes = ApiRoutes(tag="volumes")

GZIP: Final = "application/gzip"
# What a restore accepts: gzip (as browsers and curl label it) or a plain tar.
UPLOAD_TYPES: Final = (GZIP, "application/x-gzip", "application/x-tar",
                       "application/octet-stream")
UPLOAD_CHUNK: Final = 64 * 1024
BINARY: Final = {"type": "string", "format": "binary"}
RESTORE_QUERY = {
    vol.Optional("confirm", description="the volume's name: replaces an existing volume's "
                                        "contents"): vol.All(str, vol.Length(max=255)),
    vol.Optional("stop_containers", default=False,
                 description="stop the running containers using the volume for the restore "
                             "and start them again afterwards"): vol.Boolean(),
}




@routes.get(ONE + "/backup", path_params=ONE_PARAMS, response=Content(GZIP, BINARY),
            errors=(403, 404, 502))
async def backup_volume(request: web.Request, *,
                        path_params: dict[str, Any]) -> web.StreamResponse:
    """Download a volume as a .tar.gz, streamed."""
    host, name = path_params["host"], path_params["name"]
    require_whole_host(request, host)
    response = web.StreamResponse()
    try:
        async with core(request).volume_backups.backup(host, name,
                                                       actor=actor(request)) as backup:
            first = await anext(backup.chunks, b"")
            response.headers.update({
                "Content-Type": GZIP,
                "Content-Disposition": f'attachment; filename="{backup.filename}"',
                "Cache-Control": "no-store",
            })
            await response.prepare(request)
            await response.write(first)
            async for chunk in backup.chunks:
                await response.write(chunk)
            await response.write_eof()
    except ChrontainerError as err:
        if not response.prepared:
            raise
        log.warning("host %s: backup of volume %s ended early: %s", host, name, err.message)
        if request.transport is not None:
            request.transport.abort()
    except ConnectionError:
        # The client went away: leaving the backup's context ended the engine's stream.
        log.info("host %s: backup of volume %s: the client went away", host, name)
        if not response.prepared:
            raise
    return response


@routes.post(ONE + "/restore", path_params=ONE_PARAMS, query=RESTORE_QUERY,
             upload=[Content(t) for t in UPLOAD_TYPES], response=RestoreResult,
             errors=(403, 404, 409, 413, 502))
async def restore_volume(request: web.Request, *, path_params: dict[str, Any],
                         query: dict[str, Any]) -> web.StreamResponse:
    """Restore a .tar.gz (or .tar) into a volume: a new one, or replacing an existing one's
    contents when ``confirm`` is its name.

    A volume used by running containers is refused unless ``stop_containers``. A bad archive
    (an entry escaping the volume, a device, damaged or truncated) is refused before anything
    is written.
    """
    host, name = path_params["host"], path_params["name"]
    require_whole_host(request, host)
    if request.content_type not in UPLOAD_TYPES:
        raise InvalidInput(f"the body must be the archive, sent as {GZIP} (or "
                           "application/x-tar)", field="body")
    ch = core(request)
    ch.hosts.get(host)  # an unknown host is a 404 before anything else
    backups = ch.volume_backups
    limit = backups.upload_limit
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"the upload ({request.content_length} bytes) is larger than the limit "
                       f"of {limit} bytes", limit=limit, field="archive")
    result = await backups.restore(
        host, name, request.content.iter_chunked(UPLOAD_CHUNK), confirm=query.get("confirm"),
        stop_containers=query["stop_containers"], actor=actor(request))
    return json_response(result)
