"""Update detection: is a newer image published for what a container runs?

For each container the check compares two digests of its own image reference
(``Config.Image``, e.g. ``nginx:1.27`` — not some other tag the image also carries):

- the *local* digest: the RepoDigest the running image was pulled as, for that repository;
- the *remote* digest: what the registry answers for the reference now (one ``HEAD`` of the
  manifest, with the stored credentials of that registry).

Different digests mean an update is available. The registry is asked once per reference in a
pass, however many containers (on however many hosts) use it. A reference pinned to a digest
can never change (``pinned``); an image with no RepoDigest for its repository was built or
loaded locally (``local``); neither costs a registry request. A registry that cannot answer
gives the ``error`` state with its reason, for that reference's containers only.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from ..errors import ChrontainerError, InvalidInput
from ..hosts import HostManager
from ..models import Container
from ..registries.reference import ImageReference
from .digests import insecure_registry, local_digest, repo_digests
from .models import UpdateCheck, UpdateState

__all__ = ["CHECK_CONCURRENCY", "CheckPass", "DigestSource", "UpdateChecker"]

log = logging.getLogger(__name__)

# Registry requests in flight at once during a pass: polite to registries, quick enough for
# 200 containers.
CHECK_CONCURRENCY: Final = 4
_IMAGE_ID: Final = re.compile(r"(sha256:)?[0-9a-f]{12,64}")


class DigestSource(Protocol):
    """Asks a registry for a reference's current digest (``.digests.RegistryDigests``)."""

    async def digest(self, ref: ImageReference, *, insecure: bool) -> str:
        """The digest; raises a RegistryError when the registry cannot say."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckPass:
    """The results of one pass, and how many registry requests it took."""

    checks: list[UpdateCheck]
    registry_requests: int


@dataclass(frozen=True, slots=True, kw_only=True)
class _Local:
    """What the engine says about one container's image, before asking the registry."""

    container: Container
    ref: ImageReference | None = None
    digest: str | None = None
    known: tuple[str, ...] = ()  # every digest the image was pulled as for the repository
    state: UpdateState | None = None  # decided without the registry (pinned, local, error)
    error: ChrontainerError | None = None


class UpdateChecker:
    """Checks containers for newer images (see the module docstring).

    Args:
        hosts: The hosts (their engines inspect images and tell which registries are
            insecure).
        digests: Returns the registry side, or None when no registry access is available
            (library mode).
        clock: When a check happened.
    """

    def __init__(self, hosts: HostManager, digests: Callable[[], DigestSource | None], *,
                 clock: Callable[[], datetime]) -> None:
        self._hosts = hosts
        self._digests = digests
        self._clock = clock

    async def check(self, containers: Iterable[Container]) -> CheckPass:
        """Check ``containers`` in one pass (one registry request per reference).

        Raises:
            ChrontainerError: No registry access in this runtime.
        """
        source = self._digests()
        if source is None:
            raise ChrontainerError("update checks need the daemon (its stored registry "
                                   "credentials); this runtime has none")
        locals_ = await self._locals(list(containers))
        wanted: dict[str, tuple[ImageReference, str]] = {}
        for item in locals_:
            if item.state is None and item.ref is not None:
                wanted.setdefault(item.ref.canonical, (item.ref, item.container.host))
        infos = await self._engine_infos({host for _, host in wanted.values()})
        limit = asyncio.Semaphore(CHECK_CONCURRENCY)

        async def ask(ref: ImageReference, host: str) -> str | ChrontainerError:
            async with limit:
                try:
                    return await source.digest(
                        ref, insecure=insecure_registry(ref.registry, infos.get(host)))
                except ChrontainerError as err:
                    log.info("update check of %s: %s", ref.familiar, err.message)
                    return err

        answers = dict(zip(wanted, await asyncio.gather(
            *(ask(ref, host) for ref, host in wanted.values())), strict=True))
        now = self._clock()
        return CheckPass(checks=[_verdict(item, answers, now) for item in locals_],
                         registry_requests=len(wanted))

    async def _locals(self, containers: list[Container]) -> list[_Local]:
        """Classify each container from its engine alone; one image inspect per image."""
        inspected: dict[tuple[str, str], Awaitable[dict[str, Any] | ChrontainerError]] = {}

        async def inspect(host: str, image_id: str) -> dict[str, Any] | ChrontainerError:
            try:
                return await self._hosts.get(host).host.inspect_image(image_id)
            except ChrontainerError as err:
                return err

        out: list[_Local] = []
        pending: list[tuple[Container, ImageReference]] = []
        for c in containers:
            if not c.image or _IMAGE_ID.fullmatch(c.image):
                out.append(_Local(container=c, state=UpdateState.LOCAL))
                continue
            try:
                ref = ImageReference.parse(c.image)
            except InvalidInput:
                out.append(_Local(container=c, state=UpdateState.LOCAL))
                continue
            if ref.digest is not None:
                out.append(_Local(container=c, ref=ref, digest=ref.digest,
                                  state=UpdateState.PINNED))
                continue
            key = (c.host, c.image_id)
            if key not in inspected:
                inspected[key] = asyncio.ensure_future(inspect(c.host, c.image_id))
            pending.append((c, ref))
        for c, ref in pending:
            doc = await inspected[(c.host, c.image_id)]
            if isinstance(doc, ChrontainerError):
                out.append(_Local(container=c, ref=ref, state=UpdateState.ERROR, error=doc))
                continue
            digest = local_digest(doc, ref)
            out.append(_Local(container=c, ref=ref, digest=digest, known=repo_digests(doc, ref),
                              state=UpdateState.LOCAL if digest is None else None))
        return out

    async def _engine_infos(self, hosts: set[str]) -> dict[str, Mapping[str, Any] | None]:
        """Each host's ``/info`` (its insecure registries); None where it cannot say."""

        async def info(host: str) -> Mapping[str, Any] | None:
            try:
                return await self._hosts.get(host).host.info_raw()
            except ChrontainerError:
                return None

        return dict(zip(hosts, await asyncio.gather(*(info(h) for h in hosts)), strict=True))


def _verdict(item: _Local, answers: Mapping[str, str | ChrontainerError],
             now: datetime) -> UpdateCheck:
    c = item.container

    def result(state: UpdateState, *, remote: str | None = None,
               error: ChrontainerError | None = None) -> UpdateCheck:
        return UpdateCheck(host=c.host, key=c.key, image=c.image, state=state, checked_at=now,
                           local_digest=item.digest, remote_digest=remote,
                           error=error.message if error else None,
                           error_code=error.code if error else None)

    if item.state is not None:
        return result(item.state, error=item.error)
    assert item.ref is not None
    answer = answers[item.ref.canonical]
    if isinstance(answer, ChrontainerError):
        return result(UpdateState.ERROR, error=answer)
    current = answer == item.digest or answer in item.known
    return result(UpdateState.UP_TO_DATE if current else UpdateState.AVAILABLE, remote=answer)
