"""What may go upstream now: rate limits, 429 cool-downs and the daily token cap.

Three sources of truth, the strictest wins:
- our own sliding window of requests and tokens over ``rateLimit.windowSeconds`` against
  ``rateLimit.rpm`` / ``rateLimit.tpm``;
- the remaining allowance the backend reported in its headers (``x-ratelimit-remaining-*`` or
  ``ratelimitbysize-*``), less what we sent since and what other clients of the same workspace are
  seen to spend (estimated from how the reported figure moved between our own calls);
- a cool-down after a 429 (``Retry-After``, a reset header, else exponential backoff + jitter).

When the token allowance runs low the context shrinks first; below what a small request needs,
automatic requests are skipped while Invoked ones still go out if anything is left. Nothing here
sleeps or retries: an autocomplete answer that arrives late is worthless.
"""

from __future__ import annotations

import collections
import datetime
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MIN_SCALE = 0.25  # the smallest context, as a share of the budget, before skipping
BACKOFF_BASE_S, BACKOFF_MAX_S = 1.0, 60.0


@dataclass(frozen=True)
class Limits:
    rpm: int | None = None
    tpm: int | None = None
    window_s: float = 60.0
    tokens_per_day: int | None = None


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    scale: float = 1.0  # share of the context budget to use
    reason: str = ""  # why skipped or shrunk


@dataclass
class _Report:
    """The backend's word on what is left in the current window."""

    at: float
    tokens: int | None
    requests: int | None
    valid_until: float


@dataclass
class _Sent:
    at: float
    tokens: int


@dataclass
class GovernorState:
    holding: str = ""  # why automatic requests are held back, "" when they are not
    cool_down_until: float = 0.0
    consecutive_429: int = 0
    rate_limited: int = 0
    skipped: int = 0
    others_tokens_per_s: float = 0.0
    day: str = ""
    tokens_today: int = 0


