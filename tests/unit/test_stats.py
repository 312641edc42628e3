"""Wasted calls: a call counts as shown once any answer drawn from it is shown."""

from __future__ import annotations

from codestral_lsp.source import Source
from codestral_lsp.stats import Stats


def calls(stats: Stats) -> dict[str, object]:
    found = stats.snapshot()["calls"]
    assert isinstance(found, dict)
    return found


def test_a_call_is_wasted_until_shown_and_keeps_its_first_reason() -> None:
    stats = Stats()
    shown, stale, superseded, _unclaimed = (stats.call_started() for _ in range(4))
    stats.call_shown(shown)
    stats.call_shown(shown)  # shown twice (from memory later): counted once
    stats.call_lost(stale, Source.STALE)
    stats.call_lost(stale, Source.SHAPED_AWAY)  # the first reason stays
    stats.call_lost(superseded, Source.SUPERSEDED)
    assert calls(stats) == {
        "started": 4,
        "shown": 1,
        "wasted": 3,
        "wastedBy": {"stale": 1, "superseded": 1, "unclaimed": 1},
        "speculative": 0,
        "speculativeUnused": 0,
    }
    stats.call_shown(stale)  # stale for one request, then served from memory: not wasted
    stats.call_lost(shown, Source.STALE)  # already shown: not wasted
    assert calls(stats)["wastedBy"] == {"superseded": 1, "unclaimed": 1}
    assert calls(stats)["wasted"] == 2


def test_speculative_calls_never_used_are_counted() -> None:
    stats = Stats()
    used, unused = stats.call_started(speculative=True), stats.call_started(speculative=True)
    stats.call_shown(used)
    stats.call_lost(unused, Source.SUPERSEDED)
    found = calls(stats)
    assert (found["speculative"], found["speculativeUnused"]) == (2, 1)
