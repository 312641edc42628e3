"""The governor: local windows, the backend's allowance, 429 cool-downs, the daily cap."""

from __future__ import annotations

import pytest

from codestral_lsp.governor import BACKOFF_MAX_S, Governor, Limits, Verdict


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
    """The messages the governor gave the user."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, message: str) -> None:
        self.messages.append(message)

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
    assert governor.check(invoked=False, need=1_000_000) == Verdict(True)
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
        verdict = governor.check(invoked, 10)
        assert (verdict.allowed, verdict.reason) == (False, "no requests left in this minute")
    clock.now += 29.5
    assert not governor.check(False, 10).allowed
    clock.now += 0.5  # the first request is a window old
    assert governor.check(False, 10).allowed
    assert governor.snapshot()["requestsLeft"] == 1


# 10,000 tokens a minute, 6,000 spent: 4,000 left, 1,500 (15%) kept for others, 2,500 to spare.
@pytest.mark.parametrize(
    ("need", "invoked", "allowed", "scale"),
    [
        (1_000, False, True, 1.0),  # plenty: twice the need to spare
        (2_000, False, True, 0.625),  # a smaller context first
        (5_000, False, True, 0.25),
        (10_000, False, False, 1.0),  # too little for an automatic request
        (10_000, True, True, 0.4),  # an explicit one still goes out, small
        (16_000, True, True, 0.25),  # a quarter of the context at least
        (20_000, True, False, 1.0),  # not even a quarter fits
    ],
)
def test_tokens_per_window_shrink_then_skip(
    need: int, invoked: bool, allowed: bool, scale: float
) -> None:
    governor, *_ = make(Limits(tpm=10_000))
    governor.sent(6_000)
    verdict = governor.check(invoked, need)
    assert (verdict.allowed, verdict.scale) == (allowed, pytest.approx(scale))
    if not allowed:
        assert verdict.reason == "token allowance low (4000 left)"


def test_tokens_come_back_after_the_window() -> None:
    governor, clock, _, _ = make(Limits(tpm=10_000, window_s=10))
    governor.sent(9_000)
    assert not governor.check(False, 2_000).allowed
    clock.now += 10
    assert governor.check(False, 2_000) == Verdict(True)
    assert governor.snapshot()["tokensLeft"] == 10_000


def test_settle_replaces_the_estimate() -> None:
    governor, *_ = make(Limits(tpm=10_000))
    entry = governor.sent(3_000)
    governor.settle(entry, 1_200, 300)
    assert governor.snapshot()["tokensLeft"] == 8_500
    assert governor.snapshot()["tokensToday"] == 1_500


# --- what the backend says --------------------------------------------------------------------


def test_remaining_tokens_header_tightens_the_allowance_until_the_window_ends() -> None:
    governor, clock, _, _ = make()
    governor.observe_headers({"x-ratelimit-remaining-tokens-minute": "3000"})
    assert governor.snapshot()["tokensLeft"] == 3_000
    assert governor.limits.tpm is None  # no limit was said
    assert governor.check(False, 1_000) == Verdict(True)
    assert governor.check(False, 2_000).scale == pytest.approx(0.75)
    governor.sent(1_000)  # ours since the report count against it
    assert governor.snapshot()["tokensLeft"] == 2_000
    assert not governor.check(False, 5_000).allowed
    clock.now += 60
    assert governor.check(False, 5_000) == Verdict(True)
    assert governor.snapshot()["tokensLeft"] is None


def test_remaining_requests_header() -> None:
    governor, clock, _, _ = make()
    governor.observe_headers({"x-ratelimit-remaining-req-minute": "1"})
    assert governor.check(False, 10).allowed
    governor.sent(10)
    assert governor.snapshot()["requestsLeft"] == 0
    assert not governor.check(True, 10).allowed
    clock.now += 60
    assert governor.check(False, 10).allowed


def test_the_limit_header_teaches_the_window_limit_but_not_over_the_setting() -> None:
    governor, *_ = make()
    governor.observe_headers(
        {
            "x-ratelimit-limit-tokens-minute": "60000",
            "x-ratelimit-remaining-tokens-minute": "50000",
        }
    )
    assert governor.limits.tpm == 60_000
    governor.sent(2_000)
    assert governor.snapshot()["tokensLeft"] == 48_000  # the report, less ours since
    configured, *_ = make(Limits(tpm=1_000))
    configured.observe_headers({"x-ratelimit-limit-tokens-minute": "60000"})
    configured.observe_headers(
        {"x-ratelimit-limit-tokens-minute": "60000", "x-ratelimit-remaining-tokens-minute": "1"}
    )
    assert configured.limits.tpm == 1_000


def test_ratelimitbysize_headers_hold_until_their_reset() -> None:
    governor, clock, _, _ = make()
    governor.observe_headers(
        {
            "ratelimitbysize-remaining": "500",
            "ratelimitbysize-limit": "100000",
            "ratelimitbysize-reset": "12",
        }
    )
    assert governor.snapshot()["tokensLeft"] == 500
    assert not governor.check(False, 1_000).allowed
    clock.now += 11.5
    assert governor.snapshot()["tokensLeft"] == 500
    clock.now += 0.5
    assert governor.check(False, 1_000).allowed
    assert governor.snapshot()["tokensLeft"] == 100_000  # the learnt limit stays


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


def test_others_spending_is_learnt_from_two_reports() -> None:
    governor, clock, _, _ = make()
    governor.observe_headers({"x-ratelimit-remaining-tokens-minute": "50000"})
    clock.now += 1
    governor.sent(1_000)
    clock.now += 9
    # 3,000 fewer after 10 s, of which 1,000 were ours: others spend 200 a second,
    # averaged with what was known before (nothing).
    governor.observe_headers({"x-ratelimit-remaining-tokens-minute": "47000"})
    assert governor.snapshot()["othersTokensPerSecond"] == 100.0
    clock.now += 10
    assert governor.snapshot()["tokensLeft"] == 47_000 - 100 * 10
    governor.observe_headers({"x-ratelimit-remaining-tokens-minute": "60000"})  # a new window
    assert governor.snapshot()["othersTokensPerSecond"] == 100.0


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
    verdict = governor.check(False, 100)
    assert (verdict.allowed, verdict.reason) == (False, "cool-down after HTTP 429, 30 s left")
    assert governor.check(True, 100).allowed  # an explicit request still goes out
    assert governor.snapshot()["coolDownSeconds"] == 30.0
    clock.now += 29.5
    assert not governor.check(False, 100).allowed
    clock.now += 0.5
    assert governor.check(False, 100).allowed
    assert said.about("cooling down for 30.0 s")
    assert governor.snapshot()["rateLimited"] == 1


def test_a_429_also_reads_its_headers() -> None:
    governor, clock, _, _ = make()
    governor.rate_limited(5.0, {"x-ratelimit-remaining-tokens-minute": "0"})
    clock.now += 5
    verdict = governor.check(False, 100)
    assert (verdict.allowed, verdict.reason) == (False, "token allowance low (0 left)")


def cool_down(governor: Governor, clock: Clock) -> float:
    """A 429 without Retry-After: the cool-down it starts; the clock then moves past it."""
    governor.rate_limited(None, {})
    seconds = governor.state.cool_down_until - clock.now
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
    assert BACKOFF_MAX_S == 60


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
    assert governor.check(False, 100).allowed  # 999 used
    governor.settle(governor.sent(10), 1, 0)
    verdict = governor.check(False, 100)
    assert (verdict.allowed, verdict.reason) == (False, "daily token cap of 1000 reached")
    assert governor.check(True, 100).allowed
    assert governor.snapshot()["tokensToday"] == 1_000
    today.day = "2026-01-02"
    assert governor.check(False, 100).allowed
    assert governor.snapshot()["tokensToday"] == 0
    assert len(said.about("holding")) == 1
    assert len(said.about("resume")) == 1


def test_tokens_settled_after_midnight_count_for_the_new_day() -> None:
    governor, _, today, _ = make(Limits(tokens_per_day=1_000))
    entry = governor.sent(500)
    governor.settle(governor.sent(900), 900, 0)
    today.day = "2026-01-02"
    governor.settle(entry, 400, 100)
    assert governor.snapshot()["tokensToday"] == 500


# --- telling the user -------------------------------------------------------------------------


def test_the_user_hears_once_when_holding_starts_and_once_when_it_ends() -> None:
    governor, clock, _, said = make()
    governor.observe_headers({"x-ratelimit-remaining-tokens-minute": "100"})
    for _ in range(5):
        assert not governor.check(False, 300).allowed
        assert governor.check(True, 300).allowed  # explicit requests do not end the hold
    assert said.messages == [
        "codestral-lsp: holding automatic requests back: token allowance low (100 left)"
    ]
    assert governor.snapshot()["holding"] == "token allowance low"
    assert governor.snapshot()["skipped"] == 5
    clock.now += 60
    for _ in range(3):
        assert governor.check(False, 300).allowed
    assert said.messages[1:] == ["codestral-lsp: requests resume (was: token allowance low)"]
    assert governor.snapshot()["holding"] is None


def test_a_new_reason_to_hold_is_told_once() -> None:
    governor, clock, _, said = make()
    governor.rate_limited(10.0, {})
    for _ in range(4):
        governor.check(False, 100)
        clock.now += 1
    assert len(said.about("rate limited")) == 1
    assert len(said.about("holding")) == 1  # not one per request, though the seconds change
    governor.observe_headers({"x-ratelimit-remaining-req-minute": "0"})
    clock.now += 10
    for _ in range(3):
        governor.check(False, 100)
    assert said.about("holding")[1:] == [
        "codestral-lsp: holding automatic requests back: no requests left in this minute"
    ]


def test_snapshot() -> None:
    governor, clock, _, _ = make(Limits(rpm=10, tpm=1_000, window_s=30, tokens_per_day=5_000))
    governor.settle(governor.sent(100), 60, 40)
    governor.rate_limited(12.5, {})
    governor.check(False, 10)
    clock.now += 2.5
    assert governor.snapshot() == {
        "holding": "cool-down after HTTP 429",
        "coolDownSeconds": 10.0,
        "rateLimited": 1,
        "skipped": 1,
        "requestsLeft": 9,
        "tokensLeft": 900,
        "othersTokensPerSecond": 0.0,
        "tokensToday": 100,
        "limits": {"rpm": 10, "tpm": 1_000, "windowSeconds": 30, "tokensPerDay": 5_000},
    }


def test_speculation_only_with_room_for_a_full_size_call() -> None:
    clock = Clock()
    governor = Governor(clock=clock)
    governor.configure(Limits(rpm=2, tpm=10_000, window_s=60))
    assert governor.room_for_speculation(1_000)  # 8,500 spare >= 2 x 1,000
    assert not governor.room_for_speculation(5_000)  # allowed, but only at a smaller size
    assert governor.check(False, 5_000).allowed  # a request the user waits for still goes
    governor.sent(1_000)
    governor.sent(1_000)
    assert not governor.room_for_speculation(100)  # no requests left in the window
    clock.now += 61
    assert governor.room_for_speculation(100)
