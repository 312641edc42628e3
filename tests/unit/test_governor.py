"""The governor: local windows, the backend's allowance, 429 cool-downs, the daily cap."""

from __future__ import annotations

import json
import logging

import pytest

from codestral_lsp.governor import Governor, Limits, Plan, Verdict
from codestral_lsp.guard import MAX_COOL_DOWN_S
from codestral_lsp.notices import Notice
from codestral_lsp.pacing import (
    FLOOR_TOKENS,
    HELD_MAX,
    HOLDING,
    MARGIN_S,
    TARGET,
    Report,
    Share,
    Workspace,
)


class Clock:
    """Monotonic time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Today:
    def __init__(self) -> None:
        self.day = "2026-01-01"

    def __call__(self) -> str:
        return self.day


class Said:
    """The notices the governor gave, and their texts."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def __call__(self, notice: Notice) -> None:
        self.notices.append(notice)

    @property
    def messages(self) -> list[str]:
        return [n.text for n in self.notices]

    def about(self, word: str) -> list[str]:
        return [m for m in self.messages if word in m]


def make(limits: Limits | None = None, jitter: float = 0.5) -> tuple[Governor, Clock, Today, Said]:
    clock, today, said = Clock(), Today(), Said()
    governor = Governor(notify=said, clock=clock, today=today, jitter=lambda: jitter)
    if limits is not None:
        governor.configure(limits)
    return governor, clock, today, said


def test_no_limits_allow_everything() -> None:
    governor, *_ = make()
    assert governor.admit(invoked=False, need=1_000_000) == Verdict(True)
    snapshot = governor.snapshot()
    assert (snapshot["requestsLeft"], snapshot["tokensLeft"], snapshot["holding"]) == (
        None,
        None,
        None,
    )


def test_requests_per_window_expire_after_the_window() -> None:
    governor, clock, _, _ = make(Limits(rpm=2, window_s=60))
    governor.sent(10)
    clock.now += 30
    governor.sent(10)
    for invoked in (False, True):  # nothing left: not even for an explicit request
        verdict = governor.admit(invoked, 10)
        assert (verdict.allowed, verdict.reason) == (False, "no requests left in this minute")
    clock.now += 29.5
    assert not governor.admit(False, 10).allowed
    clock.now += 0.5  # the first request is a window old
    assert governor.admit(False, 10).allowed
    assert governor.snapshot()["requestsLeft"] == 1


def test_settle_replaces_the_estimate() -> None:
    governor, *_ = make(Limits(tpm=10_000))
    entry = governor.sent(3_000)
    governor.settle(entry, 1_200, 300)
    assert governor.snapshot()["tokensLeft"] == 8_500
    assert governor.snapshot()["tokensToday"] == 1_500


# --- what the backend says --------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-ratelimit-limit-tokens-minute": "60000"},  # a limit alone says nothing about now
        {"x-ratelimit-remaining-tokens-minute": "many"},
        {"content-type": "application/json"},
    ],
)
def test_headers_without_a_remaining_figure_change_nothing(headers: dict[str, str]) -> None:
    governor, *_ = make()
    governor.observe_headers(headers)
    assert governor.snapshot()["tokensLeft"] is None


def test_fractional_figures_are_read() -> None:
    governor, *_ = make()
    governor.observe_headers({"x-ratelimit-remaining-tokens-minute": "2500.7"})
    assert governor.snapshot()["tokensLeft"] == 2_500


def test_no_learning_from_reports_too_close_together() -> None:
    governor, clock, _, _ = make()
    governor.observe_headers({"x-ratelimit-remaining-tokens-minute": "50000"})
    clock.now += 0.01
    governor.observe_headers({"x-ratelimit-remaining-tokens-minute": "40000"})
    assert governor.snapshot()["othersTokensPerSecond"] == 0.0


# --- 429 --------------------------------------------------------------------------------------


def test_retry_after_cools_automatic_requests_down() -> None:
    governor, clock, _, said = make()
    governor.rate_limited(30.0, {})
    verdict = governor.admit(False, 100)
    assert (verdict.allowed, verdict.reason) == (False, "cool-down after HTTP 429, 30 s left")
    assert governor.admit(True, 100).allowed  # an explicit request still goes out
    assert governor.snapshot()["coolDownSeconds"] == 30.0
    clock.now += 29.5
    assert not governor.admit(False, 100).allowed
    clock.now += 0.5
    assert governor.admit(False, 100).allowed
    assert said.about("cooling down for 30.0 s")
    assert governor.snapshot()["rateLimited"] == 1


