"""The ``chrontainer`` command: serve, migrate, hosts, user, apikey.

Configuration errors are reported with their path and exit with status 2 before anything
touches the database. Schema migrations run outside the serving event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from chrontainer_core import Actor, ChrontainerError, HostSpec, HostTLS
from chrontainer_core.audit import DbAuditTrail
from chrontainer_core.bus import Bus
from chrontainer_core.config import Config, load_config
from chrontainer_core.errors import ConfigError, InstanceLocked
from chrontainer_core.hosts import HostManager
from chrontainer_core.runtime import Chrontainer
from chrontainer_core.secrets import SecretBox
from chrontainer_core.store.db import Database
from chrontainer_core.store.hosts import HostRepository
from chrontainer_core.store.lock import InstanceLock
from chrontainer_core.store.schema import schema_is_current

from .auth import cli as accounts_cli

log = logging.getLogger("chrontainer")

EXIT_CONFIG = 2
EXIT_FAILED = 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chrontainer", description="Chrontainer Docker manager")
    p.add_argument("--config", type=Path, help="YAML config file (else $CHRONTAINER_CONFIG)")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("serve", help="run the web UI, REST API and background services")

    m = sub.add_parser("migrate", help="bring the database schema up to date")
    m.add_argument("--revision", default="head", help="target revision (default: head)")
    m.add_argument("--downgrade", action="store_true", help="migrate down to --revision")

    hosts = sub.add_parser("hosts", help="manage Docker hosts").add_subparsers(
        dest="hosts_command", required=True
    )
    hosts.add_parser("list", help="list hosts")
    add = hosts.add_parser("add", help="add a host")
    add.add_argument("slug", help="immutable id: lowercase letters, digits and '-'")
    add.add_argument("url", help="unix:///path/docker.sock or tcp://host:port")
    add.add_argument("--name", help="display name (default: the slug)")
    tls = add.add_argument_group(
        "TLS", "for a tcp:// engine started with --tlsverify; give all three (PEM files)"
    )
    tls.add_argument("--tls-ca", type=Path, metavar="FILE", help="CA certificate")
    tls.add_argument("--tls-cert", type=Path, metavar="FILE", help="client certificate")
    tls.add_argument("--tls-key", type=Path, metavar="FILE",
                     help="client key (stored encrypted with the secret key)")
    rm = hosts.add_parser("remove", help="remove a host (its containers stay untouched)")
    rm.add_argument("slug")
    test = hosts.add_parser("test", help="connect to a host's engine and show its version")
    test.add_argument("slug")
    accounts_cli.add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    tls_files = [getattr(args, name, None) for name in ("tls_ca", "tls_cert", "tls_key")]
    if any(tls_files) and not all(tls_files):
        parser.error("--tls-ca, --tls-cert and --tls-key go together")
    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(f"chrontainer: configuration error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic announces each of its plugins at INFO; the migrations themselves stay visible.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        if args.command == "serve":
            return asyncio.run(_serve(config, args.config))
        if args.command == "migrate":
            from chrontainer_core.store import migrate

            _prepare_data_dir(config)
            if args.downgrade:
                migrate.downgrade(config.database_url, args.revision)
            else:
                migrate.upgrade(config.database_url, args.revision)
            print(f"database at revision {migrate.current(config.database_url)}")
            return 0
        if args.command in ("user", "apikey"):
            # Prompting blocks: done before the event loop starts.
            password = accounts_cli.read_password(args)
            return asyncio.run(accounts_cli.run(config, args, password))
        return asyncio.run(_hosts(config, args))
    except InstanceLocked as err:
        print(f"chrontainer: {err.message}", file=sys.stderr)
        return EXIT_FAILED
    except ChrontainerError as err:
        print(f"chrontainer: {err.message}", file=sys.stderr)
        return EXIT_FAILED


def _prepare_data_dir(config: Config) -> None:
    if config.is_sqlite:
        config.data_dir.mkdir(parents=True, exist_ok=True)


async def _serve(config: Config, config_path: Path | None) -> int:
    from aiohttp import web

    from .accesslog import RedactingAccessLogger
    from .app import create_app

    _prepare_data_dir(config)
    async with InstanceLock.for_config(config):
        if not await schema_is_current(config.database_url):
            await _migrate_in_subprocess(config_path)
        core = Chrontainer.from_config(config)
        app = create_app(config, core=core)
        # handler_cancellation: a client that goes away cancels its handler, which ends log
        # follows (and closes their engine streams) at once. The access log redacts webhook
        # tokens (they are in the URL path).
        runner = web.AppRunner(app, handler_cancellation=True,
                               access_log_class=RedactingAccessLogger)
        await runner.setup()
        try:
            site = web.TCPSite(runner, config.bind_host, config.port)
            await site.start()
            log.info("listening on http://%s:%d", config.bind_host, config.port)
            await _wait_for_signal()
            log.info("shutting down")
        finally:
            await runner.cleanup()
    return 0


async def _migrate_in_subprocess(config_path: Path | None) -> None:
    """Bring the schema up to date in a child ``chrontainer migrate``, before serving.

    A child process keeps alembic (and its template engine) out of the daemon's memory for
    good; it sees the same configuration through the same file and environment.
    """
    argv = [sys.executable, "-m", "chrontainer_server"]
    if config_path is not None:
        argv += ["--config", str(config_path)]
    proc = await asyncio.create_subprocess_exec(
        *argv, "migrate", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise ChrontainerError(f"database migration failed:\n{out.decode(errors='replace')}")
    log.info("%s", out.decode(errors="replace").strip())


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _read_tls(args: argparse.Namespace) -> HostTLS | None:
    """The TLS material named by --tls-ca/--tls-cert/--tls-key, or None without them."""
    if args.tls_ca is None:
        return None
    texts = []
    for option, path in (("--tls-ca", args.tls_ca), ("--tls-cert", args.tls_cert),
                         ("--tls-key", args.tls_key)):
        try:
            texts.append(await asyncio.to_thread(path.read_text, encoding="ascii"))
        except (OSError, UnicodeDecodeError) as err:
            raise ChrontainerError(f"{option}: cannot read {path}: {err}") from err
    return HostTLS(ca_cert=texts[0], client_cert=texts[1], client_key=texts[2])


async def _hosts(config: Config, args: argparse.Namespace) -> int:
    """Host commands work on the database; a running server picks changes up by polling."""
    from chrontainer_core.store import migrate

    _prepare_data_dir(config)
    await asyncio.to_thread(migrate.upgrade, config.database_url)
    db = Database(config.database_url)
    try:
        secrets = SecretBox.from_config(config)
        await secrets.ready()
        repo = HostRepository(db, secrets=secrets)
        manager = HostManager(
            Bus(), DbAuditTrail(db), repo=repo,
            connect_timeout=config.docker_connect_timeout,
            request_timeout=config.docker_request_timeout,
        )
        await manager.load()
        actor = Actor.cli()
        cmd = args.hosts_command
        if cmd == "list":
            for spec in await repo.list():
                print(f"{spec.slug}\t{spec.name}\t{spec.url}" + ("\ttls" if spec.tls else ""))
        elif cmd == "add":
            spec = HostSpec(slug=args.slug, name=args.name or args.slug, url=args.url,
                            tls=await _read_tls(args))
            await manager.add(spec, actor=actor)
            print(f"added host {spec.slug}")
        elif cmd == "remove":
            await manager.remove(args.slug, actor=actor)
            print(f"removed host {args.slug}")
        elif cmd == "test":
            version = await manager.test(manager.get(args.slug).host.spec)
            print(f"{args.slug}: Docker {version.version} (API {version.api_version})")
        await manager.close()
    finally:
        await db.close()
    return 0
