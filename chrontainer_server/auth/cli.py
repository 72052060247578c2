"""``chrontainer user ...`` and ``chrontainer apikey ...``: accounts from the command line.

They write the database directly; a running server sees the result at the next request, since
sessions and keys are looked up per request.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import timedelta

from chrontainer_core import Actor
from chrontainer_core.audit import DbAuditTrail
from chrontainer_core.config import Config
from chrontainer_core.errors import InvalidInput, NotFound
from chrontainer_core.store.db import Database

from .apikeys import ApiKeyStore
from .passwords import Passwords
from .roles import Role
from .users import UserRepository

__all__ = ["add_parsers", "read_password", "run"]

_ROLES = [r.value for r in Role]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``user`` and ``apikey`` commands to the main parser."""
    user = sub.add_parser("user", help="manage accounts").add_subparsers(
        dest="user_command", required=True)
    add = user.add_parser("add", help="create an account (the password is prompted for)")
    add.add_argument("name")
    add.add_argument("--role", choices=_ROLES, default=Role.VIEWER.value)
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    user.add_parser("list", help="list accounts")

    apikey = sub.add_parser("apikey", help="manage API keys").add_subparsers(
        dest="apikey_command", required=True)
    create = apikey.add_parser("create", help="create an API key (printed once)")
    create.add_argument("--user", required=True, help="the owner")
    create.add_argument("--name", required=True, help="a label for the key")
    create.add_argument("--role", choices=_ROLES, help="ceiling (default: the owner's role)")
    create.add_argument("--expires-days", type=int, metavar="N", help="lifetime in days")


def read_password(args: argparse.Namespace) -> str | None:
    """The password of ``user add``, read before the event loop starts (it blocks)."""
    if getattr(args, "user_command", None) != "add":
        return None
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise InvalidInput("the passwords differ")
    return first


async def run(config: Config, args: argparse.Namespace, password: str | None) -> int:
    """Run a ``user`` or ``apikey`` command against the database."""
    from chrontainer_core.store import migrate

    await asyncio.to_thread(migrate.upgrade, config.database_url)
    db = Database(config.database_url)
    try:
        users = UserRepository(db, Passwords())
        audit = DbAuditTrail(db)
        actor = Actor.cli()
        if args.command == "user" and args.user_command == "add":
            assert password is not None
            async with audit.track(actor, "user.create", args.name.lower()):
                user = await users.create(args.name, password, Role(args.role))
            print(f"created user {user.username} ({user.role.value})")
        elif args.command == "user":
            for u in await users.list():
                print(f"{u.id}\t{u.username}\t{u.role.value}" + ("\tdisabled" if u.disabled
                                                                  else ""))
        else:
            await _create_key(db, users, audit, actor, args)
    finally:
        await db.close()
    return 0


async def _create_key(db: Database, users: UserRepository, audit: DbAuditTrail, actor: Actor,
                      args: argparse.Namespace) -> None:
    found = await users.find(args.user)
    if found is None:
        raise NotFound(f"no user '{args.user}'")
    owner = found[0]
    ceiling = Role(args.role) if args.role else owner.role
    if args.expires_days is not None and args.expires_days < 1:
        raise InvalidInput("--expires-days must be 1 or more")
    async with audit.track(actor, "apikey.create", f"{owner.username}/{args.name}"):
        secret, key = await ApiKeyStore(db).create(
            owner.id, name=args.name, role_ceiling=ceiling,
            expires_in=timedelta(days=args.expires_days) if args.expires_days else None)
    print(f"API key {key.name} (id {key.id}, role {ceiling.value}) for {owner.username}; "
          "shown this once:", file=sys.stderr)
    print(secret)
