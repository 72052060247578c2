"""Accounts over HTTP: setup, login, sessions, CSRF, roles on every route, API keys, audit."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from typing import Any

import pyotp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from chrontainer_core.config import Config
from chrontainer_server.api.context import CORE
from chrontainer_server.app import create_app
from chrontainer_server.auth.apikeys import KeyScope
from chrontainer_server.auth.roles import PUBLIC, Role, requirement_for
from chrontainer_server.auth.service import AUTH, AuthService
from chrontainer_server.auth.sessions import COOKIE_NAME

from ..live import Engine, run_container, wait_for

pytestmark = pytest.mark.live

V1 = "/api/v1"
PASSWORD = "first-admin-pass"


class WallClock:
    """An injectable UTC clock that tests move by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class Mono:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Server:
    client: TestClient
    auth: AuthService
    clock: WallClock
    mono: Mono


@pytest.fixture
async def server(clean_engines: None, daemon_config: Config) -> AsyncIterator[Server]:
    """A server with no accounts yet, clocks injected; 127.0.0.1 is a trusted proxy."""
    config = replace(daemon_config, trusted_proxies=(ip_network("127.0.0.0/8"),))
    app = create_app(config)
    clock, mono = WallClock(), Mono()
    core = app[CORE]
    assert core.db is not None
    settings = core.settings
    assert settings is not None
    auth = app[AUTH] = AuthService(core.db, core.audit, clock=clock, monotonic=mono,
                                   secrets=core.secrets,
                                   require_2fa=lambda: settings.current.require_2fa)
    async with TestClient(TestServer(app)) as client:
        yield Server(client, auth, clock, mono)


async def add_user(s: Server, name: str, role: Role) -> tuple[int, dict[str, str]]:
    """An account and a session for it: its id and the headers a browser would send."""
    user = await s.auth.users.create(name, PASSWORD, role)
    token, session = await s.auth.sessions.create(user.id)
    return user.id, {"Cookie": f"{COOKIE_NAME}={token}", "X-CSRF-Token": session.csrf_token}


async def status(resp: Any, expected: int) -> Any:
    assert resp.status == expected, await resp.text()
    return await resp.json() if resp.content_type == "application/json" else None


# ---------------------------------------------------------------------------------------------