def test_a_429_also_reads_its_headers() -> None:
    governor, clock, _, _ = make()
    governor.rate_limited(5.0, {"x-ratelimit-remaining-tokens-minute": "0"})
    clock.now += 5
    verdict = governor.admit(False, 100)
    assert (verdict.allowed, verdict.reason) == (False, "token allowance low (0 left)")


def cool_down(governor: Governor, clock: Clock) -> float:
    """A 429 without Retry-After: the cool-down it starts; the clock then moves past it."""
    governor.rate_limited(None, {})
    seconds = governor.guard.state.cool_down_until - clock.now
    clock.now += seconds
    return seconds


@pytest.mark.parametrize(
    ("jitter", "expected"),
    [
        (0.5, [1, 2, 4, 8, 16, 32, 60, 60]),  # jitter in the middle: the plain doubling
        (0.0, [0.5, 1, 2, 4, 8, 16, 30, 30]),
        (0.99, [1.49, 2.98, 5.96, 11.92, 23.84, 47.68, 89.4, 89.4]),
    ],
)
def test_backoff_doubles_with_jitter_up_to_a_cap(jitter: float, expected: list[float]) -> None:
    governor, clock, _, _ = make(jitter=jitter)
    assert [cool_down(governor, clock) for _ in expected] == pytest.approx(expected)


def test_a_success_resets_the_backoff() -> None:
    governor, clock, _, _ = make()
    assert [cool_down(governor, clock) for _ in range(3)] == [1, 2, 4]
    governor.settle(governor.sent(10), 5, 5)
    assert cool_down(governor, clock) == 1


def test_a_shorter_retry_after_does_not_end_a_longer_cool_down() -> None:
    governor, *_ = make()
    governor.rate_limited(30.0, {})
    governor.rate_limited(5.0, {})
    assert governor.snapshot()["coolDownSeconds"] == 30.0


# --- the daily cap ----------------------------------------------------------------------------


def test_daily_cap_stops_automatic_requests_until_the_next_day() -> None:
    governor, _, today, said = make(Limits(tokens_per_day=1_000))
    governor.settle(governor.sent(300), 700, 299)
    assert governor.admit(False, 100).allowed  # 999 used
    governor.settle(governor.sent(10), 1, 0)
    verdict = governor.admit(False, 100)
    assert (verdict.allowed, verdict.reason) == (False, "daily token cap of 1000 reached")
    assert governor.admit(True, 100).allowed
    assert governor.snapshot()["tokensToday"] == 1_000
    today.day = "2026-01-02"
    assert governor.admit(False, 100).allowed
    assert governor.snapshot()["tokensToday"] == 0
    assert len(said.about("holding")) == 1
    assert len(said.about("resume")) == 1
    # The user can act on the cap (maxTokensPerDay): shown; that it ended is for the log.
    assert [(n.actionable, n.level) for n in said.notices] == [
        (True, logging.WARNING),
        (False, logging.INFO),
    ]


def test_tokens_settled_after_midnight_count_for_the_new_day() -> None:
    governor, _, today, _ = make(Limits(tokens_per_day=1_000))
    entry = governor.sent(500)
    governor.settle(governor.sent(900), 900, 0)
    today.day = "2026-01-02"
    governor.settle(entry, 400, 100)
    assert governor.snapshot()["tokensToday"] == 500


# --- telling the user -------------------------------------------------------------------------


def test_a_new_reason_to_hold_is_told_once() -> None:
    governor, clock, _, said = make()
    governor.rate_limited(10.0, {})
    for _ in range(4):
        governor.admit(False, 100)
        clock.now += 1
    assert len(said.about("rate limited")) == 1
    assert len(said.about("holding")) == 1  # not one per request, though the seconds change
    assert not any(n.actionable for n in said.notices)  # a cool-down passes: for the log only
    governor.observe_headers({"x-ratelimit-remaining-req-minute": "0"})
    clock.now += 10
    for _ in range(3):
        governor.admit(False, 100)
    assert said.about("holding")[1:] == [
        "codestral-lsp: holding automatic requests back: no requests left in this minute"
    ]


