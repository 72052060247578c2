"""TOTP two-factor authentication (RFC 6238, via pyotp) with replay protection and recovery codes.

Lifecycle of an account's second factor:

1. :meth:`TotpStore.enroll` makes a random secret and stores it *encrypted* (the core
   :class:`~chrontainer_core.secrets.SecretBox`), not yet enabled; enrolling again replaces a
   pending secret.
2. :meth:`TotpStore.confirm` checks a code of that secret, enables TOTP and returns ten fresh
   recovery codes (stored as SHA-256 only, shown this once).
3. :meth:`TotpStore.verify` checks a code or a recovery code at login and for the sensitive
   account actions.
4. :meth:`TotpStore.disable` (the user, with a code) or an admin reset remove it all.

Replay protection: the time step of the last accepted code is stored per account and only a
*later* step is accepted, so a code seen over someone's shoulder cannot be used again. The
check-and-store is one conditional ``UPDATE``, so two concurrent requests with one code cannot
both succeed. A recovery code is likewise spent with a conditional ``UPDATE``.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import pyotp
from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from chrontainer_core.errors import ChrontainerError, Conflict, NotFound
from chrontainer_core.secrets import SecretBox
from chrontainer_core.store.db import Database
from chrontainer_core.store.tables import RecoveryCodeRow, UserRow, utc_now

from .errors import InvalidSecondFactor

__all__ = [
    "DRIFT_STEPS",
    "ISSUER",
    "RECOVERY_CODE_COUNT",
    "Enrollment",
    "TotpStore",
    "accepted_step",
    "new_recovery_codes",
    "recovery_code_hash",
]

ISSUER: Final = "Chrontainer"
# One step either side: phones whose clocks are up to ~30 s off still work.
DRIFT_STEPS: Final = 1
RECOVERY_CODE_COUNT: Final = 10
_CODE: Final = re.compile(r"^[0-9]{6}$")
# Recovery codes: 10 characters of a confusion-free alphabet (~50 bits), shown as xxxxx-xxxxx.
_RECOVERY_ALPHABET: Final = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH: Final = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class Enrollment:
    """A pending TOTP secret, for the enroll response only (never logged, never stored clear)."""

    secret: str
    otpauth_uri: str
    qr_svg: str


def accepted_step(secret: str, code: str, *, at: datetime, last_step: int | None,
                  drift: int = DRIFT_STEPS) -> int | None:
    """The time step a TOTP code belongs to, if it is acceptable now; else None.

    A code is acceptable when it matches a step within ``drift`` steps of ``at`` and that step
    is later than ``last_step`` (the last accepted one: never accept a code twice).

    Args:
        secret: The base32 TOTP secret.
        code: The six digits the user typed (surrounding spaces ignored).
        at: The current time.
        last_step: The step of the last accepted code, or None.
        drift: How many steps before and after the current one to accept.
    """
    code = code.strip().replace(" ", "")
    if not _CODE.match(code):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(at)
    for step in range(now - drift, now + drift + 1):
        if last_step is not None and step <= last_step:
            continue
        # Constant-time comparison: the response time must not hint at matching digits.
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _normalize_recovery(code: str) -> str:
    return re.sub(r"[\s-]", "", code).lower()


def recovery_code_hash(code: str) -> str:
    """SHA-256 (hex) of a recovery code, ignoring case, spaces and dashes."""
    return hashlib.sha256(_normalize_recovery(code).encode("utf-8")).hexdigest()


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Fresh random recovery codes, formatted ``xxxxx-xxxxx``."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def _qr_svg(uri: str) -> str:
    buffer = io.BytesIO()
    # Made here, not by a QR web service: the URI holds the secret.
    # Imported here: QR codes are drawn only while someone enrolls, and segno costs the
    # daemon several MiB of resident memory if loaded at start (DESIGN §6 memory budget).
    import segno

    segno.make(uri, error="m").save(buffer, kind="svg", scale=4, border=2, xmldecl=False)
    return buffer.getvalue().decode("utf-8")


class TotpStore:
    """Per-account TOTP state in the ``users`` and ``recovery_codes`` tables.

    Args:
        db: The database.
        box: Encrypts the TOTP secrets at rest; None disables enrollment (a clear error).
        clock: Current time (aware UTC); injected so tests control the time steps.
    """

    def __init__(self, db: Database, box: SecretBox | None, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._box = box
        self._clock = clock

    def _require_box(self) -> SecretBox:
        if self._box is None:
            raise ChrontainerError("two-factor authentication needs the server's secret key")
        return self._box

    async def enabled(self, user_id: int) -> bool:
        """True when the account has confirmed TOTP."""
        async with self._db.session() as session:
            row = await session.get(UserRow, user_id)
            return bool(row is not None and row.totp_enabled)

    async def enroll(self, user_id: int, username: str) -> Enrollment:
        """Store a new pending secret (replacing a pending one) and return it for display.

        Raises:
            Conflict: TOTP is already enabled (disable it first).
            NotFound: No such account.
        """
        box = self._require_box()
        secret = pyotp.random_base32()
        encrypted = box.encrypt(secret)
        async with self._db.session() as session:
            row = await session.get(UserRow, user_id)
            if row is None:
                raise NotFound(f"no user with id {user_id}", details={"id": user_id})
            if row.totp_enabled:
                raise Conflict("two-factor authentication is already enabled: disable it "
                               "first to enroll a new device")
            row.totp_secret_encrypted = encrypted
            row.totp_last_step = None
        uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)
        return Enrollment(secret=secret, otpauth_uri=uri, qr_svg=_qr_svg(uri))

    async def confirm(self, user_id: int, code: str) -> list[str]:
        """Enable TOTP with a code of the pending secret; returns the new recovery codes.

        Raises:
            Conflict: Already enabled, or nothing enrolled.
            InvalidSecondFactor: The code is wrong.
        """
        async with self._db.session() as session:
            row = await session.get(UserRow, user_id)
            if row is None or row.totp_secret_encrypted is None:
                raise Conflict("enroll first: there is no pending two-factor secret")
            if row.totp_enabled:
                raise Conflict("two-factor authentication is already enabled")
            secret = self._require_box().decrypt(row.totp_secret_encrypted)
            step = accepted_step(secret, code, at=self._clock(), last_step=row.totp_last_step)
            if step is None:
                raise InvalidSecondFactor()
            row.totp_enabled = True
            row.totp_last_step = step
            row.updated_at = self._clock()
            return await self._replace_recovery_codes(session, user_id)

    async def verify(self, user_id: int, *, code: str | None = None,
                     recovery_code: str | None = None) -> str:
        """Accept a TOTP code or spend a recovery code of an account with TOTP enabled.

        Returns:
            ``"totp"`` or ``"recovery"``: which one was accepted.

        Raises:
            InvalidSecondFactor: Wrong, replayed or spent, or TOTP is not enabled.
        """
        if code is not None:
            if await self._accept_code(user_id, code):
                return "totp"
        elif recovery_code is not None and await self._spend_recovery(user_id, recovery_code):
            return "recovery"
        raise InvalidSecondFactor()

    async def verify_either(self, user_id: int, code: str) -> str:
        """Like :meth:`verify`, for a field that may hold a TOTP code or a recovery code."""
        if _CODE.match(code.strip().replace(" ", "")):
            return await self.verify(user_id, code=code)
        return await self.verify(user_id, recovery_code=code)

    async def _accept_code(self, user_id: int, code: str) -> bool:
        async with self._db.session() as session:
            row = await session.get(UserRow, user_id)
            if row is None or not row.totp_enabled or row.totp_secret_encrypted is None:
                return False
            secret = self._require_box().decrypt(row.totp_secret_encrypted)
            last = row.totp_last_step
            step = accepted_step(secret, code, at=self._clock(), last_step=last)
            if step is None:
                return False
            # Conditional on the step still being newer: of two concurrent requests carrying
            # one code, exactly one updates the row.
            result = await session.execute(
                update(UserRow)
                .where(UserRow.id == user_id,
                       or_(UserRow.totp_last_step.is_(None), UserRow.totp_last_step < step))
                .values(totp_last_step=step)
                .execution_options(synchronize_session=False))
            return bool(getattr(result, "rowcount", 0))

    async def _spend_recovery(self, user_id: int, code: str) -> bool:
        async with self._db.session() as session:
            row = await session.get(UserRow, user_id)
            if row is None or not row.totp_enabled:
                return False
            result = await session.execute(
                update(RecoveryCodeRow)
                .where(RecoveryCodeRow.user_id == user_id,
                       RecoveryCodeRow.code_hash == recovery_code_hash(code),
                       RecoveryCodeRow.used_at.is_(None))
                .values(used_at=self._clock())
                .execution_options(synchronize_session=False))
            return bool(getattr(result, "rowcount", 0))

    async def regenerate_recovery_codes(self, user_id: int) -> list[str]:
        """Replace all recovery codes of an account with TOTP enabled (old ones stop working).

        Raises:
            Conflict: TOTP is not enabled.
        """
        async with self._db.session() as session:
            row = await session.get(UserRow, user_id)
            if row is None or not row.totp_enabled:
                raise Conflict("two-factor authentication is not enabled")
            return await self._replace_recovery_codes(session, user_id)

    async def disable(self, user_id: int) -> None:
        """Remove the secret, the replay marker and the recovery codes (also the admin reset)."""
        async with self._db.session() as session:
            row = await session.get(UserRow, user_id)
            if row is None:
                raise NotFound(f"no user with id {user_id}", details={"id": user_id})
            row.totp_enabled = False
            row.totp_secret_encrypted = None
            row.totp_last_step = None
            row.updated_at = self._clock()
            await session.execute(
                delete(RecoveryCodeRow).where(RecoveryCodeRow.user_id == user_id))

    @staticmethod
    async def _replace_recovery_codes(session: AsyncSession, user_id: int) -> list[str]:
        await session.execute(delete(RecoveryCodeRow).where(RecoveryCodeRow.user_id == user_id))
        codes = new_recovery_codes()
        session.add_all(_rows(user_id, codes))
        return codes


def _rows(user_id: int, codes: Sequence[str]) -> list[RecoveryCodeRow]:
    return [RecoveryCodeRow(user_id=user_id, code_hash=recovery_code_hash(c), used_at=None)
            for c in codes]
