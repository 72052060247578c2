"""Accounts logic without a server: throttle, passwords, roles, key scopes, client address."""

from __future__ import annotations

import ipaddress

import pytest
from aiohttp.test_utils import make_mocked_request

from chrontainer_server.auth.apikeys import KeyScope
from chrontainer_server.auth.errors import RateLimited
from chrontainer_server.auth.passwords import Passwords
from chrontainer_server.auth.principal import client_ip, is_https
from chrontainer_server.auth.ratelimit import LoginThrottle
from chrontainer_server.auth.roles import Role

from ..dbtemplate import migrated


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_grows_per_account_and_ip_then_releases() -> None:
    clock = Clock()
    t = LoginThrottle(clock=clock, free_failures=3, base_delay=1, max_delay=30)
    for _ in range(3):
        t.check("admin", "10.0.0.9")
        t.failed("admin", "10.0.0.9")
    # The 4th attempt is free; from then on delays grow 1, 2, 4, ... capped at 30 s.
    t.check("admin", "10.0.0.9")
    t.failed("admin", "10.0.0.9")
    delays = []
    for _ in range(8):
        with pytest.raises(RateLimited) as err:
            t.check("admin", "10.0.0.9")
        delays.append(err.value.retry_after)
        # The same account from another IP is never held back by this one.
        t.check("admin", "10.0.0.1")
        clock.now += err.value.retry_after - 0.5
        with pytest.raises(RateLimited):
            t.check("admin", "10.0.0.9")
        clock.now += 0.5
        t.check("admin", "10.0.0.9")  # released after the delay
        t.failed("admin", "10.0.0.9")
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]
    t.succeeded("admin", "10.0.0.9")
    t.check("admin", "10.0.0.9")


def test_throttle_limits_one_ip_across_accounts() -> None:
    clock = Clock()
    t = LoginThrottle(clock=clock, ip_limit=5, ip_window=60)
    for n in range(5):
        t.check(f"user{n}", "10.0.0.9")
        t.failed(f"user{n}", "10.0.0.9")
    with pytest.raises(RateLimited) as err:
        t.check("someone-else", "10.0.0.9")
    assert err.value.retry_after == 60
    t.check("someone-else", "10.0.0.8")
    clock.now += 60
    t.check("someone-else", "10.0.0.9")


async def test_passwords_verify_and_rehash_on_new_parameters() -> None:
    old = Passwords(memory_kib=8 * 1024, time_cost=1)
    stored = await old.hash("correct horse")
    assert stored.startswith("$argon2id$")
    assert (await old.verify(stored, "correct horse")) .ok
    assert (await old.verify(stored, "correct horse")).new_hash is None
    assert not (await old.verify(stored, "wrong")).ok
    assert not (await old.verify("not a hash", "x")).ok
    current = Passwords()
    verdict = await current.verify(stored, "correct horse")
    assert verdict.ok and verdict.new_hash is not None and "m=19456" in verdict.new_hash
    assert (await current.verify(verdict.new_hash, "correct horse")).new_hash is None


def test_roles_order() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR) and Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    assert Role.lowest(Role.ADMIN, Role.VIEWER) is Role.VIEWER
    assert Role.lowest(Role.OPERATOR, Role.ADMIN) is Role.OPERATOR


def test_key_scope() -> None:
    scope = KeyScope(hosts=("remote",), containers=("local/web",))
    assert scope.allows_host("remote") and scope.allows_host("local")
    assert not scope.allows_host("nas")
    assert scope.allows_container("remote", "anything")
    assert scope.allows_container("local", "web") and not scope.allows_container("local", "db")
    assert scope.allows_whole_host("remote") and not scope.allows_whole_host("local")
    assert KeyScope.from_json(scope.to_json()) == scope
    assert KeyScope.from_json(None) is None


def test_forwarded_headers_only_from_trusted_proxies() -> None:
    proxies = (ipaddress.ip_network("127.0.0.0/8"),)
    headers = {"X-Forwarded-For": "6.6.6.6, 10.1.2.3, 127.0.0.2", "X-Forwarded-Proto": "https"}
    request = make_mocked_request("GET", "/", headers=headers).clone(remote="127.0.0.1")
    assert client_ip(request, proxies) == "10.1.2.3"  # the first untrusted hop from the right
    assert is_https(request, proxies)
    assert client_ip(request, ()) == "127.0.0.1"
    assert not is_https(request, ())
    outsider = make_mocked_request("GET", "/", headers=headers).clone(remote="8.8.8.8")
    assert client_ip(outsider, proxies) == "8.8.8.8" and not is_https(outsider, proxies)


async def test_concurrent_demotions_never_leave_no_admin(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from chrontainer_core.errors import Conflict
    from chrontainer_core.store.db import Database
    from chrontainer_server.auth.passwords import Passwords
    from chrontainer_server.auth.users import UserRepository

    url = f"sqlite+aiosqlite:///{tmp_path / 'u.db'}"
    migrated(url)
    db = Database(url)
    try:
        # Cheap hashing parameters: this test is about the admin guard, not argon2.
        users = UserRepository(db, Passwords(memory_kib=8, time_cost=1))
        check = UserRepository._keep_an_admin

        async def slow_check(session, user_id):  # type: ignore[no-untyped-def]
            # Widen the window between "another admin exists" and the write, so that two
            # demotions would surely interleave without the guard.
            await check(session, user_id)
            await asyncio.sleep(0.1)

        monkeypatch.setattr(UserRepository, "_keep_an_admin", staticmethod(slow_check))
        a = await users.create("alice", "correct horse battery", Role.ADMIN)
        b = await users.create("bob", "correct horse battery", Role.ADMIN)
        results = await asyncio.gather(
            users.update(a.id, role=Role.VIEWER), users.update(b.id, role=Role.VIEWER),
            return_exceptions=True,
        )
        assert sum(isinstance(r, Conflict) for r in results) == 1
        admins = [u for u in await users.list() if u.role == Role.ADMIN and not u.disabled]
        assert len(admins) == 1
    finally:
        await db.close()