# --- pacing a shared limit ----------------------------------------------------------------------

FULL = 2_304  # contextTokens 2048 + maxTokens 256


def workspace(remaining: int, limit: int = 60_000) -> dict[str, str]:
    return {
        "x-ratelimit-limit-tokens-minute": str(limit),
        "x-ratelimit-remaining-tokens-minute": str(remaining),
    }


def test_alone_and_unlimited_nothing_is_paced() -> None:
    governor, clock, _, _ = make()
    for _ in range(50):
        assert governor.plan(False, FULL, 256) == Plan(1.0, 256)
        assert governor.admit(False, FULL) == Verdict(True)
        governor.sent(FULL)
        clock.now += 0.1
    assert governor.snapshot()["shareTokensPerMinute"] is None


def test_a_remaining_figure_guards_until_its_window_ends() -> None:
    governor, clock, _, _ = make()
    governor.observe_headers({"x-ratelimit-remaining-tokens-minute": "3000"})
    assert governor.snapshot()["tokensLeft"] == 3_000
    clock.now += 1
    governor.sent(1_000)  # ours since the report count against it
    assert governor.snapshot()["tokensLeft"] == 2_000
    assert not governor.admit(False, 5_000).allowed
    clock.now += 60
    assert governor.admit(False, 5_000) == Verdict(True)
    assert governor.snapshot()["tokensLeft"] is None


def test_a_remaining_requests_figure_guards_too() -> None:
    governor, clock, _, _ = make()
    governor.observe_headers({"x-ratelimit-remaining-req-minute": "1"})
    assert governor.admit(False, 10).allowed
    clock.now += 1
    governor.sent(10)
    assert governor.snapshot()["requestsLeft"] == 0
    assert not governor.admit(True, 10).allowed
    clock.now += 60
    assert governor.admit(False, 10).allowed


def test_a_reset_header_ends_the_report_at_the_reset() -> None:
    governor, clock, _, _ = make()
    governor.observe_headers({"ratelimitbysize-remaining": "500", "ratelimitbysize-reset": "12"})
    assert not governor.admit(False, 1_000).allowed
    clock.now += 12
    assert governor.admit(False, 1_000).allowed


def test_the_limit_is_learnt_from_headers_but_the_setting_wins() -> None:
    governor, *_ = make()
    governor.observe_headers(workspace(50_000))
    assert governor.snapshot()["limits"] == {
        "rpm": None,
        "tpm": 60_000,
        "windowSeconds": 60.0,
        "tokensPerDay": None,
    }
    configured, *_ = make(Limits(tpm=1_000))
    configured.observe_headers(workspace(1))
    assert configured.tpm == 1_000


def test_others_spend_is_what_the_window_holds_that_is_not_ours() -> None:
    governor, clock, _, _ = make()
    entry = governor.sent(1_000)
    clock.now += 1
    governor.observe_headers(workspace(47_000), as_of=entry.at)
    # 13,000 used, 1,000 ours: others 12,000 in the window, 200 a second, averaged with 0.
    assert governor.snapshot()["othersTokensPerSecond"] == 100.0


def test_pacing_is_not_announced_but_holding_is_once() -> None:
    governor, clock, _, said = make()
    governor.observe_headers({"x-ratelimit-remaining-tokens-minute": "100"})
    for _ in range(5):
        assert not governor.admit(False, 300).allowed
    assert said.messages == [
        "codestral-lsp: holding automatic requests back: token allowance low (100 left)"
    ]
    assert governor.snapshot()["holding"] == "token allowance low"
    assert governor.snapshot()["skipped"] == 5
    clock.now += 60
    assert governor.admit(False, 300).allowed
    assert said.messages[1:] == ["codestral-lsp: requests resume (was: token allowance low)"]


def test_an_absurd_retry_after_is_capped_and_a_success_ends_it() -> None:
    governor, *_ = make()
    governor.rate_limited(31_536_000.0, {})
    assert governor.snapshot()["coolDownSeconds"] == MAX_COOL_DOWN_S
    governor.settle(governor.sent(10), 5, 5)  # an explicit request was answered
    assert governor.admit(False, 10).allowed


