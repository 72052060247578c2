"""Certificates generated at test time for TLS engines (nothing is checked into the repo).

:func:`make_pki` builds what a TLS-protected Docker engine and its clients need: a CA, a server
certificate for 127.0.0.1 signed by it, a client certificate (clientAuth) signed by it, and a
second, unrelated CA with its own client certificate, to show that trust is really checked.
EC P-256 keys keep generation fast; extensions follow what OpenSSL's strict verification and
Go's crypto/tls (dockerd) expect (critical basicConstraints/keyUsage, SKI/AKI, EKUs).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both PEM text."""

    cert: str
    key: str = field(repr=False)


@dataclass(frozen=True)
class Pki:
    """Everything a TLS engine test needs; see the module docstring."""

    ca: KeyPair
    server: KeyPair
    client: KeyPair
    other_ca: KeyPair
    other_client: KeyPair

    def write_server_files(self, directory: Path) -> tuple[Path, Path, Path]:
        """Write ca.pem, server-cert.pem and server-key.pem (0600) for dockerd's --tls* flags."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = (directory / "ca.pem", directory / "server-cert.pem",
                 directory / "server-key.pem")
        for path, text in zip(paths, (self.ca.cert, self.server.cert, self.server.key),
                              strict=True):
            path.write_text(text)
            path.chmod(0o600)
        return paths


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Chrontainer tests"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
             ) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # A little slack before "now": clocks of the engine and the test may differ.
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


_CA_USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
    encipher_only=False, decipher_only=False,
)
_LEAF_USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
    encipher_only=False, decipher_only=False,
)


@dataclass(frozen=True)
class _Ca:
    name: x509.Name
    key: ec.EllipticCurvePrivateKey
    pair: KeyPair


def _make_ca(common_name: str) -> _Ca:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .sign(key, hashes.SHA256())
    )
    return _Ca(name, key, KeyPair(cert.public_bytes(serialization.Encoding.PEM).decode(),
                                  _pem_key(key)))


def _issue(ca: _Ca, common_name: str, *, server: bool) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(_name(common_name), ca.name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_LEAF_USAGE, critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.DNSName("localhost"),
            ]),
            critical=False,
        )
    cert = builder.sign(ca.key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key))


def make_pki() -> Pki:
    """A fresh CA with server and client certificates, plus an unrelated CA and client."""
    ca = _make_ca("Chrontainer test CA")
    other = _make_ca("Unrelated test CA")
    return Pki(
        ca=ca.pair,
        server=_issue(ca, "127.0.0.1", server=True),
        client=_issue(ca, "chrontainer-client", server=False),
        other_ca=other.pair,
        other_client=_issue(other, "stranger", server=False),
    )
