"""MQTT commands: from a message on a command topic to a core call, an audit row and a result.

Commands (payloads are case-insensitive):

==========================  =================  =============================================
topic                       payload            does
==========================  =================  =============================================
container ``cmd/power``     ``ON`` / ``OFF``   start / stop
container ``cmd/restart``   ``PRESS``          restart
container ``cmd/pause``     ``ON`` / ``OFF``   pause / unpause
container ``cmd/update``    ``install``        the safe update, as a long operation
schedule ``cmd/enabled``    ``ON`` / ``OFF``   enable / disable the schedule
schedule ``cmd/run``        ``PRESS``          run the schedule now
==========================  =================  =============================================

Each command is answered on the object's ``result`` topic (not retained) with
``{"command", "payload", "ok", "changed", "error", "operation", "time"}``. Refusals: control off
or not allowed for the container by its label (``forbidden``), a protected container
(``protected``), an unknown host, container or schedule (``not_found``), a payload the command
does not take (``invalid_input``); the core's own errors keep their codes (``conflict``,
``busy``, ``host_unreachable``...).

Every command is audited as the bridge's ``Actor(mqtt)``: a command that reaches the core by the
core call itself (``container.stop``, ``schedule.enable``...), one refused before that as
``mqtt.<command>`` with the reason.

A command that arrives *retained* is never obeyed: a retained ``OFF`` would stop the container
again at every reconnect of the bridge. It is cleared (an empty retained message on its topic)
and audited as refused. The broker then forwards that empty message to current subscribers,
the bridge included, so an empty payload is ignored silently rather than answered as invalid.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from chrontainer_core.actor import Actor
from chrontainer_core.errors import ChrontainerError, InvalidInput, NotFound
from chrontainer_core.runtime import Chrontainer
from chrontainer_core.serialize import format_datetime
from chrontainer_core.store.tables import utc_now

from .protection import Protection, control_allowed
from .settings import ControlMode, MqttSettings
from .topics import CommandTopic, Topics

__all__ = ["CommandHandler", "CommandRefused", "Outgoing"]

log = logging.getLogger(__name__)

# The payloads each command takes (upper-cased) and what they mean.
_SWITCH: Final = {"ON": True, "OFF": False}
_PRESS: Final = "PRESS"
_INSTALL: Final = "INSTALL"
# A result echoes the payload it answers; a long one is cut (it was invalid anyway).
_ECHO_MAX: Final = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class Outgoing:
    """A message the bridge publishes in answer to a command."""

    topic: str
    payload: str
    retain: bool = False


class CommandRefused(ChrontainerError):
    """A command the bridge refuses before it reaches the core (control off, protected)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True, kw_only=True)
class _Outcome:
    changed: bool | None = None
    operation: str | None = None


