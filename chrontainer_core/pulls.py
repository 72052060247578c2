"""Image pulls: on a host now (:meth:`ImagePuller.pull_now`, the schedule "pull" action), or as a
long operation with progress and cancel (:meth:`ImagePuller.start`, the API's 202).

The engine reports a pull as a stream of JSON documents: per layer ``{"status", "id",
"progressDetail": {"current", "total"}}`` ("Pulling fs layer", "Waiting", "Downloading",
"Verifying Checksum", "Download complete", "Extracting", "Pull complete", "Already exists"),
overall lines without ``id`` ("Digest: sha256:...", "Status: Downloaded newer image for ...",
"Status: Image is up to date for ..."), and ``{"error", "errorDetail"}`` when it fails midway.
:class:`PullProgress` (pure) folds that stream into per-layer progress, a message and a
percentage; :func:`classify_pull_error` (pure) turns the engine's failure text into the error
tree (unknown image, credentials, unreachable registry) with a message naming image and registry.

Credentials are looked up per registry (``CredentialsLookup``) and sent as ``X-Registry-Auth``.
A cancelled pull closes the engine's stream, which aborts it engine-side; the image reference is
created only when a pull completes, so no partial image remains (verified live), and the engine
garbage-collects the orphaned layer downloads itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from .actor import Actor
from .audit import AuditTrail
from .errors import ImageNotFound, NotFound, RegistryAuthFailed, RegistryError, RegistryUnreachable
from .hosts import HostManager
from .models import LayerProgress, Operation
from .operations import OperationHandle, OperationManager
from .registries.auth import CredentialsLookup, RegistryCredentials
from .registries.reference import DOCKER_HUB, ImageReference

__all__ = [
    "PULL_KIND",
    "ImagePuller",
    "LateCredentials",
    "PullOutcome",
    "PullProgress",
    "classify_pull_error",
]

log = logging.getLogger(__name__)

PULL_KIND: Final = "image.pull"
# Engine error texts quoted in our messages are cut here: a registry may answer with a page.
_MAX_REASON: Final = 300

# Layer statuses after which the layer's download is over (its bytes count as done).
_DOWNLOADED: Final = frozenset({"Verifying Checksum", "Download complete", "Extracting",
                                "Pull complete"})
_FINISHED: Final = frozenset({"Pull complete", "Already exists"})
_UPDATED_PREFIX: Final = "Status: Downloaded newer image for "
_UP_TO_DATE_PREFIX: Final = "Status: Image is up to date for "

# How engines (20.10 and later) word each kind of failure; matched case-insensitively in this
# order. A token registry (Docker Hub, GHCR, ...) answers an anonymous pull of a private
# repository exactly as one of a repository that does not exist: the engine then says "pull
# access denied for X, repository does not exist or may require 'docker login'".
_AMBIGUOUS: Final = re.compile(r"pull access denied|may require 'docker login'", re.IGNORECASE)
_NOT_FOUND: Final = re.compile(
    r"manifest unknown|not found|repository does not exist|name unknown|no such image"
    r"|unknown repository|no matching manifest", re.IGNORECASE)
_AUTH: Final = re.compile(
    r"unauthorized|authentication required|no basic auth credentials|access denied|denied"
    r"|incorrect username or password|forbidden|\b401\b|\b403\b", re.IGNORECASE)
_UNREACHABLE: Final = re.compile(
    r"connection refused|no such host|i/o timeout|timeout|timed out|deadline exceeded"
    r"|network is unreachable|no route to host|connection reset|dial tcp|x509|tls:|certificate"
    r"|server gave http response to https client|\beof\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class PullOutcome:
    """What a finished pull did: ``updated`` is False when the host already had the image."""

    host: str
    reference: str  # the familiar form, e.g. "nginx:latest"
    image_id: str
    digest: str | None
    updated: bool


class _Layer:
    """A layer's latest line and what is known of its download."""

    __slots__ = ("current", "download_total", "downloaded", "id", "status", "total")

    def __init__(self, layer_id: str) -> None:
        self.id = layer_id
        self.status = ""
        self.current = 0
        self.total = 0
        self.download_total = 0  # 0: unknown (a small layer may skip "Downloading" lines)
        self.downloaded = 0

    def feed(self, status: str, current: int, total: int) -> None:
        self.status = status
        if status == "Downloading":
            self.download_total = total or self.download_total
            self.downloaded = current
        elif status in _DOWNLOADED:
            self.downloaded = self.download_total
        if status in ("Downloading", "Extracting"):
            self.current, self.total = current, total
        elif status in _DOWNLOADED:
            self.current = self.total = self.download_total
        else:
            self.current = self.total = 0

    @property
    def progress(self) -> LayerProgress:
        return LayerProgress(id=self.id, status=self.status, current=self.current,
                             total=self.total)


