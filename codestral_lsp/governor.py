"""Whether a request may go upstream now, and how large it may be: the one home of that choice.

Per request, ``plan`` (no side effects) says how large it may be; ``admit``, right before the
network, says whether it goes, and counts and announces the decision. The engine reports what
happened: ``sent``, ``settle``, ``observe_headers``, ``rate_limited``.

In the order ``admit`` asks:

1. the guard (``guard.Guard``): a cool-down after a 429 and the daily cap ``maxTokensPerDay``
   (automatic requests only), then what our own ``rateLimit`` window and the backend's last
   report leave, carried forward to now. Nothing goes out that it says would be refused; the
   share of our automatic requests it holds back scales the budget down (``Share.held``);
2. the share (``pacing.Share``), for automatic requests only: in a busy workspace, each
   request within the budget per request (skipping some when even the floor is too much);
   where only tokens are reported, a rate.

Before the first report of a limit it knows from its configuration (Langdock's row of the
provider table), a newcomer plans its first request at what each request of that limit gets
when it is saturated: a full one could refuse the others' requests. So does every server after
a first look at a window under half full, until a second report measures how fast requests come
(``pacing.Workspace.rate_unknown``).

Invoked requests skip the cool-down, the cap and the share. Alone and unlimited (no
``rateLimit``, no headers), nothing is paced. Nothing here sleeps or retries: an autocomplete
answer that arrives late is worthless. The clock, the day and the jitter are injected
(``benchmarks --simulate-team``).

What it has to say (a cool-down, holding back and resuming, its share) goes to ``notify`` as
``Notice``s, the engine's channel too, the decisions through ``herald.Herald``.
"""

from __future__ import annotations

import datetime
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from codestral_lsp.guard import Guard, Limits
from codestral_lsp.herald import Herald
from codestral_lsp.notices import Notice
from codestral_lsp.pacing import FLOOR_TOKENS, TARGET, Sent, Share, Workspace
from codestral_lsp.rate_share import RateShare

__all__ = ["Governor", "Limits", "Plan", "Verdict"]

REPLY_FLOOR = 128  # maxTokens is not planned below this: a long answer is what a short one cuts


@dataclass(frozen=True)
class Plan:
    """How large a request may be."""

    scale: float = 1.0  # share of the full context budget to use
    max_tokens: int | None = None  # maxTokens to send
    reason: str = ""  # why it is smaller than configured


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""  # why held back


