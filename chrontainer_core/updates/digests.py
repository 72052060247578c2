"""Image digests for update detection: what a registry serves for a reference now, and what
the local image was pulled as.

A container is out of date when the registry's digest for its own reference (``Config.Image``)
differs from the digest its image was pulled as. Both sides speak of the same thing: the
manifest (list) digest an engine records in ``RepoDigests`` is the ``Docker-Content-Digest``
the registry answers for the tag (:meth:`RegistryClient.manifest_digest` asks for lists and
indexes first, as engines do).

Engines reach some registries over plain HTTP (insecure registries, loopback by default):
:func:`insecure_registry` decides that from the engine's ``GET /info``, so the check asks the
registry the way the engine would pull from it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidInput, RegistryUnreachable
from ..registries.reference import ImageReference
from ..registries.service import RegistryService

__all__ = [
    "RegistryDigests",
    "insecure_registry",
    "is_loopback",
    "local_digest",
    "repo_digests",
]

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _host_of(registry: str) -> str:
    """``host`` of ``host[:port]`` (``[v6]:port`` -> ``v6``), lower case."""
    text = registry.strip().lower()
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host
    return text


def _address(host: str) -> _Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_loopback(registry: str) -> bool:
    """Whether ``registry`` (``host[:port]``) is ``localhost`` or a loopback address."""
    host = _host_of(registry)
    if host == "localhost":
        return True
    address = _address(host)
    return address is not None and address.is_loopback


def insecure_registry(registry: str, engine_info: Mapping[str, Any] | None) -> bool:
    """Whether an engine talks plain HTTP to ``registry`` (a canonical ``host[:port]``).

    Follows the engine's own rule: an entry for the registry in ``RegistryConfig.IndexConfigs``
    decides (``Secure: false`` means insecure); otherwise loopback hosts (Docker's default
    insecure range 127.0.0.0/8, plus ``localhost`` and ``::1``) and addresses inside
    ``RegistryConfig.InsecureRegistryCIDRs`` are insecure. Host names are not resolved (that
    would block, and a check pass must not depend on DNS): a named host is insecure only
    through ``IndexConfigs``, which is where ``insecure-registries`` entries by name land.

    Args:
        registry: The registry's canonical host, as in ``ImageReference.registry``.
        engine_info: The engine's ``GET /info`` document, or None when unknown.
    """
    config = engine_info.get("RegistryConfig") if engine_info else None
    if not isinstance(config, Mapping):
        config = {}
    indexes = config.get("IndexConfigs")
    if isinstance(indexes, Mapping):
        wanted = registry.strip().lower()
        for name, entry in indexes.items():
            if (isinstance(name, str) and name.lower() == wanted and isinstance(entry, Mapping)
                    and isinstance(entry.get("Secure"), bool)):
                return not entry["Secure"]
    if is_loopback(registry):
        return True
    address = _address(_host_of(registry))
    cidrs = config.get("InsecureRegistryCIDRs")
    if address is None or not isinstance(cidrs, list):
        return False
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            continue  # the engine validated its own config; skip what we cannot read
        if address.version == network.version and address in network:
            return True
    return False


def repo_digests(image_inspect: Mapping[str, Any], ref: ImageReference) -> tuple[str, ...]:
    """Every digest the local image was pulled as for ``ref``'s repository, in the engine's
    order (an image pulled again under a new manifest keeps both)."""
    entries = image_inspect.get("RepoDigests")
    if not isinstance(entries, list):
        return ()
    found: list[str] = []
    for entry in entries:
        if not isinstance(entry, str) or "@" not in entry:
            continue
        try:
            parsed = ImageReference.parse(entry, field="RepoDigests")
        except InvalidInput:
            continue  # not a reference we understand: it cannot be ref's repository
        if ((parsed.registry, parsed.repository) == (ref.registry, ref.repository)
                and parsed.digest is not None and parsed.digest not in found):
            found.append(parsed.digest)
    return tuple(found)


def local_digest(image_inspect: Mapping[str, Any], ref: ImageReference) -> str | None:
    """The digest the local image was pulled as for ``ref``'s repository.

    The first ``RepoDigests`` entry (``name@sha256:...``) naming the same registry and
    repository as ``ref`` (``nginx@sha256:..`` matches ``docker.io/library/nginx:latest``).

    Args:
        image_inspect: The engine's ``GET /images/{id}/json`` document.
        ref: The container's image reference.

    Returns:
        The digest, or None when the image never came from that repository (built locally).
    """
    found = repo_digests(image_inspect, ref)
    return found[0] if found else None


class RegistryDigests:
    """Asks registries for the current digest of image references.

    Args:
        registries: Where registry clients (stored credentials, cached tokens) come from.
    """

    def __init__(self, registries: RegistryService) -> None:
        self._registries = registries
        # Per registry host: whether plain HTTP is what answered (https is tried first for
        # insecure registries that are not loopback, as engines do).
        self._plain: dict[str, bool] = {}

    async def digest(self, ref: ImageReference, *, insecure: bool) -> str:
        """The registry's current digest for ``ref`` (its tag, or its digest when it has no tag).

        Args:
            ref: The image reference.
            insecure: Whether the engine reaches this registry over plain HTTP
                (:func:`insecure_registry`).

        Raises:
            ImageNotFound: The registry has no such repository or tag.
            RegistryAuthFailed: Credentials are missing or refused.
            RegistryUnreachable: The registry did not answer.
            RegistryError: It answered something else.
            InvalidInput: ``ref`` has neither a tag nor a digest.
        """
        reference = ref.tag or ref.digest
        if reference is None:
            raise InvalidInput(f"image: {ref.name} has neither a tag nor a digest", field="image")
        host = ref.registry
        if not insecure or is_loopback(host):
            client = await self._registries.client_for(host, insecure=insecure)
            return await client.manifest_digest(ref.repository, reference)
        known = self._plain.get(host)
        if known is not None:
            client = await self._registries.client_for(host, insecure=known)
            return await client.manifest_digest(ref.repository, reference)
        secure = await self._registries.client_for(host, insecure=False)
        try:
            digest = await secure.manifest_digest(ref.repository, reference)
        except RegistryUnreachable:
            plain = await self._registries.client_for(host, insecure=True)
            if plain is secure:  # a configured registry: its URL is the only way to it
                raise
            digest = await plain.manifest_digest(ref.repository, reference)
            self._plain[host] = True
            return digest
        self._plain[host] = False
        return digest