@pytest.mark.parametrize("retry_after", [float("inf"), float("nan"), -5.0])
def test_a_retry_after_that_is_no_number_backs_off(retry_after: float) -> None:
    governor, *_ = make()
    governor.rate_limited(retry_after, {"x-ratelimit-remaining-tokens-minute": "1e400"})
    snapshot = governor.snapshot()
    assert snapshot["coolDownSeconds"] == 1.0  # the first backoff step
    json.dumps(snapshot, allow_nan=False)  # valid JSON for codestral.status


def test_tokens_come_back_after_the_window() -> None:
    governor, clock, _, _ = make(Limits(tpm=10_000, window_s=10))
    governor.sent(9_000)
    assert not governor.admit(True, 2_000).allowed
    clock.now += 10
    assert governor.admit(True, 2_000) == Verdict(True)
    assert governor.snapshot()["tokensLeft"] == 10_000


def test_a_configured_limit_paces_a_rate_and_guards_the_window() -> None:
    governor, clock, _, _ = make(Limits(tpm=6_000, window_s=60))  # 100 tokens a second
    assert governor.admit(False, 2_000) == Verdict(True)
    governor.sent(2_000)  # the bucket is in debt for a while
    verdict = governor.admit(False, 500)
    assert not verdict.allowed
    assert verdict.reason.startswith("pacing: ")
    assert governor.admit(True, 500) == Verdict(True)  # an explicit request skips the pacing
    governor.sent(3_700)
    verdict = governor.admit(True, 1_000)  # but not the window: 5,700 of 6,000 spent
    assert verdict == Verdict(False, "token allowance low (300 left)")
    clock.now += 60  # the window is free again, but the debt (5,700) is paid at the share's rate
    rate = governor.rate_share.rate_at(clock.now)
    assert rate is not None
    assert 60 * rate < 5_700
    assert governor.admit(False, 1_000).reason.startswith("pacing: ")
    clock.now += 5
    assert governor.admit(False, 1_000) == Verdict(True)


def busy(remaining_tokens: int, remaining_requests: int) -> dict[str, str]:
    """A workspace of 60,000 tokens and 500 requests a minute."""
    return {
        **workspace(remaining_tokens),
        "x-ratelimit-limit-req-minute": "500",
        "x-ratelimit-remaining-req-minute": str(remaining_requests),
    }


def test_a_busy_workspace_gives_each_request_the_target_over_its_request_count() -> None:
    governor, clock, _, _ = make()
    entry = governor.sent(1_000)
    governor.observe_headers(busy(8_000, 380), as_of=entry.at)  # 120 requests in the window
    plan = governor.plan(False, FULL, 256)
    budget = TARGET * 60_000 / 120
    assert plan.reason == f"busy workspace: request planned at {budget:.0f} of {FULL} tokens"
    assert plan.max_tokens is not None
    assert 64 <= plan.max_tokens < 256
    assert 0.0 < plan.scale < 0.25
    for _ in range(5):  # each within its budget: none is skipped
        clock.now += 10
        assert governor.admit(False, 400) == Verdict(True)
        governor.sent(400)


def test_below_the_floor_requests_are_skipped_to_keep_the_target() -> None:
    governor, clock, _, _ = make()
    entry = governor.sent(1_000)
    governor.observe_headers(busy(8_000, 100), as_of=entry.at)  # 400 requests in the window
    budget = TARGET * 60_000 / 400  # 132 tokens: under the floor
    plan = governor.plan(False, FULL, 256)
    assert plan.reason == f"busy workspace: request planned at {FLOOR_TOKENS} of {FULL} tokens"
    went = 0
    for _ in range(40):
        clock.now += 2
        verdict = governor.admit(False, FLOOR_TOKENS)
        if verdict.allowed:
            went += 1
            entry = governor.sent(FLOOR_TOKENS)
            governor.observe_headers(busy(8_000, 100), as_of=entry.at)  # as busy as before
        else:
            assert verdict.reason == f"pacing: saving up for a request ({budget:.0f} tokens each)"
    assert 0.3 * 40 < went < 0.8 * 40  # fewer go, and together they keep to the budget
    assert governor.admit(True, FLOOR_TOKENS).allowed  # not a request the user asked for
    assert governor.snapshot()["sentShare"] == pytest.approx(went / 40, abs=0.2)


