"""Login throttling: growing delays per (account, IP), and a ceiling per IP.

After :attr:`LoginThrottle.free_failures` failed logins for one account from one IP, each
further failure makes the next attempt wait 1, 2, 4, ... seconds (``base_delay`` doubling,
capped at ``max_delay``, 30 s) after it. Delays are per (account, IP), never per account
alone: someone guessing the admin's password from one address cannot lock the real admin out
from another. Separately,
one IP may fail at most ``ip_limit`` times per ``ip_window`` across all accounts, which stops
spraying many usernames from one address. A success clears the (account, IP) record.

State is in memory: a restart forgets it, which costs an attacker a restart they cannot cause.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from .errors import RateLimited

__all__ = ["LoginThrottle"]

# Bounds memory whatever an attacker sends: the oldest records are forgotten first.
MAX_TRACKED = 10_000


@dataclass(slots=True)
class _Failures:
    count: int
    last: float


class LoginThrottle:
    """Decides whether a login attempt may proceed, and learns from its outcome.

    Args:
        clock: Monotonic seconds; injected so tests need not wait.
        free_failures: Failures allowed without delay.
        base_delay: The first delay, in seconds; doubles with each further failure.
        max_delay: The longest delay, in seconds.
        ip_limit: Failed logins allowed per IP within ``ip_window`` seconds.
        ip_window: The per-IP window, in seconds.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, free_failures: int = 3,
                 base_delay: float = 1.0, max_delay: float = 30.0, ip_limit: int = 50,
                 ip_window: float = 900.0) -> None:
        self._clock = clock
        self.free_failures = free_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.ip_limit = ip_limit
        self.ip_window = ip_window
        self._accounts: OrderedDict[tuple[str, str], _Failures] = OrderedDict()
        self._ips: OrderedDict[str, deque[float]] = OrderedDict()

    def delay_after(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures."""
        over = failures - self.free_failures
        if over <= 0:
            return 0.0
        return float(min(self.max_delay, self.base_delay * 2 ** min(over - 1, 30)))

    def check(self, username: str, ip: str) -> None:
        """Raise RateLimited if an attempt for ``username`` from ``ip`` must wait."""
        now = self._clock()
        recent = self._recent_ip_failures(ip, now)
        if recent is not None and len(recent) >= self.ip_limit:
            raise RateLimited(recent[0] + self.ip_window - now)
        record = self._accounts.get((username, ip))
        if record is not None:
            wait = record.last + self.delay_after(record.count) - now
            if wait > 0:
                raise RateLimited(wait)

    def failed(self, username: str, ip: str) -> None:
        """Record a failed attempt."""
        now = self._clock()
        key = (username, ip)
        record = self._accounts.pop(key, None) or _Failures(0, now)
        record.count += 1
        record.last = now
        self._accounts[key] = record
        times = self._ips.pop(ip, None) or deque()
        times.append(now)
        self._ips[ip] = times
        for table in (self._accounts, self._ips):
            while len(table) > MAX_TRACKED:
                table.popitem(last=False)

    def succeeded(self, username: str, ip: str) -> None:
        """Record a successful login: the (account, IP) pair starts afresh."""
        self._accounts.pop((username, ip), None)

    def _recent_ip_failures(self, ip: str, now: float) -> deque[float] | None:
        times = self._ips.get(ip)
        if times is None:
            return None
        while times and times[0] <= now - self.ip_window:
            times.popleft()
        if not times:
            del self._ips[ip]
            return None
        return times
