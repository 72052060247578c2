"""Which containers MQTT commands may act on: the control mode, its label, and protection.

A *protected* container offers no command entities and refuses every MQTT command, whatever the
control mode, because losing it would cut the very path the command came through or take down
the home's automation:

- **Chrontainer's own container** (``own_ids``, from ``chrontainer_core.updates.selfid``: a
  full id, or a 12-hex prefix taken from the hostname).
- **The MQTT broker** the bridge talks to, recognised three ways:

  * one of the container's network addresses is an address the configured broker host
    resolves to (a broker reached over a Docker network, e.g. ``host: mosquitto``);
  * it publishes the broker's port (TCP) on its Docker host. Chrontainer cannot tell reliably
    whether a broker name such as ``192.168.1.5`` or ``mqtt.lan`` is that Docker host (NAT,
    several addresses, Chrontainer itself in a container reaching the host through a gateway),
    so this rule applies on *every* host: a container publishing the MQTT port is almost
    certainly a broker, and a false positive only costs MQTT control of that one container;
  * its image is a known broker: the repository's last path component (registry, namespace,
    tag and digest removed) is ``mosquitto``, ``eclipse-mosquitto``, ``mosquitto-go-auth``,
    ``emqx``, ``emqx-enterprise`` or ``vernemq``. Exact names, so helpers around a broker
    (``sapcc/mosquitto-exporter``, ``emqx-exporter``) stay controllable.
- **Home Assistant**: an image whose last component is ``home-assistant`` or ``homeassistant``
  (``homeassistant/home-assistant``, ``linuxserver/homeassistant``), a machine image ending
  in ``-homeassistant`` (``qemux86-64-homeassistant``), or anything published by the
  ``home-assistant`` / ``homeassistant`` organisations (``ghcr.io/home-assistant/*``: the
  supervisor and its add-ons too). ``home-assistant-exporter`` and the like are not.
- Anything labelled ``chrontainer.protected=true`` (``true``, ``1`` or ``yes``, any case).

Pure, except :meth:`Protection.build`, which resolves the broker host without blocking.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from dataclasses import dataclass
from typing import Final

from chrontainer_core.errors import InvalidInput
from chrontainer_core.models import Container
from chrontainer_core.registries.reference import ImageReference

from .settings import CONTROL_LABEL, PROTECTED_LABEL, ControlMode, MqttSettings

__all__ = [
    "Protection",
    "broker_image",
    "commands_offered",
    "control_allowed",
    "home_assistant_image",
]

log = logging.getLogger(__name__)

_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no"})
_BROKER_NAMES: Final = re.compile(
    r"(?:eclipse-)?mosquitto|mosquitto-go-auth|emqx|emqx-enterprise|vernemq")
_HA_NAMES: Final = re.compile(r"home-?assistant|[a-z0-9][a-z0-9-]*-homeassistant")
_HA_ORGS: Final = frozenset({"home-assistant", "homeassistant"})
# Name resolution normally answers in milliseconds; a dead resolver must not hold the bridge
# up (no addresses then: the port and image rules still apply).
_RESOLVE_TIMEOUT: Final = 10.0


def _flag(labels: dict[str, str], name: str) -> bool | None:
    """A boolean label: True, False, or None when absent or not a boolean word."""
    value = labels.get(name)
    if value is None:
        return None
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    return None


def _repository(image: str) -> list[str] | None:
    """The repository path components of an image reference (``["library", "nginx"]``), or
    None when ``image`` is no reference (a container created from a bare image id)."""
    try:
        ref = ImageReference.parse(image.strip().lower())
    except InvalidInput:
        return None
    return ref.repository.split("/")


def broker_image(image: str) -> bool:
    """Whether ``image`` is a known MQTT broker image (mosquitto, EMQX, VerneMQ)."""
    parts = _repository(image)
    return parts is not None and _BROKER_NAMES.fullmatch(parts[-1]) is not None


def home_assistant_image(image: str) -> bool:
    """Whether ``image`` is Home Assistant (or part of a Home Assistant installation)."""
    parts = _repository(image)
    if parts is None:
        return False
    return _HA_NAMES.fullmatch(parts[-1]) is not None or (len(parts) > 1 and parts[0] in _HA_ORGS)


def _own(container_id: str, own_ids: frozenset[str]) -> bool:
    return any(container_id == own or (len(own) == 12 and container_id.startswith(own))
               for own in own_ids)


@dataclass(frozen=True, slots=True, kw_only=True)
class Protection:
    """The protection rules for one set of settings (see the module docstring)."""

    own_ids: frozenset[str]
    # The addresses the configured broker host resolves to (empty: unresolved or no broker).
    broker_ips: frozenset[str]
    broker_port: int

    def reason(self, c: Container) -> str | None:
        """Why MQTT commands must never act on ``c`` (for people), or None when none applies."""
        if _own(c.id, self.own_ids):
            return f"{c.name} is the container Chrontainer itself runs in"
        for net in c.networks:
            for address in (net.ip_address, net.ipv6_address):
                if address and address in self.broker_ips:
                    return (f"{c.name} is the MQTT broker the bridge is connected to "
                            f"(address {address})")
        for port in c.ports:
            if port.host_port == self.broker_port and port.protocol == "tcp":
                return (f"{c.name} publishes port {self.broker_port}, the MQTT broker's port: "
                        "it is taken for the broker the bridge is connected to")
        if broker_image(c.image):
            return f"{c.name} runs an MQTT broker image ({c.image})"
        if home_assistant_image(c.image):
            return f"{c.name} runs Home Assistant ({c.image})"
        if _flag(c.labels, PROTECTED_LABEL):
            return f"{c.name} is labelled {PROTECTED_LABEL}={c.labels[PROTECTED_LABEL]}"
        return None

    @classmethod
    async def build(cls, settings: MqttSettings, *, own_ids: frozenset[str]) -> Protection:
        """The rules for ``settings``: resolves the broker host with the event loop's resolver
        (never blocking the loop); a failure leaves no broker addresses (logged)."""
        ips: frozenset[str] = frozenset()
        if settings.host:
            loop = asyncio.get_running_loop()
            try:
                infos = await asyncio.wait_for(
                    loop.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM),
                    _RESOLVE_TIMEOUT)
            except (OSError, TimeoutError, UnicodeError) as err:
                log.warning("could not resolve the MQTT broker %s for the protection rules: %s",
                            settings.host, err)
            else:
                # sockaddr[0] is the address; an IPv6 one may carry a "%scope" suffix.
                ips = frozenset(str(info[4][0]).split("%", 1)[0] for info in infos)
        return cls(own_ids=own_ids, broker_ips=ips, broker_port=settings.port)


def control_allowed(c: Container, mode: ControlMode) -> bool:
    """Whether the control mode lets MQTT commands act on ``c`` (protection aside).

    OFF: never. ALL: unless ``c`` is labelled ``chrontainer.mqtt.control=false``. LABELLED:
    only when it is labelled ``chrontainer.mqtt.control=true``.
    """
    if mode is ControlMode.OFF:
        return False
    flag = _flag(c.labels, CONTROL_LABEL)
    if mode is ControlMode.ALL:
        return flag is not False
    return flag is True


def commands_offered(c: Container, settings: MqttSettings, protection: Protection) -> bool:
    """Whether ``c`` gets command entities (power, restart, pause, update install): control
    allows it and no protection rule applies."""
    return control_allowed(c, settings.control) and protection.reason(c) is None
