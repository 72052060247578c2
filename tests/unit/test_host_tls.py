"""TLS material of hosts without an engine: validation, the SSL context, failure messages."""

from __future__ import annotations

import os
import ssl
from dataclasses import replace
from pathlib import Path

import pytest
import voluptuous as vol
from cryptography.hazmat.primitives import serialization

from chrontainer_core import HostSpec, HostState, HostStatus, HostTLS, InvalidInput
from chrontainer_core.docker.tls import build_ssl_context, describe_tls_failure, https_url
from chrontainer_core.errors import SecretUnavailable
from chrontainer_core.hosts import validate_spec
from chrontainer_core.serialize import to_jsonable
from chrontainer_core.validate import PemCertificates, PemPrivateKey, key_matches_certificate

from ..pki import Pki, make_pki


@pytest.fixture(scope="module")
def material() -> Pki:
    return make_pki()


def tls_of(pki: Pki) -> HostTLS:
    return HostTLS(ca_cert=pki.ca.cert, client_cert=pki.client.cert, client_key=pki.client.key)


def test_pem_validators(material: Pki) -> None:
    assert PemCertificates()(material.ca.cert) == material.ca.cert
    # A bundle (several certificates) is a valid CA file.
    bundle = material.ca.cert + material.other_ca.cert
    assert PemCertificates()(bundle) == bundle
    assert PemPrivateKey()(material.client.key) == material.client.key
    for bad in ("", "hello", 42, None, material.client.key, "-----BEGIN CERTIFICATE-----\nxx\n"):
        with pytest.raises(vol.Invalid):
            PemCertificates()(bad)
    for bad in ("", material.client.cert, "-----BEGIN PRIVATE KEY-----\nnope\n", "ü" * 10):
        with pytest.raises(vol.Invalid):
            PemPrivateKey()(bad)
    with pytest.raises(vol.Invalid, match="too long"):
        PemCertificates()("-----BEGIN " + "A" * 70_000)


def test_an_encrypted_key_is_refused_with_a_hint(material: Pki) -> None:
    key = serialization.load_pem_private_key(material.client.key.encode(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()
    with pytest.raises(vol.Invalid, match="passphrase"):
        PemPrivateKey()(encrypted)


def test_key_must_belong_to_the_certificate(material: Pki) -> None:
    assert key_matches_certificate(material.client.cert, material.client.key)
    assert not key_matches_certificate(material.client.cert, material.other_client.key)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ca_cert": "not a pem"}, "tls.ca_cert"),
        ({"client_cert": "-----BEGIN CERTIFICATE-----\ngarbage\n"}, "tls.client_cert"),
        ({"client_key": "-----BEGIN PRIVATE KEY-----\ngarbage\n"}, "tls.client_key"),
        ({"client_key": "other"}, "tls.client_key"),
    ],
)
def test_validate_spec_names_the_tls_field(material: Pki, change: dict[str, str],
                                           field: str) -> None:
    if change.get("client_key") == "other":
        change = {"client_key": material.other_client.key}
    tls = replace(tls_of(material), **change)
    with pytest.raises(InvalidInput) as info:
        validate_spec(HostSpec(slug="h", name="h", url="tcp://127.0.0.1:2376", tls=tls))
    assert info.value.field == field
    # Key material never appears in an error.
    assert "garbage" not in info.value.message
    assert material.other_client.key.splitlines()[1] not in info.value.message


def test_tls_needs_a_tcp_url(material: Pki) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_spec(HostSpec(slug="h", name="h", url="unix:///var/run/docker.sock",
                               tls=tls_of(material)))
    assert info.value.field == "tls"
    spec = HostSpec(slug="h", name="h", url="tcp://127.0.0.1:2376", tls=tls_of(material))
    assert validate_spec(spec) == spec


def test_key_and_certs_stay_out_of_reprs_and_state_json(material: Pki) -> None:
    tls = tls_of(material)
    spec = HostSpec(slug="h", name="h", url="tcp://127.0.0.1:2376", tls=tls)
    assert "PRIVATE" not in repr(spec) and "CERTIFICATE" not in repr(spec)
    state = HostState(slug="h", name="h", url=spec.url, status=HostStatus.ONLINE, tls=True)
    assert to_jsonable(state)["tls"] is True


def test_ssl_context_trusts_only_the_ca_and_leaves_no_files(material: Pki) -> None:
    shm = Path("/dev/shm")
    before = set(os.listdir(shm)) if shm.is_dir() else set()
    context = build_ssl_context("h", tls_of(material))
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("organizationName", "Chrontainer tests"),), (("commonName", "Chrontainer test CA"),))
    ]
    if shm.is_dir():
        assert not {n for n in set(os.listdir(shm)) - before if n.startswith("chrontainer-tls")}


def test_ssl_context_of_an_undecryptable_key(material: Pki) -> None:
    tls = replace(tls_of(material), client_key="", key_error="cannot decrypt the TLS key")
    with pytest.raises(SecretUnavailable, match="host h: cannot decrypt the TLS key"):
        build_ssl_context("h", tls)


def test_https_url() -> None:
    assert https_url("tcp://10.0.0.5:2376") == "https://10.0.0.5:2376"


def test_describe_tls_failures() -> None:
    verify = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local "
           "issuer certificate (_ssl.c:1006)"
    )
    verify.verify_message = "unable to get local issuer certificate"
    wrapper = ConnectionError("cannot connect")
    wrapper.__context__ = verify
    assert describe_tls_failure(wrapper) == (
        "TLS handshake failed: certificate verify failed: unable to get local issuer "
        "certificate (is the CA certificate the one that signed the engine's certificate?)"
    )
    refused = OSError(1, "[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate "
                         "(_ssl.c:2580)")
    assert describe_tls_failure(refused) == (
        "TLS handshake failed: the engine refused the client certificate "
        "(sslv3 alert bad certificate)"
    )
    plain = OSError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    assert "does the engine use TLS" in (describe_tls_failure(plain) or "")
    assert describe_tls_failure(ConnectionRefusedError(111, "Connection refused")) is None
    # TLS 1.3: a refused client certificate mostly shows up as a reset of the first request.
    reset = ConnectionError("cannot connect")
    reset.__context__ = ConnectionResetError(104, "Connection reset by peer")
    assert describe_tls_failure(reset) is None
    assert "client certificate" in (describe_tls_failure(reset, tls_host=True) or "")