async def test_setup_login_keys_and_no_secret_in_logs_or_responses(
    clean_engines: None, daemon_config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level
    seen: list[str] = []  # every response: headers and body

    async def call(client: TestClient, method: str, path: str, **kw: Any) -> Any:
        resp = await client.request(method, V1 + path, **kw)
        text = await resp.text()
        seen.append(f"{dict(resp.headers)!r} {text}")
        return resp

    app = create_app(daemon_config)
    async with TestClient(TestServer(app)) as client:
        links = [r.getMessage() for r in caplog.records if "/setup?token=" in r.getMessage()]
        assert len(links) == 1
        setup_token = re.search(r"token=(\S+)", links[0]).group(1)  # type: ignore[union-attr]

        await status(await call(client, "GET", "/hosts"), 401)
        bad = {"token": "nope", "username": "Root", "password": PASSWORD}
        assert (await status(await call(client, "POST", "/auth/setup", json=bad), 403))[
            "error"]["code"] == "forbidden"
        good = {**bad, "token": setup_token}
        resp = await call(client, "POST", "/auth/setup", json=good)
        body = await status(resp, 201)
        assert body["user"]["username"] == "root" and body["user"]["role"] == "admin"
        cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
        session_token = resp.cookies[COOKIE_NAME].value
        await status(await call(client, "POST", "/auth/setup", json=good), 403)  # once only

        # Unknown user and wrong password: the same answer.
        client.session.cookie_jar.clear()
        wrong = await status(await call(client, "POST", "/auth/login", json={
            "username": "root", "password": "wrong-password"}), 401)
        unknown = await status(await call(client, "POST", "/auth/login", json={
            "username": "nobody", "password": "wrong-password"}), 401)
        assert wrong == unknown
        resp = await call(client, "POST", "/auth/login",
                          json={"username": "ROOT", "password": PASSWORD})
        login = await status(resp, 200)
        second_token = resp.cookies[COOKIE_NAME].value
        csrf = {"X-CSRF-Token": login["csrf_token"]}
        me = await status(await call(client, "GET", "/auth/me"), 200)
        assert me["via"] == "session" and me["role"] == "admin"

        enrolled = await status(await call(client, "POST", "/me/totp/enroll", headers=csrf), 200)
        totp_secret = enrolled["secret"]
        confirmed = await status(await call(client, "POST", "/me/totp/confirm", headers=csrf,
                                            json={"code": pyotp.TOTP(totp_secret).now()}), 200)
        recovery = confirmed["recovery_codes"]
        await status(await call(client, "POST", "/me/totp/recovery-codes", headers=csrf,
                                json={"code": "not-a-code"}), 401)
        fresh = await status(await call(client, "POST", "/me/totp/recovery-codes",
                                        headers=csrf, json={"code": recovery[1]}), 200)
        await status(await call(client, "POST", "/me/totp/disable", headers=csrf,
                                json={"code": recovery[2]}), 401)  # regenerated: void
        await status(await call(client, "POST", "/me/totp/disable", headers=csrf,
                                json={"code": fresh["recovery_codes"][0]}), 204)

        created = await status(await call(client, "POST", "/me/apikeys", headers=csrf,
                                          json={"name": "ci", "role": "viewer"}), 201)
        secret = created["secret"]
        assert secret.startswith(created["key"]["prefix"]) and len(secret) > 40
        listed = await status(await call(client, "GET", "/me/apikeys"), 200)
        assert listed["items"][0]["prefix"] == created["key"]["prefix"]
        client.session.cookie_jar.clear()
        for header in ({"Authorization": f"Bearer {secret}"}, {"X-API-Key": secret}):
            me = await status(await call(client, "GET", "/auth/me", headers=header), 200)
            assert me["via"] == "api_key" and me["role"] == "viewer" and me["csrf_token"] is None

        audit = await status(await call(client, "GET", "/audit", headers={
            "X-API-Key": secret}), 403)  # a viewer key: audit is for admins
        client.session.cookie_jar.update_cookies({COOKIE_NAME: second_token})
        audit = await status(await call(client, "GET", "/audit",
                                        params={"action": "auth.login"}), 200)
        assert [e["result"] for e in audit["items"]] == ["ok", "error", "error"]
        assert audit["items"][0]["actor"]["source_ip"] == "127.0.0.1"
        await status(await call(client, "POST", "/auth/logout", headers=csrf), 204)
        await status(await call(client, "GET", "/auth/me"), 401)

    secrets = {"password": PASSWORD, "setup token": setup_token, "API key": secret,
               "session token": session_token, "second session token": second_token,
               "TOTP secret": totp_secret,
               **{f"recovery code {i}": c for i, c in enumerate(recovery + fresh[
                   "recovery_codes"])}}
    records = [r.getMessage() + repr(r.args) for r in caplog.records]
    for what, value in secrets.items():
        in_logs = [m for m in records if value in m]
        allowed = 1 if what == "setup token" else 0  # the one setup-link line
        assert len(in_logs) == allowed, (what, in_logs)
        in_responses = [r for r in seen if value in r]
        # The key: its create response only; session tokens: their own Set-Cookie only; the
        # TOTP secret: the enroll response only; recovery codes: the response making them.
        allowed = 0 if what in ("password", "setup token") else 1
        assert len(in_responses) == allowed, (what, in_responses)


async def test_csrf_is_required_for_session_changes_only(server: Server) -> None:
    _, browser = await add_user(server, "alice", Role.ADMIN)
    client = server.client
    no_token = {"Cookie": browser["Cookie"]}
    body = {"username": "bob", "password": PASSWORD, "role": "viewer"}
    err = await status(await client.post(f"{V1}/users", json=body, headers=no_token), 403)
    assert err["error"]["code"] == "csrf"
    wrong = {**no_token, "X-CSRF-Token": "x" * 43}
    await status(await client.post(f"{V1}/users", json=body, headers=wrong), 403)
    await status(await client.get(f"{V1}/users", headers=no_token), 200)  # reads need none
    await status(await client.post(f"{V1}/users", json=body, headers=browser), 201)
    user = (await server.auth.users.find("alice"))
    assert user is not None
    secret, _ = await server.auth.apikeys.create(user[0].id, name="k", role_ceiling=Role.ADMIN)
    body["username"] = "carol"
    await status(await client.post(f"{V1}/users", json=body,
                                   headers={"Authorization": f"Bearer {secret}"}), 201)


def _fill(pattern: str) -> str:
    values = {"host": "nowhere", "ref": "nothing", "id": "999999"}
    return re.sub(r"\{(\w+)(?::[^{}]+)?\}", lambda m: values.get(m.group(1), "x"), pattern)


async def test_every_route_enforces_the_role_table(server: Server) -> None:
    people: dict[str, dict[str, str] | None] = {"anonymous": None}
    ids: dict[str, int] = {}
    for role in Role:
        ids[role.value], people[role.value] = await add_user(server, role.value, role)
    app = server.client.app
    assert app is not None
    routes = [(r.method, r.resource.canonical) for r in app.router.routes()
              if r.resource is not None and r.method != "HEAD"]
    missing = [r for r in routes if requirement_for(*r) is None]
    assert not missing, f"routes missing from the role table: {missing}"
    for method, pattern in routes:
        needed = requirement_for(method, pattern)
        for who, headers in people.items():
            resp = await server.client.request(method, _fill(pattern), headers=headers or {},
                                               allow_redirects=False)
            if needed is PUBLIC:
                expected_ok = True
            elif headers is None and method == "GET" and not pattern.startswith("/api/"):
                # An anonymous page view is sent to the login form, back here afterwards.
                assert resp.status == 303, (method, pattern, who, resp.status)
                assert resp.headers["Location"].startswith("/login?next=/"), pattern
                continue
            elif headers is None:
                assert resp.status == 401, (method, pattern, who, resp.status)
                continue
            else:
                assert needed is not None
                expected_ok = Role(who).allows(needed)
            if expected_ok:
                assert resp.status not in (401, 403), (method, pattern, who, await resp.text())
            else:
                assert resp.status == 403, (method, pattern, who, resp.status)
                assert (await resp.json())["error"]["code"] == "forbidden"
            if pattern.endswith("/auth/logout") and headers is not None and resp.status == 204:
                _, people[who] = await _new_session(server, ids[who])


async def _new_session(server: Server, user_id: int) -> tuple[int, dict[str, str]]:
    token, session = await server.auth.sessions.create(user_id)
    return user_id, {"Cookie": f"{COOKIE_NAME}={token}", "X-CSRF-Token": session.csrf_token}


async def test_login_delays_per_account_and_ip(server: Server) -> None:
    await server.auth.users.create("admin", PASSWORD, Role.ADMIN)
    client = server.client
    attacker = {"X-Forwarded-For": "203.0.113.9"}  # believed: 127.0.0.1 is a trusted proxy
    bad = {"username": "admin", "password": "wrong-password"}
    for _ in range(4):
        await status(await client.post(f"{V1}/auth/login", json=bad, headers=attacker), 401)
    resp = await client.post(f"{V1}/auth/login", json=bad, headers=attacker)
    err = await status(resp, 429)
    assert err["error"]["code"] == "rate_limited" and resp.headers["Retry-After"] == "1"
    # Even the right password waits from that address...
    good = {"username": "admin", "password": PASSWORD}
    await status(await client.post(f"{V1}/auth/login", json=good, headers=attacker), 429)
    # ...but the real admin elsewhere is never locked out.
    await status(await client.post(f"{V1}/auth/login", json=good,
                                   headers={"X-Forwarded-For": "198.51.100.7"}), 200)
    server.mono.now += 1
    await status(await client.post(f"{V1}/auth/login", json=bad, headers=attacker), 401)
    resp = await client.post(f"{V1}/auth/login", json=bad, headers=attacker)
    assert resp.status == 429 and resp.headers["Retry-After"] == "2"  # growing
    server.mono.now += 2
    await status(await client.post(f"{V1}/auth/login", json=good, headers=attacker), 200)


async def test_last_admin_is_protected(server: Server) -> None:
    admin_id, admin = await add_user(server, "admin", Role.ADMIN)
    client = server.client
    for method, path, body in (("PATCH", f"/users/{admin_id}", {"role": "operator"}),
                               ("PATCH", f"/users/{admin_id}", {"disabled": True}),
                               ("DELETE", f"/users/{admin_id}", None)):
        err = await status(await client.request(method, V1 + path, json=body, headers=admin), 409)
        assert "last enabled admin" in err["error"]["message"]
    resp = await client.post(f"{V1}/users", headers=admin,
                             json={"username": "second", "password": PASSWORD, "role": "admin"})
    second = (await status(resp, 201))["id"]
    await status(await client.patch(f"{V1}/users/{admin_id}", json={"role": "viewer"},
                                    headers=admin), 200)
    # Now a viewer: the same session may no longer administrate.
    await status(await client.delete(f"{V1}/users/{second}", headers=admin), 403)


async def test_sessions_idle_timeout_revocation_and_password_change(server: Server) -> None:
    user_id, first = await add_user(server, "dave", Role.VIEWER)
    _, second = await _new_session(server, user_id)
    client = server.client
    listed = await status(await client.get(f"{V1}/me/sessions", headers=first), 200)
    assert listed["total"] == 2 and sum(s["current"] for s in listed["items"]) == 1
    # last_seen is written at most once a minute
    before = listed["items"][0]["last_seen_at"]
    server.clock.now += timedelta(seconds=30)
    await status(await client.get(f"{V1}/auth/me", headers=first), 200)
    server.clock.now += timedelta(seconds=31)
    await status(await client.get(f"{V1}/auth/me", headers=first), 200)
    listed = await status(await client.get(f"{V1}/me/sessions", headers=first), 200)
    current = next(s for s in listed["items"] if s["current"])
    assert current["last_seen_at"] != before
    other = next(s for s in listed["items"] if not s["current"])
    await status(await client.delete(f"{V1}/me/sessions/{other['id']}", headers=first), 204)
    await status(await client.get(f"{V1}/auth/me", headers=second), 401)
    _, second = await _new_session(server, user_id)
    resp = await client.post(f"{V1}/me/password", headers=first,
                             json={"current": "wrong-password", "new": "another-password"})
    await status(resp, 401)
    resp = await client.post(f"{V1}/me/password", headers=first,
                             json={"current": PASSWORD, "new": "another-password"})
    await status(resp, 200)
    await status(await client.get(f"{V1}/auth/me", headers=second), 401)  # others ended
    await status(await client.get(f"{V1}/auth/me", headers=first), 200)  # this one stays
    server.clock.now += timedelta(hours=12, seconds=1)
    await status(await client.get(f"{V1}/auth/me", headers=first), 401)  # idle too long
    # an admin ends someone's sessions
    _, third = await _new_session(server, user_id)
    _, admin = await add_user(server, "root", Role.ADMIN)
    await status(await client.delete(f"{V1}/users/{user_id}/sessions", headers=admin), 204)
    await status(await client.get(f"{V1}/auth/me", headers=third), 401)


async def test_api_key_ceiling_scope_expiry_and_revocation(
    server: Server, local_engine: Engine, remote_engine: Engine
) -> None:
    _, local_name = await run_container(local_engine)
    _, remote_name = await run_container(remote_engine)
    core = server.client.app[CORE]  # type: ignore[index]
    await wait_for(lambda: any(c.name == remote_name
                               for c in core.hosts.get("remote").containers()))
    await wait_for(lambda: any(c.name == local_name for c in core.hosts.get("local").containers()))
    client, keys = server.client, server.auth.apikeys
    op_id, _ = await add_user(server, "olga", Role.OPERATOR)
    secret, key = await keys.create(op_id, name="deploy", role_ceiling=Role.ADMIN)
    bearer = {"Authorization": f"Bearer {secret}"}
    # ceiling admin, owner operator: effectively operator
    me = await status(await client.get(f"{V1}/auth/me", headers=bearer), 200)
    assert me["role"] == "operator"
    await status(await client.post(f"{V1}/hosts", json={"slug": "x", "url": "tcp://127.0.0.1:9"},
                                   headers=bearer), 403)
    action = f"{V1}/hosts/remote/containers/{remote_name}/start"
    await status(await client.post(action, headers=bearer), 200)
    # the owner is demoted: the key follows at once
    await server.auth.users.update(op_id, role=Role.VIEWER)
    await status(await client.post(action, headers=bearer), 403)
    await status(await client.get(f"{V1}/containers", headers=bearer), 200)
    # revocation
    await keys.revoke(op_id, key.id)
    await status(await client.get(f"{V1}/containers", headers=bearer), 401)

    await server.auth.users.update(op_id, role=Role.OPERATOR)
    scoped, _ = await keys.create(op_id, name="remote only", role_ceiling=Role.OPERATOR,
                                  scope=KeyScope(hosts=("remote",)),
                                  expires_in=timedelta(days=1))
    scoped_h = {"X-API-Key": scoped}
    await status(await client.get(f"{V1}/hosts/local/containers", headers=scoped_h), 403)
    await status(await client.get(f"{V1}/hosts/local/containers/{local_name}",
                                  headers=scoped_h), 403)
    await status(await client.post(f"{V1}/hosts/local/containers/{local_name}/stop",
                                   headers=scoped_h), 403)
    bulk = {"action": "start", "targets": [{"host": "local", "ref": local_name}]}
    await status(await client.post(f"{V1}/containers/actions", json=bulk, headers=scoped_h), 403)
    listing = await status(await client.get(f"{V1}/containers", headers=scoped_h), 200)
    assert {c["host"] for c in listing["items"]} == {"remote"}
    assert remote_name in {c["name"] for c in listing["items"]}
    assert set(listing["hosts"]) == {"remote"}
    hosts = await status(await client.get(f"{V1}/hosts", headers=scoped_h), 200)
    assert [h["slug"] for h in hosts["items"]] == ["remote"]
    await status(await client.get(f"{V1}/hosts/remote/containers/{remote_name}",
                                  headers=scoped_h), 200)
    # a key scoped to one container of a host
    one, _ = await keys.create(op_id, name="one", role_ceiling=Role.OPERATOR,
                               scope=KeyScope(containers=(f"local/{local_name}",)))
    one_h = {"X-API-Key": one}
    listing = await status(await client.get(f"{V1}/containers", headers=one_h), 200)
    assert [c["name"] for c in listing["items"]] == [local_name]
    await status(await client.get(f"{V1}/hosts/local/containers/{local_name}", headers=one_h),
                 200)
    await status(await client.get(f"{V1}/hosts/remote/containers", headers=one_h), 403)
    # expiry, by the injected clock
    server.clock.now += timedelta(days=1, seconds=1)
    await status(await client.get(f"{V1}/containers", headers=scoped_h), 401)


# --- two-factor authentication ---------------------------------------------------------------


async def _enable_totp(s: Server, headers: dict[str, str]) -> tuple[str, list[str]]:
    """Enroll and confirm TOTP for a session; returns the secret and the recovery codes."""
    client = s.client
    status_ = await status(await client.get(f"{V1}/me/totp", headers=headers), 200)
    assert status_["enabled"] is False
    first = await status(await client.post(f"{V1}/me/totp/enroll", headers=headers), 200)
    enrolled = await status(await client.post(f"{V1}/me/totp/enroll", headers=headers), 200)
    assert enrolled["secret"] != first["secret"]  # enrolling again replaces the pending one
    assert enrolled["otpauth_uri"].startswith("otpauth://totp/")
    assert enrolled["qr_svg"].lstrip().startswith("<svg")
    secret = enrolled["secret"]
    wrong = await status(await client.post(f"{V1}/me/totp/confirm", headers=headers, json={
        "code": pyotp.TOTP(first["secret"]).at(s.clock.now)}), 401)
    assert wrong["error"]["code"] == "invalid_code"
    confirmed = await status(await client.post(f"{V1}/me/totp/confirm", headers=headers, json={
        "code": pyotp.TOTP(secret).at(s.clock.now)}), 200)
    codes = confirmed["recovery_codes"]
    assert len(codes) == 10
    assert (await status(await client.get(f"{V1}/me/totp", headers=headers), 200))["enabled"]
    await status(await client.post(f"{V1}/me/totp/enroll", headers=headers), 409)
    return secret, codes


async def _password_login(s: Server, name: str) -> Any:
    s.client.session.cookie_jar.clear()
    resp = await s.client.post(f"{V1}/auth/login", json={"username": name, "password": PASSWORD})
    return await status(resp, 200)


async def test_totp_login_replay_recovery_and_disable(server: Server) -> None:
    s, client = server, server.client
    _, alice = await add_user(s, "alice", Role.ADMIN)
    secret, codes = await _enable_totp(s, alice)
    # An API key may not change the second factor of its account.
    user_id = (await status(await client.get(f"{V1}/auth/me", headers=alice), 200))["user"]["id"]
    key, _ = await s.auth.apikeys.create(user_id, name="k", role_ceiling=Role.ADMIN)
    await status(await client.post(f"{V1}/me/totp/disable", json={"code": codes[0]},
                                   headers={"Authorization": f"Bearer {key}"}), 403)

    assert await _password_login(s, "alice") == {"second_factor_required": True}
    # The half-done login reaches nothing but the second step and logout.
    for method, path in (("GET", "/containers"), ("GET", "/auth/me"), ("GET", "/me/totp"),
                         ("POST", "/me/totp/enroll")):
        err = await status(await client.request(method, V1 + path), 401)
        assert err["error"]["code"] == "second_factor_required"
    await status(await client.get(f"{V1}/health"), 200)  # public: as if anonymous
    wrong = await status(await client.post(f"{V1}/auth/login/second-factor",
                                           json={"code": "000000"}), 401)
    assert wrong["error"]["code"] == "invalid_code"
    await status(await client.post(f"{V1}/auth/login/second-factor", json={}), 400)

    s.clock.now += timedelta(seconds=30)  # the confirming code's step is spent: a new step
    code = pyotp.TOTP(secret).at(s.clock.now)
    pending_cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE_NAME]
    resp = await client.post(f"{V1}/auth/login/second-factor", json={"code": code})
    done = await status(resp, 200)
    assert done["user"]["username"] == "alice" and done["user"]["totp_enabled"] is True
    assert done["enrollment_required"] is False and done["csrf_token"]
    assert resp.cookies[COOKIE_NAME].value != pending_cookie.value  # a new session
    await status(await client.get(f"{V1}/containers"), 200)
    await status(await client.post(f"{V1}/auth/logout",
                                   headers={"X-CSRF-Token": done["csrf_token"]}), 204)
    # The old pending cookie died with the completed login.
    await status(await client.get(f"{V1}/containers",
                                  headers={"Cookie": f"{COOKIE_NAME}={pending_cookie.value}"}),
                 401)

    # Replay: the same code is refused, even within its step.
    await _password_login(s, "alice")
    await status(await client.post(f"{V1}/auth/login/second-factor", json={"code": code}), 401)
    # A recovery code works, once.
    await status(await client.post(f"{V1}/auth/login/second-factor",
                                   json={"recovery_code": codes[0]}), 200)
    await _password_login(s, "alice")
    await status(await client.post(f"{V1}/auth/login/second-factor",
                                   json={"recovery_code": codes[0]}), 401)
    # Wrong codes slow down like passwords (4 free failures here, then a delay).
    for _ in range(3):
        await status(await client.post(f"{V1}/auth/login/second-factor",
                                       json={"code": "000000"}), 401)
    limited = await client.post(f"{V1}/auth/login/second-factor",
                                json={"recovery_code": codes[1]})
    await status(limited, 429)
    assert int(limited.headers["Retry-After"]) >= 1
    s.mono.now += 60
    # A pending session lapses after 5 minutes.
    s.clock.now += timedelta(minutes=6)
    await status(await client.post(f"{V1}/auth/login/second-factor",
                                   json={"recovery_code": codes[1]}), 401)
    await _password_login(s, "alice")
    done = await status(await client.post(f"{V1}/auth/login/second-factor",
                                          json={"recovery_code": codes[1]}), 200)
    csrf = {"X-CSRF-Token": done["csrf_token"]}

    s.clock.now += timedelta(seconds=30)
    await status(await client.post(f"{V1}/me/totp/disable", headers=csrf,
                                   json={"code": pyotp.TOTP(secret).at(s.clock.now)}), 204)
    login = await _password_login(s, "alice")
    assert login["user"]["totp_enabled"] is False and "csrf_token" in login
    audit = await status(await client.get(f"{V1}/audit", params={"limit": 500}), 200)
    actions = [e["action"] for e in audit["items"]]
    assert {"auth.totp.enable", "auth.totp.disable"} <= set(actions)
    logins = [e["result"] for e in audit["items"] if e["action"] == "auth.login"]
    assert logins.count("error") >= 6 and logins.count("ok") >= 4


