"""``chrontainer serve`` with one fault-injection hook, for the kill -9 test of updates.

Run as ``python -m tests.update_crash_server --config X serve``. When an update has journalled
the step named by ``$CHRONTAINER_TEST_PARK_STEP`` (and before it takes it), the server writes
the container's name to ``$CHRONTAINER_TEST_PARK_MARKER`` and parks that update for good, so
the test can kill the process at exactly that point. Everything else is the real server.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from chrontainer_core.runtime import Chrontainer
from chrontainer_core.updates.models import JournalEntry
from chrontainer_server import cli

_original = Chrontainer.from_config.__func__  # type: ignore[attr-defined]


def _from_config(cls: type[Chrontainer], config):  # type: ignore[no-untyped-def]
    core = _original(cls, config)
    step = os.environ["CHRONTAINER_TEST_PARK_STEP"]
    marker = Path(os.environ["CHRONTAINER_TEST_PARK_MARKER"])

    async def park(entry: JournalEntry) -> None:
        if entry.step.value == step:
            marker.write_text(entry.name)  # noqa: ASYNC240 - a few bytes, once, in a test
            await asyncio.Event().wait()  # until the test kills the process

    core.updates.updater.step_hook = park
    return core


Chrontainer.from_config = classmethod(_from_config)  # type: ignore[method-assign, assignment]

if __name__ == "__main__":
    sys.exit(cli.main())
