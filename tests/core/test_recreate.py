"""The pure recreate planner: each rule on small hand-made inspect documents, then a document
recorded from a real engine (tests/data/recreate_*.json: a container of an image with ENV, LABEL,
CMD, EXPOSE, WORKDIR, VOLUME and HEALTHCHECK, run with user env/labels, a bind, a named and an
anonymous volume, a static IP and an alias on two user networks)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from chrontainer_core.errors import InvalidInput
from chrontainer_core.updates.recreate import (
    anonymous_volume_mounts,
    bind_destination,
    endpoint_config,
    entrypoint_and_cmd,
    plan_networks,
    plan_recreate,
    user_config,
)

DATA = Path(__file__).parent.parent / "data"
CID = "0123456789ab" + "cd" * 26  # 64 hex characters
SHORT = CID[:12]


def container(config: dict[str, Any] | None = None, host_config: dict[str, Any] | None = None,
              **extra: Any) -> dict[str, Any]:
    return {"Id": CID, "Config": {"Image": "app:latest", **(config or {})},
            "HostConfig": host_config if host_config is not None else {"NetworkMode": "none"},
            **extra}


def image(**config: Any) -> dict[str, Any]:
    return {"Id": "sha256:" + "e" * 64, "Config": config}


def body_of(config: dict[str, Any], image_config: dict[str, Any]) -> dict[str, Any]:
    return plan_recreate(container(config), image(**image_config)).body


# -- Config: env, labels, keys ------------------------------------------------------------------


def test_env_drops_image_entries_and_keeps_user_ones_in_order() -> None:
    body = body_of({"Env": ["B=3", "PATH=/bin", "C=4", "A=1"]},
                   {"Env": ["PATH=/bin", "A=1", "B=2"]})
    # B=3 overrides the image's B=2: kept; A=1 and PATH are the image's: dropped.
    assert body["Env"] == ["B=3", "C=4"]


def test_env_equal_to_the_image_is_dropped_whole() -> None:
    assert "Env" not in body_of({"Env": ["PATH=/bin"]}, {"Env": ["PATH=/bin"]})
    # An image without env keeps every entry.
    assert body_of({"Env": ["X=1"]}, {"Env": None})["Env"] == ["X=1"]


def test_labels_are_compared_per_key() -> None:
    body = body_of({"Labels": {"x": "1", "y": "2", "z": "changed"}},
                   {"Labels": {"x": "1", "z": "image"}})
    assert body["Labels"] == {"y": "2", "z": "changed"}
    assert "Labels" not in body_of({"Labels": {"x": "1"}}, {"Labels": {"x": "1"}})


def test_exposed_ports_and_volumes_drop_the_keys_the_image_declares() -> None:
    body = body_of({"ExposedPorts": {"80/tcp": {}, "9000/tcp": {}},
                    "Volumes": {"/data": {}, "/anon": {}}},
                   {"ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}}})
    assert body["ExposedPorts"] == {"9000/tcp": {}}
    assert body["Volumes"] == {"/anon": {}}
    body = body_of({"ExposedPorts": {"80/tcp": {}}}, {"ExposedPorts": {"80/tcp": {}}})
    assert "ExposedPorts" not in body


def test_scalar_defaults_dropped_when_equal_kept_when_set() -> None:
    image_config = {"WorkingDir": "/app", "User": "app", "StopSignal": "SIGQUIT"}
    assert not {"WorkingDir", "User", "StopSignal"} & set(
        body_of(dict(image_config), image_config))
    body = body_of({"WorkingDir": "/srv", "User": "root", "StopSignal": "SIGINT"}, image_config)
    assert (body["WorkingDir"], body["User"], body["StopSignal"]) == ("/srv", "root", "SIGINT")


def test_null_missing_and_empty_are_the_same_unset() -> None:
    # The engine shows "" / [] / {} where the image has null (or no key at all).
    body = body_of({"WorkingDir": "", "User": "", "Env": [], "Labels": {}, "Cmd": None,
                    "Entrypoint": [], "OnBuild": None},
                   {"WorkingDir": None, "Env": None, "Cmd": []})
    assert not {"WorkingDir", "User", "Env", "Labels", "Cmd", "Entrypoint", "OnBuild"} & set(body)
    # An image document without Config at all (docker import without changes).
    plan = plan_recreate(container({"Env": ["A=1"]}), {"Id": "sha256:x", "Config": None})
    assert plan.body["Env"] == ["A=1"]


def test_healthcheck_equal_dropped_changed_fields_kept() -> None:
    check = {"Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000}
    assert "Healthcheck" not in body_of({"Healthcheck": dict(check)}, {"Healthcheck": check})
    # --no-healthcheck: a different test, kept.
    body = body_of({"Healthcheck": {"Test": ["NONE"]}}, {"Healthcheck": check})
    assert body["Healthcheck"] == {"Test": ["NONE"]}
    # Only the interval set by the user: the engine merges per field, so the new image's test
    # applies and the user's interval stays.
    body = body_of({"Healthcheck": {**check, "Interval": 5_000_000_000}}, {"Healthcheck": check})
    assert body["Healthcheck"] == {"Interval": 5_000_000_000}
    # No healthcheck in the image: the user's whole.
    assert body_of({"Healthcheck": check}, {})["Healthcheck"] == check


# -- Config: Cmd and Entrypoint ----------------------------------------------------------------


def test_cmd_equal_to_the_image_is_dropped_different_kept() -> None:
    assert "Cmd" not in body_of({"Cmd": ["sleep", "1"], "ArgsEscaped": True},
                                {"Cmd": ["sleep", "1"]})
    body = body_of({"Cmd": ["sleep", "2"], "ArgsEscaped": True}, {"Cmd": ["sleep", "1"]})
    assert body["Cmd"] == ["sleep", "2"] and body["ArgsEscaped"] is True


def test_args_escaped_goes_with_a_dropped_cmd() -> None:
    body = body_of({"Cmd": ["sleep", "1"], "ArgsEscaped": True}, {"Cmd": ["sleep", "1"]})
    assert "ArgsEscaped" not in body


def test_overridden_entrypoint_keeps_the_cmd_even_when_equal_to_the_image() -> None:
    # Sent alone, an Entrypoint runs without the image's Cmd: dropping Cmd would change what
    # runs.
    body = body_of({"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["run"]},
                   {"Entrypoint": ["/entry"], "Cmd": ["run"]})
    assert body["Entrypoint"] == ["/bin/sh", "-c"] and body["Cmd"] == ["run"]


def test_image_entrypoint_is_dropped_and_user_cmd_kept() -> None:
    body = body_of({"Entrypoint": ["/entry"], "Cmd": ["other"]},
                   {"Entrypoint": ["/entry"], "Cmd": ["run"]})
    assert "Entrypoint" not in body and body["Cmd"] == ["other"]
    body = body_of({"Entrypoint": ["/entry"], "Cmd": ["run"]},
                   {"Entrypoint": ["/entry"], "Cmd": ["run"]})
    assert "Entrypoint" not in body and "Cmd" not in body


def test_entrypoint_that_suppressed_the_image_cmd_is_kept() -> None:
    # `--entrypoint /entry` alone ran /entry without the image's Cmd; without the Entrypoint
    # in the body the new image's Cmd would be appended.
    assert entrypoint_and_cmd({"Entrypoint": ["/entry"], "Cmd": None},
                              {"Entrypoint": ["/entry"], "Cmd": ["run"]}) == (["/entry"], None)
    # `--entrypoint ""`: the engine keeps [""]; kept, with the user's Cmd.
    assert entrypoint_and_cmd({"Entrypoint": [""], "Cmd": ["sh"]},
                              {"Entrypoint": ["/entry"], "Cmd": ["sh"]}) == ([""], ["sh"])


# -- Config: hostname and the rest ---------------------------------------------------------------


def test_default_hostname_dropped_user_hostname_kept() -> None:
    assert "Hostname" not in body_of({"Hostname": SHORT, "Domainname": ""}, {})
    body = body_of({"Hostname": "web", "Domainname": "lan"}, {})
    assert (body["Hostname"], body["Domainname"]) == ("web", "lan")
    assert "Domainname" not in body_of({"Hostname": "web", "Domainname": ""}, {})


def test_container_network_mode_drops_the_joined_hostname() -> None:
    # The engine copies the joined container's hostname and refuses one with this mode.
    doc = container({"Hostname": "other", "Domainname": "lan"},
                    {"NetworkMode": "container:abc"})
    assert not {"Hostname", "Domainname"} & set(plan_recreate(doc, image()).body)


def test_other_user_settings_and_unknown_fields_are_kept_nulls_dropped() -> None:
    config = {"Tty": True, "OpenStdin": True, "StdinOnce": False, "AttachStdin": False,
              "MacAddress": "02:42:ac:11:00:02", "StopTimeout": 3, "Shell": ["/bin/ash", "-c"],
              "NetworkDisabled": True, "SomeFutureField": {"a": 1}, "OnBuild": None}
    body = body_of(config, {})
    assert {k: body[k] for k in config if k != "OnBuild"} == {
        k: v for k, v in config.items() if k != "OnBuild"}
    assert "OnBuild" not in body
    assert body["Image"] == "app:latest"


def test_user_config_does_not_touch_its_inputs() -> None:
    config = {"Env": ["A=1", "B=2"], "Labels": {"x": "1"}, "Hostname": SHORT}
    defaults = {"Env": ["A=1"], "Labels": {"x": "1"}}
    before = copy.deepcopy((config, defaults))
    user_config(config, defaults, container_id=CID)
    assert (config, defaults) == before


# -- networks -----------------------------------------------------------------------------------


def endpoint(aliases: list[str] | None, ip: str | None = None, **more: Any) -> dict[str, Any]:
    return {"IPAMConfig": {"IPv4Address": ip} if ip else None, "Links": None,
            "Aliases": aliases, "NetworkID": "f" * 64, "EndpointID": "9" * 64,
            "Gateway": "172.31.0.1", "IPAddress": ip or "172.31.0.7", "IPPrefixLen": 24,
            "MacAddress": "02:42:ac:1f:00:07", "DriverOpts": None, **more}


def test_endpoint_keeps_ipam_user_aliases_links_and_options_only() -> None:
    ep = endpoint(["web", SHORT, CID], "172.31.0.10", Links=["db:database"],
                  DriverOpts={"com.example": "1"})
    assert endpoint_config(ep, CID) == {
        "IPAMConfig": {"IPv4Address": "172.31.0.10"}, "Aliases": ["web"],
        "Links": ["db:database"], "DriverOpts": {"com.example": "1"}}
    # Only the engine's own alias, no static IP: an empty endpoint.
    assert endpoint_config(endpoint([SHORT]), CID) == {}


def test_primary_network_at_create_others_connected_in_name_order() -> None:
    doc = container(host_config={"NetworkMode": "front"}, NetworkSettings={"Networks": {
        "zeta": endpoint(["z", SHORT]), "front": endpoint(["web", SHORT], "172.31.0.10"),
        "alpha": endpoint(None, "172.30.0.5")}})
    plan = plan_recreate(doc, image())
    assert plan.body["NetworkingConfig"] == {"EndpointsConfig": {"front": {
        "IPAMConfig": {"IPv4Address": "172.31.0.10"}, "Aliases": ["web"]}}}
    assert plan.networks == (("alpha", {"IPAMConfig": {"IPv4Address": "172.30.0.5"}}),
                             ("zeta", {"Aliases": ["z"]}))


def test_default_network_mode_means_bridge() -> None:
    doc = container(host_config={"NetworkMode": "default"},
                    NetworkSettings={"Networks": {"bridge": endpoint(None),
                                                  "extra": endpoint(["e", SHORT])}})
    primary, extra = plan_networks(doc, "default")
    assert primary == ("bridge", {}) and extra == (("extra", {"Aliases": ["e"]}),)


def test_network_mode_given_as_a_network_id() -> None:
    doc = container(NetworkSettings={"Networks": {"named": endpoint(["a"])}})
    primary, extra = plan_networks(doc, "f" * 12)
    assert primary == ("named", {"Aliases": ["a"]}) and extra == ()


@pytest.mark.parametrize("mode", ["host", "none", "container:abc"])
def test_modes_without_endpoints_have_no_networks(mode: str) -> None:
    doc = container(host_config={"NetworkMode": mode},
                    NetworkSettings={"Networks": {mode.split(":")[0]: endpoint(None)}})
    plan = plan_recreate(doc, image())
    assert "NetworkingConfig" not in plan.body and plan.networks == ()


def test_missing_network_settings_are_fine() -> None:
    doc = container(host_config={"NetworkMode": "front"}, NetworkSettings=None)
    plan = plan_recreate(doc, image())
    assert "NetworkingConfig" not in plan.body and plan.networks == ()


# -- volumes and HostConfig ---------------------------------------------------------------------


def volume(name: str, destination: str, rw: bool = True) -> dict[str, Any]:
    return {"Type": "volume", "Name": name, "Source": f"/var/lib/docker/volumes/{name}/_data",
            "Destination": destination, "Driver": "local", "Mode": "", "RW": rw}


def test_bind_destination() -> None:
    assert bind_destination("/host:/data") == "/data"
    assert bind_destination("named:/data:ro,z") == "/data"
    assert bind_destination("/only") == "/only"


def test_anonymous_volumes_vs_binds_named_volumes_and_mounts() -> None:
    mounts = [
        {"Type": "bind", "Source": "/host", "Destination": "/bind", "RW": True},
        volume("named", "/named"),            # -v named:/named (in Binds)
        volume("mounted", "/mounted"),        # --mount (in HostConfig.Mounts)
        volume("b" * 64, "/image-vol", rw=False),
        volume("a" * 64, "/anon"),            # -v /anon
        {"Type": "tmpfs", "Destination": "/tmp"},
    ]
    host_config = {"Binds": ["/host:/bind", "named:/named:z"],
                   "Mounts": [{"Type": "volume", "Source": "mounted", "Target": "/mounted"}]}
    # Sorted by target: the engine lists Mounts in no stable order.
    assert anonymous_volume_mounts(mounts, host_config) == [
        {"Type": "volume", "Source": "a" * 64, "Target": "/anon", "ReadOnly": False},
        {"Type": "volume", "Source": "b" * 64, "Target": "/image-vol", "ReadOnly": True}]
    assert anonymous_volume_mounts(None, host_config) == []


def test_host_config_is_copied_unchanged_without_anonymous_volumes() -> None:
    host_config = {"NetworkMode": "none", "Binds": ["v:/v"], "Memory": 64 << 20,
                   "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
                   "Mounts": None, "Dns": []}
    doc = container(host_config=host_config, Mounts=[volume("v", "/v")])
    plan = plan_recreate(doc, image())
    assert plan.body["HostConfig"] == host_config
    assert json.dumps(plan.body["HostConfig"]) == json.dumps(host_config)  # same key order too
    plan.body["HostConfig"]["RestartPolicy"]["Name"] = "no"
    assert host_config["RestartPolicy"]["Name"] == "always"  # a deep copy


def test_anonymous_volume_is_the_only_host_config_change() -> None:
    existing = {"Type": "bind", "Source": "/h", "Target": "/h"}
    host_config = {"NetworkMode": "none", "Mounts": [existing], "Memory": 1}
    doc = container(host_config=host_config, Mounts=[volume("a" * 64, "/anon")])
    new = plan_recreate(doc, image()).body["HostConfig"]
    assert new["Mounts"] == [existing, {"Type": "volume", "Source": "a" * 64,
                                        "Target": "/anon", "ReadOnly": False}]
    assert {k: v for k, v in new.items() if k != "Mounts"} == {"NetworkMode": "none",
                                                                "Memory": 1}
    assert host_config["Mounts"] == [existing]


@pytest.mark.parametrize("missing", ["Id", "Config", "HostConfig"])
def test_a_document_that_is_no_container_is_refused(missing: str) -> None:
    doc = container()
    del doc[missing]
    with pytest.raises(InvalidInput):
        plan_recreate(doc, image())


# -- a recorded real document -------------------------------------------------------------------


def test_recorded_engine_document() -> None:
    doc = json.loads((DATA / "recreate_container.json").read_text())
    img = json.loads((DATA / "recreate_image.json").read_text())
    before = copy.deepcopy(doc)
    plan = plan_recreate(doc, img)
    body = plan.body
    assert doc == before
    assert body["Image"] == doc["Config"]["Image"]
    # User env stays, the image's A=1 and PATH go: the new image's defaults apply.
    assert body["Env"] == ["B=3", "C=4"]
    assert body["Labels"] == {"y": "2"}
    assert not {"Cmd", "WorkingDir", "ExposedPorts", "Healthcheck", "Hostname", "Domainname",
                "Entrypoint", "OnBuild", "User"} & set(body)
    assert body["Volumes"] == {"/anon": {}}  # the image declares only /imgvol
    assert body["StopTimeout"] == 1

    anon = {m["Destination"]: m["Name"] for m in doc["Mounts"]
            if m["Type"] == "volume" and m["Destination"] in ("/anon", "/imgvol")}
    host_config = dict(body["HostConfig"])
    assert host_config.pop("Mounts") == [
        {"Type": "volume", "Source": anon["/anon"], "Target": "/anon", "ReadOnly": False},
        {"Type": "volume", "Source": anon["/imgvol"], "Target": "/imgvol", "ReadOnly": False}]
    assert host_config == {k: v for k, v in doc["HostConfig"].items() if k != "Mounts"}

    assert body["NetworkingConfig"] == {"EndpointsConfig": {"rec-net1": {
        "IPAMConfig": {"IPv4Address": "172.31.201.10"}, "Aliases": ["web-a"]}}}
    assert plan.networks == (("rec-net2", {"IPAMConfig": {"IPv4Address": "172.31.202.10"},
                                           "DriverOpts": {}, "Aliases": ["web-b"]}),)
