"""The accounts service: one object the app, the middleware and the API handlers share.

It composes the stores (users, sessions, API keys), the login throttle and the setup gate, and
holds the operations that span several of them: login (throttle, password, audit, session),
the second login step of accounts with TOTP (its own throttle, audit, a fresh session),
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
from chrontainer_core.secrets import SecretBox
from chrontainer_core.store.db import Database
from chrontainer_core.store.tables import utc_now

from .apikeys import ApiKeyStore
from .errors import InvalidCredentials, InvalidSecondFactor, Unauthenticated
from .passwords import Passwords
from .principal import Principal
from .ratelimit import LoginThrottle
from .sessions import DEFAULT_IDLE_TIMEOUT, Session, SessionStore
from .setup import SetupGate
from .totp import TotpStore
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
        secrets: Encrypts TOTP secrets at rest (the core's box); None disables enrollment.
        require_2fa: Returns whether every user must use 2FA (a setting, read per request).
    """

    def __init__(self, db: Database, audit: AuditTrail, *,
                 clock: Callable[[], datetime] = utc_now,
                 monotonic: Callable[[], float] = time.monotonic,
                 idle_timeout: Callable[[], timedelta] = lambda: DEFAULT_IDLE_TIMEOUT,
                 passwords: Passwords | None = None, secrets: SecretBox | None = None,
                 require_2fa: Callable[[], bool] = lambda: False) -> None:
        self.passwords = passwords or Passwords()
        self.users = UserRepository(db, self.passwords, clock=clock)
        self.sessions = SessionStore(db, clock=clock, idle_timeout=idle_timeout)
        self.apikeys = ApiKeyStore(db, clock=clock)
        self.throttle = LoginThrottle(clock=monotonic)
        # Its own throttle: a password success resets the password throttle, and must not
        # reset the count of wrong codes (someone holding the password could otherwise guess
        # codes at full speed by logging in again between guesses).
        self.totp_throttle = LoginThrottle(clock=monotonic)
        self.totp = TotpStore(db, secrets, clock=clock)
        self.require_2fa = require_2fa
        self.setup = SetupGate(self.users)
        self.audit = audit

    async def login(self, username: str, password: str, *, ip: str | None,
                    user_agent: str | None = None) -> tuple[str, Session, User]:
        """Check a password and open a session; every outcome goes to the audit trail.

        For an account with TOTP enabled the session is *pending* (``second_factor_pending``):
        :meth:`complete_second_factor` turns it into a login.

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
        user = found[0]
        pending = user.totp_enabled
        token, session = await self.sessions.create(user.id, ip=ip, user_agent=user_agent,
                                                    second_factor_pending=pending)
        if not pending:  # otherwise the login is audited when the second factor settles it
            await self.audit.record(actor, LOGIN_ACTION, name)
        return token, session, user

    async def complete_second_factor(
        self, pending: Session, *, code: str | None = None, recovery_code: str | None = None,
        ip: str | None, user_agent: str | None = None,
    ) -> tuple[str, Session, User]:
        """Finish a login with a TOTP code or a recovery code; replaces the pending session.

        Returns:
            The new session's token (for the cookie only), the session and the user.

        Raises:
            Unauthenticated: ``pending`` is not a half-done login, or its user is gone.
            RateLimited: Too many recent wrong codes for this account from this IP.
            InvalidSecondFactor: Wrong, replayed or spent code (audited).
        """
        if not pending.second_factor_pending:
            raise Unauthenticated("there is no login waiting for a second factor")
        user = await self._enabled_user(pending.user_id)
        if user is None:
            await self.sessions.revoke_key(pending.key)
            raise Unauthenticated("log in again")
        where = ip or "unknown"
        self.totp_throttle.check(user.username, where)
        actor = Actor(kind=ActorKind.USER, id=str(user.id), name=user.username, source_ip=ip)
        try:
            await self.totp.verify(user.id, code=code, recovery_code=recovery_code)
        except InvalidSecondFactor:
            self.totp_throttle.failed(user.username, where)
            await self.audit.record(actor, LOGIN_ACTION, user.username,
                                    error="invalid second factor")
            raise
        self.totp_throttle.succeeded(user.username, where)
        await self.sessions.revoke_key(pending.key)
        token, session = await self.sessions.create(user.id, ip=ip, user_agent=user_agent)
        await self.audit.record(actor, LOGIN_ACTION, user.username)
        return token, session, user

    async def check_second_factor(self, user: User, code: str, *, ip: str | None) -> str:
        """Check a TOTP or recovery code for an account action, throttled like a login.

        Returns:
            ``"totp"`` or ``"recovery"``.

        Raises:
            RateLimited: Too many recent wrong codes.
            InvalidSecondFactor: Wrong, replayed or spent code.
        """
        where = ip or "unknown"
        self.totp_throttle.check(user.username, where)
        try:
            kind = await self.totp.verify_either(user.id, code)
        except InvalidSecondFactor:
            self.totp_throttle.failed(user.username, where)
            raise
        self.totp_throttle.succeeded(user.username, where)
        return kind

    def enrollment_required(self, user: User) -> bool:
        """True when 2FA is required for everyone and ``user`` has not enabled it."""
        return self.require_2fa() and not user.totp_enabled

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
                         session=session,
                         enrollment_required=(not session.second_factor_pending
                                              and self.enrollment_required(found)))

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
