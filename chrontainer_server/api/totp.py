"""One's own two-factor authentication (TOTP): status, enroll, confirm, disable, recovery codes.

The secret leaves the server once, in the enroll response (as text, an ``otpauth://`` URI and a
QR code drawn here as SVG: a QR web service would see the secret). Recovery codes leave it once
too, when made. Every change is audited (``auth.totp.*``) without either. Changing the second
factor needs a logged-in session: API keys are refused (see ``SESSION_ONLY``).
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from aiohttp import web

from chrontainer_server.auth.principal import request_ip
from chrontainer_server.auth.service import AUTH

from .auth import principal_of
from .context import actor, core
from .spec import ApiRoutes, json_response

routes = ApiRoutes(tag="auth")

CODE_BODY = {
    vol.Required("code", description="6 digits from the authenticator app (for disable and "
                                     "recovery-codes, a recovery code also works)"):
        vol.All(str, vol.Length(min=1, max=64)),
}
TOTP_STATUS = {
    "type": "object",
    "properties": {
        "enabled": {"type": "boolean", "description": "TOTP is confirmed and asked at login"},
        "required": {"type": "boolean",
                     "description": "the administrator requires 2FA for every user"},
    },
    "required": ["enabled", "required"],
    "additionalProperties": False,
}
ENROLLMENT = {
    "type": "object",
    "properties": {
        "otpauth_uri": {"type": "string", "description": "otpauth://totp/... for the app"},
        "qr_svg": {"type": "string", "description": "that URI as a QR code (an SVG document)"},
        "secret": {"type": "string", "description": "base32 secret, for manual entry"},
    },
    "required": ["otpauth_uri", "qr_svg", "secret"],
    "additionalProperties": False,
}
RECOVERY_CODES = {
    "type": "object",
    "properties": {
        "recovery_codes": {"type": "array", "items": {"type": "string"},
                           "description": "single-use codes, shown this once only"},
    },
    "required": ["recovery_codes"],
    "additionalProperties": False,
}


@routes.get("/me/totp", response=TOTP_STATUS)
async def totp_status(request: web.Request) -> web.StreamResponse:
    """Whether one's two-factor authentication is on, and whether it is required."""
    auth = request.app[AUTH]
    enabled = await auth.totp.enabled(principal_of(request).user_id)
    return json_response({"enabled": enabled, "required": auth.require_2fa()})


@routes.post("/me/totp/enroll", response=ENROLLMENT, errors=(409,))
async def totp_enroll(request: web.Request) -> web.StreamResponse:
    """Start setting up TOTP: a new secret to scan, not active until confirmed.

    Enrolling again replaces a secret not yet confirmed; 409 when TOTP is already enabled.
    """
    principal = principal_of(request)
    enrollment = await request.app[AUTH].totp.enroll(principal.user_id, principal.username)
    return json_response({"otpauth_uri": enrollment.otpauth_uri, "qr_svg": enrollment.qr_svg,
                          "secret": enrollment.secret})


@routes.post("/me/totp/confirm", body=CODE_BODY, response=RECOVERY_CODES, errors=(401, 409))
async def totp_confirm(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Turn TOTP on with a code of the enrolled secret; returns 10 recovery codes, once."""
    principal = principal_of(request)
    async with core(request).audit.track(actor(request), "auth.totp.enable",
                                         principal.username):
        codes = await request.app[AUTH].totp.confirm(principal.user_id, body["code"])
    return json_response({"recovery_codes": codes})


@routes.post("/me/totp/disable", body=CODE_BODY, status=204, errors=(401, 409, 429))
async def totp_disable(request: web.Request, *, body: dict[str, Any]) -> web.Response:
    """Turn TOTP off (a current code or a recovery code is required)."""
    auth = request.app[AUTH]
    principal = principal_of(request)
    async with core(request).audit.track(actor(request), "auth.totp.disable",
                                         principal.username):
        user = await auth.users.get(principal.user_id)
        await auth.check_second_factor(user, body["code"], ip=request_ip(request))
        await auth.totp.disable(principal.user_id)
    return web.Response(status=204)


@routes.post("/me/totp/recovery-codes", body=CODE_BODY, response=RECOVERY_CODES,
             errors=(401, 409, 429))
async def totp_recovery_codes(request: web.Request, *,
                              body: dict[str, Any]) -> web.StreamResponse:
    """Make 10 new recovery codes (a current code is required); the old ones stop working."""
    auth = request.app[AUTH]
    principal = principal_of(request)
    async with core(request).audit.track(actor(request), "auth.totp.recovery",
                                         principal.username):
        user = await auth.users.get(principal.user_id)
        await auth.check_second_factor(user, body["code"], ip=request_ip(request))
        codes = await auth.totp.regenerate_recovery_codes(principal.user_id)
    return json_response({"recovery_codes": codes})
