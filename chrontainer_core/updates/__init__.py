"""Safe container updates: detection (is a newer image published?) and the update itself.

- :mod:`.models` — what detection and updates hand out (typed, frozen).
- :mod:`.recreate` — pure: the create request of the new container, built from the old
  container's inspect document and its image's defaults.
- :mod:`.selfid` — pure: which container (if any) this process runs in.
- :mod:`.store` — persisted check results (by host + container key) and the update journal.
- :mod:`.detect` — :class:`UpdateChecker`: registry digests, one request per image reference.
- :mod:`.apply` — :class:`ContainerUpdater`: the journalled steps, rollback and recovery.
- :mod:`.service` — :class:`UpdateService` (``ch.updates``): what the API, the scheduler and
  the UI call.
"""
