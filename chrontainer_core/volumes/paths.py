"""Paths inside a volume, as users type them: normalised, or refused when they could escape.

A path is always relative to the volume's root, ``/`` separated, without a leading slash
(``""`` is the root). ``/conf`` and ``conf/`` both mean ``conf``; ``..`` is refused outright
rather than resolved, so no spelling reaches above the root. Symbolic links are the browser's
concern (it never follows them), not this module's: it does no I/O.
"""

from __future__ import annotations

import re
from typing import Final

from ..errors import InvalidInput

MAX_PATH: Final = 4096
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def normalise(path: str, *, field: str = "path") -> str:
    """``path`` relative to the volume's root: leading/duplicate slashes and ``.`` removed.

    Args:
        path: what the user sent; ``""`` and ``"/"`` are the root.
        field: the input's name in the error.

    Raises:
        InvalidInput: Control characters (NUL included), a ``..`` component, or longer than
            4096 characters.
    """
    if len(path) > MAX_PATH:
        raise InvalidInput(f"path is longer than {MAX_PATH} characters", field=field)
    if _CONTROL.search(path):
        raise InvalidInput("path contains control characters", field=field)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput("path may not contain '..'", field=field)
    return "/".join(parts)


def join(parent: str, name: str) -> str:
    """The path of ``name`` in the directory ``parent`` (both already normalised)."""
    return f"{parent}/{name}" if parent else name


def prefixes(path: str) -> list[str]:
    """Every path from the root's first child down to ``path``: ``a/b`` -> ``[a, a/b]``."""
    parts = path.split("/") if path else []
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def breadcrumbs(path: str) -> list[tuple[str, str]]:
    """(name, path) of each directory from the root to ``path``; the root is ``("", "")``."""
    return [("", ""), *((p.rsplit("/", 1)[-1], p) for p in prefixes(path))]
