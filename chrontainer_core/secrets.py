"""Encryption of stored secrets at rest (DESIGN §7): host TLS keys now, later registry passwords
and notification tokens.

The scheme
    :class:`SecretBox` encrypts with Fernet (``cryptography``): AES-128-CBC with an
    HMAC-SHA256 over a versioned token, so a wrong key or a changed byte is *detected* rather
    than decrypted into garbage. The 32 bytes of Fernet key material are derived from the
    configured secret with scrypt (n=2**14, r=8, p=1), because the secret may be a passphrase a
    person typed into ``CHRONTAINER_SECRET_KEY``; a fixed, application-specific salt is enough
    here (there is one key per installation, and a stored salt would have to travel with the
    environment variable when a database is moved).

The key
    ``config.secret_key`` (``CHRONTAINER_SECRET_KEY``) when set; otherwise a random key is
    generated once into ``<data_dir>/secret.key`` with 0600 permissions. The file is created
    atomically (written under a temporary name, then hard-linked into place, which fails
    rather than replaces when the name exists), so two processes starting at once (the daemon
    and a CLI command) agree on one key and an existing key is never overwritten.

Failures
    A value that cannot be decrypted raises :class:`~chrontainer_core.errors.SecretUnavailable`
    with a message saying what to do. Callers turn that into a visible state (a host shown
    offline with "cannot decrypt the TLS key: re-enter it"), never into a crash.

Deriving the key costs a few tens of milliseconds and the key file is read from disk, so the
daemon calls :meth:`SecretBox.ready` (one ``asyncio.to_thread``) at start; synchronous callers
(the CLI, tests) simply get the key derived on first use.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Final

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import ConfigError, SecretUnavailable

if TYPE_CHECKING:
    from .config import Config

__all__ = ["SECRET_KEY_FILE", "SecretBox", "load_or_create_key_file"]

log = logging.getLogger(__name__)

SECRET_KEY_FILE: Final = "secret.key"  # noqa: S105 - a file name, not a secret
# Changing the salt or the scrypt cost would make every stored secret undecryptable: they are
# part of the on-disk format ("v1").
_SALT: Final = b"chrontainer/secret-box/v1"
_SCRYPT_N: Final = 2**14
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1
_SHORT_SECRET: Final = 16


def _derive(secret: str) -> Fernet:
    kdf = Scrypt(salt=_SALT, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return Fernet(base64.urlsafe_b64encode(kdf.derive(secret.encode("utf-8"))))


def _read_key_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read the secret key file {path}: {err}") from err
    if not text:
        raise ConfigError(
            f"the secret key file {path} is empty: restore it from a backup or set "
            "CHRONTAINER_SECRET_KEY (stored secrets need the key they were encrypted with)"
        )
    if mode & 0o077:
        log.warning("secret key file %s is readable by other users: chmod 600 it", path)
    return text


def _create_key_file(path: Path, key: str) -> None:
    """Create ``path`` holding ``key`` unless it exists; never replaces an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        # fchmod: the umask could otherwise leave the file with fewer bits than asked, and the
        # documented (and tested) mode is exactly 0600.
        os.fchmod(fd, 0o600)
        os.write(fd, f"{key}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        # link() is atomic and refuses an existing name: a concurrent creator's key wins and
        # readers never see a half-written file.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the new name durable before anything is encrypted with it
    finally:
        os.close(dir_fd)


def load_or_create_key_file(path: Path) -> str:
    """Return the key stored in ``path``, generating it first when the file does not exist.

    Args:
        path: Usually ``<data_dir>/secret.key``.

    Returns:
        The key text (43 URL-safe characters when generated here).

    Raises:
        ConfigError: The file exists but cannot be read or is empty, or cannot be created.
    """
    if not path.exists():
        try:
            _create_key_file(path, secrets.token_urlsafe(32))
        except OSError as err:
            raise ConfigError(f"cannot create the secret key file {path}: {err}") from err
        log.info("generated a new secret key in %s (back it up with the database)", path)
    return _read_key_file(path)


class SecretBox:
    """Encrypts and decrypts short secrets with the installation's secret key.

    Args:
        secret: The configured secret (``CHRONTAINER_SECRET_KEY``); when None, the key comes
            from ``key_file``.
        key_file: Where the generated key lives (``<data_dir>/secret.key``); created on first
            use when ``secret`` is None.

    Raises:
        ValueError: Neither ``secret`` nor ``key_file`` is given, or ``secret`` is empty.
    """

    def __init__(self, secret: str | None = None, *, key_file: Path | None = None) -> None:
        if secret is None and key_file is None:
            raise ValueError("SecretBox needs a secret or a key file")
        if secret is not None and not secret:
            raise ValueError("the secret must not be empty")
        self._secret = secret
        self._key_file = key_file
        self._fernet: Fernet | None = None

    @classmethod
    def from_config(cls, config: Config) -> SecretBox:
        """The box of a daemon or CLI: ``config.secret_key``, else ``<data_dir>/secret.key``."""
        return cls(config.secret_key, key_file=config.data_dir / SECRET_KEY_FILE)

    def _cipher(self) -> Fernet:
        if self._fernet is None:
            secret = self._secret
            if secret is None:
                assert self._key_file is not None  # guaranteed by __init__
                secret = load_or_create_key_file(self._key_file)
            elif len(secret) < _SHORT_SECRET:
                log.warning("CHRONTAINER_SECRET_KEY is short: use 32 or more random characters")
            self._fernet = _derive(secret)
        return self._fernet

    async def ready(self) -> None:
        """Load (or create) and derive the key off the event loop; later calls return at once.

        Raises:
            ConfigError: The key file cannot be read or created.
        """
        if self._fernet is None:
            # Reads/creates a file and runs scrypt: blocking work, done once in a thread.
            await asyncio.to_thread(self._cipher)

    def encrypt(self, plaintext: str) -> str:
        """Encrypt ``plaintext``; the result is ASCII text safe to store in any column.

        Raises:
            ConfigError: The key file cannot be read or created.
        """
        return self._cipher().encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Decrypt a value made by :meth:`encrypt` with the same key.

        Raises:
            SecretUnavailable: The key differs from the one used to encrypt, or the value is
                corrupted.
            ConfigError: The key file cannot be read or created.
        """
        cipher = self._cipher()
        try:
            return cipher.decrypt(token.encode("ascii")).decode("utf-8")
        # ValueError: non-ASCII text or bytes that are not UTF-8, i.e. not our token either.
        except (InvalidToken, ValueError) as err:
            raise SecretUnavailable(
                "cannot decrypt a stored secret: the secret key (CHRONTAINER_SECRET_KEY or "
                "secret.key in the data directory) is not the one it was encrypted with, or "
                "the stored value is corrupted"
            ) from err