async def test_require_2fa_limits_sessions_until_enrolled(server: Server) -> None:
    s, client = server, server.client
    await s.auth.users.create("bob", PASSWORD, Role.OPERATOR)
    settings = client.app[CORE].settings  # type: ignore[index]
    assert settings is not None
    await settings.update({"require_2fa": True})
    try:
        login = await _password_login(s, "bob")
        assert login["enrollment_required"] is True
        headers = {"X-CSRF-Token": login["csrf_token"]}
        err = await status(await client.get(f"{V1}/containers"), 403)
        assert err["error"]["code"] == "enrollment_required"
        await status(await client.get(f"{V1}/me/sessions"), 403)
        me = await status(await client.get(f"{V1}/auth/me"), 200)
        assert me["enrollment_required"] is True
        assert (await status(await client.get(f"{V1}/me/totp"), 200)) == {
            "enabled": False, "required": True}
        enrolled = await status(await client.post(f"{V1}/me/totp/enroll", headers=headers), 200)
        await status(await client.post(f"{V1}/me/totp/confirm", headers=headers, json={
            "code": pyotp.TOTP(enrolled["secret"]).at(s.clock.now)}), 200)
        await status(await client.get(f"{V1}/containers"), 200)
        me = await status(await client.get(f"{V1}/auth/me"), 200)
        assert me["enrollment_required"] is False
    finally:
        await settings.update({"require_2fa": False})


async def test_admin_resets_a_lost_second_factor(server: Server) -> None:
    s, client = server, server.client
    _, admin = await add_user(s, "root", Role.ADMIN)
    bob_id, bob = await add_user(s, "bob", Role.VIEWER)
    await _enable_totp(s, bob)
    assert await _password_login(s, "bob") == {"second_factor_required": True}
    client.session.cookie_jar.clear()
    await status(await client.delete(f"{V1}/users/{bob_id}/totp", headers=bob), 403)
    await status(await client.delete(f"{V1}/users/999999/totp", headers=admin), 404)
    await status(await client.delete(f"{V1}/users/{bob_id}/totp", headers=admin), 204)
    login = await _password_login(s, "bob")
    assert login["user"]["username"] == "bob" and login["user"]["totp_enabled"] is False
    client.session.cookie_jar.clear()
    audit = await status(await client.get(f"{V1}/audit", headers=admin,
                                          params={"action": "auth.totp.reset"}), 200)
    assert [(e["target"], e["result"]) for e in audit["items"]] == [
        (f"user/{bob_id}", "ok"), ("user/999999", "error")]