def test_what_the_guard_holds_back_shrinks_the_budget_instead_of_growing_it() -> None:
    # Requests the guard holds back are not in the window's count: fewer counted, a larger
    # budget each, more held back. Our own held share stands for what the count misses.
    governor, clock, _, _ = make()
    entry = governor.sent(1_000)
    governor.observe_headers(busy(1_000, 300), as_of=entry.at)  # 200 requests, nearly full
    full_budget = TARGET * 60_000 / 200
    assert governor.snapshot()["plannedTokensPerRequest"] == round(full_budget)
    for _ in range(5):
        clock.now += 0.1
        assert governor.admit(False, FLOOR_TOKENS).reason.startswith("token allowance low")
    held = 1 - 0.9**5
    assert governor.share.held == pytest.approx(held)
    snapshot = governor.snapshot()
    assert snapshot["plannedTokensPerRequest"] == round(full_budget * (1 - held))
    assert snapshot["guardHeldShare"] == round(held, 2)
    assert governor.admit(True, FLOOR_TOKENS).reason.startswith("token allowance low")
    assert governor.share.held == pytest.approx(held)  # an invoked request is not ours to pace
    assert not governor.room_for_speculation(50)  # the guard says no...
    assert governor.share.held == pytest.approx(held)  # ...to a question, not a request
    entry = governor.sent(FLOOR_TOKENS)
    governor.observe_headers(busy(40_000, 300), as_of=entry.at)  # room again
    assert governor.admit(False, 100).allowed
    assert governor.share.held == pytest.approx(0.9 * held)


def test_a_quiet_workspace_is_not_paced_per_request() -> None:
    governor, clock, _, _ = make()
    governor.observe_headers(busy(50_000, 490))  # 10 requests: quiet, or still filling?
    assert governor.plan(False, FULL, 256).scale < 1.0  # filling: counted over a whole window
    clock.now += 61
    entry = governor.sent(1_000)
    governor.observe_headers(busy(50_000, 490), as_of=entry.at)  # a window on: quiet
    assert governor.plan(False, FULL, 256) == Plan(1.0, 256)  # 5,280 tokens each: plenty
    for _ in range(5):
        assert governor.admit(False, FULL).allowed
        governor.sent(FULL)
        clock.now += 1


def test_every_server_of_a_workspace_gets_the_same_budget_from_its_first_answer() -> None:
    clock = Clock()
    first, late = (Governor(clock=clock, today=lambda: "d", jitter=lambda: 0.5) for _ in "ab")
    first.observe_headers(busy(40_000, 480))
    for _ in range(30):
        clock.now += 3
        first.observe_headers(busy(20_000, 400))
    late.observe_headers(busy(20_000, 400))  # the newcomer's first answer
    ours, theirs = late.plan(False, FULL, 256), first.plan(False, FULL, 256)
    assert ours.scale == pytest.approx(theirs.scale, rel=0.05)


def test_the_budget_learns_what_requests_really_spend() -> None:
    governor, *_ = make()
    entry = governor.sent(1_000)
    governor.observe_headers(busy(8_000, 380), as_of=entry.at)
    before = governor.plan(False, FULL, 256)
    for _ in range(10):  # requests spend half of what was estimated
        governor.settle(governor.sent(400), 150, 50)
    after = governor.plan(False, FULL, 256)
    assert after.scale > before.scale


def test_snapshot_says_the_share_and_the_plan() -> None:
    governor, clock, _, _ = make(Limits(rpm=10, tpm=6_000, window_s=60, tokens_per_day=5_000))
    governor.settle(governor.sent(100), 60, 40)
    governor.rate_limited(12.5, {})
    governor.admit(False, 10)
    clock.now += 2.5
    snapshot = governor.snapshot()
    assert snapshot["holding"] == "cool-down after HTTP 429"
    assert snapshot["coolDownSeconds"] == 10.0
    assert (snapshot["rateLimited"], snapshot["skipped"], snapshot["requestsLeft"]) == (1, 1, 9)
    assert snapshot["tokensLeft"] == 5_900
    share = snapshot["shareTokensPerMinute"]
    assert isinstance(share, int)
    assert 0 < share <= 6_000 * TARGET / 2  # halved by the 429
    assert isinstance(snapshot["plannedTokensPerRequest"], int)
    assert snapshot["sentShare"] is None  # no request counts reported
    assert snapshot["limits"] == {
        "rpm": 10,
        "tpm": 6_000,
        "windowSeconds": 60,
        "tokensPerDay": 5_000,
    }
    json.dumps(snapshot, allow_nan=False)