class CommandHandler:
    """Turns command messages into core calls and result messages; never raises for bad input."""

    def __init__(self, core: Chrontainer, *, topics: Topics,
                 settings: Callable[[], MqttSettings], protection: Callable[[], Protection],
                 actor: Actor, clock: Callable[[], datetime] = utc_now) -> None:
        self._core = core
        self._topics = topics
        self._settings = settings
        self._protection = protection
        self._actor = actor
        self._clock = clock

    async def handle(self, topic: str, payload: bytes, *, retain: bool) -> list[Outgoing]:
        """Obey (or refuse) one message on a command topic.

        Args:
            topic: The topic it arrived on.
            payload: Its payload.
            retain: Its retain flag (a retained command is cleared, never obeyed).

        Returns:
            What to publish: the result message, or the clearing of a retained command; nothing
            for a topic that names no command, or for an empty payload.
        """
        command = self._topics.parse_command(topic)
        if command is None:
            log.debug("ignoring a message on %s: not a command topic", topic)
            return []
        target = _target(command)
        if retain:
            log.warning("ignoring the retained command on %s (cleared it)", topic)
            await self._audit_refusal(command, target, "retained command ignored")
            return [Outgoing(topic=topic, payload="", retain=True)]
        if not payload.strip():
            return []  # the echo of a cleared retained command, or nothing at all
        text = payload.decode("utf-8", errors="replace").strip()
        try:
            outcome = await self._dispatch(command, text)
        except _Audited as wrapped:
            return [self._result(command, text, error=wrapped.error)]
        except ChrontainerError as err:
            # Refused here, or by the core before it audits (an unknown container, an update
            # it will not start): audited as the MQTT command.
            await self._audit_refusal(command, target, err.message)
            return [self._result(command, text, error=err)]
        except Exception:
            log.exception("MQTT command %s on %s failed", command.command, target)
            return [self._result(command, text, error=ChrontainerError("internal error"))]
        return [self._result(command, text, outcome=outcome)]

    # -- dispatching ---------------------------------------------------------------------------

    async def _dispatch(self, command: CommandTopic, text: str) -> _Outcome:
        settings = self._settings()
        if settings.control is ControlMode.OFF:
            raise CommandRefused("forbidden", "MQTT control is off (Settings > MQTT)")
        word = text.upper()
        if command.kind == "schedule":
            return await self._schedule(command, word)
        return await self._container(command, word, settings)

    async def _container(self, command: CommandTopic, word: str,
                         settings: MqttSettings) -> _Outcome:
        host, key = command.host or "", command.key or ""
        verb = _container_verb(command.command, word)
        c = await self._core.containers.by_key(host, key)
        if not control_allowed(c, settings.control):
            raise CommandRefused("forbidden", _label_refusal(c.name, settings.control))
        reason = self._protection().reason(c)
        if reason is not None:
            raise CommandRefused("protected", f"{reason}: MQTT commands are refused")
        if verb == "update":
            op = await self._core.updates.start(host, c.id, actor=self._actor)
            return _Outcome(operation=op.id)
        async with _audited():
            result = await self._core.containers.action(host, c.id, verb, actor=self._actor)
        return _Outcome(changed=result.changed)

    async def _schedule(self, command: CommandTopic, word: str) -> _Outcome:
        schedules = self._core.schedules
        ident = command.schedule_id if command.schedule_id is not None else -1
        if command.command == "enabled":
            if word not in _SWITCH:
                raise _invalid(command.command, word, "ON or OFF")
            if schedules is None:
                raise NotFound(f"no schedule {ident}: schedules need the daemon")
            before = await schedules.get(ident)
            async with _audited():
                after = await schedules.set_enabled(ident, _SWITCH[word], actor=self._actor)
            return _Outcome(changed=before.enabled != after.enabled)
        if word != _PRESS:
            raise _invalid(command.command, word, "PRESS")
        if schedules is None:
            raise NotFound(f"no schedule {ident}: schedules need the daemon")
        await schedules.get(ident)  # NotFound before the audited call: refused, not failed
        async with _audited():
            await schedules.run_now(ident, actor=self._actor)
        return _Outcome(changed=True)

    # -- results and audit ---------------------------------------------------------------------

    def _result(self, command: CommandTopic, text: str, *, outcome: _Outcome | None = None,
                error: ChrontainerError | None = None) -> Outgoing:
        body: dict[str, Any] = {
            "command": command.command,
            "payload": text[:_ECHO_MAX],
            "ok": error is None,
            "changed": outcome.changed if outcome else None,
            "error": None if error is None else {"code": error.code, "message": error.message},
            "operation": outcome.operation if outcome else None,
            "time": format_datetime(self._clock()),
        }
        if command.kind == "schedule":
            topic = self._topics.schedule(command.schedule_id or 0, "result")
        else:
            topic = self._topics.container(command.host or "", command.key or "", "result")
        return Outgoing(topic=topic,
                        payload=json.dumps(body, sort_keys=True, separators=(",", ":")))

    async def _audit_refusal(self, command: CommandTopic, target: str, reason: str) -> None:
        try:
            await self._core.audit.record(self._actor, f"mqtt.{command.command}", target,
                                          error=reason)
        except Exception:
            # A failed audit write must not turn into an unanswered command.
            log.exception("could not audit the refused MQTT command on %s", target)


def _target(command: CommandTopic) -> str:
    """The audit target, as the core names it (``local/web``, ``schedule/3``)."""
    if command.kind == "schedule":
        return f"schedule/{command.schedule_id}"
    return f"{command.host}/{command.key}"


def _container_verb(command: str, word: str) -> str:
    """The core action (or "update") a container command with payload ``word`` asks for."""
    if command == "power" and word in _SWITCH:
        return "start" if _SWITCH[word] else "stop"
    if command == "pause" and word in _SWITCH:
        return "pause" if _SWITCH[word] else "unpause"
    if command == "restart" and word == _PRESS:
        return "restart"
    if command == "update" and word == _INSTALL:
        return "update"
    expected = {"power": "ON or OFF", "pause": "ON or OFF", "restart": "PRESS",
                "update": "install"}[command]
    raise _invalid(command, word, expected)


def _invalid(command: str, word: str, expected: str) -> InvalidInput:
    return InvalidInput(f"{command} takes {expected}, not {word[:_ECHO_MAX]!r}",
                        field="payload")


def _label_refusal(name: str, mode: ControlMode) -> str:
    if mode is ControlMode.LABELLED:
        return (f"MQTT control is limited to labelled containers and {name} is not labelled "
                "chrontainer.mqtt.control=true")
    return f"{name} is labelled chrontainer.mqtt.control=false"


class _Audited(Exception):
    """A core error whose audit row the failing core call wrote itself (in audit.track)."""

    def __init__(self, error: ChrontainerError) -> None:
        super().__init__(error.message)
        self.error = error


@contextlib.asynccontextmanager
async def _audited() -> AsyncIterator[None]:
    """Wrap a core call that audits its own failures, so they are not audited twice."""
    try:
        yield
    except ChrontainerError as err:
        raise _Audited(err) from err
