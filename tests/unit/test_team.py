"""The team simulation behind `benchmarks --simulate-team`: deterministic, and its workspace."""

from __future__ import annotations

from benchmarks.team import TeamOptions, Workspace, checks, checks_over, format_seeds, simulate


def test_the_simulation_is_deterministic() -> None:
    options = TeamOptions(clients=12, seconds=240.0, tpm=12_000, rpm=100, seed=3)
    one, two = simulate(options), simulate(options)
    assert [(c.sent, c.refused, c.skipped, c.served) for c in one.clients] == [
        (c.sent, c.refused, c.skipped, c.served) for c in two.clients
    ]
    assert sum(c.sent for c in one.clients) > 0


def test_the_simulated_workspace_is_one_sliding_window() -> None:
    workspace = Workspace(TeamOptions(tpm=1_000, rpm=2, window_s=60.0))
    assert workspace.arrive(0.0, 600)
    assert not workspace.arrive(10.0, 500)  # 1,100 tokens in the window
    assert workspace.arrive(20.0, 400)
    assert not workspace.arrive(30.0, 1)  # two requests in the window
    assert workspace.headers(30.0)["x-ratelimit-remaining-tokens-minute"] == "0"
    assert workspace.arrive(60.0, 500)  # the first left the window
    assert workspace.headers(60.0)["x-ratelimit-remaining-req-minute"] == "0"


def test_a_team_under_its_limit_is_served_without_refusals() -> None:
    options = TeamOptions(clients=3, seconds=300.0, tpm=1_000_000, rpm=10_000, seed=5)
    report = simulate(options)
    assert sum(c.refused for c in report.clients) == 0
    assert sum(c.skipped for c in report.clients) == 0


def test_a_team_typing_steadily_starves_nobody() -> None:
    # 50 typists asking 15-45 times a minute (the default debounce on steady typing): every
    # request is at the floor and the guard holds most back. Each active client is still served
    # a fair part of what the median one is, over every 5 minutes (before: none, for some).
    for seed in (1, 2, 3):
        report = simulate(TeamOptions(seconds=600.0, rates=(15.0, 45.0), seed=seed))
        assert report.least_served() >= 0.2, seed


def test_a_team_typing_steadily_is_not_refused_once_it_has_read_the_limit() -> None:
    # The same team over 15 minutes: below the floor each request goes at the floor's size and
    # the servers overspend; the guard holds it back, but on reports as old as theirs some ran
    # into 429s (on c4535b8, before Share.earned: 4, 8 and 16 in these seeds). A request held
    # back earns less now.
    for seed in (1, 2, 3):
        report = simulate(TeamOptions(rates=(15.0, 45.0), seed=seed))
        assert sum(c.refused_warm for c in report.clients) == 0, seed


def test_over_seeds_a_target_holds_only_if_it_holds_in_every_seed() -> None:
    reports = [
        simulate(TeamOptions(clients=6, seconds=240.0, tpm=6_000, rpm=60, seed=seed))
        for seed in (1, 2)
    ]
    one = [checks(report) for report in reports]
    for i, (target, passed, value) in enumerate(checks_over(reports)):
        assert target.endswith(", every seed")
        met = [c[i][1] for c in one]
        assert passed == all(met)
        assert value.startswith(f"met in {sum(bool(m) for m in met)} of 2 seeds")
    assert "seed   1:" in format_seeds(reports)