def test_a_change_of_share_is_news_for_the_log_only() -> None:
    governor, clock, _, said = make(Limits(tpm=60_000, window_s=60))
    entry = governor.sent(1_000)
    clock.now += 1
    governor.observe_headers(workspace(50_000), as_of=entry.at)
    [share] = [n for n in said.notices if n.topic == "share"]
    assert (share.level, share.actionable) == (logging.INFO, False)
    assert share.text.startswith("pacing: share ~")
    assert share.text.endswith(" tokens/min")


def test_speculation_only_with_room_for_a_full_size_call() -> None:
    governor, clock, _, _ = make(Limits(rpm=2, tpm=10_000, window_s=60))
    assert governor.room_for_speculation(500)  # the share's bucket and the window have room
    assert not governor.room_for_speculation(9_000)  # allowed, but not twice over
    assert governor.admit(False, 5_000).allowed  # a request the user waits for still goes
    governor.sent(1_000)
    governor.sent(1_000)
    assert not governor.room_for_speculation(100)  # no requests left in the window
    clock.now += 61
    assert governor.room_for_speculation(100)


def test_a_newcomer_to_a_configured_shared_limit_starts_small_then_plans_by_the_report() -> None:
    governor, clock, _, _ = make(Limits(rpm=500, tpm=60_000, window_s=60))
    plan = governor.plan(False, FULL, 256)  # what each request of a saturated limit gets
    assert plan.reason == (
        f"shared limit, no report yet: request planned at {FLOOR_TOKENS} of {FULL} tokens"
    )
    entry = governor.sent(300)
    governor.observe_headers(busy(59_700, 499), as_of=entry.at)  # alone, or a window just begun?
    assert governor.plan(False, FULL, 256).reason == (
        f"shared limit, its rate not measured yet: request planned at {FLOOR_TOKENS} of {FULL} "
        "tokens"
    )
    clock.now += 30
    entry = governor.sent(FLOOR_TOKENS)
    governor.observe_headers(busy(59_450, 498), as_of=entry.at)  # one request in 30 s: alone
    assert governor.plan(False, FULL, 256) == Plan(1.0, 256)
    unlimited, *_ = make()  # no shared limit configured: nothing to fear
    assert unlimited.plan(False, FULL, 256) == Plan(1.0, 256)


def test_a_team_that_starts_together_does_not_spend_the_window_in_its_first_seconds() -> None:
    # Four servers start at once, their limits learnt from the headers: a quarter of the window
    # went in their first four requests. Four requests are no rate: a budget of the target over
    # them (5,460 tokens) would let each send full requests until the window is spent.
    governor, clock, _, _ = make()
    headers = {
        **workspace(17_600, limit=24_000),
        "x-ratelimit-limit-req-minute": "204",
        "x-ratelimit-remaining-req-minute": "200",
    }
    entry = governor.sent(1_600)
    governor.observe_headers(headers, as_of=entry.at)
    assert governor.plan(False, FULL, 256).reason.startswith(
        f"shared limit, its rate not measured yet: request planned at {FLOOR_TOKENS} "
    )
    clock.now += 1  # the second report: 16 more requests in a second, a rate at last
    entry = governor.sent(FLOOR_TOKENS)
    headers |= {
        "x-ratelimit-remaining-tokens-minute": "13_500".replace("_", ""),
        "x-ratelimit-remaining-req-minute": "184",
    }
    governor.observe_headers(headers, as_of=entry.at)
    assert governor.workspace.request_inflow is not None
    plan = governor.plan(False, FULL, 256)
    assert plan.reason.startswith(f"busy workspace: request planned at {FLOOR_TOKENS} ")


def test_a_report_older_than_a_window_stops_counting_the_others_spend() -> None:
    governor, clock, _, _ = make()
    entry = governor.sent(1_000)
    governor.observe_headers(busy(20_000, 400), as_of=entry.at)  # others spent 39,000
    clock.now += 59
    left = governor.snapshot()["tokensLeft"]
    assert isinstance(left, int)
    assert left > 0
    clock.now += 1  # a window without an answer: all the report counted has left the window
    assert governor.snapshot()["tokensLeft"] is None
    assert governor.workspace.report is None
    assert governor.admit(False, 400).allowed


