"""Five-field cron expressions: parsing, next fire times in an IANA time zone, descriptions.

Pure logic, no I/O. :func:`parse_cron` turns text into a :class:`CronExpression` (or raises
:class:`~chrontainer_core.errors.InvalidInput` naming the field, the value and the allowed
range); :func:`next_fire` and :func:`next_runs` compute fire instants;
:func:`.cron_text.describe` renders an English sentence from the parsed fields.

Syntax (Vixie cron)
-------------------
``minute hour day-of-month month day-of-week`` with ``*``, single values, lists ``1,2``, ranges
``1-5``, steps ``*/15`` and ``10-50/10``, month names ``JAN``-``DEC`` and day names
``SUN``-``SAT`` (case-insensitive, also inside ranges). Day-of-week ``0`` and ``7`` are both
Sunday. Macros: ``@hourly`` (``0 * * * *``), ``@daily`` and ``@midnight`` (``0 0 * * *``),
``@weekly`` (``0 0 * * 0``), ``@monthly`` (``0 0 1 * *``), ``@yearly`` and ``@annually``
(``0 0 1 1 *``). Not supported, with an error saying so: a seconds or year field, ``?``,
``L``, ``W``, ``#``, ``@reboot``, wrap-around ranges (``FRI-MON``) and a step after a single
value (``5/15``; write ``5-59/15``).

Day-of-month and day-of-week follow Vixie cron: when both fields are restricted (neither starts
with ``*``) a day matching *either* fires (``0 0 1 * MON``: the 1st and every Monday); when one
of them starts with ``*`` (``*`` or ``*/2``) a day must match both.

Time zones and DST
------------------
Cron fields are matched against the wall clock of the schedule's IANA zone; the results are
aware UTC instants. Where wall-clock time is not a one-to-one map of real time, the rule is the
one Vixie cron applies to clock jumps, because that is what cron users expect:

* **Fixed-time jobs** (neither the minute nor the hour field starts with ``*``; ``30 2 * * *``,
  ``0 9-17 * * *``) express "at this time of day":

  - clocks go back (Europe/Berlin 2026-10-25, 03:00 CEST -> 02:00 CET): a wall time inside the
    repeated hour fires once, at its first occurrence (02:30 CEST), never twice;
  - clocks go forward (Europe/Berlin 2026-03-29, 02:00 CET -> 03:00 CEST): a wall time inside
    the gap fires once, at the first valid instant after the gap (03:00 CEST, the transition),
    never silently skipped. Several gap times of one job (``0,30 2 * * *``) and a real time at
    the transition (``0 2,3 * * *``) collapse into that one fire.

* **Interval-like jobs** (the minute or hour field starts with ``*``; ``*/15 * * * *``,
  ``0 * * * *``) express "every so often" and follow real time: they fire in both passes of a
  repeated hour (``*/30 * * * *`` fires 50 times on a 25-hour day) and have no runs in a
  skipped hour (46 times on a 23-hour day), so the real interval between runs stays the same.

Example:
    >>> from datetime import UTC, datetime
    >>> expr = parse_cron("30 2 * * *")
    >>> next_fire(expr, "Europe/Berlin", datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    datetime.datetime(2026, 3, 29, 1, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chrontainer_core.errors import InvalidInput

__all__ = [
    "MACROS",
    "CronExpression",
    "CronField",
    "join_words",
    "load_zone",
    "next_fire",
    "next_runs",
    "parse_cron",
]

MACROS: Final[dict[str, str]] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

_FIELD_NAMES: Final = ("minute", "hour", "day-of-month", "month", "day-of-week")
_EXPECTED_FIELDS: Final = "expected 5 fields (minute hour day-of-month month day-of-week)"

MONTH_NAMES: Final = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
DAY_NAMES: Final = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

_MONTH_ABBR: Final = {name[:3].upper(): i for i, name in enumerate(MONTH_NAMES, start=1)}
_DAY_ABBR: Final = {name[:3].upper(): i for i, name in enumerate(DAY_NAMES)}
# Days in each month of a leap year: the most a day-of-month can ever reach in that month.
_MAX_DAYS: Final = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

_NUMBER_RE: Final = re.compile(r"[0-9]+")
_NAME_RE: Final = re.compile(r"[A-Za-z]+")
_NOT_SUPPORTED: Final = (("?", "'?'"), ("#", "'#' (nth weekday)"))
_LW_RE: Final = re.compile(r"^(?:[0-9]*[LlWw]|[Ll][Ww]|[0-9]*[Ll]-[0-9]+)$")

# How far ahead a search may look before giving up: a leap day that is also restricted by the
# day-of-week (AND rule) can be decades away; anything beyond this never fires in practice.
_SEARCH_YEARS: Final = 60


@dataclass(frozen=True, slots=True, kw_only=True)
class _Spec:
    """How one field is read: name, bounds, names allowed."""

    name: str
    low: int
    high: int
    names: dict[str, int] | None = None


_SPECS: Final = (
    _Spec(name="minute", low=0, high=59),
    _Spec(name="hour", low=0, high=23),
    _Spec(name="day-of-month", low=1, high=31),
    _Spec(name="month", low=1, high=12, names=_MONTH_ABBR),
    # 7 is accepted as Sunday and folded to 0 after parsing.
    _Spec(name="day-of-week", low=0, high=7, names=_DAY_ABBR),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CronField:
    """One parsed field.

    Attributes:
        values: the matching values, sorted (day-of-week: 0-6, Sunday is 0).
        star: the field text starts with ``*`` (``*`` or ``*/n``); this decides the
            day-of-month/day-of-week rule and the DST rule (see the module docstring).
        step: ``n`` when the field is exactly ``*/n`` (n > 1), else ``None``.
    """

    values: tuple[int, ...]
    star: bool
    step: int | None = None

    @property
    def every(self) -> bool:
        """True for a plain ``*`` (or ``*/1``): no restriction at all."""
        return self.star and self.step is None


@dataclass(frozen=True, slots=True, kw_only=True)
class CronExpression:
    """A parsed 5-field cron expression; build it with :func:`parse_cron`.

    Example:
        >>> parse_cron("0 22 * * MON-FRI").days_of_week.values
        (1, 2, 3, 4, 5)
    """

    source: str
    minute: CronField
    hour: CronField
    day_of_month: CronField
    month: CronField
    days_of_week: CronField

    @property
    def interval_like(self) -> bool:
        """True when the minute or hour field starts with ``*``: DST follows real time."""
        return self.minute.star or self.hour.star

    @property
    def canonical(self) -> str:
        """The expression with every field expanded to its values (names become numbers)."""
        return " ".join(
            _canonical_field(f)
            for f in (self.minute, self.hour, self.day_of_month, self.month, self.days_of_week)
        )

    def day_matches(self, year: int, month: int, day: int) -> bool:
        """Whether the date fires, with the Vixie day-of-month/day-of-week rule."""
        dom_ok = day in self.day_of_month.values
        weekday = (datetime(year, month, day).weekday() + 1) % 7  # Monday=0 -> Sunday=0
        dow_ok = weekday in self.days_of_week.values
        if self.day_of_month.star or self.days_of_week.star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok


def _canonical_field(field: CronField) -> str:
    if field.every:
        return "*"
    if field.star and field.step is not None:
        return f"*/{field.step}"
    return ",".join(str(v) for v in field.values)


def join_words(words: Sequence[str], conjunction: str = "and") -> str:
    """"a", "a and b", "a, b and c" (or another conjunction)."""
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + f" {conjunction} " + words[-1]


def _invalid(message: str, *, cron_field: str | None = None) -> InvalidInput:
    details = {"cron_field": cron_field} if cron_field else None
    return InvalidInput(message, field="cron", details=details)


# -- parsing ------------------------------------------------------------------------------------


# Pure and immutable: lists of hundreds of schedules repeat a few expressions, and the
# scheduler parses a schedule's expression at each of its due times.
@functools.lru_cache(maxsize=2048)
def parse_cron(text: str) -> CronExpression:
    """Parse a 5-field cron expression or one of the :data:`MACROS`.

    Args:
        text: e.g. ``"*/15 * * * *"``, ``"0 22 * * MON-FRI"``, ``"@daily"``.

    Returns:
        The parsed expression.

    Raises:
        InvalidInput: with a message naming the field, the value and the allowed range, e.g.
            ``"minute: 60 is out of range 0-59"``.

    Example:
        >>> parse_cron("0 0 * * 7").days_of_week.values
        (0,)
        >>> parse_cron("@weekly").canonical
        '0 0 * * 0'
    """
    if not isinstance(text, str):
        raise _invalid("cron expression must be a string")
    stripped = text.strip()
    if not stripped:
        raise _invalid("cron expression is empty; " + _EXPECTED_FIELDS)
    if stripped.startswith("@"):
        macro = stripped.lower()
        if macro not in MACROS:
            supported = ", ".join(MACROS)
            if macro == "@reboot":
                raise _invalid(f"@reboot is not supported; supported macros: {supported}")
            raise _invalid(f"unknown macro {stripped!r}; supported macros: {supported}")
        body = MACROS[macro]
    else:
        body = stripped
    parts = body.split()
    if len(parts) != 5:
        hint = ""
        if len(parts) == 6:
            hint = " (a seconds or year field is not supported)"
        raise _invalid(f"{_EXPECTED_FIELDS}, got {len(parts)}{hint}")
    fields = [_parse_field(part, spec) for part, spec in zip(parts, _SPECS, strict=True)]
    minute, hour, dom, month, dow = fields
    expr = CronExpression(
        source=stripped,
        minute=minute,
        hour=hour,
        day_of_month=dom,
        month=month,
        days_of_week=dow,
    )
    _check_reachable(expr)
    return expr


def _parse_field(text: str, spec: _Spec) -> CronField:
    name = spec.name
    for char, label in _NOT_SUPPORTED:
        if char in text:
            raise _invalid(f"{name}: {label} in {text!r} is not supported", cron_field=name)
    values: set[int] = set()
    items = text.split(",")
    for item in items:
        if not item:
            raise _invalid(f"{name}: empty list item in {text!r}", cron_field=name)
        values.update(_parse_item(item, spec))
    star = text.startswith("*")
    step: int | None = None
    if star and len(items) == 1 and "/" in text:
        parsed_step = int(text.split("/", 1)[1])
        step = parsed_step if parsed_step > 1 else None
    if spec.name == "day-of-week" and 7 in values:
        values.discard(7)
        values.add(0)
    return CronField(values=tuple(sorted(values)), star=star, step=step)


def _parse_item(item: str, spec: _Spec) -> range:
    name = spec.name
    # A star may only stand alone or with a step: "*", "*/15".
    base, slash, step_text = item.partition("/")
    if slash and not step_text:
        raise _invalid(f"{name}: missing step after '/' in {item!r}", cron_field=name)
    high = 6 if name == "day-of-week" else spec.high
    if base == "*":
        start, end = spec.low, high
    elif "-" in base:
        left, _, right = base.partition("-")
        if not left or not right:
            raise _invalid(
                f"{name}: {item!r} is not a valid range (write start-end, e.g. {spec.low}-{high})",
                cron_field=name,
            )
        start = _parse_value(left, spec, item)
        end = _parse_value(right, spec, item)
        if start > end:
            raise _invalid(
                f"{name}: range {base!r} is reversed (the start must not be after the end; "
                "wrap-around ranges are not supported)",
                cron_field=name,
            )
    else:
        start = end = _parse_value(base, spec, item)
        if slash:
            raise _invalid(
                f"{name}: a step needs '*' or a range, as in '*/{step_text}' or "
                f"'{base}-{high}/{step_text}', got {item!r}",
                cron_field=name,
            )
    step = 1
    if slash:
        if not _NUMBER_RE.fullmatch(step_text):
            raise _invalid(f"{name}: step {step_text!r} is not a number", cron_field=name)
        step = int(step_text)
        span = high - spec.low
        if step < 1 or step > span:
            raise _invalid(f"{name}: step {step} is out of range 1-{span}", cron_field=name)
    return range(start, end + 1, step)


def _parse_value(text: str, spec: _Spec, item: str) -> int:
    name = spec.name
    if _NUMBER_RE.fullmatch(text):
        value = int(text)
        if not spec.low <= value <= spec.high:
            shown = f"{spec.low}-{spec.high}"
            if name == "day-of-week":
                shown = "0-7 (0 and 7 are Sunday)"
            raise _invalid(f"{name}: {value} is out of range {shown}", cron_field=name)
        return value
    if _NAME_RE.fullmatch(text):
        if spec.names is not None and text.upper() in spec.names:
            return spec.names[text.upper()]
        if name in ("day-of-month", "day-of-week") and _LW_RE.match(item):
            raise _invalid(f"{name}: 'L'/'W' in {item!r} is not supported", cron_field=name)
        if spec.names is None:
            raise _invalid(
                f"{name}: {text!r} is not a number in range {spec.low}-{spec.high} (names are "
                "only allowed for month and day-of-week)",
                cron_field=name,
            )
        allowed = "JAN-DEC" if name == "month" else "SUN-SAT"
        raise _invalid(f"{name}: unknown name {text!r} (allowed: {allowed})", cron_field=name)
    if name in ("day-of-month", "day-of-week") and _LW_RE.match(item):
        raise _invalid(f"{name}: 'L'/'W' in {item!r} is not supported", cron_field=name)
    raise _invalid(f"{name}: {text!r} is not a valid value in {item!r}", cron_field=name)


def _check_reachable(expr: CronExpression) -> None:
    """Reject a day-of-month that no selected month has ("0 0 31 2 *"), which would never fire."""
    if expr.days_of_week.star and not expr.day_of_month.star:
        first_day = expr.day_of_month.values[0]
        if all(first_day > _MAX_DAYS[m - 1] for m in expr.month.values):
            months = join_words([MONTH_NAMES[m - 1] for m in expr.month.values], "or")
            raise _invalid(
                f"day-of-month: {join_words([str(d) for d in expr.day_of_month.values], 'or')} "
                f"never occurs in {months}, so the schedule would never fire",
                cron_field="day-of-month",
            )


# -- time zones and fire times -------------------------------------------------------------------


def load_zone(tz: str | ZoneInfo) -> ZoneInfo:
    """Return the IANA zone ``tz`` names.

    Raises:
        InvalidInput: the zone is unknown (``field="timezone"``).

    Example:
        >>> load_zone("Europe/Berlin").key
        'Europe/Berlin'
    """
    if isinstance(tz, ZoneInfo):
        return tz
    if not isinstance(tz, str) or not tz.strip():
        raise InvalidInput("timezone: an IANA time zone name is required", field="timezone")
    try:
        return ZoneInfo(tz.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError) as err:
        raise InvalidInput(
            f"timezone: unknown time zone {tz!r} (use an IANA name such as 'Europe/Berlin')",
            field="timezone",
        ) from err


def next_fire(expr: CronExpression, tz: str | ZoneInfo, after: datetime) -> datetime:
    """The first fire instant strictly after ``after``, following the DST rules above.

    Args:
        expr: the parsed expression.
        tz: the IANA zone whose wall clock the fields are matched against.
        after: an aware datetime (any zone).

    Returns:
        An aware datetime in UTC.

    Raises:
        InvalidInput: ``tz`` is unknown or ``after`` is naive.

    Example:
        >>> from datetime import UTC, datetime
        >>> next_fire(parse_cron("0 9 * * *"), "America/New_York",
        ...           datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
        datetime.datetime(2026, 1, 5, 14, 0, tzinfo=datetime.timezone.utc)
    """
    zone = load_zone(tz)
    if after.tzinfo is None or after.utcoffset() is None:
        raise InvalidInput("after: a timezone-aware datetime is required", field="after")
    after_utc = after.astimezone(UTC)
    # Mapping a wall time to its first instant (gap times to the transition) never goes
    # backwards as the wall time grows; a second-pass instant of a repeated hour is later
    # than its first. So: walk wall-time candidates in order from the earliest wall time that
    # could still map after ``after``, keep the earliest instant seen, and stop once a
    # candidate's first instant is not earlier than it.
    wall = _search_start(zone, after_utc)
    limit_year = wall.year + _SEARCH_YEARS
    best: datetime | None = None
    while True:
        wall = _next_wall(expr, wall, limit_year)
        first, fires = _instants(expr, zone, wall)
        for instant in fires:
            if instant > after_utc and (best is None or instant < best):
                best = instant
        if best is not None and first >= best:
            return best


def next_runs(
    expr: CronExpression, tz: str | ZoneInfo, after: datetime, count: int = 5
) -> list[datetime]:
    """The next ``count`` (1-50) fire instants after ``after``, strictly increasing, in UTC.

    Raises:
        InvalidInput: ``count`` is out of range, ``tz`` unknown or ``after`` naive.

    Example:
        >>> from datetime import UTC, datetime
        >>> runs = next_runs(parse_cron("*/15 * * * *"), "UTC",
        ...                  datetime(2026, 1, 1, tzinfo=UTC), count=2)
        >>> [r.strftime("%H:%M") for r in runs]
        ['00:15', '00:30']
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 50:
        raise InvalidInput(f"count: {count!r} is out of range 1-50", field="count")
    zone = load_zone(tz)
    runs: list[datetime] = []
    current = after
    for _ in range(count):
        current = next_fire(expr, zone, current)
        runs.append(current)
    return runs


def _search_start(zone: tzinfo, after_utc: datetime) -> datetime:
    """The naive wall time from which candidates are searched (exclusive).

    A wall time ``w`` maps to instants ``w - offset``; for one to be after ``after`` we need
    ``w > after + offset``, so starting at ``after + (smallest offset around it)`` misses
    nothing. Offsets are sampled hourly over the next day, which catches every transition.
    """
    naive = after_utc.replace(tzinfo=None)
    offsets = [_offset(zone, after_utc + timedelta(hours=h)) for h in range(-1, 27)]
    return naive + min(offsets)


def _offset(zone: tzinfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    return offset if offset is not None else timedelta(0)


def _instants(
    expr: CronExpression, zone: tzinfo, wall: datetime
) -> tuple[datetime, list[datetime]]:
    """Map a naive wall time to ``(first instant, instants it fires at)``.

    The first instant orders candidates (a gap time counts as the transition); the fire list
    applies the DST rules: gap -> the transition for fixed-time jobs, nothing for interval-like
    ones; repeated hour -> the first pass for fixed-time jobs, both passes for interval-like.
    """
    early = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if early.astimezone(zone).replace(tzinfo=None) != wall:
        # In a gap, PEP 495 maps fold=0 with the offset before the transition (later in UTC)
        # and fold=1 with the offset after it (earlier); the transition lies between.
        transition = _transition(zone, min(early, late), max(early, late))
        return transition, [] if expr.interval_like else [transition]
    if early == late or not expr.interval_like:
        return early, [early]
    return early, [early, late]


def _transition(zone: tzinfo, low: datetime, high: datetime) -> datetime:
    """The first instant in ``(low, high]`` whose UTC offset is that of ``high``."""
    target = _offset(zone, high)
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) / 2
        mid = mid.replace(microsecond=0)
        if mid <= low:
            break
        if _offset(zone, mid) == target:
            high = mid
        else:
            low = mid
    return high


def _next_wall(expr: CronExpression, after: datetime, limit_year: int) -> datetime:
    """The first naive wall time strictly after ``after`` matching every field."""
    minutes, hours, months = expr.minute.values, expr.hour.values, expr.month.values
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while True:
        if t.year > limit_year:
            raise _invalid(
                f"cron expression {expr.source!r} does not fire within {_SEARCH_YEARS} years"
            )
        if t.month not in months:
            later = [m for m in months if m > t.month]
            t = datetime(t.year, later[0], 1) if later else datetime(t.year + 1, months[0], 1)
            continue
        if not expr.day_matches(t.year, t.month, t.day):
            t = datetime(t.year, t.month, t.day) + timedelta(days=1)
            continue
        if t.hour not in hours:
            later = [h for h in hours if h > t.hour]
            if later:
                t = t.replace(hour=later[0], minute=0)
            else:
                t = datetime(t.year, t.month, t.day) + timedelta(days=1)
            continue
        if t.minute not in minutes:
            later = [m for m in minutes if m > t.minute]
            t = t.replace(minute=later[0]) if later else t.replace(minute=0) + timedelta(hours=1)
            continue
        return t
