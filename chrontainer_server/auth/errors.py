"""Errors of the accounts layer; the server's error middleware maps them to HTTP statuses.

::

    ChrontainerError
    ├── Unauthenticated        no valid credentials (401 ``unauthenticated``)
    │   └── SecondFactorRequired  a half-done login (password only) calls another route (401)
    ├── InvalidCredentials     wrong username or password, or unknown user (401)
    ├── InvalidSecondFactor    wrong, replayed or spent TOTP / recovery code (401)
    ├── RateLimited            too many failed logins; ``retry_after`` seconds (429)
    └── PermissionDenied
        ├── Forbidden          the principal's role or key scope does not allow this (403)
        │   └── EnrollmentRequired  2FA is required and this user has not set it up (403)
        └── CsrfRejected       a session request that changes state lacks its CSRF token (403)
"""

from __future__ import annotations

from chrontainer_core.errors import ChrontainerError, PermissionDenied
from chrontainer_core.errors import RateLimited as CoreRateLimited


class Unauthenticated(ChrontainerError):
    """The request carries no valid session cookie or API key."""

    code = "unauthenticated"


class SecondFactorRequired(Unauthenticated):
    """The session has passed the password but still owes its second factor."""

    code = "second_factor_required"


class InvalidCredentials(ChrontainerError):
    """A login failed. One message for an unknown user, a disabled one and a wrong password."""

    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("invalid username or password")


class InvalidSecondFactor(ChrontainerError):
    """A TOTP code or recovery code is wrong, already used, or no second factor is set up."""

    code = "invalid_code"

    def __init__(self, message: str = "invalid or already used code") -> None:
        super().__init__(message)


class RateLimited(CoreRateLimited):
    """Too many failed attempts: try again in ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many failed attempts", retry_after=retry_after)


class Forbidden(PermissionDenied):
    """Authenticated, but not allowed to do this."""

    code = "forbidden"


class CsrfRejected(PermissionDenied):
    """A state-changing request made with a session lacks the session's ``X-CSRF-Token``."""

    code = "csrf"


class EnrollmentRequired(Forbidden):
    """Two-factor authentication is required for everyone and this user has not enrolled."""

    code = "enrollment_required"
