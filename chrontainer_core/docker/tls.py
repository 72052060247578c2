"""TLS for ``tcp://`` engines started with ``--tlsverify``: the client side of Docker's TLS.

:func:`build_ssl_context` turns a host's PEM material into an :class:`ssl.SSLContext` that
trusts only the host's CA and presents the client certificate; :func:`describe_tls_failure`
turns the exceptions a failed handshake leaves behind into one line a user can act on.
"""

from __future__ import annotations

import os
import re
import ssl
import tempfile
from pathlib import Path
from typing import Final

import aiohttp

from ..errors import HostUnreachable, SecretUnavailable
from ..models import HostTLS

__all__ = ["build_ssl_context", "describe_tls_failure", "https_url"]

# RAM-backed where available, so the key never reaches a disk even for the instant it exists.
# A shared, world-writable parent is fine: mkdtemp creates a fresh 0700 directory inside it.
_SHM: Final = "/dev/shm"  # noqa: S108
_TMP_DIR: Final = _SHM if os.path.isdir(_SHM) and os.access(_SHM, os.W_OK) else None
# OpenSSL's "[SSL: REASON] text (_ssl.c:NNN)", as aiohttp repeats it in its messages (a
# refused client certificate surfaces only as text, the SSLError itself is not chained).
_SSL_TEXT: Final = re.compile(r"\[SSL: (?P<reason>[A-Z0-9_]+)\] (?P<text>[^(\]]+)")
# Alerts by which the engine says it does not accept our client certificate.
_REFUSED_CLIENT: Final = frozenset({
    "SSLV3_ALERT_BAD_CERTIFICATE",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    "TLSV1_ALERT_UNKNOWN_CA",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
    "TLSV1_ALERT_DECRYPT_ERROR",
})
# What a TLS client sees when the other side does not speak TLS at all.
_NOT_TLS: Final = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"}
)


def https_url(url: str) -> str:
    """The ``https://`` form of a ``tcp://`` engine URL.

    aiodocker switches ``tcp://`` to ``https://`` only for TLS it sets up itself (from
    ``DOCKER_TLS_VERIFY`` or a Docker context). Given our own ``ssl_context`` it keeps the
    ``tcp://`` URL, which aiohttp speaks as plain HTTP: the engine would then answer "Client
    sent an HTTP request to an HTTPS server".
    """
    return "https://" + url.removeprefix("tcp://")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def build_ssl_context(host: str, tls: HostTLS) -> ssl.SSLContext:
    """An SSLContext trusting only ``tls.ca_cert`` and presenting the client certificate.

    Blocking (it writes and removes two small files): call it through ``asyncio.to_thread``.

    Args:
        host: The host's slug, for messages.
        tls: The host's TLS material.

    Raises:
        SecretUnavailable: The stored client key could not be decrypted.
        HostUnreachable: The material cannot be used (it is validated on entry, so this means
            it was changed behind Chrontainer's back).
    """
    if tls.key_error is not None:
        raise SecretUnavailable(f"host {host}: {tls.key_error}")
    try:
        # cadata alone: the engine's certificate must chain to this CA, not to any public one.
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=tls.ca_cert)
        # The ssl module loads a certificate chain only from files; there is no in-memory API.
        # So the certificate and key exist on disk for the instant of the load: in a fresh
        # directory only this user can enter (mkdtemp makes it 0700), as 0600 files, and all
        # of it is removed as soon as OpenSSL has read them.
        with tempfile.TemporaryDirectory(prefix="chrontainer-tls-", dir=_TMP_DIR) as tmp:
            cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
            _write_private(cert, tls.client_cert)
            _write_private(key, tls.client_key)
            context.load_cert_chain(cert, key)
    except (ssl.SSLError, ValueError, OSError) as err:
        raise HostUnreachable(f"host {host}: cannot use the TLS material: {err}") from err
    return context


def _chain(err: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def describe_tls_failure(err: BaseException, *, tls_host: bool = False) -> str | None:
    """One line saying why a TLS connection failed, or None when ``err`` is not about TLS.

    Args:
        err: What the connection attempt raised (aiodocker chains aiohttp's error as context).
        tls_host: The host uses TLS, so a connection the engine drops at once is most likely
            a refused client certificate (see below).
    """
    chain = _chain(err)
    for exc in chain:
        # aiohttp's ClientConnectorCertificateError is one too, without verify_message.
        verify_message = getattr(exc, "verify_message", None)
        if isinstance(exc, ssl.SSLCertVerificationError) and verify_message:
            return (
                f"TLS handshake failed: certificate verify failed: {verify_message} "
                "(is the CA certificate the one that signed the engine's certificate?)"
            )
    for exc in chain:
        reason = exc.reason if isinstance(exc, ssl.SSLError) else None
        text = str(exc)
        match = _SSL_TEXT.search(text)
        if match is not None:
            reason, text = match["reason"], match["text"].strip()
        if reason is None:
            continue
        if reason in _REFUSED_CLIENT:
            return f"TLS handshake failed: the engine refused the client certificate ({text})"
        if reason in _NOT_TLS:
            return f"TLS handshake failed: {text} (does the engine use TLS on this port?)"
        return f"TLS handshake failed: {text}"
    # With TLS 1.3 the client's side of the handshake is over before the engine checks the
    # client certificate; a refusal then usually arrives as a reset of the first request
    # rather than as the alert above.
    if tls_host and any(
        isinstance(exc, (ConnectionResetError, aiohttp.ServerDisconnectedError)) for exc in chain
    ):
        return (
            "the engine closed the TLS connection at once: it may not accept the client "
            "certificate (is it signed by the CA the engine trusts?)"
        )
    return None
