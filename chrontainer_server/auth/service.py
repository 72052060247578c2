"""The accounts service: one object the app, the middleware and the API handlers share.

It composes the stores (users, sessions, API keys), the login throttle and the setup gate, and
holds the operations that span several of them: login (throttle, password, audit, session),
password changes (which end the user's other sessions) and credential resolution.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from aiohttp import web

from chrontainer_core import Actor, ActorKind
from chrontainer_core.audit import AuditTrail
from chrontainer_core.errors import NotFound
from chrontainer_core.store.db import Database
from chrontainer_core.store.tables import utc_now

from .apikeys import ApiKeyStore
from .errors import InvalidCredentials
from .passwords import Passwords
from .principal import Principal
from .ratelimit import LoginThrottle
from .sessions import DEFAULT_IDLE_TIMEOUT, Session, SessionStore
from .setup import SetupGate
from .users import User, UserRepository

__all__ = ["AUTH", "AuthService"]

LOGIN_ACTION: Final = "auth.login"


class AuthService:
    """Accounts, sessions, API keys, login throttling and first-start setup.

    Args:
        db: The database.
        audit: The core's audit trail (logins are recorded there as ``auth.login``).
        clock: Wall-clock time (aware UTC) for sessions, keys and accounts.
        monotonic: Monotonic seconds for the login throttle.
        idle_timeout: Returns the session idle timeout (a setting).
        passwords: The password hasher (tests may pass cheaper parameters).
    """

    def __init__(self, db: Database, audit: AuditTrail, *,
                 clock: Callable[[], datetime] = utc_now,
                 monotonic: Callable[[], float] = time.monotonic,
                 idle_timeout: Callable[[], timedelta] = lambda: DEFAULT_IDLE_TIMEOUT,
                 passwords: Passwords | None = None) -> None:
        self.passwords = passwords or Passwords()
        self.users = UserRepository(db, self.passwords, clock=clock)
        self.sessions = SessionStore(db, clock=clock, idle_timeout=idle_timeout)
        self.apikeys = ApiKeyStore(db, clock=clock)
        self.throttle = LoginThrottle(clock=monotonic)
        self.setup = SetupGate(self.users)
        self.audit = audit

    async def login(self, username: str, password: str, *, ip: str | None,
                    user_agent: str | None = None) -> tuple[str, Session, User]:
        """Check a password and open a session; every outcome goes to the audit trail.

        Returns:
            The session token (for the cookie only), the session and the user.

        Raises:
            RateLimited: Too many recent failures for this account from this IP, or from it.
            InvalidCredentials: Unknown user, disabled user or wrong password (one message).
        """
        name = username.strip().lower()
        where = ip or "unknown"
        self.throttle.check(name, where)
        found = await self.users.find(name)
        ok = False
        if found is None:
            await self.passwords.waste_time(password)
        else:
            user, stored = found
            verdict = await self.passwords.verify(stored, password)
            ok = verdict.ok and not user.disabled
            if ok and verdict.new_hash is not None:
                await self.users.store_hash(user.id, verdict.new_hash, changed=False)
        actor = Actor(kind=ActorKind.USER, id=str(found[0].id) if found else "",
                      name=name[:255], source_ip=ip)
        if not ok:
            self.throttle.failed(name, where)
            await self.audit.record(actor, LOGIN_ACTION, name[:512],
                                    error="invalid username or password")
            raise InvalidCredentials()
        assert found is not None
        self.throttle.succeeded(name, where)
        await self.sessions.prune()
        token, session = await self.sessions.create(found[0].id, ip=ip, user_agent=user_agent)
        await self.audit.record(actor, LOGIN_ACTION, name)
        return token, session, found[0]

    async def change_password(self, user_id: int, current: str, new: str, *,
                              keep_session: str | None) -> User:
        """Change one's own password (the current one is required); ends other sessions.

        Raises:
            InvalidCredentials: ``current`` is wrong.
            InvalidInput: ``new`` breaks the password policy.
        """
        user = await self.users.get(user_id)
        found = await self.users.find(user.username)
        assert found is not None
        if not (await self.passwords.verify(found[1], current)).ok:
            raise InvalidCredentials()
        user = await self.users.set_password(user_id, new)
        await self.sessions.revoke_all(user_id, keep=keep_session)
        return user

    async def from_session(self, token: str) -> Principal | None:
        """The principal of a session cookie, or None."""
        session = await self.sessions.resolve(token)
        if session is None:
            return None
        found = await self._enabled_user(session.user_id)
        if found is None:
            return None
        return Principal(user_id=found.id, username=found.username, role=found.role,
                         session=session)

    async def from_api_key(self, secret: str) -> Principal | None:
        """The principal of an API key, or None."""
        resolved = await self.apikeys.resolve(secret)
        if resolved is None:
            return None
        key = resolved.key
        return Principal(user_id=key.user_id, username=resolved.username, role=resolved.role,
                         api_key_id=key.id, api_key_name=key.name, scope=key.scope)

    async def _enabled_user(self, user_id: int) -> User | None:
        try:
            user = await self.users.get(user_id)
        except NotFound:  # deleted while the session lived
            return None
        return None if user.disabled else user


AUTH: Final = web.AppKey("chrontainer_auth", AuthService)
