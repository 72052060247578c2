"""How a notification is written out as text, the same way for every channel kind."""

from __future__ import annotations

from chrontainer_core.serialize import format_datetime

from .models import EVENTS, Notification

__all__ = ["context_lines", "held_back", "message_text", "one_line"]


def held_back(n: Notification) -> str | None:
    """The note about throttled notifications, or None when none were held back."""
    if n.suppressed <= 0:
        return None
    noun = "notification" if n.suppressed == 1 else "notifications"
    return f"({n.suppressed} similar {noun} held back)"


def message_text(n: Notification) -> str:
    """The message, followed by the held-back note when the throttle dropped some."""
    note = held_back(n)
    return f"{n.message}\n\n{note}" if note else n.message


def context_lines(n: Notification) -> list[str]:
    """``Name: value`` lines saying what the notification is about and when."""
    lines = [f"Event: {EVENTS[n.event].label}"]
    if n.host:
        lines.append(f"Host: {n.host}")
    if n.container:
        lines.append(f"Container: {n.container}")
    lines.append(f"Time: {format_datetime(n.time)}")
    return lines


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters turned into spaces (for a
    header or a subject, where a CR or LF would end the field)."""
    return "".join(" " if ch < " " or ch == "\x7f" else ch for ch in text).strip()
