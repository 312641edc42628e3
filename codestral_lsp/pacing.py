"""A workspace limit shared with others, seen from one server: what is left, and our share.

The backend's ``x-ratelimit-*`` headers tell every client of a workspace the same two figures
for its window: the tokens and the requests left. From them, carried forward to now:

- **What is left** (``Workspace.predicted_left``): the last report, less what we sent since,
  plus what has left the window meanwhile (a sliding window empties at its average rate; within
  a window of our first report only what was there then can have left), less what the others
  spend meanwhile at their measured rate (for one window at most: after that the report's
  usage has all left, and only what came since is in the window). The guard keeps
  ``MARGIN_S`` of the others' spend back for their decisions made on views as old as ours: at
  the window's average rate, or at the workspace's current inflow when that is ``SURGE`` times
  more (a burst has just left the window and every server's budget rose at once; the average
  under-counts what the others send while our report ages, and in the team simulation of a
  team typing steadily, 15-45 requests a minute, that was ~35 429s a seed). Only in a window we
  have watched whole: in one still filling (a team that starts together) the average is no
  baseline, the young-window rule keeps requests small, and a surge margin there only held
  requests back (four servers accepted ~15% fewer characters in ``--shared --realistic``).
- **A budget per request** (``Share.per_request``), when the requests are counted too: the
  workspace's target (``TARGET`` of its token limit) over the number of requests in its window.
  Every server reads the same count, so every request of the workspace gets the same budget,
  whoever sends it, and together they spend the target however many they are: no server needs
  to know how many others there are, and a newcomer has its share from its first answer. The
  budget is corrected by what a request really spends of what was planned (short files, short
  answers), learnt from a newcomer's first answer on.
- **A young window's count is no rate.** A first look at a window under ``YOUNG`` of its
  limit may be a window that is still filling: a team that starts together fills a quarter of
  it with its first requests, and a budget from so few would let every server spend the window
  in its first seconds. Until a second report measures how fast requests come
  (``Workspace.rate_unknown``), the governor plans at what each request of a saturated limit
  gets.
- **What the guard holds back, the count misses.** When the workspace runs into the guard,
  the requests it holds back are not counted: fewer requests in the window raise every
  request's budget, the guard holds more back, and the servers run into 429s (a budget 10%
  too high gave about 100 a seed in the team simulation). So the budget is scaled by the share
  of our automatic requests the guard let through (``Share.held``), our view of what the
  count misses (with it, 0-11 a seed), down to ``1 - HELD_MAX`` of it: a server the guard
  holds back on reports that age while it waits sees nearly all of its requests held, and
  unbounded, that share brought its budget to a token and starved it (in the simulation of a
  team typing steadily, 15-45 requests a minute, one such server got nothing for 5 minutes).
- **Skipping, when even the floor is too much**: below ``FLOOR_TOKENS`` a request would say
  too little to be worth sending, so each automatic request earns the budget as credit and one
  of the floor's size goes when the credit allows (``Share.sent_share`` says how many go).
  Those requests are larger than the budget the window's count gave them, so the servers
  overspend by about the floor over the budget, and the guard holds that back. Where it holds
  ours back (``Share.held`` over ``HOLDING``), a request earns less (``Share.earned``): the
  budget times (budget / floor)², from the workspace's count alone, the same for every server
  (from our own budget, which the held share lowers, a server held back earned less, sent less
  and starved). In the team simulation of a team typing steadily (15-45 requests a minute, the
  budget about half the floor) that took the 429s from ~8 a seed to none; where the guard
  holds little, as in ``benchmarks --shared --realistic`` (whose young window counts high),
  it changes nothing.
- **A rate**, when the backend reports tokens only (``ratelimitbysize-*``) or only a configured
  ``rateLimit`` is known: ``rate_share.RateShare``, steered by ``Workspace.congestion``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

TARGET = 0.94  # the share of the workspace's limit its servers aim to spend together
MARGIN_S = 3.0  # seconds of the others' spend kept back for their simultaneous decisions
SURGE = 1.6  # a workspace spending this many times its window's average is in a surge
FLOOR_TOKENS = 256  # the smallest request: ~128 tokens of context (the 8-10 lines nearest the
# cursor, most of a completion's signal) and an answer of up to 128 tokens
PROJECT_S = 10.0  # the rate fallback projects the usage this far ahead
QUIET = 0.6  # below 60% of the target, a workspace is quiet: the rate fallback grows faster
SENT_SHARE_PULL = 0.1  # how fast the share of requests sent follows each decision
HELD_PULL = 0.1  # how fast the share of requests the guard held back follows each decision
HELD_MAX = 0.8  # the budget is scaled down by that share to a fifth at most (see Share.held)
HOLDING = 0.05  # from this held share on, a request under the floor earns less (Share.earned)
CROWDED_POWER = 2.0  # ...the budget times (budget / floor) to this power
FILLING = 0.2  # a window under this share of its limit at our first look is still filling
YOUNG = 0.5  # under this share at our first look, a window may be young: its count is no rate
LEARN = 0.2  # how fast what requests spend is learnt, once five have been seen


@dataclass
class Sent:
    """One request of ours: when, and its tokens (estimated, then as counted)."""

    at: float
    tokens: int


@dataclass(frozen=True)
class Report:
    """What the backend said was left in its window, as of when our request arrived."""

    at: float
    tokens: int | None
    requests: int | None
    reset_at: float | None  # when a fixed window ends, if the backend says


def _workspace_budget(tpm: int, requests: int) -> float:
    """Each request's budget by the window's count alone: the target over the count."""
    return tpm * TARGET / max(1, requests)


def _ema(old: float | None, new: float, weight: float) -> float:
    return new if old is None else old + weight * (new - old)


class Workspace:
    """The shared window as the headers describe it, brought forward to now."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.tpm: int | None = None  # learnt limits
        self.rpm: int | None = None
        self.report: Report | None = None
        self.others_tokens_per_s = 0.0
        self.token_inflow: float | None = None  # the workspace's spend now, tokens a second
        self.request_inflow: float | None = None  # its requests a second now
        self._first: tuple[float, int] | None = None  # our first report: when, the usage

    def observe(
        self, report: Report, tpm: int | None, rpm: int | None, ours: Iterable[Sent]
    ) -> None:
        """A new report; ``ours`` are our requests still in the window."""
        last, self.report = self.report, report
        if tpm is None or report.tokens is None:
            return
        used = tpm - report.tokens
        if self._first is None:
            self._first = (report.at, used)
        mine = sum(s.tokens for s in ours if report.at - self.window_s < s.at <= report.at)
        others = max(0, used - mine) / self.window_s
        self.others_tokens_per_s = _ema(self.others_tokens_per_s, others, 0.5)
        if last is None or report.at - last.at < 0.5:
            return
        span = report.at - last.at
        if last.tokens is not None:  # what came in: the change, plus what left meanwhile
            came = (last.tokens - report.tokens) / span + used / self.window_s
            self.token_inflow = _ema(self.token_inflow, max(0.0, came), 0.4)
        if rpm is not None and last.requests is not None and report.requests is not None:
            came = (last.requests - report.requests) / span + (
                rpm - report.requests
            ) / self.window_s
            self.request_inflow = _ema(self.request_inflow, max(0.0, came), 0.4)

    def rate_unknown(self, tpm: int) -> bool:
        """Whether the window's count may not be a rate yet: our first look found it under
        ``YOUNG`` of its limit (a team that starts together: four servers' first requests fill a
        quarter of it) and no second report has measured how fast requests come."""
        first = self._first
        return first is not None and first[1] < YOUNG * tpm and self.request_inflow is None

    def requests_in_window(self, rpm: int | None, tpm: int | None) -> int | None:
        """The workspace's requests in its window, counting those coming while it fills."""
        report = self.report
        if report is None or report.requests is None or rpm is None:
            return None
        counted = max(1, rpm - report.requests)
        first = self._first
        if first is not None and tpm is not None and first[1] < FILLING * tpm:
            # The window was nearly empty at our first look: it is still filling, so what it
            # counts so far is the count of a shorter window.
            young = report.at - first[0]
            if young < self.window_s:
                counted = max(counted, int(counted * self.window_s / max(young, 5.0)))
        if self.request_inflow is not None:  # a rate already: a whole window's worth
            counted = max(counted, int(self.request_inflow * self.window_s))
        return counted

    def predicted_left(self, now: float, tpm: int | None, ours: Iterable[Sent]) -> float | None:
        """Tokens left now by the last report (see the module docstring), before the margin."""
        report = self.report
        if report is None or report.tokens is None:
            return None
        since = sum(s.tokens for s in ours if s.at > report.at)
        if tpm is None:  # no limit known: nothing is known to leave the window
            return report.tokens - since
        age = max(0.0, now - report.at)
        used = tpm - report.tokens
        if self._first is not None and now < self._first[0] + self.window_s:
            used = min(used, self._first[1])  # the rest came since our first look
        left_window = used * min(1.0, age / self.window_s)
        # A window after the report, all it counted has left: what is in the window then is what
        # came since, and the others' spend over more than one window is not in it.
        others = self.others_tokens_per_s * min(age, self.window_s)
        return report.tokens - since + left_window - others

    def room(self, now: float, tpm: int | None, ours: Iterable[Sent]) -> int | None:
        """Tokens that may go out now without a refusal, margin kept back."""
        predicted = self.predicted_left(now, tpm, ours)
        if predicted is None:
            return None
        rate = self.others_tokens_per_s
        watched = self._first is not None and now - self._first[0] >= self.window_s
        if watched and self.token_inflow is not None and self.token_inflow > SURGE * rate:
            rate = self.token_inflow  # a surge: the window's average under-counts the others
        return int(predicted - rate * MARGIN_S)

    def requests_left(self, now: float, rpm: int | None, ours: Iterable[Sent]) -> int | None:
        report = self.report
        if report is None or report.requests is None:
            return None
        since = sum(1 for s in ours if s.at > report.at)
        if rpm is None:
            return report.requests - since
        used = rpm - report.requests
        return int(report.requests - since - used / self.window_s * MARGIN_S)

    def congestion(self, tpm: int) -> tuple[float, bool]:
        """How far the projected usage is past the target (0 to 1), and whether it is quiet."""
        report = self.report
        if report is None or report.tokens is None:
            return 0.0, False
        limit = float(tpm)
        used = limit - report.tokens
        trend = 0.0 if self.token_inflow is None else self.token_inflow - used / self.window_s
        projected = max(0.0, (used + trend * PROJECT_S) / limit)
        return min(1.0, max(0.0, (projected - TARGET) / (1.0 - TARGET))), projected < QUIET * TARGET

    def expired(self, now: float) -> bool:
        """Whether the last report's window is over (a fixed window's reset has passed)."""
        report = self.report
        return report is not None and report.reset_at is not None and now >= report.reset_at

    def forget(self) -> None:
        """The report's window is over: what it said, and the rates and first look measured up
        to it, describe a window that has left. The limits stay."""
        self.report, self._first = None, None
        self.token_inflow = self.request_inflow = None
        self.others_tokens_per_s = 0.0