class PullProgress:
    """Folds an engine's pull stream into layers, a message and a percentage (pure).

    Feed it every document in order; read :attr:`layers`, :attr:`message`, :attr:`percent`,
    and at the end :attr:`error`, :attr:`digest` and :attr:`updated`.
    """

    def __init__(self) -> None:
        self._layers: dict[str, _Layer] = {}
        self._status = ""
        self.error: str | None = None
        self.digest: str | None = None
        self.updated: bool | None = None  # None: the engine did not say (yet)

    def feed(self, doc: Mapping[str, Any]) -> bool:
        """Take one document of the stream; returns whether the visible progress changed."""
        if "error" in doc or "errorDetail" in doc:
            detail = doc.get("errorDetail") or {}
            text = detail.get("message") if isinstance(detail, Mapping) else None
            self.error = str(text or doc.get("error") or "the pull failed")
            return True
        status = str(doc.get("status") or "")
        layer_id = doc.get("id")
        if layer_id and not status.startswith("Pulling from"):
            detail = doc.get("progressDetail") or {}
            current, total = _count(detail, "current"), _count(detail, "total")
            layer = self._layers.get(str(layer_id))
            if layer is None:
                layer = self._layers[str(layer_id)] = _Layer(str(layer_id))
            layer.feed(status, current, total)
            return True
        if not status:
            return False
        if status.startswith("Digest: "):
            self.digest = status.removeprefix("Digest: ").strip()
        elif status.startswith(_UPDATED_PREFIX):
            self.updated = True
        elif status.startswith(_UP_TO_DATE_PREFIX):
            self.updated = False
        self._status = status
        return True

    @property
    def layers(self) -> tuple[LayerProgress, ...]:
        """Every layer seen, in the engine's order, with its latest status."""
        return tuple(layer.progress for layer in self._layers.values())

    @property
    def percent(self) -> float | None:
        """Downloaded bytes over the layers' total, 0-100; None while no size is known.

        Layers that already exist need no download and do not count. A layer whose size is not
        known yet (it has not started, or was too small to report) is assumed to weigh the
        average of the known ones, so the first known layer does not read as 100 %. Only a
        pull whose layers all finished reads 100.
        """
        layers = list(self._layers.values())
        if layers and all(layer.status in _FINISHED for layer in layers):
            return 100.0
        pulled = [layer for layer in layers if layer.status != "Already exists"]
        known = [layer.download_total for layer in pulled if layer.download_total > 0]
        if not known:
            return None
        average = sum(known) / len(known)
        total = done = 0.0
        for layer in pulled:
            if layer.download_total > 0:
                total += layer.download_total
                done += min(layer.downloaded, layer.download_total)
            else:
                total += average
                done += average if layer.status in _DOWNLOADED else 0.0
        return min(round(100.0 * done / total, 1), 99.9)

    @property
    def message(self) -> str:
        """One line for people: the engine's last overall line once it has said how the pull
        ended, else how many layers are done."""
        if self.error is not None:
            return self.error
        if self.updated is not None or not self._layers:
            return self._status
        finished = sum(1 for layer in self._layers.values() if layer.status in _FINISHED)
        downloading = sum(1 for layer in self._layers.values()
                          if layer.status in ("Downloading", "Extracting"))
        text = f"{finished} of {len(self._layers)} layers complete"
        return text + (f", {downloading} in progress" if downloading else "")


