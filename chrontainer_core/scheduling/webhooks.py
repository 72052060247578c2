"""Webhooks: a secret URL that runs an action on a target, for CI jobs and other machines.

A webhook is called with its token (``POST /api/v1/webhooks/trigger/<token>``); the token is
the credential, so it is a 256-bit random value shown once, stored only as its SHA-256 (looked
up by hash, like API keys) plus a short prefix people can recognise it by.

A *locked* webhook always runs its bound action on its bound target; a request naming another
one is refused, naming the bound one. An *unlocked* webhook takes both from each request (the
server lets only admins manage those: roles are a server concept, the core does not know them).

A trigger is refused, in this order, when the token is unknown (:class:`NotFound`), the webhook
is disabled or the client's address is outside its CIDR allowlist (:class:`PermissionDenied`),
it already ran ``rate_limit_per_minute`` times in the last minute (:class:`RateLimited`, an
in-memory sliding window per webhook; refused triggers do not count), or the request's
action/target is wrong. An accepted trigger claims a run and hands it to the
:class:`~.runs.RunExecutor` (target lock, timeout) acting as ``Actor(webhook)``, so what it does
lands in the audit trail; management changes are audited as ``webhook.<verb>``, never with the
token.
"""

from __future__ import annotations

import builtins
import hashlib
import ipaddress
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..actor import Actor, ActorKind
from ..audit import AuditTrail
from ..bus import ContainerRenamed
from ..errors import InvalidInput, NotFound, PermissionDenied, RateLimited
from ..models import UNCHANGED, Unchanged
from ..store.db import Database
from ..store.tables import WebhookRow, utc_now
from .actions import check_action
from .jobs import RetryPolicy, RunTrigger, ScheduleAction, ScheduleRun, Target, TargetKind, Webhook
from .runs import RunExecutor, RunRequest
from .service import check_name, check_target
from .store import ScheduleStore

__all__ = [
    "MAX_CIDRS",
    "MAX_RATE_PER_MINUTE",
    "MAX_WAIT",
    "RATE_WINDOW",
    "TRIGGER_TIMEOUT",
    "RateWindow",
    "WebhookService",
    "check_binding",
    "hash_token",
    "ip_allowed",
    "new_token",
    "parse_cidrs",
    "token_prefix",
    "webhook_actor",
]

log = logging.getLogger(__name__)

TOKEN_BYTES: Final = 32  # 256 bits (DESIGN §7)
PREFIX_CHARS: Final = 8
RATE_WINDOW: Final = timedelta(seconds=60)
MAX_RATE_PER_MINUTE: Final = 600
DEFAULT_RATE_PER_MINUTE: Final = 30
MAX_CIDRS: Final = 100
MAX_WAIT: Final = 30.0
# A webhook's run gets the default schedule timeout and no retries: the caller is a machine
# that can call again, and with ?wait it is waiting for the answer.
TRIGGER_TIMEOUT: Final = timedelta(minutes=5)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


# -- the pure rules ------------------------------------------------------------------------------


def new_token() -> str:
    """A fresh webhook token: 256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The SHA-256 (hex) a token is stored and looked up under.

    A fast hash is right for a 256-bit random value: nothing can be guessed from a leaked hash,
    and every trigger must look it up cheaply.
    """
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_prefix(token: str) -> str:
    """The first characters of a token, shown so people can tell their webhooks' URLs apart."""
    return token[:PREFIX_CHARS]


def parse_cidrs(values: Iterable[str]) -> tuple[str, ...]:
    """Validate an allowlist and return it normalised (``10.0.0.7/24`` -> ``10.0.0.0/24``; a
    bare address is a one-address network), without duplicates, in the given order.

    Raises:
        InvalidInput: ``field`` is ``allowed_cidrs[i]`` for the first bad entry.
    """
    found: list[str] = []
    for i, value in enumerate(values):
        try:
            network = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise InvalidInput(f"allowed_cidrs[{i}]: not an IPv4 or IPv6 network in CIDR "
                               "notation (e.g. 192.168.1.0/24)",
                               field=f"allowed_cidrs[{i}]") from None
        text = str(network)
        if text not in found:
            found.append(text)
    if len(found) > MAX_CIDRS:
        raise InvalidInput(f"allowed_cidrs: at most {MAX_CIDRS} networks",
                           field="allowed_cidrs")
    return tuple(found)


