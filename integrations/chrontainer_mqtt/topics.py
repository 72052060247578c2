"""The topic layout and the ids of the bridge's Home Assistant devices (pure).

Everything lives under the configured base topic (default ``chrontainer``)::

    <base>/status                                  bridge availability: online / offline (LWT)
    <base>/host/<host>/state                       host JSON (retained)
    <base>/container/<host>/<key>/state            container JSON (retained)
    <base>/container/<host>/<key>/stats            CPU, memory, network JSON (retained)
    <base>/container/<host>/<key>/update           update entity JSON (retained)
    <base>/container/<host>/<key>/availability     online / offline (retained)
    <base>/container/<host>/<key>/event            lifecycle events (not retained)
    <base>/container/<host>/<key>/cmd/<command>    commands: power, restart, pause, update
    <base>/container/<host>/<key>/result           command results (not retained)
    <base>/schedule/<id>/state                     schedule JSON (retained)
    <base>/schedule/<id>/cmd/<command>             commands: enabled, run
    <base>/schedule/<id>/result                    command results (not retained)

``<key>`` is the container key (DESIGN §3a) encoded by :func:`encode` so that it is a valid MQTT
topic level and a valid Home Assistant discovery id: ``[A-Za-z0-9-]`` stays, ``_`` becomes
``__`` and any other byte of its UTF-8 form becomes ``_`` plus two hex digits (``.`` is
``_2e``). The encoding is reversible, so two keys never share topics or ids.

Ids are derived from the base topic (its namespace, so two instances on one broker with
different base topics never collide), the host slug and the container key, never a container
id: a recreated or updated container keeps its entities and their history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = [
    "CONTAINER_COMMANDS",
    "SCHEDULE_COMMANDS",
    "CommandTopic",
    "Topics",
    "decode",
    "encode",
]

CONTAINER_COMMANDS: Final = ("power", "restart", "pause", "update")
SCHEDULE_COMMANDS: Final = ("enabled", "run")

_PLAIN = re.compile(r"[A-Za-z0-9-]")
_ESCAPE = re.compile(r"_(_|[0-9a-f]{2})")


def encode(text: str) -> str:
    """Encode a container key (or any text) as a topic level and discovery id."""
    out = []
    for char in text:
        if _PLAIN.fullmatch(char):
            out.append(char)
        elif char == "_":
            out.append("__")
        else:
            out.extend(f"_{byte:02x}" for byte in char.encode())
    return "".join(out)


def decode(text: str) -> str:
    """Reverse :func:`encode`.

    Raises:
        ValueError: ``text`` is not something :func:`encode` produces.
    """
    raw = bytearray()
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "_":
            match = _ESCAPE.match(text, pos)
            if match is None:
                raise ValueError(f"bad escape at {pos} in {text!r}")
            group = match.group(1)
            raw.extend(b"_" if group == "_" else bytes([int(group, 16)]))
            pos = match.end()
        elif _PLAIN.fullmatch(char):
            raw.extend(char.encode())
            pos += 1
        else:
            raise ValueError(f"unexpected {char!r} in {text!r}")
    return raw.decode()


def _namespace(base: str) -> str:
    """The id prefix of a base topic: ``chrontainer`` for the default one."""
    return encode(base.strip("/")) or "chrontainer"


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandTopic:
    """A parsed command topic: which object and which command.

    ``kind`` is "container" (``host`` and ``key`` set) or "schedule" (``schedule_id`` set).
    """

    kind: str
    command: str
    host: str | None = None
    key: str | None = None
    schedule_id: int | None = None


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic and id builder for one base topic and discovery prefix."""

    base: str = "chrontainer"
    discovery_prefix: str = "homeassistant"

    # --- ids ---------------------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return _namespace(self.base)

    def container_device_id(self, host: str, key: str) -> str:
        return f"{self.namespace}_c_{host}_{encode(key)}"

    def host_device_id(self, host: str) -> str:
        return f"{self.namespace}_h_{host}"

    def schedule_device_id(self, schedule_id: int) -> str:
        return f"{self.namespace}_s_{schedule_id}"

    def unique_id(self, device_id: str, entity: str) -> str:
        """An entity's unique id: its device id plus the entity's key ("power", "cpu")."""
        return f"{device_id}_{entity}"

    # --- discovery ---------------------------------------------------------------------------

    @property
    def ha_status(self) -> str:
        """Where Home Assistant announces ``online`` after it (re)starts."""
        return f"{self.discovery_prefix}/status"

    def device_config(self, device_id: str) -> str:
        """Device-based discovery (Home Assistant 2024.12+)."""
        return f"{self.discovery_prefix}/device/{device_id}/config"

    def component_config(self, platform: str, device_id: str, entity: str) -> str:
        """Per-component discovery: one config topic per entity."""
        return f"{self.discovery_prefix}/{platform}/{device_id}/{entity}/config"

    # --- state -------------------------------------------------------------------------------

    @property
    def status(self) -> str:
        """The bridge's availability (its MQTT last will says ``offline``)."""
        return f"{self.base}/status"

    def host(self, host: str, leaf: str = "state") -> str:
        return f"{self.base}/host/{host}/{leaf}"

    def container(self, host: str, key: str, leaf: str) -> str:
        """A container topic: leaf is state, stats, update, availability, event or result."""
        return f"{self.base}/container/{host}/{encode(key)}/{leaf}"

    def container_command(self, host: str, key: str, command: str) -> str:
        return self.container(host, key, f"cmd/{command}")

    def schedule(self, schedule_id: int, leaf: str = "state") -> str:
        return f"{self.base}/schedule/{schedule_id}/{leaf}"

    def schedule_command(self, schedule_id: int, command: str) -> str:
        return self.schedule(schedule_id, f"cmd/{command}")

    # --- subscriptions -----------------------------------------------------------------------

    @property
    def command_filters(self) -> tuple[str, ...]:
        """The subscriptions that receive every command (``<base>/.../cmd/#`` in ACL terms)."""
        return (f"{self.base}/container/+/+/cmd/+", f"{self.base}/schedule/+/cmd/+")

    def parse_command(self, topic: str) -> CommandTopic | None:
        """The object and command a command topic names, or None when it names none."""
        prefix = f"{self.base}/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix):].split("/")
        if len(parts) == 5 and parts[0] == "container" and parts[3] == "cmd":
            _, host, key, _, command = parts
            if command not in CONTAINER_COMMANDS or not host:
                return None
            try:
                decoded = decode(key)
            except (ValueError, UnicodeDecodeError):
                return None
            return CommandTopic(kind="container", command=command, host=host, key=decoded)
        if len(parts) == 4 and parts[0] == "schedule" and parts[2] == "cmd":
            _, ident, _, command = parts
            if command not in SCHEDULE_COMMANDS or not ident.isdigit():
                return None
            return CommandTopic(kind="schedule", command=command, schedule_id=int(ident))
        return None
