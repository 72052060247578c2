"""SecretBox: encryption at rest, the key file, and clear errors for a wrong key."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from chrontainer_core.config import Config
from chrontainer_core.errors import ConfigError, SecretUnavailable
from chrontainer_core.secrets import SECRET_KEY_FILE, SecretBox, load_or_create_key_file
from chrontainer_core.secrets import _create_key_file as create_key_file

PEM_LIKE = "-----BEGIN PRIVATE KEY-----\nMIGH...é\n-----END PRIVATE KEY-----\n"


def test_round_trip_with_a_configured_secret() -> None:
    box = SecretBox("a passphrase somebody typed")
    token = box.encrypt(PEM_LIKE)
    assert token.isascii() and "PRIVATE KEY" not in token and "MIGH" not in token
    assert box.decrypt(token) == PEM_LIKE
    # Same secret, new box (a restart): still decrypts; encryption is randomised.
    again = SecretBox("a passphrase somebody typed")
    assert again.decrypt(token) == PEM_LIKE
    assert again.encrypt(PEM_LIKE) != token


def test_wrong_key_is_a_clear_core_error() -> None:
    token = SecretBox("right key").encrypt("secret")
    with pytest.raises(SecretUnavailable) as info:
        SecretBox("wrong key").decrypt(token)
    assert info.value.code == "secret_unavailable"
    assert "secret key" in info.value.message
    assert "secret" not in repr(info.value.details)


@pytest.mark.parametrize("token", ["", "not a token", "gAAAAAB" + "A" * 80, "ünïcödé"])
def test_corrupted_values_are_secret_unavailable(token: str) -> None:
    with pytest.raises(SecretUnavailable):
        SecretBox("k").decrypt(token)


def test_a_tampered_token_is_detected() -> None:
    box = SecretBox("k")
    token = box.encrypt("secret")
    flipped = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(SecretUnavailable):
        box.decrypt(flipped)


def test_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    old_umask = os.umask(0o002)  # a permissive umask must not widen the file's mode
    try:
        box = SecretBox(key_file=tmp_path / "data" / SECRET_KEY_FILE)
        token = box.encrypt("secret")
    finally:
        os.umask(old_umask)
    key_file = tmp_path / "data" / SECRET_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    content = key_file.read_text()
    assert len(content.strip()) >= 40
    # No temporary file is left next to it.
    assert [p.name for p in key_file.parent.iterdir()] == [SECRET_KEY_FILE]

    again = SecretBox(key_file=key_file)
    assert again.decrypt(token) == "secret"
    assert key_file.read_text() == content


def test_an_existing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    key_file = tmp_path / SECRET_KEY_FILE
    key_file.write_text("the key from before\n")
    key_file.chmod(0o600)
    assert load_or_create_key_file(key_file) == "the key from before"
    # Even the creator itself refuses to replace it (two processes racing to create it).
    create_key_file(key_file, "a newer key")
    assert key_file.read_text() == "the key from before\n"
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_KEY_FILE]


def test_an_empty_key_file_is_a_config_error(tmp_path: Path) -> None:
    key_file = tmp_path / SECRET_KEY_FILE
    key_file.write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        SecretBox(key_file=key_file).encrypt("x")


def test_config_secret_wins_over_the_key_file(tmp_path: Path) -> None:
    configured = SecretBox.from_config(Config(data_dir=tmp_path, secret_key="from env"))
    token = configured.encrypt("secret")
    assert not (tmp_path / SECRET_KEY_FILE).exists()
    assert SecretBox("from env").decrypt(token) == "secret"
    generated = SecretBox.from_config(Config(data_dir=tmp_path))
    with pytest.raises(SecretUnavailable):
        generated.decrypt(token)
    assert (tmp_path / SECRET_KEY_FILE).exists()


async def test_ready_derives_the_key_off_the_loop(tmp_path: Path) -> None:
    box = SecretBox(key_file=tmp_path / SECRET_KEY_FILE)
    await box.ready()
    assert (tmp_path / SECRET_KEY_FILE).exists()
    assert box.decrypt(box.encrypt("x")) == "x"


def test_a_box_needs_a_key_source() -> None:
    with pytest.raises(ValueError):
        SecretBox()
    with pytest.raises(ValueError):
        SecretBox("")
