"""Password hashing with argon2id (passwords only; tokens and keys use SHA-256, DESIGN §7).

Parameters are OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane): hashing takes a few
tens of milliseconds on a desktop and well under a second on a Raspberry Pi, and its memory stays
inside the daemon's 100 MB budget. :data:`MAX_CONCURRENT` bounds the hashes in flight for the
same reason: ten parallel logins must not cost 190 MiB.

Hashing blocks the CPU, so each hash and each verification is exactly one
``asyncio.to_thread`` call (the event loop keeps serving other requests meanwhile).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from chrontainer_core.errors import InvalidInput

__all__ = ["MAX_PASSWORD", "MIN_PASSWORD", "Passwords", "Verification", "check_password_policy"]

MIN_PASSWORD: Final = 8
# argon2 takes any length, but hashing megabytes per attempt is a cheap denial of service.
MAX_PASSWORD: Final = 1024
MAX_CONCURRENT: Final = 2


def check_password_policy(password: str, *, field: str = "password") -> str:
    """Return ``password`` if it is acceptable, else raise InvalidInput naming ``field``."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(
            f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters", field=field
        )
    return password


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of :meth:`Passwords.verify`.

    Attributes:
        ok: The password matches.
        new_hash: A hash with the current parameters, when the stored one used older ones
            (store it); None otherwise.
    """

    ok: bool
    new_hash: str | None = None


class Passwords:
    """Hashes and verifies passwords.

    Args:
        memory_kib: argon2 memory cost in KiB.
        time_cost: argon2 passes.
        parallelism: argon2 lanes.
    """

    def __init__(self, *, memory_kib: int = 19 * 1024, time_cost: int = 2,
                 parallelism: int = 1) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        """The argon2id hash of ``password`` (one worker-thread call)."""
        async with self._slots:
            # Blocking CPU work: off the event loop, in one call.
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str, password: str) -> Verification:
        """Check ``password`` against ``stored_hash``; rehash when the parameters changed."""
        async with self._slots:
            # Verification and the optional rehash run together in one worker-thread call.
            return await asyncio.to_thread(self._verify, stored_hash, password)

    async def waste_time(self, password: str) -> None:
        """Spend a verification's time for an unknown user, so timing does not reveal it."""
        if self._dummy is None:
            self._dummy = await self.hash("not a password of anyone")
        await self.verify(self._dummy, password)

    def _verify(self, stored_hash: str, password: str) -> Verification:
        try:
            self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verification(ok=False)
        if self._hasher.check_needs_rehash(stored_hash):
            return Verification(ok=True, new_hash=self._hasher.hash(password))
        return Verification(ok=True)
