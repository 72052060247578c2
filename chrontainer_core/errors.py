"""The whole exception tree of chrontainer_core.

Every error the core raises is a :class:`ChrontainerError`; lower-layer exceptions (aiodocker,
aiohttp, SQLAlchemy) are mapped at the boundary that imports them and chained with ``from``.
Each class carries a stable machine ``code``; the server's error middleware is the only place
that turns these into HTTP status codes.

::

    ChrontainerError
    ├── ConfigError            a configuration value is wrong (carries the path)
    ├── InstanceLocked         another daemon already holds the data directory / database
    ├── InvalidInput           bad input from a caller (carries ``field``)
    │   └── TooLarge           an upload or archive is over its configured limit
    ├── NotFound               unknown host, container, ...
    ├── Conflict               the request cannot be done in the current state
    │   ├── AmbiguousRef       a ref matches several containers
    │   └── Busy               another action holds the target's lock
    ├── PermissionDenied       the actor may not do this
    ├── RateLimited            too many requests; try again in ``retry_after`` seconds
    ├── SecretUnavailable      a stored secret cannot be decrypted (wrong or missing secret key)
    ├── HostUnreachable        the Docker engine did not answer (connect/timeout/protocol)
    │   └── EngineError        the engine answered with an unexpected error
    ├── RegistryError          an image registry failed us (directly, or through an engine's pull)
    │   ├── RegistryUnreachable    it did not answer (DNS, refused, timeout, TLS)
    │   ├── RegistryAuthFailed     it refused the credentials (or asked for some we lack)
    │   └── ImageNotFound          it has no such repository, tag or digest
    └── UpdateFailed           a container update failed after the pull (the old one kept)
"""

from __future__ import annotations

import math
from typing import Any


class ChrontainerError(Exception):
    """Base of every error raised by chrontainer_core."""

    code = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})


class ConfigError(ChrontainerError):
    """A configuration value is invalid; ``path`` names it (``hosts[1].url``)."""

    code = "config_error"

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message, details={"path": path} if path else None)
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InstanceLocked(ChrontainerError):
    """Another ``chrontainer serve`` already uses this data directory or database."""

    code = "instance_locked"


class InvalidInput(ChrontainerError):
    """The caller sent something invalid; ``field`` is the path of the offending input."""

    code = "invalid_input"

    def __init__(
        self, message: str, *, field: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        merged = dict(details or {})
        if field is not None:
            merged["field"] = field
        super().__init__(message, details=merged)
        self.field = field


class TooLarge(InvalidInput):
    """An upload (or what it expands to) is over its configured limit; ``details["limit"]`` is
    the limit in bytes. Nothing was changed."""

    code = "too_large"

    def __init__(self, message: str, *, limit: int, field: str | None = None) -> None:
        super().__init__(message, field=field, details={"limit": limit})
        self.limit = limit


class NotFound(ChrontainerError):
    """The named object does not exist."""

    code = "not_found"


class Conflict(ChrontainerError):
    """The request is impossible in the object's current state."""

    code = "conflict"


class AmbiguousRef(Conflict):
    """A container ref matches several containers; ``details["matches"]`` lists them."""

    code = "ambiguous_ref"


class Busy(Conflict):
    """Another action currently holds the target's lock."""

    code = "busy"


class PermissionDenied(ChrontainerError):
    """The actor is not allowed to do this."""

    code = "permission_denied"


class RateLimited(ChrontainerError):
    """Too many requests (failed logins, webhook triggers): retry in ``retry_after`` seconds."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(f"{message}: try again in {seconds} s",
                         details={"retry_after": seconds})
        self.retry_after = seconds


class SecretUnavailable(ChrontainerError):
    """A stored secret (e.g. a host's TLS key) cannot be decrypted.

    The secret key differs from the one the value was encrypted with, or the stored value is
    corrupted. Nothing can recover it: the user re-enters the secret, which stores it again
    under the current key.
    """

    code = "secret_unavailable"


class HostUnreachable(ChrontainerError):
    """A Docker engine could not be reached or did not answer in time."""

    code = "host_unreachable"


class EngineError(HostUnreachable):
    """The engine answered with an error the core cannot attribute to the caller."""

    code = "engine_error"


class RegistryError(ChrontainerError):
    """An image registry failed: answered with an unexpected error, or through an engine's pull.

    ``details["registry"]`` names the registry host when known.
    """

    code = "registry_error"


class RegistryUnreachable(RegistryError):
    """The registry did not answer (name resolution, refused connection, timeout, TLS)."""

    code = "registry_unreachable"


class RegistryAuthFailed(RegistryError):
    """The registry refused the credentials, or wants credentials none are stored for."""

    code = "registry_auth_failed"


class ImageNotFound(RegistryError):
    """The registry has no such repository, tag or digest."""

    code = "image_not_found"


class UpdateFailed(ChrontainerError):
    """A container update failed after its image was pulled: the new container could not be
    created or started, or did not stay up (or healthy) through the grace period.

    The old container is running again under its name (``details["rolled_back"]`` is True), or,
    when even that failed, ``details["rolled_back"]`` is False and the message says what is
    left where. A failed pull is no UpdateFailed: it raises the pull's own RegistryError, and
    the container is untouched.
    """

    code = "update_failed"