def test_after_a_window_without_answers_a_team_starting_again_is_a_young_window() -> None:
    # Yesterday's last report said the workspace was quiet (10 requests a window, 5,460 tokens
    # each). Overnight its window emptied; this morning's first look counts what the team's
    # first requests put in: four are no rate.
    governor, clock, _, _ = make()
    entry = governor.sent(1_000)
    governor.observe_headers(busy(55_000, 490), as_of=entry.at)
    clock.now += 1
    entry = governor.sent(1_000)
    governor.observe_headers(busy(54_000, 489), as_of=entry.at)
    assert governor.workspace.request_inflow is not None
    clock.now += 12 * 3600
    assert governor.plan(False, FULL, 256).reason.startswith("shared limit, no report yet")
    entry = governor.sent(FLOOR_TOKENS)
    governor.observe_headers(busy(53_000, 496), as_of=entry.at)  # 4 requests, 7,000 tokens
    assert governor.plan(False, FULL, 256).reason.startswith(
        "shared limit, its rate not measured yet"
    )


def test_a_filling_window_projects_its_count_but_not_its_inflow_again() -> None:
    ws = Workspace(60.0)
    ws.observe(Report(0.0, 59_000, 499, None), 60_000, 500, [])  # first look: nearly empty
    ws.observe(Report(10.0, 55_000, 480, None), 60_000, 500, [])  # 20 requests, 2 a second
    assert ws.request_inflow is not None
    inflow = ws.request_inflow * 60
    # the count (20 in 10 s) projected to a window, or the inflow (a rate): not their product
    assert ws.requests_in_window(500, 60_000) == max(20 * 6, int(inflow))


def test_a_newcomer_learns_what_requests_spend_from_its_first_answer() -> None:
    share = Share()
    share.learn_spend(1_000, 500)
    assert share.spent_of_estimate == 0.5
    share.learn_spend(1_000, 1_000)  # the mean of two
    assert share.spent_of_estimate == 0.75
    for _ in range(20):
        share.learn_spend(1_000, 1_000)
    before = share.spent_of_estimate
    share.learn_spend(1_000, 500)  # later, one answer moves it by a fifth of the difference
    assert share.spent_of_estimate == pytest.approx(before + 0.2 * (0.5 - before))


def test_a_server_whose_report_left_the_window_keeps_pacing_by_its_last_budget() -> None:
    # A busy workspace: 400 requests in the window, a budget under the floor, requests paced
    # by credit. A 429 and congested reports have brought the token-rate fallback down to a
    # trickle; then a window passes without an answer (the guard held this server back, or its
    # typist paused). It goes on at its budget per request, not at that trickle.
    governor, clock, _, _ = make(Limits(rpm=500, tpm=60_000))
    for _ in range(3):
        entry = governor.sent(FLOOR_TOKENS)
        clock.now += 1
        governor.observe_headers(busy(500, 100), as_of=entry.at)
    governor.rate_limited(0.5, busy(0, 100))
    budget = governor.snapshot()["plannedTokensPerRequest"]
    assert isinstance(budget, int)
    assert budget < FLOOR_TOKENS
    clock.now += 61  # the report has left the window
    governor.snapshot()
    assert governor.workspace.report is None
    went, reasons = 0, set()
    for _ in range(20):
        clock.now += 2
        verdict = governor.admit(False, FLOOR_TOKENS)
        if verdict.allowed:
            went += 1
            governor.sent(FLOOR_TOKENS)
        else:
            reasons.add(verdict.reason)
    assert reasons == {f"pacing: saving up for a request ({budget} tokens each)"}
    assert went == pytest.approx(20 * budget / FLOOR_TOKENS, abs=1.5)


