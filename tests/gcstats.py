"""How much of the suite's time goes to Python's garbage collector (printed at the end).

The suite runs ~2000 tests in one process, each building runtimes and apps; a full collection
walks every live object, so its cost grows with the heap. The figure shows whether that matters.
"""

from __future__ import annotations

import gc
import time
from typing import Any

_started: dict[int, float] = {}
totals = {"collections": 0, "seconds": 0.0, "gen2": 0, "gen2_seconds": 0.0}


def _callback(phase: str, info: dict[str, Any]) -> None:
    generation = info["generation"]
    if phase == "start":
        _started[generation] = time.perf_counter()
        return
    spent = time.perf_counter() - _started.pop(generation, time.perf_counter())
    totals["collections"] += 1
    totals["seconds"] += spent
    if generation == 2:
        totals["gen2"] += 1
        totals["gen2_seconds"] += spent


def install() -> None:
    if _callback not in gc.callbacks:
        gc.callbacks.append(_callback)


def summary() -> str:
    return (f"gc: {totals['collections']} collections, {totals['seconds']:.1f} s "
            f"({totals['gen2']} full, {totals['gen2_seconds']:.1f} s)")