def _forms(address: Address) -> tuple[Address, ...]:
    """An address and its other spelling across IPv4 and IPv4-mapped IPv6.

    A dual-stack server sees an IPv4 client as ``::ffff:a.b.c.d``; an allowlist written in
    either family must match it either way.
    """
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        return (address, mapped) if mapped is not None else (address,)
    return address, ipaddress.IPv6Address(f"::ffff:{address}")


def ip_allowed(ip: str | None, cidrs: Iterable[str]) -> bool:
    """True when ``ip`` is inside one of ``cidrs``, or the allowlist is empty (allow all).

    An unknown or unparseable client address is refused by a non-empty allowlist.
    """
    networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    if not networks:
        return True
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone ("%eth0")
    except ValueError:
        return False
    return any(form in net for form in _forms(address) for net in networks
               if form.version == net.version)


def check_binding(webhook: Webhook, action: ScheduleAction | None,
                  target: Target | None) -> tuple[ScheduleAction, Target]:
    """What a trigger runs: a locked webhook's binding (a request may repeat it, not change
    it), or an unlocked webhook's request values.

    Raises:
        PermissionDenied: A locked webhook was asked for another action or target.
        InvalidInput: An unlocked webhook was not given both (``field`` says which).
    """
    if webhook.locked:
        assert webhook.action is not None and webhook.target is not None  # stored locked
        if (action is not None and action != webhook.action) or (
                target is not None and target != webhook.target):
            raise PermissionDenied(
                f"this webhook is locked to {webhook.action.value} on "
                f"{webhook.target.describe()}",
                details={"action": webhook.action.value,
                         "target": webhook.target.describe()})
        return webhook.action, webhook.target
    if action is None:
        raise InvalidInput("action: an unlocked webhook needs the action in the request",
                           field="action")
    if target is None:
        raise InvalidInput("target: an unlocked webhook needs the target in the request",
                           field="target")
    return action, target


class RateWindow:
    """Sliding windows of accepted triggers per webhook (in memory: a restart forgets them).

    Only accepted triggers are added, so each window holds at most the webhook's limit.

    Args:
        span: The window's length.
    """

    def __init__(self, span: timedelta = RATE_WINDOW) -> None:
        self.span = span
        self._hits: dict[int, deque[datetime]] = {}

    def retry_after(self, key: int, limit: int, now: datetime) -> float | None:
        """Seconds until one more trigger fits in ``key``'s window; None when it fits now."""
        hits = self._hits.get(key)
        if hits is None:
            return None
        while hits and hits[0] <= now - self.span:
            hits.popleft()
        if len(hits) < limit:
            return None
        # The oldest hits leave first; the one whose leaving brings the count below the limit.
        return (hits[len(hits) - limit] + self.span - now).total_seconds()

    def add(self, key: int, now: datetime) -> None:
        """Count an accepted trigger of ``key`` at ``now``."""
        self._hits.setdefault(key, deque()).append(now)

    def forget(self, key: int) -> None:
        """Drop ``key``'s window (its webhook was deleted)."""
        self._hits.pop(key, None)


def webhook_actor(webhook: Webhook, source_ip: str | None) -> Actor:
    """Who a webhook's runs act as in the audit trail."""
    return Actor(kind=ActorKind.WEBHOOK, id=str(webhook.id), name=webhook.name,
                 source_ip=source_ip)


# -- rows ----------------------------------------------------------------------------------------


def _webhook(row: WebhookRow) -> Webhook:
    target = None
    if row.target_kind is not None and row.host is not None:
        target = Target(kind=TargetKind(row.target_kind), host=row.host, key=row.target_key,
                        label=row.target_label, image=row.target_image)
    return Webhook(
        id=row.id, name=row.name, enabled=row.enabled, locked=row.locked,
        action=ScheduleAction(row.action) if row.action else None, target=target,
        token_prefix=row.token_prefix, allow_get=row.allow_get,
        allowed_cidrs=tuple(json.loads(row.allowed_cidrs)),
        rate_limit_per_minute=row.rate_limit_per_minute,
        last_triggered_at=row.last_triggered_at, trigger_count=row.trigger_count,
        created_by=row.created_by, created_at=row.created_at,
    )


def _fill(row: WebhookRow, webhook: Webhook) -> None:
    """Copy the editable fields (not id, token, counters or creation) onto a row."""
    row.name = webhook.name
    row.enabled = webhook.enabled
    row.locked = webhook.locked
    row.action = webhook.action.value if webhook.action else None
    target = webhook.target
    row.target_kind = target.kind.value if target else None
    row.host = target.host if target else None
    row.target_key = target.key if target else None
    row.target_label = target.label if target else None
    row.target_image = target.image if target else None
    row.allow_get = webhook.allow_get
    row.allowed_cidrs = json.dumps(list(webhook.allowed_cidrs))
    row.rate_limit_per_minute = webhook.rate_limit_per_minute


