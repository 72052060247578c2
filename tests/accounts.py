"""Test accounts: an admin and an API key, made directly in the database (no HTTP), and a
client of a test server acting as that admin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from chrontainer_core.store.db import Database
from chrontainer_server.api.context import CORE
from chrontainer_server.auth.apikeys import ApiKeyStore
from chrontainer_server.auth.passwords import Passwords
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.users import UserRepository

from .live import wait_synced

ADMIN = "admin"
ADMIN_PASSWORD = "admin-test-password"


async def admin_api_key(database_url: str, *, username: str = ADMIN) -> str:
    """Create (or reuse) an admin account and return a fresh admin API key for it."""
    db = Database(database_url)
    try:
        users = UserRepository(db, Passwords())
        found = await users.find(username)
        user = found[0] if found else await users.create(username, ADMIN_PASSWORD, Role.ADMIN)
        secret, _ = await ApiKeyStore(db).create(user.id, name="tests", role_ceiling=Role.ADMIN)
        return secret
    finally:
        await db.close()


def bearer(secret: str) -> dict[str, str]:
    """The Authorization header of an API key."""
    return {"Authorization": f"Bearer {secret}"}


@asynccontextmanager
async def admin_client(app: web.Application, database_url: str) -> AsyncIterator[TestClient]:
    """A real HTTP server for ``app`` and a client acting with an admin API key, ready once
    every host of the app synced."""
    headers = bearer(await admin_api_key(database_url))
    async with TestClient(TestServer(app), headers=headers) as client:
        await wait_synced(app[CORE])
        yield client
