"""Schedules over HTTP, against the real engines: create/read/filter/edit/delete, run now acting
on real containers, run history and the audit trail, the preview, bad input, roles and API-key
scopes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.auth.apikeys import KeyScope
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.service import AUTH

from ..http import core_of, error_of, ok
from ..live import Engine, docker, run_container, unique, wait_for

pytestmark = pytest.mark.live

V1 = "/api/v1"
MONDAY_3AM = "0 3 * * 1"
SLEEPER = "trap 'exit 0' TERM; while true; do sleep 1; done"
# Seconds a "run now" may take before answering 202 instead of 200: the most the API allows.
WAIT = "30"





async def key_for(api: TestClient, role: Role, scope: KeyScope | None = None) -> dict[str, str]:
    """Headers of an API key of a new account with ``role`` (and the key's ``scope``)."""
    auth = api.app[AUTH]
    user = await auth.users.create(unique(role.value), "a-long-test-password", role)
    secret, _ = await auth.apikeys.create(user.id, name="tests", role_ceiling=role, scope=scope)
    return {"Authorization": f"Bearer {secret}"}


async def container(api: TestClient, engine: Engine) -> str:
    """A running test container on ``engine``, in the cache; returns its name (= its key).

    It ends on SIGTERM (a bare ``sleep`` as PID 1 ignores it, making every stop wait for the
    engine's kill timeout).
    """
    _, name = await run_container(engine, "sh", "-c", SLEEPER, name=unique("sched"))
    await wait_for(lambda: any(c.name == name
                               for c in core_of(api).hosts.get(engine.slug).containers()),
                   what=f"{engine.slug}/{name} in the cache")
    return name


def body_for(host: str, key: str, **changes: Any) -> dict[str, Any]:
    """A valid create body: restart a container every Monday at 03:00 in Berlin."""
    body: dict[str, Any] = {
        "name": f"nightly {key}",
        "target": {"kind": "container", "host": host, "key": key},
        "action": "restart",
        "trigger": {"kind": "cron", "cron": MONDAY_3AM, "timezone": "Europe/Berlin"},
    }
    body.update(changes)
    return body


async def create(api: TestClient, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return await ok(await api.post(f"{V1}/schedules", json=body, **kwargs), 201)  # type: ignore[no-any-return]


async def schedules(api: TestClient, **params: str) -> dict[str, Any]:
    return await ok(await api.get(f"{V1}/schedules", params=params))  # type: ignore[no-any-return]


async def started_at(engine: Engine, name: str) -> str:
    return await docker(engine, "inspect", "-f", "{{.State.StartedAt}}", name)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_create_read_filter_edit_delete(api: TestClient, local_engine: Engine,
                                              remote_engine: Engine) -> None:
    name = await container(api, local_engine)
    created = await create(api, body_for("local", name))
    assert created["name"] == f"nightly {name}"
    assert created["target"] == {"kind": "container", "host": "local", "key": name,
                                 "label": None, "image": None}
    assert created["trigger"] == {"kind": "cron", "cron": MONDAY_3AM, "at": None,
                                  "timezone": "Europe/Berlin"}
    assert created["description"] == "At 03:00 on Monday"
    assert created["enabled"] is True and created["last_run"] is None
    # The contract's defaults.
    assert (created["misfire"], created["grace_seconds"], created["timeout_seconds"],
            created["retries"], created["retry_backoff_seconds"],
            created["jitter_seconds"]) == ("skip", 600, 300, 0, 30, 0)
    due = instant(created["next_run_at"]).astimezone(ZoneInfo("Europe/Berlin"))
    assert due > datetime.now(UTC) and (due.weekday(), due.hour, due.minute) == (0, 3, 0)

    # A trigger without a zone gets the default_timezone setting; policies are kept as given.
    host_schedule = await create(api, {
        "name": "prune remote", "target": {"kind": "host", "host": "remote"},
        "action": "prune_images", "enabled": False,
        "trigger": {"kind": "cron", "cron": "*/15 * * * *"},
        "misfire": "run_once", "grace_seconds": 60, "timeout_seconds": 30, "retries": 2,
        "retry_backoff_seconds": 5, "jitter_seconds": 10,
    })
    assert host_schedule["trigger"]["timezone"] == core_of(api).schedules.default_timezone
    assert host_schedule["next_run_at"] is None and host_schedule["enabled"] is False
    assert host_schedule["description"] == "Every 15 minutes"
    assert (host_schedule["misfire"], host_schedule["grace_seconds"],
            host_schedule["timeout_seconds"], host_schedule["retries"],
            host_schedule["retry_backoff_seconds"], host_schedule["jitter_seconds"]) == (
        "run_once", 60, 30, 2, 5, 10)

    # Read and filter.
    listed = await schedules(api)
    assert listed["total"] == 2
    assert [s["id"] for s in listed["items"]] == [created["id"], host_schedule["id"]]
    assert listed["items"][0] == created
    assert [s["id"] for s in (await schedules(api, host="local"))["items"]] == [created["id"]]
    assert [s["id"] for s in (await schedules(api, host="remote"))["items"]] == [
        host_schedule["id"]]
    assert [s["id"] for s in (await schedules(api, key=name))["items"]] == [created["id"]]
    assert await schedules(api, key="no-such-key") == {"items": [], "total": 0}
    one = f"{V1}/schedules/{created['id']}"
    assert await ok(await api.get(one)) == created

    # Rename: only the name changes.
    renamed = await ok(await api.patch(one, json={"name": "  weekly restart "}))
    assert renamed == {**created, "name": "weekly restart"}
    # A new expression: a new due time and description; the zone stays Berlin.
    recron = await ok(await api.patch(one, json={"trigger": {"kind": "cron",
                                                             "cron": "30 4 * * *"}}))
    assert recron["trigger"]["timezone"] == "Europe/Berlin"
    assert recron["description"] == "At 04:30 every day"
    due = instant(recron["next_run_at"]).astimezone(ZoneInfo("Europe/Berlin"))
    assert recron["next_run_at"] != created["next_run_at"] and (due.hour, due.minute) == (4, 30)
    # Disable, enable.
    disabled = await ok(await api.patch(one, json={"enabled": False}))
    assert disabled["enabled"] is False and disabled["next_run_at"] is None
    enabled = await ok(await api.patch(one, json={"enabled": True}))
    assert enabled["enabled"] is True and enabled["next_run_at"] is not None
    # Several fields at once, the target among them.
    moved = await ok(await api.patch(one, json={
        "target": {"kind": "label", "host": "local", "label": "app=web"}, "action": "stop",
        "timeout_seconds": 60, "enabled": False}))
    assert moved["target"] == {"kind": "label", "host": "local", "key": None, "label": "app=web",
                               "image": None}
    assert (moved["action"], moved["timeout_seconds"], moved["enabled"],
            moved["next_run_at"]) == ("stop", 60, False, None)
    assert await ok(await api.get(one)) == moved

    # Every change is in the audit trail.
    audit = await ok(await api.get(f"{V1}/audit", params={"target": f"schedule/{created['id']}"}))
    assert [e["action"] for e in reversed(audit["items"])] == [
        "schedule.create", "schedule.update", "schedule.update", "schedule.disable",
        "schedule.enable", "schedule.update"]

    await ok(await api.delete(one), 204)
    assert (await error_of(await api.get(one), 404))["code"] == "not_found"
    await error_of(await api.get(f"{one}/runs"), 404)
    assert [s["id"] for s in (await schedules(api))["items"]] == [host_schedule["id"]]


async def test_run_now_acts_on_real_containers(api: TestClient, local_engine: Engine,
                                               remote_engine: Engine) -> None:
    name = await container(api, local_engine)
    before = await started_at(local_engine, name)
    # Disabled: "run now" runs it anyway.
    restart = await create(api, body_for("local", name, enabled=False))
    resp = await api.post(f"{V1}/schedules/{restart['id']}/run", params={"wait": WAIT})
    run = await ok(resp, 200)
    assert (run["schedule_id"], run["webhook_id"], run["trigger"], run["result"],
            run["error"], run["attempt"]) == (restart["id"], None, "run_now", "ok", None, 1)
    assert run["action"] == "restart" and run["target"] == f"container {name} on local"
    assert run["detail"] == f"restarted {name}"
    assert run["finished_at"] is not None
    assert await started_at(local_engine, name) != before
    assert (await docker(local_engine, "inspect", "-f", "{{.State.Running}}", name)) == "true"

    history = await ok(await api.get(f"{V1}/schedules/{restart['id']}/runs"))
    assert history == {"items": [run], "total": 1}
    assert await ok(await api.get(f"{V1}/runs/{run['id']}")) == run
    assert (await ok(await api.get(f"{V1}/schedules/{restart['id']}")))["last_run"] == run
    # The run acted as the schedule; who pressed "run now" is audited too.
    audit = await ok(await api.get(f"{V1}/audit", params={"actor_kind": "schedule"}))
    [entry] = [e for e in audit["items"] if e["action"] == "container.restart"]
    assert entry["actor"]["id"] == str(restart["id"])
    assert entry["actor"]["name"] == restart["name"] and entry["result"] == "ok"
    pressed = await ok(await api.get(f"{V1}/audit", params={"action": "schedule.run_now"}))
    assert [e["target"] for e in pressed["items"]] == [f"schedule/{restart['id']}"]

    # Without wait: 202 with the running run, which then ends; the remote container stops.
    remote = await container(api, remote_engine)
    stop = await create(api, body_for("remote", remote, action="stop", enabled=False))
    running = await ok(await api.post(f"{V1}/schedules/{stop['id']}/run"), 202)
    assert running["result"] == "running" and running["finished_at"] is None

    async def stopped() -> bool:
        got = await ok(await api.get(f"{V1}/runs/{running['id']}"))
        return bool(got["result"] == "ok")

    await wait_for(stopped, timeout=30, what="the stop run to finish")
    assert (await docker(remote_engine, "inspect", "-f", "{{.State.Running}}", remote)) == "false"

    # History pages, newest first.
    second = await ok(await api.post(f"{V1}/schedules/{restart['id']}/run",
                                     params={"wait": WAIT}))
    page = await ok(await api.get(f"{V1}/schedules/{restart['id']}/runs",
                                  params={"limit": "1", "offset": "1"}))
    assert page == {"items": [run], "total": 2}
    first = await ok(await api.get(f"{V1}/schedules/{restart['id']}/runs",
                                   params={"limit": "1"}))
    assert first["items"] == [second]
    for params in ({"limit": "0"}, {"limit": "201"}, {"offset": "-1"}):
        err = await error_of(await api.get(f"{V1}/schedules/{restart['id']}/runs",
                                           params=params), 400)
        assert err["details"]["field"] in params


async def test_run_now_of_a_vanished_container_records_the_error(
        api: TestClient, local_engine: Engine) -> None:
    name = await container(api, local_engine)
    sched = await create(api, body_for("local", name, enabled=False))
    await docker(local_engine, "rm", "-f", name)
    await wait_for(lambda: all(c.name != name
                               for c in core_of(api).hosts.get("local").containers()),
                   what="the removed container to leave the cache")
    run = await ok(await api.post(f"{V1}/schedules/{sched['id']}/run", params={"wait": WAIT}))
    assert run["result"] == "error" and run["finished_at"] is not None
    assert run["error"] == f"no container with key '{name}' on host 'local'"
    assert run["detail"] is None
    last = (await ok(await api.get(f"{V1}/schedules/{sched['id']}")))["last_run"]
    assert last == run


async def test_preview(api: TestClient) -> None:
    async def preview(body: dict[str, Any]) -> Any:
        return await api.post(f"{V1}/schedules/preview", json=body)

    got = await ok(await preview({"trigger": {"kind": "cron", "cron": MONDAY_3AM,
                                              "timezone": "Europe/Berlin"}}))
    assert got["description"] == "At 03:00 on Monday" and got["timezone"] == "Europe/Berlin"
    runs = [instant(t) for t in got["next_runs"]]
    assert len(runs) == 5 and runs == sorted(runs) and runs[0] > datetime.now(UTC)
    berlin = [t.astimezone(ZoneInfo("Europe/Berlin")) for t in runs]
    assert all((t.weekday(), t.hour, t.minute) == (0, 3, 0) for t in berlin)
    # Consecutive Mondays (wall-clock arithmetic: same zone object on both sides).
    assert all(b - a == timedelta(weeks=1) for a, b in pairwise(berlin))
    assert all(t.endswith("Z") for t in got["next_runs"])

    three = await ok(await preview({"trigger": {"kind": "cron", "cron": "@hourly"},
                                    "count": 3}))
    assert len(three["next_runs"]) == 3
    assert three["timezone"] == core_of(api).schedules.default_timezone

    soon = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    once = await ok(await preview({"trigger": {"kind": "once", "at": soon.isoformat(),
                                               "timezone": "UTC"}}))
    assert [instant(t) for t in once["next_runs"]] == [soon]
    assert once["description"].startswith("Once, on ")
    past = await ok(await preview({"trigger": {"kind": "once", "at": "2001-02-03T04:05:06Z"}}))
    assert past["next_runs"] == []

    for body, field in (
        ({"trigger": {"kind": "cron", "cron": "61 * * * *"}}, "trigger.cron"),
        ({"trigger": {"kind": "cron", "cron": "* * *"}}, "trigger.cron"),
        ({"trigger": {"kind": "cron", "cron": "0 3 * * 1", "timezone": "Mars/Olympus"}},
         "trigger.timezone"),
        ({"trigger": {"kind": "cron"}}, "trigger.cron"),
        ({"trigger": {"kind": "once", "at": "tomorrow"}}, "trigger.at"),
        ({"trigger": {"kind": "cron", "cron": MONDAY_3AM}, "count": 21}, "count"),
        ({"trigger": {"kind": "cron", "cron": MONDAY_3AM}, "count": 0}, "count"),
        ({"trigger": {"kind": "cron", "cron": MONDAY_3AM}, "extra": 1}, "extra"),
        ({}, "trigger"),
    ):
        err = await error_of(await preview(body), 400)
        assert err["details"]["field"] == field, (body, err)
        assert err["message"]


async def test_bad_input_is_refused_and_creates_nothing(api: TestClient,
                                                        local_engine: Engine) -> None:
    name = await container(api, local_engine)
    good = body_for("local", name)
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"trigger": {"kind": "cron", "cron": "61 * * * *"}}, "trigger.cron"),
        ({"trigger": {"kind": "cron", "cron": "every day"}}, "trigger.cron"),
        ({"trigger": {"kind": "cron", "cron": MONDAY_3AM, "timezone": "Mars/Olympus"}},
         "trigger.timezone"),
        ({"trigger": {"kind": "cron", "cron": MONDAY_3AM, "at": past}}, "trigger.at"),
        ({"trigger": {"kind": "once", "at": past}}, "trigger.at"),
        ({"trigger": {"kind": "once"}}, "trigger.at"),
        ({"trigger": {"kind": "once", "at": "2031-01-01T03:00:00"}}, "trigger.at"),
        ({"trigger": {"kind": "once", "at": "0001-01-01T00:00:00+01:00"}}, "trigger.at"),
        ({"trigger": {"kind": "weekly"}}, "trigger.kind"),
        ({"target": {"kind": "container", "host": "nowhere", "key": name}}, "target.host"),
        ({"target": {"kind": "container", "host": "Local!", "key": name}}, "target.host"),
        ({"target": {"kind": "container", "host": "local"}}, "target.key"),
        ({"target": {"kind": "host", "host": "local", "key": name}}, "target.key"),
        ({"target": {"kind": "label", "host": "local", "label": "=x"}}, "target.label"),
        ({"target": {"kind": "stack", "host": "local"}}, "target.kind"),
        ({"action": "pull", "target": {"kind": "image", "host": "local"}}, "target.image"),
        ({"action": "pull", "target": {"kind": "image", "host": "local", "image": "Bad Ref"}},
         "target.image"),
        ({"action": "restart", "target": {"kind": "image", "host": "local", "image": "nginx"}},
         "action"),
        ({"target": {"kind": "container", "host": "local", "key": name, "image": "nginx"}},
         "target.image"),
        ({"target": {"kind": "container", "host": "local", "key": name, "x": 1}}, "target.x"),
        ({"action": "prune_images"}, "action"),
        ({"action": "pause", "target": {"kind": "host", "host": "local"}}, "action"),
        ({"action": "explode"}, "action"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"timeout_seconds": 6 * 3600 + 1}, "timeout_seconds"),
        ({"grace_seconds": -1}, "grace_seconds"),
        ({"jitter_seconds": 3601}, "jitter_seconds"),
        ({"retries": 11}, "retries"),
        ({"retries": True}, "retries"),
        ({"retry_backoff_seconds": 0}, "retry_backoff_seconds"),
        ({"misfire": "always"}, "misfire"),
        ({"enabled": "yes"}, "enabled"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "bell\x07"}, "name"),
        ({"colour": "red"}, "colour"),
    ]
    for changes, field in cases:
        body = {**copy.deepcopy(good), **changes}
        err = await error_of(await api.post(f"{V1}/schedules", json=body), 400)
        assert err["code"] == "invalid_input"
        assert err["details"]["field"] == field, (changes, err)
        assert err["message"]
    for missing in ("name", "target", "action", "trigger"):
        body = {k: v for k, v in good.items() if k != missing}
        err = await error_of(await api.post(f"{V1}/schedules", json=body), 400)
        assert err["details"]["field"] == missing
    assert await schedules(api) == {"items": [], "total": 0}
    audit = await ok(await api.get(f"{V1}/audit", params={"action": "schedule.create"}))
    assert all(e["result"] != "ok" for e in audit["items"])

    # Edits: refused the same way, and the schedule stays as it was.
    created = await create(api, good)
    one = f"{V1}/schedules/{created['id']}"
    for changes, field in [*cases, ({}, "")]:
        err = await error_of(await api.patch(one, json=changes), 400)
        if field:
            assert err["details"]["field"] == field, (changes, err)
    assert await ok(await api.get(one)) == created

    # Run now: a wait beyond 30 s; ids that are no ids.
    for wait in ("31", "-1", "soon"):
        err = await error_of(await api.post(f"{one}/run", params={"wait": wait}), 400)
        assert err["details"]["field"] == "wait"
    assert (await ok(await api.get(f"{one}/runs")))["total"] == 0
    for path in ("/schedules/abc", "/schedules/0", "/runs/x", "/schedules/-3/runs"):
        err = await error_of(await api.get(V1 + path), 400)
        assert err["details"]["field"] == "id"


