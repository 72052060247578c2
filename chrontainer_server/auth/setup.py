"""First start: a one-time setup token creates the first admin (DESIGN §7: no default login).

While no account exists, the server makes a random token and logs ONE line with the setup link
(the only place the token ever appears). ``POST /api/v1/auth/setup`` with that token creates the
first admin; the token then stops working, and so does the endpoint once any account exists
(for instance one made with ``chrontainer user add``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging

from chrontainer_core.errors import Conflict

from .errors import Forbidden
from .roles import Role
from .tokens import new_token
from .users import User, UserRepository

__all__ = ["SetupGate"]

log = logging.getLogger(__name__)


class SetupGate:
    """Holds the one-time setup token.

    Args:
        users: The account repository.
    """

    def __init__(self, users: UserRepository) -> None:
        self._users = users
        self._token: str | None = None
        # Two setup requests racing must not both create an admin.
        self._lock = asyncio.Lock()

    @property
    def pending(self) -> bool:
        """True while a setup token is waiting to be used."""
        return self._token is not None

    async def prepare(self, base_url: str) -> None:
        """Make a token and log the setup link, if there is no account yet."""
        if await self._users.count():
            return
        self._token = new_token()
        log.warning("no users yet: create the first admin at %s/setup?token=%s",
                    base_url, self._token)

    async def complete(self, token: str, username: str, password: str) -> User:
        """Create the first admin with the setup token; the token then stops working.

        Raises:
            Forbidden: The token is wrong, used, or there never was one.
            Conflict: An account exists already.
            InvalidInput: Bad username or password (the token stays usable).
        """
        async with self._lock:
            expected = self._token
            if expected is None or not hmac.compare_digest(expected.encode(), token.encode()):
                raise Forbidden("invalid or already used setup token")
            if await self._users.count():
                self._token = None
                raise Conflict("setup is done: an account exists already")
            user = await self._users.create(username, password, Role.ADMIN)
            self._token = None
            return user
