"""Accounts and security: users, passwords, roles, sessions, API keys, login throttling, setup.

The server owns people (DESIGN §1): this package turns credentials into a :class:`Principal`
and a core ``Actor``; the core only ever sees the actor.
"""

from .apikeys import ApiKey, KeyScope
from .principal import Principal, actor_of, principal_of
from .roles import PUBLIC, ROUTE_ROLES, Role
from .service import AUTH, AuthService
from .users import User

__all__ = [
    "AUTH",
    "PUBLIC",
    "ROUTE_ROLES",
    "ApiKey",
    "AuthService",
    "KeyScope",
    "Principal",
    "Role",
    "User",
    "actor_of",
    "principal_of",
]