async def test_unknown_ids_are_404(api: TestClient) -> None:
    absent = 987_654
    one = f"{V1}/schedules/{absent}"
    for method, path, body in (
        ("GET", one, None), ("PATCH", one, {"name": "x"}), ("PATCH", one, {"enabled": False}),
        ("DELETE", one, None), ("POST", f"{one}/run", None), ("GET", f"{one}/runs", None),
        ("GET", f"{V1}/runs/{absent}", None),
    ):
        err = await error_of(await api.request(method, path, json=body), 404)
        assert err["code"] == "not_found", (method, path)


async def test_viewer_reads_operator_manages(api: TestClient, local_engine: Engine) -> None:
    name = await container(api, local_engine)
    sched = await create(api, body_for("local", name, enabled=False))
    run = await ok(await api.post(f"{V1}/schedules/{sched['id']}/run", params={"wait": WAIT}))
    one = f"{V1}/schedules/{sched['id']}"
    viewer = await key_for(api, Role.VIEWER)

    assert (await ok(await api.get(f"{V1}/schedules", headers=viewer)))["total"] == 1
    assert (await ok(await api.get(one, headers=viewer)))["id"] == sched["id"]
    assert (await ok(await api.get(f"{one}/runs", headers=viewer)))["total"] == 1
    assert (await ok(await api.get(f"{V1}/runs/{run['id']}", headers=viewer))) == run
    preview = {"trigger": {"kind": "cron", "cron": MONDAY_3AM}}
    await ok(await api.post(f"{V1}/schedules/preview", json=preview, headers=viewer))
    for method, path, body in (
        ("POST", f"{V1}/schedules", body_for("local", name)),
        ("PATCH", one, {"name": "mine now"}),
        ("PATCH", one, {"enabled": True}),
        ("DELETE", one, None),
        ("POST", f"{one}/run", None),
    ):
        err = await error_of(await api.request(method, path, json=body, headers=viewer), 403)
        assert err["code"] == "forbidden"
    after = await ok(await api.get(one))
    assert {**after, "last_run": None} == {**sched, "last_run": None}
    assert (await ok(await api.get(f"{one}/runs")))["total"] == 1
    assert (await schedules(api))["total"] == 1

    operator = await key_for(api, Role.OPERATOR)
    mine = await create(api, body_for("local", name, name="operator's"), headers=operator)
    mine_path = f"{V1}/schedules/{mine['id']}"
    await ok(await api.patch(mine_path, json={"enabled": False}, headers=operator))
    await ok(await api.post(f"{mine_path}/run", params={"wait": WAIT}, headers=operator))
    await ok(await api.delete(mine_path, headers=operator), 204)
    audit = await ok(await api.get(f"{V1}/audit", params={"action": "schedule.create"}))
    assert {e["actor"]["kind"] for e in audit["items"]} == {"api_key"}