class Governor:
    """Decides whether a request may go upstream, and with how much context."""

    def __init__(
        self,
        notify: Callable[[str], None] = lambda message: None,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], str] = lambda: datetime.date.today().isoformat(),
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._notify, self._clock, self._today, self._jitter = notify, clock, today, jitter
        self.limits = Limits()
        self.state = GovernorState(day=today())
        self._sent: collections.deque[_Sent] = collections.deque()
        self._report: _Report | None = None

    def configure(self, limits: Limits) -> None:
        self.limits = limits

    # --- the decision ---------------------------------------------------------------------

    def check(self, invoked: bool, need: int) -> Verdict:
        """May a request needing about ``need`` tokens (prompt + maxTokens) go out now?"""
        now = self._clock()
        verdict = self._decide(now, invoked, max(need, 1))
        self._announce(now, verdict, invoked)
        return verdict

    def scale(self, invoked: bool, need: int) -> float:
        """The share of the context budget a request may plan for now; changes nothing.

        For building the window before the request is known to go out (it may be served
        from memory): only ``check``, right before the network, counts and announces.
        """
        verdict = self._decide(self._clock(), invoked, max(need, 1))
        return verdict.scale if verdict.allowed else 1.0

    def _decide(self, now: float, invoked: bool, need: int) -> Verdict:
        self._expire(now)
        if now < self.state.cool_down_until and not invoked:
            left = self.state.cool_down_until - now
            return Verdict(False, reason=f"cool-down after HTTP 429, {left:.0f} s left")
        cap = self.limits.tokens_per_day
        if cap is not None and self.state.tokens_today >= cap and not invoked:
            return Verdict(False, reason=f"daily token cap of {cap} reached")
        requests, tokens = self._remaining(now)
        if requests is not None and requests <= 0:
            return Verdict(False, reason="no requests left in this minute")
        if tokens is None:
            return Verdict(True)
        spare = tokens - self._reserve()
        if spare >= 2 * need:
            return Verdict(True)
        if spare >= need * MIN_SCALE * 2:
            return Verdict(
                True, min(1.0, spare / (2 * need)), f"{tokens} tokens left: smaller context"
            )
        if invoked and tokens >= need * MIN_SCALE:
            return Verdict(True, max(MIN_SCALE, min(1.0, tokens / need)), "invoked")
        return Verdict(False, reason=f"token allowance low ({max(tokens, 0)} left)")

    def _remaining(self, now: float) -> tuple[int | None, int | None]:
        """Requests and tokens left by the strictest of our window and the backend's report."""
        requests = None if self.limits.rpm is None else self.limits.rpm - len(self._sent)
        tokens = None
        if self.limits.tpm is not None:
            tokens = self.limits.tpm - sum(s.tokens for s in self._sent)
        report = self._report
        if report is not None and now < report.valid_until:
            ours = [s for s in self._sent if s.at >= report.at]
            others = int(self.state.others_tokens_per_s * (now - report.at))
            if report.requests is not None:
                left = report.requests - len(ours)
                requests = left if requests is None else min(requests, left)
            if report.tokens is not None:
                left = report.tokens - sum(s.tokens for s in ours) - others
                tokens = left if tokens is None else min(tokens, left)
        return requests, tokens

    def _reserve(self) -> int:
        """Tokens kept back for other clients of a shared workspace: 15% of the known limit.

        Clients of one workspace each decide on a figure read a moment ago, and they tend to
        start sending together after a reset; 15% covers several simultaneous requests from
        the others (5% let one 429 through in ``benchmarks --shared``)."""
        return int(0.15 * self.limits.tpm) if self.limits.tpm else 0

    # --- what happened ------------------------------------------------------------------------

    def sent(self, tokens: int) -> _Sent:
        """A request went upstream with about ``tokens`` tokens (prompt + maxTokens)."""
        entry = _Sent(self._clock(), tokens)
        self._sent.append(entry)
        return entry

    def settle(self, entry: _Sent, prompt_tokens: int, completion_tokens: int) -> None:
        """The backend counted the request: replace our estimate with its figures."""
        entry.tokens = prompt_tokens + completion_tokens
        self._roll_day()
        self.state.tokens_today += entry.tokens
        self.state.consecutive_429 = 0

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Read the backend's rate-limit headers from an answer (any status)."""
        tokens = _number(
            headers, "x-ratelimit-remaining-tokens-minute", "ratelimitbysize-remaining"
        )
        requests = _number(headers, "x-ratelimit-remaining-req-minute")
        if tokens is None and requests is None:
            return
        now = self._clock()
        limit = _number(headers, "x-ratelimit-limit-tokens-minute", "ratelimitbysize-limit")
        if limit is not None and self.limits.tpm is None:
            self.limits = Limits(
                self.limits.rpm, limit, self.limits.window_s, self.limits.tokens_per_day
            )
        reset = _number(headers, "ratelimitbysize-reset")
        self._learn_others(now, tokens)
        # Without a reset time, a figure is trusted for a whole window: trusting it less sends
        # every client of a spent workspace into 429s at once (measured: benchmarks --shared).
        valid = now + (reset if reset is not None else self.limits.window_s)
        self._report = _Report(now, tokens, requests, valid)

    def _learn_others(self, now: float, tokens: int | None) -> None:
        """How fast others spend: the drop in the reported figure not explained by our calls."""
        last = self._report
        if last is None or tokens is None or last.tokens is None or now - last.at < 0.05:
            return
        if last.tokens < tokens:
            return  # the window was reset in between: nothing to learn
        ours = sum(s.tokens for s in self._sent if s.at >= last.at)
        drop = last.tokens - tokens - ours
        rate = max(0.0, drop / (now - last.at))
        if self.limits.tpm:  # nobody spends faster than the whole workspace may
            rate = min(rate, self.limits.tpm / self.limits.window_s)
        self.state.others_tokens_per_s = 0.5 * self.state.others_tokens_per_s + 0.5 * rate

    def rate_limited(self, retry_after: float | None, headers: Mapping[str, str]) -> None:
        """A 429: cool down for as long as the server said, else back off exponentially."""
        now = self._clock()
        self.state.rate_limited += 1
        self.state.consecutive_429 += 1
        self.observe_headers(headers)
        if retry_after is None:
            step = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (self.state.consecutive_429 - 1))
            retry_after = step * (0.5 + self._jitter())
        self.state.cool_down_until = max(self.state.cool_down_until, now + retry_after)
        self._notify(
            f"codestral-lsp: rate limited (HTTP 429); cooling down for {retry_after:.1f} s"
        )

    # --- bookkeeping --------------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        while self._sent and now - self._sent[0].at >= self.limits.window_s:
            self._sent.popleft()
        if self._report is not None and now >= self._report.valid_until:
            self._report = None
        self._roll_day()

    def _roll_day(self) -> None:
        today = self._today()
        if today != self.state.day:
            self.state.day, self.state.tokens_today = today, 0

    def _announce(self, now: float, verdict: Verdict, invoked: bool) -> None:
        """Tell the user when holding back starts and ends (once each)."""
        if not verdict.allowed:
            self.state.skipped += 1
            reason = verdict.reason.split(",")[0].split("(")[0].strip()
            if self.state.holding != reason:
                self.state.holding = reason
                self._notify(f"codestral-lsp: holding automatic requests back: {verdict.reason}")
        elif self.state.holding and not invoked:
            self._notify(f"codestral-lsp: requests resume (was: {self.state.holding})")
            self.state.holding = ""

    def snapshot(self) -> dict[str, object]:
        now = self._clock()
        requests, tokens = self._remaining(now)
        return {
            "holding": self.state.holding or None,
            "coolDownSeconds": round(max(0.0, self.state.cool_down_until - now), 2),
            "rateLimited": self.state.rate_limited,
            "skipped": self.state.skipped,
            "requestsLeft": requests,
            "tokensLeft": tokens,
            "othersTokensPerSecond": round(self.state.others_tokens_per_s, 1),
            "tokensToday": self.state.tokens_today,
            "limits": {
                "rpm": self.limits.rpm,
                "tpm": self.limits.tpm,
                "windowSeconds": self.limits.window_s,
                "tokensPerDay": self.limits.tokens_per_day,
            },
        }

    def room_for_speculation(self, need: int) -> bool:
        """Whether a call nobody asked for yet fits the budget now at full size; changes
        nothing. (``scale`` says 1.0 also when refusing, hence ``_decide`` here.)"""
        verdict = self._decide(self._clock(), False, max(need, 1))
        return verdict.allowed and verdict.scale >= 1.0


def _number(headers: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            try:
                return int(float(value))
            except ValueError:
                continue
    return None
