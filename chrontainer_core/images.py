"""Images across hosts. For now: pruning unused images (a host's schedule action); listing,
pulling and deleting arrive with the images issue, here."""

from __future__ import annotations

from .actor import Actor
from .audit import AuditTrail
from .hosts import HostManager
from .models import PruneResult

__all__ = ["ImageService"]


class ImageService:
    """Image operations on the engines the host manager holds; each mutating call is audited."""

    def __init__(self, hosts: HostManager, audit: AuditTrail) -> None:
        self._hosts = hosts
        self._audit = audit

    async def prune(self, host: str, *, dangling_only: bool = False,
                    actor: Actor | None = None) -> PruneResult:
        """Remove unused images on a host: only dangling ones, or every image no container
        uses (the default, like ``docker image prune -a``).

        Raises:
            NotFound: Unknown host.
            HostUnreachable: The engine did not answer.
        """
        actor = actor or Actor.library()
        engine = self._hosts.get(host).host
        async with self._audit.track(actor, "host.prune_images", host):
            return await engine.prune_images(dangling_only=dangling_only)
