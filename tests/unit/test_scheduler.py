"""The adaptive debounce: the pause before an automatic request, from the typing rhythm."""

from __future__ import annotations

import pytest

from codestral_lsp.scheduler import Debouncer
from codestral_lsp.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_debounce_floor_until_a_typing_rhythm_is_seen() -> None:
    clock = Clock()
    debouncer = Debouncer(clock)
    settings = Settings(debounce_ms=50, debounce_max_ms=400)
    assert debouncer.delay(settings) == 0.05
    for _ in range(5):
        debouncer.observe_change("u")
        clock.now += 0.3
    clock.now -= 0.3  # asked right after the last key
    # Median gap 0.3 s; no latency seen yet counts as 0.5 s: weight 0.75.
    assert debouncer.delay(settings, "u") == pytest.approx(0.225)
    for _ in range(30):
        debouncer.observe_latency(2.0)  # a slow backend: wait the whole gap
    assert debouncer.delay(settings, "u") == pytest.approx(0.3, rel=0.01)
    assert debouncer.delay(Settings(debounce_ms=50, debounce_max_ms=100), "u") == 0.1
    assert debouncer.delay(Settings(debounce_ms=0, debounce_max_ms=0), "u") == 0


def test_debounce_ignores_pauses() -> None:
    clock = Clock()
    debouncer = Debouncer(clock)
    for _ in range(5):
        debouncer.observe_change("u")
        clock.now += 5.0  # reading, not typing
    assert debouncer.delay(Settings(debounce_ms=50, debounce_max_ms=400)) == 0.05


def test_debounce_counts_the_quiet_time_since_the_last_key() -> None:
    """A client that waits itself (Neovim: 200 ms after the last key) gets only the floor
    when it has already waited longer than the rhythm asks for; the keys set the rhythm."""
    clock = Clock()
    debouncer = Debouncer(clock)
    settings = Settings(debounce_ms=20, debounce_max_ms=300)
    for _ in range(6):  # steady typing, a key every 150 ms
        debouncer.observe_change("u")
        clock.now += 0.15
    for _ in range(30):
        debouncer.observe_latency(1.0)  # the whole gap: 150 ms of quiet wanted
    clock.now += 0.2 - 0.15  # the request comes 200 ms after the last key
    assert debouncer.delay(settings, "u") == 0.02
    clock.now -= 0.1  # had it come 100 ms after the last key: 50 ms more
    assert debouncer.delay(settings, "u") == pytest.approx(0.05)
    assert debouncer.delay(settings, "other") == pytest.approx(0.15)  # no key seen there


def test_debounce_rhythm_comes_from_keys_not_requests() -> None:
    """Requests 200 ms apart with a key every 100 ms in between: the rhythm is 100 ms."""
    clock = Clock()
    debouncer = Debouncer(clock)
    for _ in range(8):
        debouncer.observe_change("u")
        clock.now += 0.1
    for _ in range(30):
        debouncer.observe_latency(1.0)
    assert debouncer.delay(Settings(debounce_ms=0, debounce_max_ms=300), "x") == pytest.approx(0.1)
