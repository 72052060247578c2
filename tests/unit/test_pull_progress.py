"""Unit tests of the pure parts of image pulls: the progress aggregator on pull streams recorded
from Engine 20.10 (tests/data/pull_*.jsonl, pulled from a local docker-registry), the error
classifier on the engine's real failure messages, and the X-Registry-Auth header."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from chrontainer_core.errors import (
    ImageNotFound,
    RegistryAuthFailed,
    RegistryError,
    RegistryUnreachable,
)
from chrontainer_core.models import LayerProgress
from chrontainer_core.pulls import PullProgress, classify_pull_error
from chrontainer_core.registries.auth import RegistryCredentials
from chrontainer_core.registries.reference import ImageReference

DATA = Path(__file__).parent.parent / "data"


def recorded(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]


def feed_all(docs: list[dict[str, Any]]) -> tuple[PullProgress, list[float | None]]:
    progress = PullProgress()
    percents = []
    for doc in docs:
        progress.feed(doc)
        percents.append(progress.percent)
    return progress, percents


def test_new_image_stream_ends_complete_with_digest() -> None:
    progress, percents = feed_all(recorded("pull_new_image.jsonl"))
    assert progress.error is None
    assert progress.updated is True
    assert progress.digest == ("sha256:c9ca17d77949bc1abe8a20243af0f0657cdb071f7dd0edaa26fe30"
                               "6e96377265")
    # Three layers in the engine's order; the "Pulling from" line (id = the tag) is no layer.
    assert [layer.id for layer in progress.layers] == ["5bf7b38d76ad", "aabec6a54daa",
                                                       "92871c8a2bc9"]
    assert {layer.status for layer in progress.layers} == {"Pull complete"}
    assert progress.percent == 100.0
    assert progress.message == "Status: Downloaded newer image for 127.0.0.1:45731/h2/multi:v1"
    # No size is known before the first "Downloading" line; the first known layer finishing
    # does not read as 100 % (the others' sizes are estimated), and 100 comes only once every
    # layer is complete.
    assert percents[:4] == [None, None, None, None]
    assert percents[4] == round(100 * 36445 / 2000820 / 3, 1)
    assert percents[5] == 33.3  # one of three (estimated equal) layers downloaded
    first_100 = percents.index(100.0)
    assert first_100 == len(percents) - 3  # the last "Pull complete"
    assert all(p is not None and 0 < p < 100 for p in percents[4:first_100])


def test_percent_counts_bytes_of_layers_with_a_known_size() -> None:
    docs = recorded("pull_new_image.jsonl")
    progress = PullProgress()
    for doc in docs[:5]:  # up to the first "Downloading" line of layer 92871c8a2bc9
        progress.feed(doc)
    # Layers of unknown size are assumed to weigh the average of the known ones.
    assert progress.percent == round(100 * 36445 / (3 * 2000820), 1)
    layer = {lp.id: lp for lp in progress.layers}["92871c8a2bc9"]
    assert layer == LayerProgress(id="92871c8a2bc9", status="Downloading", current=36445,
                                  total=2000820)
    assert progress.message == "0 of 3 layers complete, 1 in progress"
    for doc in docs[5:8]:  # 92871c8a2bc9 downloaded; aabec6a54daa starts (32768 of 3001130)
        progress.feed(doc)
    average = (2000820 + 3001130) / 2
    assert progress.percent == round(100 * (2000820 + 32768) / (2000820 + 3001130 + average), 1)
    done = {lp.id: lp for lp in progress.layers}["92871c8a2bc9"]
    assert (done.status, done.current, done.total) == ("Download complete", 2000820, 2000820)


def test_layers_that_already_exist_count_as_finished() -> None:
    progress, _ = feed_all(recorded("pull_some_layers_exist.jsonl"))
    statuses = [layer.status for layer in progress.layers]
    assert statuses == ["Already exists"] * 3 + ["Pull complete"]
    assert progress.percent == 100.0
    assert progress.updated is True
    midway = PullProgress()
    for doc in recorded("pull_some_layers_exist.jsonl")[:5]:  # before the new layer finished
        midway.feed(doc)
    assert midway.message == "3 of 4 layers complete"
    # The new layer skipped "Downloading" (small, fast): no size is known yet.
    assert midway.percent is None


def test_up_to_date_stream_has_no_layers_and_is_not_an_update() -> None:
    progress, _ = feed_all(recorded("pull_up_to_date.jsonl"))
    assert progress.layers == ()
    assert progress.updated is False
    assert progress.digest is not None and progress.digest.startswith("sha256:")
    assert progress.message.startswith("Status: Image is up to date for ")


def test_error_line_midway_is_kept_with_its_message() -> None:
    progress, _ = feed_all(recorded("pull_stream_error.jsonl"))
    assert progress.error is not None
    assert progress.error.startswith("filesystem layer verification failed for digest sha256:")
    assert progress.message == progress.error
    assert progress.updated is None


def test_odd_documents_change_nothing_and_never_raise() -> None:
    progress = PullProgress()
    assert progress.feed({}) is False
    progress.feed({"status": "Downloading", "id": "abc",
                   "progressDetail": {"current": "x", "total": True}})
    assert progress.layers == (LayerProgress(id="abc", status="Downloading"),)
    assert progress.percent is None
    progress.feed({"error": "boom"})
    assert progress.error == "boom"


REF = ImageReference.parse("127.0.0.1:45731/h2/multi:nope")

# Messages Engine 20.10 returned for pulls from local docker-registry instances (and Docker
# Hub's well-known refusal), verbatim.
CASES = [
    ("manifest for 127.0.0.1:45731/h2/multi:nope not found: manifest unknown: manifest unknown",
     ImageNotFound),
    # A token registry's answer to an anonymous pull it denies (private, or no such
    # repository): without credentials on a private registry, credentials are the likely fix.
    ("pull access denied for 127.0.0.1:45731/h2/multi, repository does not exist or may "
     "require 'docker login': denied: requested access to the resource is denied",
     RegistryAuthFailed),
    ('Head "http://127.0.0.1:45732/v2/h2/multi/manifests/v1": no basic auth credentials',
     RegistryAuthFailed),
    ("unauthorized: authentication required", RegistryAuthFailed),
    ('Get "http://127.0.0.1:45799/v2/": dial tcp 127.0.0.1:45799: connect: connection refused',
     RegistryUnreachable),
    ('Get "https://nosuchhost.invalid/v2/": dial tcp: lookup nosuchhost.invalid on '
     "10.255.255.53:53: no such host", RegistryUnreachable),
    ('Get "https://registry.example/v2/": net/http: request canceled while waiting for '
     "connection (Client.Timeout exceeded while awaiting headers)", RegistryUnreachable),
    ('Get "https://10.0.0.1:5000/v2/": x509: certificate signed by unknown authority',
     RegistryUnreachable),
    ("filesystem layer verification failed for digest sha256:993ff9380bd6fd4861760a1621011fbd0"
     "133de1e9853074df9c06d242bc04d15", RegistryError),
]


@pytest.mark.parametrize(("reason", "kind"), CASES)
def test_classifier_on_real_engine_messages(reason: str, kind: type[RegistryError]) -> None:
    err = classify_pull_error(reason, REF, with_credentials=False)
    assert type(err) is kind
    # Every message names the image and the registry.
    assert "127.0.0.1:45731/h2/multi:nope" in err.message
    assert "registry 127.0.0.1:45731" in err.message
    assert err.details["registry"] == "127.0.0.1:45731"


def test_auth_failure_says_where_to_fix_the_credentials() -> None:
    missing = classify_pull_error("no basic auth credentials", REF, with_credentials=False)
    refused = classify_pull_error("unauthorized: authentication required", REF,
                                  with_credentials=True)
    assert "requires credentials: add them in Settings > Registries" in missing.message
    assert "refused the stored credentials: fix them in Settings > Registries" in refused.message


def test_classifier_cuts_a_huge_reason() -> None:
    err = classify_pull_error("x" * 10_000, REF, with_credentials=False)
    assert len(err.message) < 600


def test_denied_pull_from_docker_hub_is_a_missing_image() -> None:
    # Docker Hub answers a mistyped public name exactly like a private repository; the typo
    # is the likelier story, and the message mentions the other.
    reason = ("pull access denied for nosuchrepo, repository does not exist or may require "
              "'docker login': denied: requested access to the resource is denied")
    err = classify_pull_error(reason, ImageReference.parse("nosuchrepo"), with_credentials=False)
    assert type(err) is ImageNotFound
    assert "image nosuchrepo:latest not found on registry docker.io" in err.message
    assert "private" in err.message
    # With credentials sent, the registry knows who asks: the repository is not there for them.
    private = classify_pull_error(reason, REF, with_credentials=True)
    assert type(private) is ImageNotFound


def test_hub_image_is_named_in_its_familiar_form() -> None:
    err = classify_pull_error("manifest unknown", ImageReference.parse("nginx:9.9"),
                              with_credentials=False)
    assert "image nginx:9.9 not found on registry docker.io" in err.message


def decode(header: str) -> dict[str, str]:
    return dict(json.loads(base64.urlsafe_b64decode(header)))


def test_x_registry_auth_for_docker_hub_uses_the_legacy_index_address() -> None:
    header = RegistryCredentials(registry="docker.io", username="bob",
                                 password="p+/=?").x_registry_auth()
    assert decode(header) == {"username": "bob", "password": "p+/=?",
                              "serveraddress": "https://index.docker.io/v1/"}
    # base64url: nothing a header or the engine's URL-safe decoder would trip on.
    assert "+" not in header and "/" not in header


def test_x_registry_auth_for_a_local_registry_uses_host_and_port() -> None:
    creds = RegistryCredentials(registry="127.0.0.1:5001", username="alice", password="s3cret")
    assert decode(creds.x_registry_auth())["serveraddress"] == "127.0.0.1:5001"
    assert "s3cret" not in repr(creds)
