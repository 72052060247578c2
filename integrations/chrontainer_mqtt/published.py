"""The devices the bridge has published discovery for, kept in the ``mqtt_devices`` table.

Home Assistant keeps an entity for as long as its retained config sits on the broker, so the
bridge must clear the config of every device that no longer exists, including those that
vanished while the bridge was not running (a schedule deleted, a container removed during a
restart). Each published device is therefore recorded with the config topics it used; at
connect the bridge compares the table with what exists now (no ghosts), and a removed
container's row carries ``gone_since`` so its entities are removed once that is older than the
TTL, even across restarts.

Rows are cached in memory after :meth:`PublishedDevices.load`: the bridge reads them on every
container change, and writes only when a row really changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import delete, select

from chrontainer_core.store.db import Database
from chrontainer_core.store.tables import MqttDeviceRow

__all__ = ["DeviceKind", "PublishedDevice", "PublishedDevices"]


class DeviceKind:
    """The kinds of devices (the ``kind`` column)."""

    CONTAINER = "container"
    HOST = "host"
    SCHEDULE = "schedule"


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishedDevice:
    """One device whose discovery config is (or was) retained on the broker.

    Attributes:
        device_id: The Home Assistant device id (topics.Topics ids).
        kind: "container", "host" or "schedule".
        host: The host slug (containers and hosts), else None.
        ref: The container key, the host slug or the schedule id (as text).
        config_topics: Every retained config topic published for it.
        components: Entity key -> platform of the entities last published (device-based
            discovery removes an entity only when told its platform).
        gone_since: When a container was seen removed; None while it exists.
    """

    device_id: str
    kind: str
    host: str | None
    ref: str
    config_topics: tuple[str, ...]
    components: Mapping[str, str] = field(default_factory=dict)
    gone_since: datetime | None = None


def _device(row: MqttDeviceRow) -> PublishedDevice:
    # A damaged row: nothing known to clear, but the device is still tracked.
    try:
        topics = tuple(str(t) for t in json.loads(row.config_topics or "[]"))
    except ValueError:
        topics = ()
    try:
        loaded = json.loads(row.components or "{}")
        components = {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) \
            else {}
    except ValueError:
        components = {}
    return PublishedDevice(device_id=row.device_id, kind=row.kind, host=row.host, ref=row.ref,
                           config_topics=topics, components=components,
                           gone_since=row.gone_since)


class PublishedDevices:
    """The ``mqtt_devices`` rows (memory only when there is no database).

    Args:
        db: The daemon's database, or None (nothing survives a restart then).
        clock: Stamps ``updated_at``.
    """

    def __init__(self, db: Database | None, *, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock
        self._rows: dict[str, PublishedDevice] = {}
        self._loaded = False

    async def load(self) -> None:
        """Read every row into memory (once per bridge; later calls re-read)."""
        self._rows = {}
        if self._db is not None:
            async with self._db.session() as session:
                for row in await session.scalars(select(MqttDeviceRow)):
                    self._rows[row.device_id] = _device(row)
        self._loaded = True

    @property
    def loaded(self) -> bool:
        return self._loaded

    def all(self) -> list[PublishedDevice]:
        """Every recorded device."""
        return list(self._rows.values())

    def get(self, device_id: str) -> PublishedDevice | None:
        return self._rows.get(device_id)

    def __len__(self) -> int:
        return len(self._rows)

    async def record(self, device: PublishedDevice) -> None:
        """Insert or replace a device's row (no write when nothing changed)."""
        if self._rows.get(device.device_id) == device:
            return
        self._rows[device.device_id] = device
        if self._db is None:
            return
        async with self._db.session() as session:
            row = await session.get(MqttDeviceRow, device.device_id)
            if row is None:
                row = MqttDeviceRow(device_id=device.device_id)
                session.add(row)
            row.kind = device.kind
            row.host = device.host
            row.ref = device.ref
            row.config_topics = json.dumps(list(device.config_topics))
            row.components = json.dumps(dict(device.components), sort_keys=True)
            row.gone_since = device.gone_since
            row.updated_at = self._clock()

    async def set_gone(self, device_id: str, since: datetime | None) -> PublishedDevice | None:
        """Mark a device removed since ``since`` (None: it is back); the updated device."""
        device = self._rows.get(device_id)
        if device is None or device.gone_since == since:
            return device
        device = replace(device, gone_since=since)
        await self.record(device)
        return device

    async def forget(self, device_ids: Sequence[str]) -> None:
        """Delete these devices' rows (their config was cleared)."""
        ids = [d for d in device_ids if d in self._rows]
        for device_id in ids:
            del self._rows[device_id]
        if self._db is None or not ids:
            return
        async with self._db.session() as session:
            await session.execute(delete(MqttDeviceRow).where(MqttDeviceRow.device_id.in_(ids)))
