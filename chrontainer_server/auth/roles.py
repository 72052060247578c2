"""Roles and the one hand-written table deciding who may call which route (DESIGN §7).

- **admin**: everything.
- **operator**: acts on containers (and later images, volumes, networks, stacks, schedules);
  no users, hosts, registries or settings.
- **viewer**: read-only.

:data:`ROUTE_ROLES` maps ``(method, route pattern)`` to the minimum role, or :data:`PUBLIC`. The
auth middleware refuses (403, logged) any route missing from it, so a new route is unreachable
until someone decides here who may call it; a test walks the router to prove the table is whole.
``HEAD`` is looked up as ``GET``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final, Literal

__all__ = [
    "ENROLLMENT_ROUTES",
    "PUBLIC",
    "ROUTE_ROLES",
    "SECOND_FACTOR_ROUTES",
    "SESSION_ONLY",
    "Public",
    "Requirement",
    "Role",
    "requirement_for",
]


class Role(enum.StrEnum):
    """A user's role; compare with :attr:`rank` (admin > operator > viewer)."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for viewer, 1 for operator, 2 for admin."""
        return _RANKS[self]

    def allows(self, minimum: Role) -> bool:
        """True when this role is ``minimum`` or above."""
        return self.rank >= minimum.rank

    @staticmethod
    def lowest(a: Role, b: Role) -> Role:
        """The lower of two roles (an API key's effective role: min(ceiling, owner's role))."""
        return a if a.rank <= b.rank else b


_RANKS: Final = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


class Public(enum.Enum):
    """Marker of routes that need no credentials."""

    PUBLIC = "public"


PUBLIC: Final = Public.PUBLIC
Requirement = Role | Literal[Public.PUBLIC]

V1: Final = "/api/v1"
_C: Final = V1 + "/hosts/{host}/containers/{ref}"
A, OP, V = Role.ADMIN, Role.OPERATOR, Role.VIEWER  # short names keep the table readable

