"""The create request of the container that replaces an old one during an update (pure).

An inspect document shows a container's configuration *merged* with its image's defaults: the
``Env`` holds the image's ``PATH``, the ``Labels`` the image's labels, ``Cmd`` the image's
command when the user gave none. Re-creating from it as is would pin the old image's defaults
onto the new image. :func:`plan_recreate` therefore drops every ``Config`` value equal to the
old image's default (so the new image's default applies) and keeps what the user set.

``HostConfig`` is copied unchanged, except that anonymous volumes (an image ``VOLUME`` or a bare
``-v /path``) are added to ``HostConfig.Mounts`` under their existing names, so the new
container keeps their data. Networks: API 1.41 accepts one endpoint at create; the others are
connected between create and start (:attr:`CreatePlan.networks`). Each endpoint keeps only what
the user chose (static IPs, aliases, links, driver options), never the old endpoint's identity.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from ..errors import InvalidInput

__all__ = [
    "CreatePlan",
    "anonymous_volume_mounts",
    "bind_destination",
    "drop_env",
    "drop_healthcheck",
    "drop_keys",
    "drop_labels",
    "endpoint_config",
    "entrypoint_and_cmd",
    "plan_networks",
    "plan_recreate",
    "user_config",
]

JSON = dict[str, Any]
T = TypeVar("T")

# The engine's default hostname (and the alias it adds on user networks) is the short id.
SHORT_ID: Final = 12
# Network modes without endpoints of their own: nothing to create or connect.
_NO_ENDPOINT_MODES: Final = frozenset({"host", "none"})
# What an endpoint keeps: what the user chose. NetworkID, EndpointID, Gateway, IPAddress,
# MacAddress, ... describe the old container's endpoint and must not be reused.
_ENDPOINT_KEYS: Final = ("IPAMConfig", "Links", "DriverOpts")
# Healthcheck fields the engine merges one by one with the image's (daemon's merge()).
_HEALTHCHECK_KEYS: Final = ("Test", "Interval", "Timeout", "StartPeriod", "Retries")


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatePlan:
    """How to create the replacement container.

    Attributes:
        body: The ``POST /containers/create`` body.
        networks: More networks to connect, ``(name, EndpointConfig)`` in name order, after
            the create and before the start.
    """

    body: dict[str, Any]
    networks: tuple[tuple[str, dict[str, Any]], ...]


def plan_recreate(container: Mapping[str, Any], old_image: Mapping[str, Any]) -> CreatePlan:
    """Build the create request of the container that replaces ``container``.

    Args:
        container: The old container's ``GET /containers/{id}/json`` document (unmodified).
        old_image: The ``GET /images/{id}/json`` document of the image the old container runs.

    Returns:
        The create body (``Image`` is the old ``Config.Image``: the reference the caller has
        just pulled, which now names the new image) and the extra networks to connect.

    Raises:
        InvalidInput: ``container`` has no ``Id``, ``Config`` or ``HostConfig`` (a caller bug).
    """
    cid = container.get("Id")
    config = container.get("Config")
    host_config = container.get("HostConfig")
    if not isinstance(cid, str) or not cid:
        raise InvalidInput("not a container inspect document: no Id", field="container.Id")
    if not isinstance(config, Mapping):
        raise InvalidInput("not a container inspect document: no Config", field="container.Config")
    if not isinstance(host_config, Mapping):
        raise InvalidInput("not a container inspect document: no HostConfig",
                           field="container.HostConfig")
    image_config = old_image.get("Config")
    defaults: Mapping[str, Any] = image_config if isinstance(image_config, Mapping) else {}
    network_mode = str(host_config.get("NetworkMode") or "default")

    body = user_config(config, defaults, container_id=cid, network_mode=network_mode)
    body["Image"] = config.get("Image")
    body = {k: v for k, v in body.items() if v is not None}

    new_host_config = copy.deepcopy(dict(host_config))
    anonymous = anonymous_volume_mounts(container.get("Mounts"), host_config)
    if anonymous:
        new_host_config["Mounts"] = [*(new_host_config.get("Mounts") or []), *anonymous]
    body["HostConfig"] = new_host_config

    primary, extra = plan_networks(container, network_mode)
    if primary is not None:
        body["NetworkingConfig"] = {"EndpointsConfig": {primary[0]: primary[1]}}
    return CreatePlan(body=body, networks=extra)


# -- Config ------------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    """Null, missing and empty mean the same: unset."""
    return value is None or value == "" or value == [] or value == {}


def _same(value: Any, default: Any) -> bool:
    return (_blank(value) and _blank(default)) or value == default


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _or_none(value: T) -> T | None:
    """An emptied value is omitted from the body (so the new image's default applies)."""
    return None if _blank(value) else value


def drop_env(env: Any, default: Any) -> list[str] | None:
    """Env entries ("K=V") minus those that appear verbatim in the image's, in order."""
    image_env = set(_list(default))
    return _or_none([e for e in _list(env) if e not in image_env])


def drop_labels(labels: Any, default: Any) -> dict[str, Any] | None:
    """Labels minus the keys whose value equals the image's value for that key."""
    image_labels = _mapping(default)
    return _or_none({k: v for k, v in _mapping(labels).items()
                     if k not in image_labels or image_labels[k] != v})


def drop_keys(value: Any, default: Any) -> dict[str, Any] | None:
    """A set-like mapping (ExposedPorts, Volumes) minus the keys the image declares."""
    image_keys = _mapping(default)
    return _or_none({k: v for k, v in _mapping(value).items() if k not in image_keys})


def drop_healthcheck(value: Any, default: Any) -> dict[str, Any] | None:
    """The healthcheck fields that differ from the image's.

    The engine merges a healthcheck field by field (a zero field takes the image's), so a user
    who set only ``--health-interval`` keeps that while the new image's test applies. An equal
    healthcheck is dropped whole.
    """
    if not isinstance(value, Mapping):
        return None
    image_check = _mapping(default)
    kept = {k: v for k, v in value.items()
            if k not in _HEALTHCHECK_KEYS or not _same(v, image_check.get(k))}
    return _or_none(kept)


def _drop_equal(value: Any, default: Any) -> Any:
    return None if _same(value, default) else value


# Config keys whose image default is dropped, with the rule comparing them. Cmd, Entrypoint,
# Hostname and Domainname have rules of their own in user_config.
_DEFAULT_RULES: Final[Mapping[str, Callable[[Any, Any], Any]]] = {
    "Env": drop_env,
    "Labels": drop_labels,
    "ExposedPorts": drop_keys,
    "Volumes": drop_keys,
    "Healthcheck": drop_healthcheck,
    "WorkingDir": _drop_equal,
    "User": _drop_equal,
    "StopSignal": _drop_equal,
}


def user_config(
    config: Mapping[str, Any], defaults: Mapping[str, Any], *, container_id: str,
    network_mode: str = "default",
) -> JSON:
    """The ``Config`` fields the user set: the container's minus the image's defaults.

    Fields without a rule (Tty, OpenStdin, StopTimeout, MacAddress, ... and any newer field)
    are kept as they are. ``Image`` is left to the caller.

    Args:
        config: The container's ``Config`` (merged with the image's defaults by the engine).
        defaults: The old image's ``Config``.
        container_id: The old container's id (its short form is the default hostname).
        network_mode: The container's ``HostConfig.NetworkMode``.
    """
    out: JSON = copy.deepcopy(dict(config))
    out.pop("Image", None)
    for key, rule in _DEFAULT_RULES.items():
        if key in out:
            out[key] = rule(out[key], defaults.get(key))

    entrypoint, cmd = entrypoint_and_cmd(config, defaults)
    out["Entrypoint"], out["Cmd"] = entrypoint, cmd
    if cmd is None:
        # ArgsEscaped describes how Cmd was written: it belongs to the image's Cmd then.
        out.pop("ArgsEscaped", None)

    if network_mode.startswith("container:"):
        # The engine copies the joined container's hostname and domain name at start, and
        # refuses a hostname together with this mode ("conflicting options").
        out.pop("Hostname", None)
        out.pop("Domainname", None)
    else:
        if out.get("Hostname") == container_id[:SHORT_ID]:
            out.pop("Hostname")  # the engine's default: the new container gets its own id's
        if _blank(out.get("Domainname")):
            out.pop("Domainname", None)
    return {k: v for k, v in out.items() if v is not None}


def entrypoint_and_cmd(
    config: Mapping[str, Any], defaults: Mapping[str, Any]
) -> tuple[Any, Any]:
    """The (Entrypoint, Cmd) to send: None where the new image's default should apply.

    The engine's merge at create fills Cmd from the image only when no Entrypoint is given
    (an Entrypoint given alone runs without the image's Cmd). So:

    - an Entrypoint the user overrode keeps the Cmd too, even one equal to the image's:
      dropping it would run the new Entrypoint without arguments;
    - a container without Cmd although its image has one was created with an explicit
      Entrypoint that suppressed the image's Cmd: that Entrypoint is kept even when it equals
      the image's, or the new image's Cmd would be appended to it.
    """
    entrypoint, cmd = config.get("Entrypoint"), config.get("Cmd")
    image_entrypoint, image_cmd = defaults.get("Entrypoint"), defaults.get("Cmd")
    suppressed_cmd = _blank(cmd) and not _blank(image_cmd) and not _blank(entrypoint)
    keep_entrypoint = suppressed_cmd or not _same(entrypoint, image_entrypoint)
    if keep_entrypoint:
        return _or_none(entrypoint), _or_none(cmd)
    return None, _drop_equal(cmd, image_cmd)


# -- networks ----------------------------------------------------------------------------------


def endpoint_config(endpoint: Mapping[str, Any], container_id: str) -> JSON:
    """What an endpoint keeps: IPAM config, aliases (minus the engine's own), links, options.

    The engine adds the short id as an alias on user networks itself (and the full id on
    newer APIs): copying those would make the new container answer to the old one's id.
    """
    out: JSON = {k: copy.deepcopy(endpoint[k]) for k in _ENDPOINT_KEYS
                 if endpoint.get(k) is not None}
    own = {container_id, container_id[:SHORT_ID]}
    aliases = [a for a in _list(endpoint.get("Aliases")) if a not in own]
    if aliases:
        out["Aliases"] = aliases
    return out


def _is_primary(name: str, endpoint: Mapping[str, Any], network_mode: str) -> bool:
    if network_mode == "default":
        return name == "bridge"
    if name == network_mode:
        return True
    # ``--network <id>`` stores the id (or a unique prefix of it) as the mode.
    network_id = endpoint.get("NetworkID")
    return isinstance(network_id, str) and bool(network_id) and network_id.startswith(
        network_mode)


def plan_networks(
    container: Mapping[str, Any], network_mode: str
) -> tuple[tuple[str, JSON] | None, tuple[tuple[str, JSON], ...]]:
    """Split the container's networks into the create-time one and those to connect after.

    Returns:
        ``(primary, extra)``: the network of ``NetworkMode`` (``bridge`` for ``default``) with
        its endpoint config, or None; the other networks in name order. ``host``, ``none`` and
        ``container:<x>`` modes have neither.
    """
    if network_mode in _NO_ENDPOINT_MODES or network_mode.startswith("container:"):
        return None, ()
    cid = str(container["Id"])
    settings = _mapping(container.get("NetworkSettings"))
    networks = _mapping(settings.get("Networks"))
    primary: tuple[str, JSON] | None = None
    extra: list[tuple[str, JSON]] = []
    for name in sorted(networks):
        endpoint = _mapping(networks[name])
        planned = (name, endpoint_config(endpoint, cid))
        if primary is None and _is_primary(name, endpoint, network_mode):
            primary = planned
        else:
            extra.append(planned)
    return primary, tuple(extra)


# -- volumes -----------------------------------------------------------------------------------


def bind_destination(bind: str) -> str:
    """The container path of a ``HostConfig.Binds`` entry (``src:dst[:opts]``)."""
    parts = bind.split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def anonymous_volume_mounts(mounts: Any, host_config: Mapping[str, Any]) -> list[JSON]:
    """``HostConfig.Mounts`` entries that keep the container's anonymous volumes.

    A volume mount whose destination no ``Binds`` entry nor ``HostConfig.Mounts`` target
    covers came from an image ``VOLUME`` or a bare ``-v /path``: without an explicit mount the
    new container would get a fresh, empty volume.
    """
    covered: set[Any] = {bind_destination(b) for b in _list(host_config.get("Binds"))
                         if isinstance(b, str)}
    covered |= {m.get("Target") for m in _list(host_config.get("Mounts"))
                if isinstance(m, Mapping)}
    out: list[JSON] = []
    for mount in _list(mounts):
        if not isinstance(mount, Mapping) or mount.get("Type") != "volume":
            continue
        destination, name = mount.get("Destination"), mount.get("Name")
        if not destination or not name or destination in covered:
            continue
        out.append({"Type": "volume", "Source": name, "Target": destination,
                    "ReadOnly": not mount.get("RW", True)})
    # The engine lists Mounts in no stable order: sorted, the same container plans the same.
    return sorted(out, key=lambda m: str(m["Target"]))
