"""Credentials for a registry and the ``X-Registry-Auth`` header engines read on a pull.

The header is base64url(JSON) of ``username``, ``password`` and ``serveraddress`` (the engine
API's AuthConfig). Docker Hub wants its legacy address ``https://index.docker.io/v1/``; any other
registry its ``host[:port]``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Protocol

from .reference import DOCKER_HUB, DOCKER_HUB_AUTH_ADDRESS

__all__ = ["CredentialsLookup", "RegistryCredentials", "server_address"]


def server_address(registry: str) -> str:
    """The AuthConfig ``serveraddress`` of a canonical registry host."""
    return DOCKER_HUB_AUTH_ADDRESS if registry == DOCKER_HUB else registry


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryCredentials:
    """A username and password (or token) for one registry (canonical host)."""

    registry: str
    username: str
    password: str = field(repr=False)

    def x_registry_auth(self) -> str:
        """The ``X-Registry-Auth`` header value for an engine pull from this registry."""
        doc = {"username": self.username, "password": self.password,
               "serveraddress": server_address(self.registry)}
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()


class CredentialsLookup(Protocol):
    """Finds the stored credentials of a registry (canonical host), if any."""

    async def credentials_for(self, registry: str) -> RegistryCredentials | None:
        """The credentials to use for ``registry``, or None to pull anonymously."""
        ...