ROUTE_ROLES: Final[Mapping[tuple[str, str], Requirement]] = {
    # meta
    ("GET", V1 + "/health"): PUBLIC,
    ("GET", V1 + "/openapi.json"): PUBLIC,
    # accounts: signing in and one's own account
    ("POST", V1 + "/auth/setup"): PUBLIC,
    ("POST", V1 + "/auth/login"): PUBLIC,
    # the second login step: public because the pending session is no login yet (see
    # SECOND_FACTOR_ROUTES); the handler refuses a caller without a pending session
    ("POST", V1 + "/auth/login/second-factor"): PUBLIC,
    ("POST", V1 + "/auth/logout"): V,
    ("GET", V1 + "/auth/me"): V,
    ("POST", V1 + "/me/password"): V,
    ("GET", V1 + "/me/sessions"): V,
    ("DELETE", V1 + "/me/sessions/{id}"): V,
    ("GET", V1 + "/me/apikeys"): V,
    ("POST", V1 + "/me/apikeys"): V,
    ("DELETE", V1 + "/me/apikeys/{id}"): V,
    ("GET", V1 + "/me/totp"): V,
    ("POST", V1 + "/me/totp/enroll"): V,
    ("POST", V1 + "/me/totp/confirm"): V,
    ("POST", V1 + "/me/totp/disable"): V,
    ("POST", V1 + "/me/totp/recovery-codes"): V,
    # accounts: administration
    ("GET", V1 + "/users"): A,
    ("POST", V1 + "/users"): A,
    ("GET", V1 + "/users/{id}"): A,
    ("PATCH", V1 + "/users/{id}"): A,
    ("DELETE", V1 + "/users/{id}"): A,
    ("POST", V1 + "/users/{id}/reset-password"): A,
    ("DELETE", V1 + "/users/{id}/sessions"): A,
    ("DELETE", V1 + "/users/{id}/totp"): A,
    ("GET", V1 + "/audit"): A,
    # hosts: reading is for everyone, managing (and connecting to new URLs) for admins
    ("GET", V1 + "/hosts"): V,
    ("POST", V1 + "/hosts"): A,
    ("GET", V1 + "/hosts/{host}"): V,
    ("PATCH", V1 + "/hosts/{host}"): A,
    ("DELETE", V1 + "/hosts/{host}"): A,
    ("GET", V1 + "/hosts/{host}/info"): V,
    ("POST", V1 + "/hosts/{host}/test"): A,
    ("POST", V1 + "/hosts/test"): A,
    # containers: reading for everyone, acting for operators
    ("GET", V1 + "/containers"): V,
    ("POST", V1 + "/containers/actions"): OP,
    ("GET", V1 + "/hosts/{host}/containers"): V,
    ("GET", _C): V,
    ("GET", _C + "/inspect"): V,
    ("GET", _C + "/logs"): V,
    ("GET", _C + "/stats"): V,
    ("GET", _C + "/top"): V,
    **{("POST", f"{_C}/{action}"): OP
       for action in ("start", "stop", "restart", "pause", "unpause", "kill", "rename", "remove")},
    ("GET", _C + "/logs/download"): V,
    # images: reading for everyone, deleting, tagging and pruning for operators
    ("GET", V1 + "/images"): V,
    ("GET", V1 + "/images/search"): V,
    ("POST", V1 + "/images/delete"): OP,
    ("GET", V1 + "/hosts/{host}/images-disk"): V,
    ("POST", V1 + "/hosts/{host}/images/prune"): OP,
    ("GET", V1 + "/hosts/{host}/images/{ref}"): V,
    ("GET", V1 + "/hosts/{host}/images/{ref}/history"): V,
    ("DELETE", V1 + "/hosts/{host}/images/{ref}"): OP,
    ("POST", V1 + "/hosts/{host}/images/{ref}/tag"): OP,
    # volumes: reading and listing files for everyone; file contents (previews, backups: they
    # may hold secrets, as environment values do), changes and restores for operators
    ("GET", V1 + "/volumes"): V,
    ("POST", V1 + "/hosts/{host}/volumes"): OP,
    ("POST", V1 + "/hosts/{host}/volumes/prune"): OP,
    ("GET", V1 + "/hosts/{host}/volumes/{name}"): V,
    ("DELETE", V1 + "/hosts/{host}/volumes/{name}"): OP,
    ("GET", V1 + "/hosts/{host}/volumes/{name}/browse"): V,
    ("GET", V1 + "/hosts/{host}/volumes/{name}/file"): OP,
    ("GET", V1 + "/hosts/{host}/volumes/{name}/backup"): OP,
    ("POST", V1 + "/hosts/{host}/volumes/{name}/restore"): OP,
    # networks: reading for everyone, changes for operators
    ("GET", V1 + "/networks"): V,
    ("POST", V1 + "/hosts/{host}/networks"): OP,
    ("POST", V1 + "/hosts/{host}/networks/prune"): OP,
    ("GET", V1 + "/hosts/{host}/networks/{ref}"): V,
    ("DELETE", V1 + "/hosts/{host}/networks/{ref}"): OP,
    ("POST", V1 + "/hosts/{host}/networks/{ref}/connect"): OP,
    ("POST", V1 + "/hosts/{host}/networks/{ref}/disconnect"): OP,
    # long operations (image pulls): following them for everyone, starting and cancelling
    # them for operators
    ("POST", V1 + "/hosts/{host}/images/pull"): OP,
    ("GET", V1 + "/operations"): V,
    ("GET", V1 + "/operations/{id}"): V,
    ("POST", V1 + "/operations/{id}/cancel"): OP,
    # container updates: what the checks found and the journal for everyone; checking now and
    # updating (a long operation each) for operators
    ("GET", V1 + "/updates"): V,
    ("POST", V1 + "/updates/check"): OP,
    ("GET", V1 + "/updates/history"): V,
    ("POST", V1 + "/containers/update"): OP,
    ("POST", _C + "/update"): OP,
    # tags and web-UI links: container metadata, managed by those who manage containers
    ("GET", V1 + "/tags"): V,
    ("POST", V1 + "/tags"): OP,
    ("PATCH", V1 + "/tags/{id}"): OP,
    ("DELETE", V1 + "/tags/{id}"): OP,
    ("PUT", _C + "/tags"): OP,
    ("PUT", _C + "/link"): OP,
    # Docker events: the persisted feed, and the browser's one live stream (SSE)
    ("GET", V1 + "/events"): V,
    ("GET", V1 + "/events/stream"): V,
    # activity: the audit trail's container actions, for everyone
    ("GET", V1 + "/activity"): V,
    # schedules: reading for everyone, managing and running for operators (DESIGN §7)
    ("GET", V1 + "/schedules"): V,
    ("POST", V1 + "/schedules"): OP,
    ("POST", V1 + "/schedules/preview"): V,
    ("GET", V1 + "/schedules/{id}"): V,
    ("PATCH", V1 + "/schedules/{id}"): OP,
    ("DELETE", V1 + "/schedules/{id}"): OP,
    ("POST", V1 + "/schedules/{id}/run"): OP,
    ("GET", V1 + "/schedules/{id}/runs"): V,
    ("GET", V1 + "/runs/{id}"): V,
    # webhooks: reading for everyone, managing for operators (unlocked ones: admins, checked by
    # the handlers); the trigger is public: the token in its path is the credential
    ("GET", V1 + "/webhooks"): V,
    ("POST", V1 + "/webhooks"): OP,
    ("GET", V1 + "/webhooks/{id}"): V,
    ("PATCH", V1 + "/webhooks/{id}"): OP,
    ("DELETE", V1 + "/webhooks/{id}"): OP,
    ("POST", V1 + "/webhooks/{id}/regenerate"): OP,
    ("GET", V1 + "/webhooks/{id}/runs"): V,
    ("POST", V1 + "/webhooks/trigger/{token}"): PUBLIC,
    ("GET", V1 + "/webhooks/trigger/{token}"): PUBLIC,
    # notifications: channels hold secrets and routing is a setting, so all of it is admin's
    ("GET", V1 + "/notifications/events"): A,
    ("GET", V1 + "/notifications/channels"): A,
    ("POST", V1 + "/notifications/channels"): A,
    ("GET", V1 + "/notifications/channels/{id}"): A,
    ("PATCH", V1 + "/notifications/channels/{id}"): A,
    ("DELETE", V1 + "/notifications/channels/{id}"): A,
    ("POST", V1 + "/notifications/channels/{id}/test"): A,
    ("GET", V1 + "/notifications/routes"): A,
    ("PUT", V1 + "/notifications/routes"): A,
    ("GET", V1 + "/notifications/deliveries"): A,
    ("GET", V1 + "/notifications/deliveries/{id}"): A,
    # registries hold credentials: all of it is admin's, browse and search too (DESIGN §7)
    ("GET", V1 + "/registries"): A,
    ("POST", V1 + "/registries"): A,
    ("POST", V1 + "/registries/test"): A,
    ("GET", V1 + "/registries/search"): A,
    ("GET", V1 + "/registries/{id}"): A,
    ("PATCH", V1 + "/registries/{id}"): A,
    ("DELETE", V1 + "/registries/{id}"): A,
    ("POST", V1 + "/registries/{id}/test"): A,
    ("GET", V1 + "/registries/{id}/catalog"): A,
    ("GET", V1 + "/registries/{id}/tags"): A,
    # settings
    ("GET", V1 + "/settings"): A,
    ("PATCH", V1 + "/settings"): A,
    # the MQTT bridge: its settings hold the broker's credentials (DESIGN §7)
    ("GET", V1 + "/mqtt"): A,
    ("PATCH", V1 + "/mqtt"): A,
    ("POST", V1 + "/mqtt/test"): A,
    # UI pages (chrontainer_server.ui); static assets are public so a login page can load them
    ("GET", "/"): V,
    ("GET", "/containers"): V,
    ("GET", "/hosts"): V,
    ("GET", "/events"): V,
    ("GET", "/tags.css"): V,
    ("GET", "/containers/{host}/{ref}/logs"): V,
    ("GET", "/containers/{host}/{ref}/inspect"): V,
    ("GET", "/containers/{host}/{ref}/top"): V,
    ("GET", "/images"): V,
    ("GET", "/images/{host}/{ref}"): V,
    ("GET", "/updates"): V,
    ("GET", "/volumes"): V,
    ("GET", "/volumes/{host}/{name}"): V,
    ("GET", "/networks"): V,
    # server-rendered fragments the pages fetch (a row after a change, details on expand)
    ("GET", "/fragments/containers/{host}/{ref}/row"): V,
    ("GET", "/fragments/containers/{host}/{ref}/details"): V,
    ("GET", "/fragments/hosts/{host}/row"): V,
    ("GET", "/fragments/hosts/{host}/info"): V,
    ("GET", "/fragments/schedules/{id}/row"): V,
    ("GET", "/settings"): A,
    ("POST", "/settings"): A,
    ("GET", "/settings/registries"): A,
    ("GET", "/settings/mqtt"): A,
    ("GET", "/fragments/mqtt/status"): A,
    ("GET", "/login"): PUBLIC,
    ("GET", "/setup"): PUBLIC,
    ("GET", "/profile"): V,
    ("GET", "/users"): A,
    ("GET", "/audit"): A,
    ("GET", "/schedules"): V,
    ("GET", "/schedules/new"): OP,
    ("GET", "/schedules/{id}"): V,
    ("GET", "/schedules/{id}/edit"): OP,
    ("GET", "/webhooks"): V,
    ("GET", "/activity"): V,
    ("GET", "/notifications"): A,
    ("GET", "/notifications/deliveries"): A,
    ("GET", "/notifications/deliveries/{id}"): A,
    ("GET", "/static/{path}"): PUBLIC,
}