class Share:
    """This server's share of the workspace: a budget per request."""

    def __init__(self) -> None:
        self.credit = 0.0  # tokens earned by automatic requests in a busy workspace
        self.sent_share = 1.0  # of those requests, the share that went out
        self.held = 0.0  # of our automatic requests the guard decided, the share it held back
        self.spent_of_estimate = 1.0  # tokens counted / tokens estimated, learnt
        self.estimate_of_plan = 1.0  # tokens estimated / tokens planned, learnt
        self._spends = self._fills = 0  # answers and plans learnt from so far

    # --- per request ---------------------------------------------------------------------

    def per_request(self, tpm: int | None, requests: int | None) -> float | None:
        """The budget of one request, tokens (None: the requests are not counted)."""
        if tpm is None or requests is None:
            return None
        learnt = self.spent_of_estimate * self.estimate_of_plan
        return _workspace_budget(tpm, requests) * (1.0 - min(self.held, HELD_MAX)) / learnt

    def guarded(self, held: bool) -> None:
        """An automatic request the guard held back (or, ``held=False``, one that went)."""
        self.held += HELD_PULL * ((1.0 if held else 0.0) - self.held)

    def earned(self, per: float, tpm: int | None, requests: int | None) -> float:
        """What an automatic request earns toward the next (see the module docstring): ``per``,
        less under the floor while the guard holds ours back."""
        if tpm is None or requests is None or self.held <= 0:
            return per
        workspace = _workspace_budget(tpm, requests)  # before what we learnt and held
        if workspace >= FLOOR_TOKENS:
            return per
        power = CROWDED_POWER * min(1.0, self.held / HOLDING)
        factor: float = (workspace / FLOOR_TOKENS) ** power
        return per * factor

    def attempt(self, budget: float, need: float) -> bool:
        """An automatic request in a busy workspace: may it go? It earns ``budget`` as credit;
        one goes when the credit covers it. (The budget counts only requests sent, so while
        some are skipped the servers spend over the target; the guard holds the limit, and
        ``earned`` lowers the credit while it holds ours back. Scaling the credit by our own
        share sent instead starves a server that falls behind: fewer sent, less credit, fewer
        sent.)"""
        self.credit = min(self.credit + budget, 2 * max(need, FLOOR_TOKENS))
        goes = self.credit >= need
        self.sent_share += SENT_SHARE_PULL * ((1.0 if goes else 0.0) - self.sent_share)
        return goes

    def spend(self, tokens: float) -> None:
        self.credit = max(0.0, self.credit - tokens)

    def learn_spend(self, estimated: int, counted: int) -> None:
        if estimated > 0:
            ratio = min(1.0, max(0.2, counted / estimated))
            self._spends += 1
            weight = max(LEARN, 1 / self._spends)  # a newcomer learns from its first answer
            self.spent_of_estimate += weight * (ratio - self.spent_of_estimate)

    def learn_fill(self, estimated: int, planned: float) -> None:
        if planned > 0:
            ratio = min(1.0, max(0.2, estimated / planned))
            self._fills += 1
            weight = max(LEARN, 1 / self._fills)
            self.estimate_of_plan += weight * (ratio - self.estimate_of_plan)