def test_in_a_surge_the_guard_keeps_back_the_others_current_spend() -> None:
    # A window watched for a minute holds 30,000 tokens (500 a second on average); in the next
    # two seconds its usage grows by 5,000: a burst has left the window and every server sends
    # at once.
    def watched(surge: int) -> Workspace:
        ws = Workspace(60.0)
        ws.observe(Report(0.0, 30_000, 300, None), 60_000, 500, [])
        ws.observe(Report(60.0, 30_000, 300, None), 60_000, 500, [])
        ws.observe(Report(62.0, 30_000 - surge, 280, None), 60_000, 500, [])
        return ws

    ws = watched(5_000)
    inflow = ws.token_inflow
    assert inflow is not None
    assert inflow > 1.6 * ws.others_tokens_per_s
    predicted = ws.predicted_left(62.0, 60_000, [])
    assert predicted is not None
    assert ws.room(62.0, 60_000, []) == int(predicted - inflow * MARGIN_S)
    steady = watched(0)  # the same usage, coming in at its average rate
    predicted = steady.predicted_left(62.0, 60_000, [])
    assert predicted is not None
    assert steady.room(62.0, 60_000, []) == int(predicted - steady.others_tokens_per_s * MARGIN_S)
    filling = Workspace(60.0)  # a window still filling: its average is no baseline
    filling.observe(Report(0.0, 30_000, 300, None), 60_000, 500, [])
    filling.observe(Report(2.0, 25_000, 280, None), 60_000, 500, [])
    predicted = filling.predicted_left(2.0, 60_000, [])
    assert predicted is not None
    assert filling.room(2.0, 60_000, []) == int(predicted - filling.others_tokens_per_s * MARGIN_S)


def test_a_server_the_guard_holds_back_for_long_keeps_a_fifth_of_its_budget() -> None:
    # The guard holds this server back on a report that ages while it waits: nearly all its
    # requests are held. The share held scales its budget down, but not to nothing.
    governor, clock, _, _ = make()
    entry = governor.sent(1_000)
    governor.observe_headers(busy(0, 300), as_of=entry.at)  # full: 200 requests
    budget = TARGET * 60_000 / 200
    for _ in range(60):
        clock.now += 0.01
        assert governor.admit(False, FLOOR_TOKENS).reason.startswith("token allowance low")
    assert governor.share.held > 0.99
    snapshot = governor.snapshot()
    assert snapshot["plannedTokensPerRequest"] == round(budget * (1 - HELD_MAX))
    assert snapshot["guardHeldShare"] == 1.0


def test_under_the_floor_a_server_held_back_earns_less_by_the_workspace_count() -> None:
    # 400 requests in the window: a budget of 141 tokens, under the floor. Requests go at the
    # floor's size, more than the count gave them, and the guard holds ours back. A request then
    # earns the budget times (budget / floor)^2: the workspace's figure, not our budget, which
    # the held share lowers (from that, a server held back would earn less and less).
    governor, clock, _, _ = make()
    entry = governor.sent(1_000)
    governor.observe_headers(busy(0, 100), as_of=entry.at)
    for _ in range(10):
        clock.now += 0.01
        assert governor.admit(False, FLOOR_TOKENS).reason.startswith("token allowance low")
    held = 1 - 0.9**10
    assert governor.share.held == pytest.approx(held)
    entry = governor.sent(FLOOR_TOKENS)
    governor.observe_headers(busy(30_000, 100), as_of=entry.at)  # room again, as many requests
    workspace_budget = TARGET * 60_000 / 400
    per = workspace_budget * (1 - held)
    earned = per * (workspace_budget / FLOOR_TOKENS) ** 2
    verdict = governor.admit(False, FLOOR_TOKENS)
    assert verdict.reason == (
        f"pacing: saving up for a request ({per:.0f} tokens each,"
        f" {earned:.0f} saved by each of ours: held back)"
    )
    assert governor.share.credit == pytest.approx(earned)
    assert governor.snapshot()["shareTokensPerMinute"] == round(earned * 60)  # a request a second


def test_what_a_request_earns_changes_only_under_the_floor_and_while_held_back() -> None:
    share = Share()
    assert share.earned(100.0, 60_000, 400) == 100.0  # nothing held back
    share.held = HOLDING / 2  # a little: half the power
    assert share.earned(100.0, 60_000, 400) == pytest.approx(100 * (TARGET * 150 / 256))
    share.held = 0.5
    assert share.earned(100.0, 60_000, 400) == pytest.approx(100 * (TARGET * 150 / 256) ** 2)
    assert share.earned(100.0, 60_000, 200) == 100.0  # a budget of 282: over the floor
    assert share.earned(100.0, None, 400) == 100.0  # no limit known
    assert share.earned(100.0, 60_000, None) == 100.0  # no count: the report left the window
