"""Pure rules of the registries core: references, X-Registry-Auth, challenges, Link paging,
registry URLs per kind."""

from __future__ import annotations

import base64
import json

import pytest

from chrontainer_core.errors import InvalidInput
from chrontainer_core.registries.auth import RegistryCredentials, server_address
from chrontainer_core.registries.client import next_last, parse_challenge
from chrontainer_core.registries.models import RegistryKind
from chrontainer_core.registries.reference import ImageReference, normalize_registry
from chrontainer_core.registries.service import check_name, resolve_url


@pytest.mark.parametrize("host", ["docker.io", "index.docker.io", "registry-1.docker.io",
                                  "https://registry-1.docker.io", "https://index.docker.io/v1/",
                                  "Docker.IO"])
def test_hub_aliases_are_one_registry(host):
    assert normalize_registry(host) == "docker.io"


@pytest.mark.parametrize(("text", "registry", "repository", "familiar"), [
    ("nginx", "docker.io", "library/nginx", "nginx:latest"),
    ("docker.io/nginx:1.27", "docker.io", "library/nginx", "nginx:1.27"),
    ("index.docker.io/library/nginx", "docker.io", "library/nginx", "nginx:latest"),
    ("registry-1.docker.io/user/app:2", "docker.io", "user/app", "user/app:2"),
    ("user/app", "docker.io", "user/app", "user/app:latest"),
    ("127.0.0.1:5001/team/app:v2", "127.0.0.1:5001", "team/app", "127.0.0.1:5001/team/app:v2"),
    ("ghcr.io/o/app", "ghcr.io", "o/app", "ghcr.io/o/app:latest"),
    ("localhost/app", "localhost", "app", "localhost/app:latest"),
])
def test_reference_parsing(text, registry, repository, familiar):
    ref = ImageReference.parse(text)
    assert (ref.registry, ref.repository, ref.familiar) == (registry, repository, familiar)


@pytest.mark.parametrize("text", ["", "UPPER/app", "app:", "a//b", " nginx", "app@sha256:12"])
def test_bad_references_are_refused(text):
    with pytest.raises(InvalidInput):
        ImageReference.parse(text)


def _decode(header: str) -> dict[str, str]:
    return json.loads(base64.urlsafe_b64decode(header))


def test_x_registry_auth_for_the_hub_uses_the_legacy_server_address():
    creds = RegistryCredentials(registry="docker.io", username="alice", password="s3cr:t")
    assert _decode(creds.x_registry_auth()) == {
        "username": "alice", "password": "s3cr:t",
        "serveraddress": "https://index.docker.io/v1/"}
    assert server_address("docker.io") == "https://index.docker.io/v1/"
    # A Hub name without a namespace lives on docker.io: the same credentials apply.
    assert ImageReference.parse("nginx").registry == creds.registry


def test_x_registry_auth_for_another_registry_uses_its_host():
    creds = RegistryCredentials(registry="127.0.0.1:5001", username="bob", password="p")
    assert _decode(creds.x_registry_auth())["serveraddress"] == "127.0.0.1:5001"
    assert "password" not in repr(creds)  # a repr in a log line must not carry the secret


def test_bearer_challenge_with_a_comma_inside_the_scope():
    c = parse_challenge('Bearer realm="https://auth.docker.io/token",'
                        'service="registry.docker.io",'
                        'scope="repository:library/nginx:pull,push"')
    assert c is not None
    assert c.scheme == "bearer"
    assert c.realm == "https://auth.docker.io/token"
    assert c.service == "registry.docker.io"
    assert c.scope == "repository:library/nginx:pull,push"


def test_basic_challenge_and_unquoted_or_escaped_values():
    c = parse_challenge('Basic realm="Registry \\"Realm\\""')
    assert c is not None and c.scheme == "basic" and c.realm == 'Registry "Realm"'
    c = parse_challenge("Bearer realm=http://127.0.0.1:1/token, service=svc")
    assert c is not None and (c.realm, c.service, c.scope) == (
        "http://127.0.0.1:1/token", "svc", None)


@pytest.mark.parametrize("header", ["", "   ", "=x"])
def test_unparsable_challenges(header):
    assert parse_challenge(header) is None


def test_link_header_paging():
    assert next_last('</v2/_catalog?last=team%2Fb&n=2>; rel="next"') == "team/b"
    assert next_last('<https://r.example/v2/_catalog?n=100&last=x>; rel=next') == "x"
    assert next_last('</v2/_catalog?last=a>; rel="prev", </v2/_catalog?last=z&n=1>; '
                     'rel="next"') == "z"
    assert next_last('</v2/_catalog?last=a>; rel="prev"') is None
    assert next_last(None) is None
    assert next_last("") is None


@pytest.mark.parametrize(("kind", "url", "api", "registry"), [
    (RegistryKind.DOCKERHUB, None, "https://registry-1.docker.io", "docker.io"),
    (RegistryKind.DOCKERHUB, "index.docker.io", "https://registry-1.docker.io", "docker.io"),
    (RegistryKind.GHCR, None, "https://ghcr.io", "ghcr.io"),
    (RegistryKind.QUAY, "https://quay.io/", "https://quay.io", "quay.io"),
    (RegistryKind.GENERIC, "http://127.0.0.1:5001", "http://127.0.0.1:5001", "127.0.0.1:5001"),
    (RegistryKind.HARBOR, "https://Harbor.Example.com/", "https://harbor.example.com",
     "harbor.example.com"),
    (RegistryKind.GENERIC, "https://registry-1.docker.io", "https://registry-1.docker.io",
     "docker.io"),
])
def test_registry_urls_per_kind(kind, url, api, registry):
    assert resolve_url(kind, url) == (api, registry)


@pytest.mark.parametrize(("kind", "url"), [
    (RegistryKind.GENERIC, None),
    (RegistryKind.GENERIC, ""),
    (RegistryKind.HARBOR, "ftp://x.example"),
    (RegistryKind.GENERIC, "127.0.0.1:5001"),
    (RegistryKind.GENERIC, "http://127.0.0.1:5001/v2/"),
    (RegistryKind.GENERIC, "http://user:pw@127.0.0.1:5001"),
    (RegistryKind.GENERIC, "http://127.0.0.1:notaport"),
    (RegistryKind.GENERIC, "http://" + "a" * 300 + ".example"),
    (RegistryKind.GHCR, "https://quay.io"),
])
def test_bad_registry_urls(kind, url):
    with pytest.raises(InvalidInput) as info:
        resolve_url(kind, url)
    assert info.value.details["field"] == "url"


def test_registry_names():
    assert check_name("  Hub  ") == "Hub"
    for bad in ("", "   ", "x" * 101):
        with pytest.raises(InvalidInput):
            check_name(bad)