class Governor:
    """Decides whether a request may go upstream now, and how large it may be."""

    def __init__(
        self,
        notify: Callable[[Notice], None] = lambda notice: None,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], str] = lambda: datetime.date.today().isoformat(),
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._notify, self._clock = notify, clock
        self.guard = Guard(clock, today, jitter)
        self.herald = Herald(notify)
        self.share = Share()
        self.rate_share = RateShare(clock(), self._capacity)  # where only tokens are counted
        self._gap_s: float | None = None  # our usual gap between requests
        self._asked_at: float | None = None
        self._planned: tuple[float, str] | None = None  # the last plan's tokens and reason
        self._full = math.inf  # a full request's tokens, as last planned
        self._last_per: float | None = None  # the last budget per request paced by

    def configure(self, limits: Limits) -> None:
        self.guard.configure(limits)
        self._last_per = None

    @property
    def limits(self) -> Limits:
        return self.guard.limits

    @property
    def workspace(self) -> Workspace:
        return self.guard.workspace

    @property
    def tpm(self) -> int | None:
        return self.guard.tpm

    @property
    def rpm(self) -> int | None:
        return self.guard.rpm

    # --- the decision -------------------------------------------------------------------------

    def plan(self, invoked: bool, full: int, max_tokens: int | None) -> Plan:
        """How large a request may be; ``full`` is the whole budget's tokens (maxTokens in).

        Changes nothing that counts: the request may still be served from memory."""
        now = self._clock()
        self._planned, self._full = None, float(full)
        self.guard.expire(now)
        affordable = self._affordable(now)
        if affordable is None or full <= FLOOR_TOKENS:
            return Plan(1.0, max_tokens)
        why = "busy workspace"
        if affordable == self._cold_budget():
            seen = self.workspace.report is not None
            why = f"shared limit, {'its rate not measured' if seen else 'no report'} yet"
        if invoked:
            affordable = max(affordable, self.guard.room(now) or 0)
        if affordable >= full:
            return Plan(1.0, max_tokens)
        tokens = max(float(FLOOR_TOKENS), affordable)
        reply = max_tokens
        if max_tokens is not None:
            reply = max(
                min(max_tokens, REPLY_FLOOR), min(max_tokens, int(tokens * max_tokens / full))
            )
        context_full = full - (max_tokens or 0)
        scale = min(1.0, max(0.0, (tokens - (reply or 0)) / context_full)) if context_full else 1.0
        reason = f"{why}: request planned at {tokens:.0f} of {full} tokens"
        self._planned = (tokens, reason)
        return Plan(scale, reply, reason)

    def _affordable(self, now: float) -> float | None:
        """Tokens our next request may spend by its share (None: nothing to pace)."""
        per, cold = self._per_request(), self._cold_budget()
        if per is not None or cold is not None:
            return min(x for x in (per, cold) if x is not None)
        return self.rate_share.affordable(now, self._gap_s)

    def admit(self, invoked: bool, need: int) -> Verdict:
        """May a request spending about ``need`` tokens go out now? Counts and announces."""
        now = self._clock()
        self._note_request(now)
        if self._planned is not None and not invoked:
            self.share.learn_fill(need, self._planned[0])
        verdict = self._decide(now, invoked, max(need, 1))
        shrunk = None if self._planned is None else self._planned[1]
        self.herald.decided(verdict.allowed, verdict.reason, invoked, shrunk)
        return verdict

    def room_for_speculation(self, need: int) -> bool:
        """Whether a call nobody asked for yet fits: never in a busy workspace."""
        now = self._clock()
        affordable = self._affordable(now)
        if affordable is not None and affordable < 2 * need:
            return False
        return self._decide(now, False, need, counted=False).allowed

    def _decide(self, now: float, invoked: bool, need: int, counted: bool = True) -> Verdict:
        """The checks in the order the module docstring lists them; ``counted``: a request at
        the door, whose fate at the guard counts (``Share.held``), not a question."""
        blocked = self.guard.blocked(now, invoked)
        if blocked:
            return Verdict(False, blocked)
        room = self.guard.room(now)
        if room is not None and room < need:
            if counted and not invoked:
                self.share.guarded(True)
            return Verdict(False, f"token allowance low ({max(room, 0)} left)")
        if invoked:
            return Verdict(True)
        verdict = self._paced(now, need)
        if counted and verdict.allowed:
            self.share.guarded(False)
        return verdict

    def _paced(self, now: float, need: int) -> Verdict:
        """The share's word on an automatic request. Once its requests have been counted, a
        server whose report has left the window (a pause, or a window of the guard holding it back)
        keeps pacing by its last budget per request until an answer reports again: the token-
        rate fallback is for backends that count tokens only, and the rate it settled at in a
        busy workspace (halved by each 429) starved such a server for minutes."""
        per = self._per_request()
        if per is None and self._cold_budget() is not None:
            per = self._last_per  # no count now: it earns in full
        if per is not None:
            earned = self._earned(per)
            if per >= self._full or self.share.attempt(earned, need):
                return Verdict(True)
            why = "" if earned == per else f", {earned:.0f} saved by each of ours: held back"
            return Verdict(False, f"pacing: saving up for a request ({per:.0f} tokens each{why})")
        wait = self.rate_share.wait(now)
        if wait > 0:
            return Verdict(False, f"pacing: {wait:.1f} s to this server's next request")
        return Verdict(True)

    def _per_request(self) -> float | None:
        per = self.share.per_request(
            self.tpm, self.workspace.requests_in_window(self.rpm, self.tpm)
        )
        self._last_per = self._last_per if per is None else per
        return per

    def _earned(self, per: float) -> float:
        return self.share.earned(
            per, self.tpm, self.workspace.requests_in_window(self.rpm, self.tpm)
        )

    def _cold_budget(self) -> float | None:
        """While the workspace's rate is unknown, under a limit shared by requests and tokens:
        the budget each request of that limit has when it is saturated. Before the first report
        a newcomer knows nothing of the others, and a full request from it is what refuses
        theirs. After a first look at a window under half full, the window may be young (a team
        that starts together): its few requests say nothing of how fast they come, and a budget
        from their count would let every server spend the window in its first seconds; the
        second report measures the rate."""
        tpm, rpm, ws = self.tpm, self.rpm, self.workspace
        if rpm is None or tpm is None or (ws.report is not None and not ws.rate_unknown(tpm)):
            return None
        return tpm * TARGET / rpm

    def _capacity(self) -> float | None:
        tpm = self.tpm
        return None if tpm is None else tpm / self.limits.window_s

    # --- what happened ------------------------------------------------------------------------

    def sent(self, tokens: int) -> Sent:
        """A request went upstream with about ``tokens`` tokens (prompt + maxTokens)."""
        now = self._clock()
        entry = self.guard.went(now, tokens)
        self.share.spend(tokens)
        self.rate_share.spent(now, tokens)
        return entry

    def settle(self, entry: Sent, prompt_tokens: int, completion_tokens: int) -> None:
        """The backend counted the request: replace our estimate with its figures."""
        counted = prompt_tokens + completion_tokens
        self.share.learn_spend(entry.tokens, counted)
        self.rate_share.recounted(entry.tokens, counted)
        entry.tokens = counted
        self.guard.settle(counted)

    def observe_headers(self, headers: Mapping[str, str], as_of: float | None = None) -> None:
        """Read the rate-limit headers of an answer to a request sent at ``as_of``."""
        first = self.guard.observe(headers, as_of)
        if first is None:
            return
        now, ws = self._clock(), self.workspace
        first = first and self.herald.share_told is None
        if self.tpm is not None:
            congestion, quiet = ws.congestion(self.tpm)
            self.rate_share.steer(now, congestion, quiet, first, ws.others_tokens_per_s)
        self.herald.share(self._share_per_minute(now), ws.others_tokens_per_s * 60, self.tpm)

    def rate_limited(self, retry_after: float | None, headers: Mapping[str, str]) -> None:
        """A 429: cool down as long as the server said (within reason), else back off."""
        now = self._clock()
        self.observe_headers(headers)
        retry_after = self.guard.cool_down(retry_after)
        self.rate_share.rate_limited(now)  # re-enter at a paced rate, not in a burst
        text = f"codestral-lsp: rate limited (HTTP 429); cooling down for {retry_after:.1f} s"
        self._notify(Notice("rate-limit", text, logging.WARNING))

    # --- bookkeeping --------------------------------------------------------------------------

    def _note_request(self, now: float) -> None:
        """Our rhythm: the usual gap between requests that reach the network's door."""
        if self._asked_at is not None:
            gap = min(now - self._asked_at, self.limits.window_s)
            self._gap_s = gap if self._gap_s is None else 0.7 * self._gap_s + 0.3 * gap
        self._asked_at = now

    def _share_per_minute(self, now: float) -> float | None:
        per = self._per_request()
        if per is not None:  # what our requests earn, at our pace
            return self._earned(per) * 60 / max(self._gap_s or 1.0, 1.0)
        rate = self.rate_share.rate_at(now)
        return None if rate is None else rate * 60

    def snapshot(self) -> dict[str, object]:
        now = self._clock()
        self.guard.expire(now)
        per = self._per_request()
        told = self.herald.snapshot()
        return {
            "holding": told["holding"],
            "skipped": told["skipped"],
            "shrunk": told["shrunk"],
            **self.guard.snapshot(now),
            "shareTokensPerMinute": _rounded(self._share_per_minute(now)),
            "plannedTokensPerRequest": _rounded(per if per is not None else self._affordable(now)),
            "sentShare": round(self.share.sent_share, 2) if per is not None else None,
            "guardHeldShare": round(self.share.held, 2) if per is not None else None,
            "lastDecision": told["lastDecision"],
            "tokensToday": self.guard.state.tokens_today,
            "limits": {
                "rpm": self.rpm,
                "tpm": self.tpm,
                "windowSeconds": self.limits.window_s,
                "tokensPerDay": self.limits.tokens_per_day,
            },
        }


def _rounded(value: float | None) -> int | None:
    return None if value is None or not math.isfinite(value) else round(value)
