"""Cron expressions in English: "0 3 * * 1" is "At 03:00 on Monday".

Built from the parsed fields of :class:`~.cron.CronExpression`, never from the text a user
typed, so a description can never just echo the input back.

Example:
    >>> from chrontainer_core.scheduling.cron import parse_cron
    >>> describe(parse_cron("30 2 * * *"))
    'At 02:30 every day'
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from itertools import pairwise

from .cron import DAY_NAMES, MONTH_NAMES, CronExpression, CronField, join_words

__all__ = ["describe"]


@functools.lru_cache(maxsize=2048)  # pure; lists describe the same expressions again and again
def describe(expr: CronExpression) -> str:
    """An English description of the expression, built from its parsed fields.

    Example:
        >>> from chrontainer_core.scheduling.cron import parse_cron
        >>> describe(parse_cron("0 3 * * 1"))
        'At 03:00 on Monday'
        >>> describe(parse_cron("*/15 * * * *"))
        'Every 15 minutes'
        >>> describe(parse_cron("0 22 * * 1-5"))
        'At 22:00, Monday through Friday'
    """
    text, clock = _describe_time(expr.minute, expr.hour)
    day = _describe_days(expr.day_of_month, expr.days_of_week)
    if day is None:
        if clock:
            text += " every day"
    elif day.startswith("on ") and (clock or "," not in text):
        text += " " + day
    else:
        text += ", " + day
    if not expr.month.every:
        text += ", in " + _set_text(expr.month.values, lambda m: MONTH_NAMES[m - 1])
    return text


def _hhmm(hour: int, minute: int) -> str:
    return f"{hour:02d}:{minute:02d}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _runs(values: Sequence[int]) -> list[tuple[int, int]]:
    """Split sorted values into runs of consecutive values."""
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def _set_text(values: Sequence[int], render: Callable[[int], str] = str) -> str:
    """'1, 2 and 5 through 9': runs of three or more become ranges."""
    words: list[str] = []
    for start, end in _runs(values):
        if end - start >= 2:
            words.append(f"{render(start)} through {render(end)}")
        else:
            words.extend(render(v) for v in range(start, end + 1))
    return join_words(words)


def _progression(values: Sequence[int]) -> int | None:
    """The common difference when ``values`` (4 or more) step evenly by more than 1."""
    if len(values) < 4:
        return None
    diff = values[1] - values[0]
    if diff < 2 or any(b - a != diff for a, b in pairwise(values)):
        return None
    return diff


def _describe_time(minute: CronField, hour: CronField) -> tuple[str, bool]:
    """The time-of-day part, and whether it is a list of clock times ("At 09:00")."""
    mins, hrs = minute.values, hour.values
    if not minute.star and not hour.star and len(mins) * len(hrs) <= 6:
        times = [_hhmm(h, m) for h in hrs for m in mins]
        return "At " + join_words(times), True
    if not minute.star and len(mins) == 1:
        (m,) = mins
        if hour.every:
            return f"Every hour, at minute {m}", False
        if hour.step is not None:
            return f"Every {hour.step} hours, at minute {m}", False
        if len(_runs(hrs)) == 1:
            return f"Every hour from {_hhmm(hrs[0], m)} through {_hhmm(hrs[-1], m)}", False
    return _minute_phrase(minute) + _hour_phrase(hour), False


def _minute_phrase(minute: CronField) -> str:
    if minute.every:
        return "Every minute"
    if minute.step is not None:
        return f"Every {minute.step} minutes"
    mins = minute.values
    diff = _progression(mins)
    if diff is not None:
        return f"Every {diff} minutes from minute {mins[0]} through {mins[-1]}"
    runs = _runs(mins)
    if len(runs) == 1 and len(mins) >= 3:
        return f"Every minute from minute {mins[0]} through {mins[-1]}"
    label = "minute" if len(mins) == 1 else "minutes"
    return f"At {label} {_set_text(mins)}"


def _hour_phrase(hour: CronField) -> str:
    if hour.every:
        return ""
    if hour.step is not None:
        return f", every {_ordinal(hour.step)} hour"
    hrs = hour.values
    diff = _progression(hrs)
    if diff is not None:
        return f", every {_ordinal(diff)} hour from {_hhmm(hrs[0], 0)} through {_hhmm(hrs[-1], 59)}"
    runs = _runs(hrs)
    if len(runs) == 1:
        return f", between {_hhmm(hrs[0], 0)} and {_hhmm(hrs[-1], 59)}"
    label = "hour" if len(hrs) == 1 else "hours"
    return f", during {label} {_set_text(hrs, lambda h: f'{h:02d}')}"


def _weekday_order(values: Sequence[int]) -> list[int]:
    """Order weekdays Monday first when Sunday joins a run at the end of the week (FRI-SUN)."""
    if 0 in values and 6 in values and 1 not in values:
        return [v for v in values if v != 0] + [7]
    return list(values)


def _describe_dow(dow: CronField) -> str:
    ordered = _weekday_order(dow.values)
    runs = _runs(ordered)
    text = _set_text(ordered, lambda d: DAY_NAMES[d % 7])
    if len(runs) == 1 and len(ordered) >= 3:
        return text
    return "on " + text


def _describe_dom(dom: CronField) -> str:
    if dom.step is not None:
        return f"on every {_ordinal(dom.step)} day of the month"
    return f"on day {_set_text(dom.values)} of the month"


def _describe_days(dom: CronField, dow: CronField) -> str | None:
    if dom.every and dow.every:
        return None
    if dom.every:
        return _describe_dow(dow)
    if dow.every:
        return _describe_dom(dom)
    if dom.star or dow.star:
        # Vixie rule: with a '*' in either field a day must match both.
        weekday = _describe_dow(dow)
        weekday = weekday.removeprefix("on ")
        return f"{_describe_dom(dom)}, only on {weekday}"
    return f"{_describe_dom(dom)} or {_describe_dow(dow)}"
