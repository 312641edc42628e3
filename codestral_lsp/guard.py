"""What may go out now without a refusal: cool-downs, the daily cap, and the room left.

The governor asks the guard first, for every request (invoked ones skip only the cool-down and
the daily cap): a cool-down after a 429 (``Retry-After``, capped at ``MAX_COOL_DOWN_S``, else
exponential backoff with jitter, ended by a success); the daily cap ``maxTokensPerDay``; the
requests and tokens our own ``rateLimit`` window and the backend's last report
(``pacing.Workspace``, carried forward to now) leave. It reads the ``x-ratelimit-*`` headers of
every answer, and keeps what we sent in the window.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from codestral_lsp.pacing import Report, Sent, Workspace

BACKOFF_BASE_S, BACKOFF_MAX_S = 1.0, 60.0
MAX_COOL_DOWN_S = 300.0  # a Retry-After longer than this is not believed


@dataclass(frozen=True)
class Limits:
    rpm: int | None = None
    tpm: int | None = None
    window_s: float = 60.0
    tokens_per_day: int | None = None


@dataclass
class GuardState:
    cool_down_until: float = 0.0
    consecutive_429: int = 0
    rate_limited: int = 0
    day: str = ""
    tokens_today: int = 0


class Guard:
    """Our window, the workspace's report, cool-downs and the day's tokens."""

    def __init__(
        self, clock: Callable[[], float], today: Callable[[], str], jitter: Callable[[], float]
    ) -> None:
        self._clock, self._today, self._jitter = clock, today, jitter
        self.limits = Limits()
        self.state = GuardState(day=today())
        self.workspace = Workspace(self.limits.window_s)
        self.sent: collections.deque[Sent] = collections.deque()  # ours, in the window

    def configure(self, limits: Limits) -> None:
        self.limits = limits
        self.workspace.window_s = limits.window_s

    @property
    def tpm(self) -> int | None:
        """The token limit per window: configured, else learnt from the headers."""
        return self.limits.tpm if self.limits.tpm is not None else self.workspace.tpm

    @property
    def rpm(self) -> int | None:
        return self.limits.rpm if self.limits.rpm is not None else self.workspace.rpm

    def blocked(self, now: float, invoked: bool) -> str:
        """Why nothing may go out now whatever its size ("" if something may)."""
        self.expire(now)
        if now < self.state.cool_down_until and not invoked:
            left = self.state.cool_down_until - now
            return f"cool-down after HTTP 429, {left:.0f} s left"
        cap = self.limits.tokens_per_day
        if cap is not None and self.state.tokens_today >= cap and not invoked:
            return f"daily token cap of {cap} reached"
        requests = self.requests_left(now)
        if requests is not None and requests < 1:
            return "no requests left in this minute"
        return ""

    def room(self, now: float) -> int | None:
        """Tokens that may go out now: our own window's, and the workspace's by its report."""
        room = None
        if self.limits.tpm is not None:
            room = self.limits.tpm - sum(s.tokens for s in self.sent)
        reported = self.workspace.room(now, self.tpm, self.sent)
        if reported is not None:
            room = reported if room is None else min(room, reported)
        return room

    def requests_left(self, now: float) -> int | None:
        left = None if self.limits.rpm is None else self.limits.rpm - len(self.sent)
        reported = self.workspace.requests_left(now, self.rpm, self.sent)
        if reported is not None:
            left = reported if left is None else min(left, reported)
        return left

    # --- what happened ------------------------------------------------------------------------

    def went(self, now: float, tokens: int) -> Sent:
        entry = Sent(now, tokens)
        self.sent.append(entry)
        return entry

    def settle(self, counted: int) -> None:
        """The backend answered and counted ``counted`` tokens: whatever it said is over."""
        self._roll_day()
        self.state.tokens_today += counted
        self.state.consecutive_429 = 0
        self.state.cool_down_until = 0.0

    def observe(self, headers: Mapping[str, str], as_of: float | None) -> bool | None:
        """Read an answer's rate-limit headers (of a request sent at ``as_of``): None if they
        say nothing of a limit, else whether they are the first report."""
        tokens = _number(
            headers, "x-ratelimit-remaining-tokens-minute", "ratelimitbysize-remaining"
        )
        requests = _number(headers, "x-ratelimit-remaining-req-minute")
        if tokens is None and requests is None:
            return None
        now = self._clock()
        at = now if as_of is None else min(as_of, now)
        ws = self.workspace
        limit = _number(headers, "x-ratelimit-limit-tokens-minute", "ratelimitbysize-limit")
        ws.tpm = limit if limit is not None and limit > 0 else ws.tpm
        req_limit = _number(headers, "x-ratelimit-limit-req-minute")
        ws.rpm = req_limit if req_limit is not None and req_limit > 0 else ws.rpm
        reset = _number(headers, "ratelimitbysize-reset")
        first = ws.report is None
        report = Report(at, tokens, requests, None if reset is None else now + reset)
        ws.observe(report, self.tpm, self.rpm, self.sent)
        return first

    def cool_down(self, retry_after: float | None) -> float:
        """A 429: cool down as long as the server said (within reason), else back off; returns
        the seconds."""
        now = self._clock()
        self.state.rate_limited += 1
        self.state.consecutive_429 += 1
        if retry_after is None or not math.isfinite(retry_after) or retry_after < 0:
            step = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (self.state.consecutive_429 - 1))
            retry_after = step * (0.5 + self._jitter())
        retry_after = min(retry_after, MAX_COOL_DOWN_S)
        self.state.cool_down_until = max(self.state.cool_down_until, now + retry_after)
        return retry_after

    def expire(self, now: float) -> None:
        while self.sent and now - self.sent[0].at >= self.limits.window_s:
            self.sent.popleft()
        report = self.workspace.report
        if report is not None and (
            self.workspace.expired(now) or now - report.at >= self.limits.window_s
        ):
            # Its window is over: a team idle overnight that starts together again is a
            # newcomer to a young window, not a continuation of yesterday's rates.
            self.workspace.forget()
        self._roll_day()

    def _roll_day(self) -> None:
        today = self._today()
        if today != self.state.day:
            self.state.day, self.state.tokens_today = today, 0

    def snapshot(self, now: float) -> dict[str, object]:
        return {
            "coolDownSeconds": round(max(0.0, self.state.cool_down_until - now), 2),
            "rateLimited": self.state.rate_limited,
            "requestsLeft": self.requests_left(now),
            "tokensLeft": self.room(now),
            "othersTokensPerSecond": round(self.workspace.others_tokens_per_s, 1),
            "othersTokensPerMinute": round(self.workspace.others_tokens_per_s * 60),
        }


def _number(headers: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            try:
                number = float(value)
            except ValueError:
                continue
            if math.isfinite(number):
                return int(number)
    return None