def _count(detail: Any, key: str) -> int:
    value = detail.get(key) if isinstance(detail, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def classify_pull_error(reason: str, ref: ImageReference, *,
                        with_credentials: bool) -> RegistryError:
    """The error of a failed pull from the engine's text (pure).

    Args:
        reason: The engine's error message (an error answer, or the stream's error line).
        ref: What was pulled.
        with_credentials: Whether stored credentials were sent (changes the auth advice).
    """
    reason = reason.strip()
    if len(reason) > _MAX_REASON:
        reason = reason[: _MAX_REASON - 1] + "…"
    image, registry = ref.familiar, ref.registry
    details = {"registry": registry, "image": image, "reason": reason}
    if _AMBIGUOUS.search(reason) and not with_credentials and registry != DOCKER_HUB:
        # Without credentials, a private registry is the likelier story; on Docker Hub a
        # mistyped public name is (and the not-found message below mentions private ones).
        return RegistryAuthFailed(
            f"registry {registry} requires credentials: add them in Settings > Registries to "
            f"pull {image} (or it has no such repository) ({reason})", details=details)
    if _NOT_FOUND.search(reason) or _AMBIGUOUS.search(reason):
        return ImageNotFound(
            f"image {image} not found on registry {registry}: no such repository, tag or "
            f"digest (or it is private and needs credentials) ({reason})", details=details)
    if _AUTH.search(reason):
        advice = ("refused the stored credentials: fix them" if with_credentials
                  else "requires credentials: add them")
        return RegistryAuthFailed(
            f"registry {registry} {advice} in Settings > Registries to pull {image} "
            f"({reason})", details=details)
    if _UNREACHABLE.search(reason):
        return RegistryUnreachable(
            f"registry {registry} is unreachable, cannot pull {image} ({reason})",
            details=details)
    return RegistryError(f"pulling {image} from registry {registry} failed: {reason}",
                         details=details)


class LateCredentials:
    """A :class:`CredentialsLookup` asking whatever ``source()`` returns at the time of each
    pull (the runtime's registries service exists only once the runtime has started)."""

    def __init__(self, source: Callable[[], CredentialsLookup | None]) -> None:
        self._source = source

    async def credentials_for(self, registry: str) -> RegistryCredentials | None:
        """The current lookup's credentials for ``registry``; None without a lookup."""
        lookup = self._source()
        return None if lookup is None else await lookup.credentials_for(registry)


ProgressListener = Callable[[PullProgress], None]


class ImagePuller:
    """Pulls images on the hosts the host manager holds; each pull is audited ``image.pull``.

    Args:
        hosts: The hosts.
        audit: The audit trail.
        operations: Where :meth:`start` runs pulls as long operations.
        credentials: Finds a registry's stored credentials; None pulls anonymously.
    """

    def __init__(self, hosts: HostManager, audit: AuditTrail, operations: OperationManager,
                 *, credentials: CredentialsLookup | None = None) -> None:
        self._hosts = hosts
        self._audit = audit
        self._operations = operations
        self._credentials = credentials

    def start(self, host: str, image: str, *, actor: Actor | None = None) -> Operation:
        """Start pulling ``image`` on ``host`` as an operation (kind ``image.pull``, target
        the image's familiar form); returns it RUNNING. Progress, the outcome (``result``:
        ``image_id``, ``digest``, ``updated``) and failures arrive on the operation.

        Raises:
            InvalidInput: ``image`` is not an image reference (``field="image"``).
            NotFound: Unknown host.
        """
        ref = ImageReference.parse(image)
        self._hosts.get(host)  # NotFound before anything runs

        async def work(handle: OperationHandle) -> dict[str, str]:
            def report(progress: PullProgress) -> None:
                handle.update(message=progress.message, layers=progress.layers,
                              percent=progress.percent)

            outcome = await self._pull(host, ref, actor=actor, on_progress=report)
            handle.update(message=f"{outcome.reference}: "
                          + ("downloaded a newer image" if outcome.updated
                             else "image is up to date"), percent=100.0)
            return {"image_id": outcome.image_id, "digest": outcome.digest or "",
                    "updated": "true" if outcome.updated else "false"}

        return self._operations.start(kind=PULL_KIND, host=host, target=ref.familiar,
                                      actor=actor, work=work)

    async def pull_now(self, host: str, image: str, *, actor: Actor | None = None,
                       on_progress: ProgressListener | None = None) -> PullOutcome:
        """Pull ``image`` on ``host`` and wait for the end.

        Args:
            host: The host slug.
            image: An image reference (``nginx``, ``127.0.0.1:5001/team/app:v2``, ...).
            actor: Who asked.
            on_progress: Called with the progress after each change.

        Raises:
            InvalidInput: ``image`` is not an image reference (``field="image"``).
            NotFound: Unknown host.
            ImageNotFound: The registry has no such repository, tag or digest.
            RegistryAuthFailed: Credentials are missing or refused.
            RegistryUnreachable: The engine could not reach the registry.
            RegistryError: The registry failed otherwise.
            HostUnreachable: The engine did not answer.
        """
        return await self._pull(host, ImageReference.parse(image), actor=actor,
                                on_progress=on_progress)

    async def _pull(self, host: str, ref: ImageReference, *, actor: Actor | None,
                    on_progress: ProgressListener | None) -> PullOutcome:
        actor = actor or Actor.library()
        engine = self._hosts.get(host).host
        async with self._audit.track(actor, "image.pull", f"{host}/{ref.familiar}"):
            credentials = (await self._credentials.credentials_for(ref.registry)
                           if self._credentials is not None else None)
            auth = credentials.x_registry_auth() if credentials is not None else None
            progress = PullProgress()
            # An async generator (DockerHost.pull_image), which is what aclosing needs.
            stream = cast(AsyncGenerator[dict[str, Any], None], engine.pull_image(
                ref.engine_from_image, ref.engine_tag, auth=auth))
            try:
                # aclosing: leaving early closes the engine's stream now, not at garbage
                # collection (an open stream would keep the engine pulling).
                async with contextlib.aclosing(stream):
                    async for doc in stream:
                        if progress.feed(doc) and on_progress is not None:
                            on_progress(progress)
                        if progress.error is not None:
                            break
            except RegistryError as err:
                if type(err) is not RegistryError:
                    raise
                raise classify_pull_error(err.message, ref,
                                          with_credentials=auth is not None) from err
            except asyncio.CancelledError:
                log.info("host %s: pull of %s cancelled", host, ref.familiar)
                raise
            if progress.error is not None:
                raise classify_pull_error(progress.error, ref, with_credentials=auth is not None)
            local = ref.engine_from_image + (f"@{ref.digest}" if ref.digest else f":{ref.tag}")
            try:
                doc = await engine.inspect_image(local)
            except NotFound as err:
                # The engine said the pull ended, yet has no such image: not the user's input.
                raise RegistryError(f"pulled {ref.familiar} on host {host}, but the engine "
                                    f"does not show it: {err}") from err
            log.info("host %s: pulled %s (%s)", host, ref.familiar,
                     "updated" if progress.updated else "up to date")
            return PullOutcome(host=host, reference=ref.familiar, image_id=str(doc.get("Id", "")),
                               digest=progress.digest, updated=bool(progress.updated))