async def test_scoped_key_reaches_only_its_schedules(api: TestClient, local_engine: Engine,
                                                     remote_engine: Engine) -> None:
    mine, other = await container(api, local_engine), await container(api, local_engine)
    remote = await container(api, remote_engine)
    a = await create(api, body_for("local", mine, enabled=False))
    b = await create(api, body_for("local", other, enabled=False))
    # Never run: it would prune the test engine's images.
    c = await create(api, {"name": "prune local", "target": {"kind": "host", "host": "local"},
                           "action": "prune_images", "enabled": False,
                           "trigger": {"kind": "cron", "cron": MONDAY_3AM}})
    d = await create(api, body_for("remote", remote, enabled=False))
    b_run = await ok(await api.post(f"{V1}/schedules/{b['id']}/run", params={"wait": WAIT}))

    scoped = await key_for(api, Role.OPERATOR, KeyScope(containers=(f"local/{mine}",)))
    listed = await ok(await api.get(f"{V1}/schedules", headers=scoped))
    assert [s["id"] for s in listed["items"]] == [a["id"]] and listed["total"] == 1
    await ok(await api.get(f"{V1}/schedules/{a['id']}", headers=scoped))
    for sched in (b, c, d):
        one = f"{V1}/schedules/{sched['id']}"
        for method, path, body in (("GET", one, None), ("GET", f"{one}/runs", None),
                                   ("PATCH", one, {"enabled": True}),
                                   ("DELETE", one, None), ("POST", f"{one}/run", None)):
            err = await error_of(await api.request(method, path, json=body, headers=scoped),
                                 403)
            assert err["code"] == "forbidden", (method, path)
    await error_of(await api.get(f"{V1}/runs/{b_run['id']}", headers=scoped), 403)
    # Creating or moving a schedule outside the scope: refused, nothing changes.
    for body in (body_for("local", other),
                 {"name": "prune", "target": {"kind": "host", "host": "local"},
                  "action": "prune_images", "trigger": {"kind": "cron", "cron": MONDAY_3AM}},
                 {**body_for("local", mine), "target": {"kind": "label", "host": "local",
                                                        "label": "app"}}):
        await error_of(await api.post(f"{V1}/schedules", json=body, headers=scoped), 403)
    await error_of(await api.patch(f"{V1}/schedules/{a['id']}", headers=scoped,
                                   json={"target": {"kind": "container", "host": "local",
                                                    "key": other}}), 403)
    assert (await schedules(api))["total"] == 4
    assert (await ok(await api.get(f"{V1}/schedules/{a['id']}")))["target"]["key"] == mine
    # Within the scope: everything works.
    own = await create(api, body_for("local", mine, name="own", enabled=False), headers=scoped)
    await ok(await api.patch(f"{V1}/schedules/{own['id']}", json={"action": "stop"},
                             headers=scoped))
    await ok(await api.delete(f"{V1}/schedules/{own['id']}", headers=scoped), 204)

    # A key scoped to the whole local host sees every local schedule, not the remote one.
    local_key = await key_for(api, Role.VIEWER, KeyScope(hosts=("local",)))
    listed = await ok(await api.get(f"{V1}/schedules", headers=local_key))
    assert [s["id"] for s in listed["items"]] == [a["id"], b["id"], c["id"]]
    assert (await ok(await api.get(f"{V1}/runs/{b_run['id']}", headers=local_key))) == b_run
    await error_of(await api.get(f"{V1}/schedules/{d['id']}", headers=local_key), 403)