@dataclass(frozen=True, slots=True, kw_only=True)
class _Changes:
    name: str | Unchanged = UNCHANGED
    enabled: bool | Unchanged = UNCHANGED
    locked: bool | Unchanged = UNCHANGED
    action: ScheduleAction | Unchanged | None = UNCHANGED
    target: Target | Unchanged | None = UNCHANGED
    allow_get: bool | Unchanged = UNCHANGED
    allowed_cidrs: tuple[str, ...] | Unchanged = UNCHANGED
    rate_limit_per_minute: int | Unchanged = UNCHANGED

    def applied(self, webhook: Webhook) -> Webhook:
        changed = {f.name: value for f in fields(self)
                   if not isinstance(value := getattr(self, f.name), Unchanged)}
        if changed.get("locked") is False and "action" not in changed and "target" not in changed:
            # Unlocking drops the binding: an unlocked webhook takes both from each request.
            changed.update(action=None, target=None)
        return replace(webhook, **changed)


Guard = Callable[[Webhook], None]


class WebhookService:
    """Manage and trigger webhooks (see the module docstring).

    Args:
        db: Where webhooks are stored.
        executor: Runs triggered actions.
        store: Where runs are claimed and read.
        audit: Where management changes are recorded.
        hosts: The known host slugs (a target's host must be one of them).
        clock: Current time (aware UTC); also the rate limits' clock.
    """

    def __init__(self, db: Database, executor: RunExecutor, store: ScheduleStore, *,
                 audit: AuditTrail, hosts: Container[str],
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._executor = executor
        self._store = store
        self._audit = audit
        self._hosts = hosts
        self._clock = clock
        self._window = RateWindow()

    # -- reading --------------------------------------------------------------------------------

    async def list(self) -> builtins.list[Webhook]:
        """Every webhook, by id (never with its token)."""
        async with self._db.session() as session:
            rows = await session.scalars(select(WebhookRow).order_by(WebhookRow.id))
            return [_webhook(r) for r in rows]

    async def get(self, webhook_id: int) -> Webhook:
        """One webhook; NotFound when there is none."""
        async with self._db.session() as session:
            return _webhook(await self._row(session, webhook_id))

    async def runs(self, webhook_id: int, *, limit: int = 50,
                   offset: int = 0) -> tuple[builtins.list[ScheduleRun], int]:
        """The webhook's runs, newest first, and their total.

        Raises:
            NotFound: No such webhook.
        """
        await self.get(webhook_id)
        return await self._store.runs(webhook_id=webhook_id, limit=limit, offset=offset)

    # -- managing -------------------------------------------------------------------------------

    async def create(self, name: str, *, locked: bool = True,
                     action: ScheduleAction | None = None, target: Target | None = None,
                     enabled: bool = True, allow_get: bool = False,
                     allowed_cidrs: Iterable[str] = (),
                     rate_limit_per_minute: int = DEFAULT_RATE_PER_MINUTE,
                     actor: Actor | None = None) -> tuple[Webhook, str]:
        """Create a webhook; returns it and its token, which is never available again.

        Raises:
            InvalidInput: A bad field (``details.field`` names it).
        """
        actor = actor or Actor.library()
        async with self._audit.track(actor, "webhook.create", "webhook") as scope:
            draft = self._validated(Webhook(
                id=0, name=name, enabled=enabled, locked=locked, action=action, target=target,
                token_prefix="", allow_get=allow_get, allowed_cidrs=tuple(allowed_cidrs),
                rate_limit_per_minute=rate_limit_per_minute))
            token = new_token()
            now = self._clock()
            row = WebhookRow(token_hash=hash_token(token), token_prefix=token_prefix(token),
                             trigger_count=0, created_by=(actor.name or actor.label)[:100],
                             created_at=now, updated_at=now)
            _fill(row, draft)
            async with self._db.session() as session:
                session.add(row)
                await session.flush()
                created = _webhook(row)
            scope.target = f"webhook/{created.id}"
        return created, token

    async def update(self, webhook_id: int, *, actor: Actor | None = None,
                     guard: Guard | None = None,
                     name: str | Unchanged = UNCHANGED,
                     enabled: bool | Unchanged = UNCHANGED,
                     locked: bool | Unchanged = UNCHANGED,
                     action: ScheduleAction | Unchanged | None = UNCHANGED,
                     target: Target | Unchanged | None = UNCHANGED,
                     allow_get: bool | Unchanged = UNCHANGED,
                     allowed_cidrs: Iterable[str] | Unchanged = UNCHANGED,
                     rate_limit_per_minute: int | Unchanged = UNCHANGED) -> Webhook:
        """Change some fields of a webhook (the token stays); unlocking drops the binding
        unless the change sets it.

        Args:
            webhook_id: The webhook.
            actor: Who asks.
            guard: Called with the webhook as stored, in the same transaction, before changing
                it; raising refuses the change (the server's role rules).
            name, enabled, locked, action, target, allow_get, allowed_cidrs,
                rate_limit_per_minute: New values; UNCHANGED keeps a field.

        Raises:
            NotFound: No such webhook.
            InvalidInput: A bad field.
        """
        actor = actor or Actor.library()
        changes = _Changes(
            name=name, enabled=enabled, locked=locked, action=action, target=target,
            allow_get=allow_get, rate_limit_per_minute=rate_limit_per_minute,
            allowed_cidrs=(allowed_cidrs if isinstance(allowed_cidrs, Unchanged)
                           else tuple(allowed_cidrs)))
        async with (self._audit.track(actor, "webhook.update", f"webhook/{webhook_id}"),
                    self._db.session() as session):
            row = await self._row(session, webhook_id)
            current = _webhook(row)
            if guard is not None:
                guard(current)
            _fill(row, self._validated(changes.applied(current)))
            row.updated_at = self._clock()
            return _webhook(row)

    async def delete(self, webhook_id: int, *, actor: Actor | None = None,
                     guard: Guard | None = None) -> None:
        """Delete a webhook and its run history; its URL stops working at once.

        Raises:
            NotFound: No such webhook.
        """
        actor = actor or Actor.library()
        async with (self._audit.track(actor, "webhook.delete", f"webhook/{webhook_id}"),
                    self._db.session() as session):
            current = _webhook(await self._row(session, webhook_id))
            if guard is not None:
                guard(current)
            await session.execute(delete(WebhookRow).where(WebhookRow.id == webhook_id))
        self._window.forget(webhook_id)

    async def regenerate(self, webhook_id: int, *, actor: Actor | None = None,
                         guard: Guard | None = None) -> tuple[Webhook, str]:
        """Give a webhook a new token (the old URL stops working at once); returns the webhook
        and the new token, shown this once.

        Raises:
            NotFound: No such webhook.
        """
        actor = actor or Actor.library()
        token = new_token()
        async with (self._audit.track(actor, "webhook.regenerate", f"webhook/{webhook_id}"),
                    self._db.session() as session):
            row = await self._row(session, webhook_id)
            if guard is not None:
                guard(_webhook(row))
            row.token_hash = hash_token(token)
            row.token_prefix = token_prefix(token)
            row.updated_at = self._clock()
            return _webhook(row), token

    async def move_key(self, event: ContainerRenamed) -> None:
        """A container was renamed: webhooks locked to it follow it to its new key (audited as
        the system when there were any)."""
        bound = (WebhookRow.target_kind == TargetKind.CONTAINER.value,
                 WebhookRow.host == event.host, WebhookRow.target_key == event.old_key)
        async with self._db.session() as session:
            if await session.scalar(select(WebhookRow.id).where(*bound).limit(1)) is None:
                return  # most renames concern no webhook: no audit noise for them
        target = f"{event.host}/{event.new_key}"
        async with (self._audit.track(Actor.system(), "webhook.move_target", target),
                    self._db.session() as session):
            await session.execute(update(WebhookRow).where(*bound)
                                  .values(target_key=event.new_key, updated_at=self._clock()))

    # -- triggering -----------------------------------------------------------------------------

    async def trigger(self, token: str, *, source_ip: str | None,
                      action: ScheduleAction | None = None, target: Target | None = None,
                      wait: float = 0.0, guard: Guard | None = None) -> ScheduleRun:
        """Run the webhook whose token this is; returns its run, finished if it ended within
        ``wait`` seconds (at most :data:`MAX_WAIT`), else still running.

        Args:
            token: The secret from the webhook's URL.
            source_ip: The client's address (checked against the allowlist; audited).
            action: The action asked for (an unlocked webhook's, or a locked one's own).
            target: The target asked for (likewise).
            wait: Seconds to wait for the run to end.
            guard: Called with the webhook once found, before any other check; raising
                refuses the call (the server's "GET only when allowed").

        Raises:
            NotFound: No webhook has this token.
            PermissionDenied: Disabled, the client is outside the allowlist, or a locked
                webhook was asked for another action or target.
            RateLimited: Over the webhook's triggers per minute.
            InvalidInput: An unlocked webhook's action or target is missing or wrong.
        """
        webhook = await self._by_token(token)
        if guard is not None:
            guard(webhook)
        try:
            run_action, run_target = self._admit(webhook, source_ip, action, target)
        except (PermissionDenied, RateLimited) as err:
            log.info("webhook %d (%s): refused a trigger from %s: %s", webhook.id,
                     webhook.name, source_ip or "an unknown address", err.message)
            raise
        now = self._clock()
        run = await self._store.claim(None, RunTrigger.WEBHOOK, now, started_at=now,
                                      webhook_id=webhook.id, action=run_action,
                                      target=run_target.describe())
        # Webhook runs have no schedule, and SQL never finds NULL keys equal: always claimed.
        assert run is not None
        async with self._db.session() as session:
            await session.execute(
                update(WebhookRow).where(WebhookRow.id == webhook.id)
                .values(last_triggered_at=now, trigger_count=WebhookRow.trigger_count + 1))
        self._executor.launch(run, RunRequest(
            name=webhook.name, action=run_action, target=run_target,
            actor=webhook_actor(webhook, source_ip), timeout=TRIGGER_TIMEOUT,
            retry=RetryPolicy()))
        if wait > 0:
            return await self._executor.wait(run.id, min(wait, MAX_WAIT))
        return run

    def _admit(self, webhook: Webhook, source_ip: str | None, action: ScheduleAction | None,
               target: Target | None) -> tuple[ScheduleAction, Target]:
        """Decide whether a trigger may run, and what; counts it when it may.

        No await in here: the rate check and the count happen as one step, so concurrent
        triggers cannot slip past the limit together.
        """
        if not webhook.enabled:
            raise PermissionDenied("this webhook is disabled")
        if not ip_allowed(source_ip, webhook.allowed_cidrs):
            raise PermissionDenied(f"client address {source_ip or 'unknown'} is not allowed "
                                   "to call this webhook")
        now = self._clock()
        wait = self._window.retry_after(webhook.id, webhook.rate_limit_per_minute, now)
        if wait is not None:
            raise RateLimited(f"this webhook takes at most {webhook.rate_limit_per_minute} "
                              "calls a minute", retry_after=wait)
        run_action, run_target = check_binding(webhook, action, target)
        if not webhook.locked:
            check_target(run_target, self._hosts)
            check_action(run_action, run_target)
        self._window.add(webhook.id, now)
        return run_action, run_target

    # -- helpers --------------------------------------------------------------------------------

    async def _by_token(self, token: str) -> Webhook:
        async with self._db.session() as session:
            row = await session.scalar(
                select(WebhookRow).where(WebhookRow.token_hash == hash_token(token)))
            if row is None:
                # Never the token itself in the message: it would end up in logs.
                raise NotFound("no webhook has this token")
            return _webhook(row)

    @staticmethod
    async def _row(session: AsyncSession, webhook_id: int) -> WebhookRow:
        row = await session.get(WebhookRow, webhook_id)
        if row is None:
            raise NotFound(f"no webhook {webhook_id}", details={"id": webhook_id})
        return row

    def _validated(self, webhook: Webhook) -> Webhook:
        """The webhook checked, with its name trimmed and its allowlist normalised."""
        webhook = replace(webhook, name=check_name(webhook.name),
                          allowed_cidrs=parse_cidrs(webhook.allowed_cidrs))
        if not 1 <= webhook.rate_limit_per_minute <= MAX_RATE_PER_MINUTE:
            raise InvalidInput(f"rate_limit_per_minute: must be 1 to {MAX_RATE_PER_MINUTE}",
                               field="rate_limit_per_minute")
        if webhook.locked:
            if webhook.action is None:
                raise InvalidInput("action: a locked webhook needs an action", field="action")
            if webhook.target is None:
                raise InvalidInput("target: a locked webhook needs a target", field="target")
            check_target(webhook.target, self._hosts)
            check_action(webhook.action, webhook.target)
        elif webhook.action is not None or webhook.target is not None:
            field = "action" if webhook.action is not None else "target"
            raise InvalidInput(f"{field}: an unlocked webhook takes its action and target "
                               "from each request; lock it to bind them", field=field)
        return webhook