# Routes an API key may not call whatever its role: a key must not mint keys (a scoped key
# could otherwise create an unscoped one) nor change the password of the account it acts for.
SESSION_ONLY: Final[frozenset[tuple[str, str]]] = frozenset({
    ("POST", V1 + "/me/apikeys"),
    ("POST", V1 + "/me/password"),
    # A key must not change the second factor of the account it acts for either.
    ("POST", V1 + "/me/totp/enroll"),
    ("POST", V1 + "/me/totp/confirm"),
    ("POST", V1 + "/me/totp/disable"),
    ("POST", V1 + "/me/totp/recovery-codes"),
})

# All a pending session (password accepted, second factor owed) may do: finish the login or
# give up. Anything else answers 401 ``second_factor_required``; public routes run as if no
# credentials were sent.
SECOND_FACTOR_ROUTES: Final[frozenset[tuple[str, str]]] = frozenset({
    ("POST", V1 + "/auth/login/second-factor"),
    ("POST", V1 + "/auth/logout"),
})

# All a session may do while 2FA is required for everyone and its user has not enrolled
# (403 ``enrollment_required`` otherwise): see who it is, log out, and set up TOTP.
ENROLLMENT_ROUTES: Final[frozenset[tuple[str, str]]] = frozenset({
    ("GET", V1 + "/auth/me"),
    ("POST", V1 + "/auth/logout"),
    ("GET", V1 + "/me/totp"),
    ("POST", V1 + "/me/totp/enroll"),
    ("POST", V1 + "/me/totp/confirm"),
    ("POST", V1 + "/me/totp/disable"),
    ("POST", V1 + "/me/totp/recovery-codes"),
    ("GET", "/profile"),  # the page with the enrolment form
})


def requirement_for(method: str, pattern: str) -> Requirement | None:
    """The minimum role (or PUBLIC) of a route; None when the table does not know it."""
    method = "GET" if method.upper() == "HEAD" else method.upper()
    return ROUTE_ROLES.get((method, pattern))
