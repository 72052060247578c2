"""The settings page's form: which fields it shows, and turning a posted form into changes.

The form only converts text to the types the core expects; every rule about what a valid value
is stays in :mod:`chrontainer_core.settings`, which validates again on save.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from chrontainer_core.settings import METRICS_RETENTION_CHOICES

__all__ = ["SECTIONS", "FormField", "Section", "parse_form"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FormField:
    """One input of the settings form; ``key`` is the setting's key."""

    key: str
    label: str
    help: str
    kind: Literal["text", "number", "checkbox", "select"]
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[int, ...] = ()
    unit: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """A fieldset of the form."""

    id: str
    title: str
    fields: tuple[FormField, ...]


SECTIONS: tuple[Section, ...] = (
    Section(id="general", title="General", fields=(
        FormField(key="instance_name", label="Instance name", kind="text", maximum=100,
                  help="Shown in the navigation and page titles."),
    )),
    Section(id="sessions", title="Sessions and sign-in", fields=(
        FormField(key="session_idle_timeout_minutes", label="Session idle timeout",
                  kind="number", minimum=5, maximum=43200, unit="minutes",
                  help="A session that is not used for this long ends (5 to 43200 minutes)."),
        FormField(key="require_2fa", label="Require two-factor authentication", kind="checkbox",
                  help="Every user must set up an authenticator app to sign in."),
    )),
    Section(id="retention", title="Retention", fields=(
        FormField(key="audit_retention_days", label="Audit log retention", kind="number",
                  minimum=1, maximum=3650, unit="days",
                  help="How long audit entries are kept (1 to 3650 days)."),
        FormField(key="metrics_retention_days", label="Metrics history retention",
                  kind="select", choices=METRICS_RETENTION_CHOICES, unit="days",
                  help="How long container metrics history is kept."),
        FormField(key="events_keep", label="Docker events kept", kind="number",
                  minimum=100, maximum=1_000_000, unit="events",
                  help="How many of the latest Docker events the events page keeps."),
    )),
    Section(id="scheduling", title="Scheduling", fields=(
        FormField(key="default_timezone", label="Default time zone", kind="text", maximum=64,
                  help="The time zone new schedules use, as an IANA name (Europe/Berlin)."),
        FormField(key="schedules_paused", label="Pause all schedules", kind="checkbox",
                  help="Vacation mode: no schedule fires while this is on."),
        FormField(key="run_history_days", label="Run history retention", kind="number",
                  minimum=1, maximum=3650, unit="days",
                  help="How long the run history of schedules is kept (1 to 3650 days)."),
    )),
    Section(id="notifications", title="Notifications", fields=(
        FormField(key="notify_throttle_minutes", label="Repeat notifications at most every",
                  kind="number", minimum=0, maximum=1440, unit="minutes",
                  help="One notification per event and container in this time; the next one "
                       "says how many were held back (0 sends every one)."),
        FormField(key="restart_loop_count", label="Restart loop: starts", kind="number",
                  minimum=2, maximum=100, unit="starts",
                  help="This many starts of one container ..."),
        FormField(key="restart_loop_minutes", label="Restart loop: within", kind="number",
                  minimum=1, maximum=1440, unit="minutes",
                  help="... within this many minutes is a restart loop."),
    )),
    Section(id="updates", title="Container updates", fields=(
        FormField(key="update_check_cron", label="Check for updates", kind="text", maximum=100,
                  help="When every container is checked for a newer image: a cron expression "
                       "in the default time zone (0 4 * * * is daily at 04:00); empty never "
                       "checks."),
        FormField(key="update_grace_seconds", label="Update grace period", kind="number",
                  minimum=0, maximum=600, unit="seconds",
                  help="An updated container must keep running (and turn healthy, when it has "
                       "a healthcheck) this long, else the old one is restored."),
    )),
    Section(id="volumes", title="Volume restore", fields=(
        FormField(key="volume_restore_max_mb", label="Largest upload", kind="number",
                  minimum=1, maximum=1_048_576, unit="MiB",
                  help="A volume backup (.tar.gz) larger than this is refused before anything "
                       "is written."),
        FormField(key="volume_restore_max_expanded_mb", label="Largest expanded size",
                  kind="number", minimum=1, maximum=4_194_304, unit="MiB",
                  help="An archive that would expand to more than this is refused before "
                       "anything is written."),
    )),
)


def parse_form(
    form: Mapping[str, str], read_only: Collection[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Turn a posted settings form into typed changes.

    Read-only fields are skipped: browsers do not submit disabled inputs, and a crafted post
    must not change a value the config file pins. An unchecked checkbox is absent from the post,
    so an editable checkbox that is missing means ``False``.

    Args:
        form: The posted fields.
        read_only: Keys set in the config file.

    Returns:
        ``(changes, errors)``: values to save, and a message per field that is not even of
        the right type (e.g. letters in a number field).
    """
    changes: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for section in SECTIONS:
        for field in section.fields:
            if field.key in read_only:
                continue
            if field.kind == "checkbox":
                changes[field.key] = field.key in form
                continue
            raw = form.get(field.key, "")
            if field.kind == "text":
                changes[field.key] = raw
                continue
            try:
                changes[field.key] = int(raw.strip())
            except ValueError:
                errors[field.key] = "must be a whole number"
    return changes, errors
