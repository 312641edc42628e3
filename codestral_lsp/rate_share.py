"""The rate fallback: where only tokens are counted, a share of the workspace's token rate.

When the backend reports tokens only (``ratelimitbysize-*``) or only a configured
``rateLimit`` is known, requests cannot be counted, so there is no budget per request: each
server keeps a rate instead. It grows while the workspace's projected use is under the target
and settles where growth and a shrink proportional to the congestion meet, the same point for
every server (``RateShare.settled``). A bucket of ``BURST_S`` of it lets a request go when it
is not in debt; a request's size is what the bucket holds, or the rate over our usual gap.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from codestral_lsp.pacing import FLOOR_TOKENS, TARGET

GROW = 0.0005  # a share grows by this part of the limit's rate a second,
SHRINK = 0.1  # and shrinks by this much a second at full congestion
QUIET_FILL = 0.05  # in a quiet workspace, shares grow by 5% a second
NEWS_S = 10.0  # a share grows for at most this long after the last report
NEWCOMER_TAKES = 0.25  # of what the others leave, a newcomer's share starts with this much
BURST_S = 8.0  # the bucket holds this many seconds of the share


class RateShare:
    """This server's share of the token rate (tokens a second), and its bucket, under the
    limit's rate ``capacity()`` (tokens a second; None: no limit known, nothing to pace)."""

    def __init__(self, now: float, capacity: Callable[[], float | None]) -> None:
        self.capacity = capacity
        self.rate: float | None = None
        self._rate_at = now
        self._congestion, self._quiet, self._heard_at = 0.0, False, -math.inf
        self._bucket, self._bucket_at = 0.0, now

    def steer(self, now: float, congestion: float, quiet: bool, first: bool, others: float) -> None:
        """A report: the rate's course from the workspace's projected congestion."""
        capacity = self.capacity()
        if capacity is None:
            return
        rate = self._rate(now, capacity)
        self._congestion, self._quiet, self._heard_at = congestion, quiet, now
        if first:  # a newcomer: where the others' shares tend, else part of what they leave
            settled = self.settled(capacity)
            rate = settled if settled is not None else (capacity * TARGET - others) * NEWCOMER_TAKES
        self.set_rate(now, capacity, rate)

    def settled(self, capacity: float) -> float | None:
        """The rate every server of a congested workspace tends to (None: not congested):
        growth (GROW of the limit a second) meets a shrink of SHRINK × congestion."""
        if self._congestion <= 0:
            return None
        return GROW * capacity / (SHRINK * self._congestion)

    def rate_at(self, now: float) -> float | None:
        """The rate brought to ``now`` (None: no limit known)."""
        capacity = self.capacity()
        return None if capacity is None else self._rate(now, capacity)

    def _rate(self, now: float, capacity: float) -> float:
        """The rate brought to ``now``: toward the settled point, or growing while news lasts."""
        if self.rate is None:
            self.rate = capacity * TARGET  # alone until the headers say otherwise
        span = now - self._rate_at
        if span > 0:
            settled = self.settled(capacity)
            growing = max(0.0, min(now, self._heard_at + NEWS_S) - self._rate_at)
            if settled is not None:
                fade = math.exp(-SHRINK * self._congestion * span)
                self.rate = settled + (self.rate - settled) * fade
            elif self._quiet:
                self.rate *= math.exp(QUIET_FILL * growing)
            else:
                self.rate += GROW * capacity * growing
            self.rate = min(capacity, max(FLOOR_TOKENS / 60.0, self.rate))
            self._rate_at = now
        return self.rate

    def set_rate(self, now: float, capacity: float, rate: float) -> None:
        self.rate = min(capacity, max(FLOOR_TOKENS / 60.0, rate))
        self._rate_at = now

    # --- the bucket ----------------------------------------------------------------------

    def affordable(self, now: float, gap_s: float | None) -> float | None:
        """Tokens our next request may spend: the bucket, or the rate over our usual gap."""
        rate = self._refill(now)
        if rate is None:
            return None
        return max(self._bucket, rate * (gap_s if gap_s is not None else BURST_S))

    def wait(self, now: float) -> float:
        """Seconds until the bucket is out of debt (0: a request may go)."""
        rate = self._refill(now)
        return 0.0 if rate is None else max(0.0, -self._bucket / rate)

    def spent(self, now: float, tokens: float) -> None:
        if self._refill(now) is not None:
            self._bucket -= tokens

    def recounted(self, estimated: int, counted: int) -> None:
        self._bucket += estimated - counted

    def rate_limited(self, now: float) -> None:
        """A 429: re-enter at half the rate, not in a burst."""
        capacity = self.capacity()
        if capacity is not None:
            self.set_rate(now, capacity, self._rate(now, capacity) / 2)
            self._bucket = min(self._bucket, 0.0)

    def _refill(self, now: float) -> float | None:
        capacity = self.capacity()
        if capacity is None:
            return None
        rate = self._rate(now, capacity)
        full = max(rate * BURST_S, float(FLOOR_TOKENS))
        self._bucket = min(full, self._bucket + rate * max(0.0, now - self._bucket_at))
        self._bucket_at = now
        return rate
