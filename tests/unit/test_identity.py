"""Unit tests: container keys (DESIGN §3a)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from chrontainer_core.identity import container_key, rekey
from chrontainer_core.models import Container, ContainerState


def make(name: str, **labels: str) -> Container:
    number = labels.get("com.docker.compose.container-number")
    return Container(
        host="h", id=name * 4, name=name, key=name, image="i", image_id="x", command="",
        created=datetime.now(UTC), state=ContainerState.RUNNING, labels=labels,
        compose_project=labels.get("com.docker.compose.project"),
        compose_service=labels.get("com.docker.compose.service"),
        compose_number=int(number) if number else None,
        compose_oneoff=labels.get("com.docker.compose.oneoff") == "True",
    )


def compose(name: str, n: int, oneoff: bool = False) -> Container:
    return make(name, **{"com.docker.compose.project": "p", "com.docker.compose.service": "s",
                         "com.docker.compose.container-number": str(n),
                         "com.docker.compose.oneoff": "True" if oneoff else "False"})


def test_label_wins() -> None:
    assert container_key(name="n", labels={"chrontainer.id": "mine"}, project="p", service="s",
                         number=1, oneoff=False, replicas=3) == "mine"


def test_single_replica_has_no_suffix_and_several_do() -> None:
    one = rekey([compose("p-s-1", 1)])
    assert [c.key for c in one] == ["p_s"]
    two = rekey([compose("p-s-1", 1), compose("p-s-2", 2)])
    assert sorted(c.key for c in two) == ["p_s_1", "p_s_2"]


def test_oneoff_is_excluded_and_keeps_its_name() -> None:
    out = rekey([compose("p-s-1", 1), compose("p_s_run_abc", 1, oneoff=True)])
    assert sorted(c.key for c in out) == ["p_s", "p_s_run_abc"]


def test_plain_container_uses_name_and_rekey_keeps_identity() -> None:
    c = make("plain")
    assert rekey([c])[0] is c
    assert rekey([replace(c, key="stale")])[0].key == "plain"
