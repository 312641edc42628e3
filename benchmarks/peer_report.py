"""The side-by-side table of the peer comparison, and its targets."""

from __future__ import annotations

import statistics
from collections.abc import Callable

from benchmarks.peer import OURS, OURS_SMALL, PEER, PeerOptions, PeerRun
from benchmarks.replay import MEMORY_SOURCES

Check = tuple[str, "bool | None", str]


def _pct(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def _ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{_pct(values, 0.5):.1f} / {_pct(values, 0.95):.1f}"


def _per_char(amount: int, run: PeerRun) -> float:
    chars = run.typing.chars_accepted
    return amount / chars if chars else float("inf")


def _stale(run: PeerRun) -> int:
    return run.typing.stale + run.typing.inconsistent


def _speculative(run: PeerRun) -> str:
    calls = run.server_calls
    if "speculative" not in calls:
        return "n/a"
    return f"{calls['speculative']} / {calls['speculativeUnused']}"


ROWS: list[tuple[str, Callable[[PeerRun], object]]] = [
    ("keystrokes typed", lambda r: r.typing.keystrokes),
    ("characters accepted", lambda r: r.typing.chars_accepted),
    ("  share of the typed region", lambda r: f"{r.typing.chars_accepted / r.region_chars:.0%}"),
    ("accepts", lambda r: r.typing.accepts),
    ("requests sent", lambda r: r.typing.requests),
    ("upstream calls", lambda r: len(r.calls)),
    ("  abandoned midway", lambda r: sum(c.aborted for c in r.calls)),
    ("  wasted (answer never shown)", lambda r: r.wasted()),
    ("  speculative / never used (stats)", lambda r: _speculative(r)),
    ("chars sent / char accepted", lambda r: f"{_per_char(r.sent_chars, r):.1f}"),
    ("tokens sent / char accepted", lambda r: f"{_per_char(r.sent_tokens, r):.1f}"),
    ("chars sent per call", lambda r: f"{r.sent_chars / max(1, len(r.calls)):.0f}"),
    ("suggestions shown", lambda r: r.typing.shown),
    ("stale shown (server could know)", _stale),
    ("stale in transit (race, info)", lambda r: r.typing.in_transit),
    ("shown answer ms p50 / p95", lambda r: _ms(r.typing.shown_ms)),
    ("any answer ms p50 / p95", lambda r: _ms(list(r.typing.answer_ms.values()))),
    ("server-added ms p50 / p95 (log)", lambda r: _ms(r.log_values("overhead_ms"))),
    ("from memory ms p50 / p95 (log)", lambda r: _ms(r.log_values("total_ms", MEMORY_SOURCES))),
    ("wall s", lambda r: f"{r.wall_s:.1f}"),
]


def format_report(runs: list[PeerRun], options: PeerOptions) -> str:
    lines = []
    for profile, title in (
        ("neovim", "Neovim-like client (one request 200 ms after the last key, no cancel)"),
        ("keystroke", "per-keystroke client (a request on every key, cancelling the last)"),
    ):
        mine = [r for r in runs if r.profile == profile]
        if not mine:
            continue
        files = ", ".join(f"{s.name}:{s.line_of(s.start) + 1}" for s in mine[0].samples)
        lines += ["", f"{title}; functions {files}; seed {options.seed}, x{options.compression:g}"]
        table = [(label, [str(get(r)) for r in mine]) for label, get in ROWS]
        width = max(len(label) for label, _ in table)
        col = max(14, *(len(r.server) for r in mine), *(len(v) for _, vs in table for v in vs))
        lines.append(f"{'':<{width}}  " + "  ".join(f"{r.server:>{col}}" for r in mine))
        for label, values in table:
            lines.append(f"{label:<{width}}  " + "  ".join(f"{v:>{col}}" for v in values))
        for run in mine:
            sources: dict[str, int] = {}
            for line in run.done:
                sources[line.get("source", "?")] = sources.get(line.get("source", "?"), 0) + 1
            if sources:
                found = ", ".join(f"{k}={v}" for k, v in sorted(sources.items()))
                lines.append(f"{run.server} sources: {found}")
            lines += [f"{run.server}: error answer: {e}" for e in run.typing.error_samples]
    return "\n".join(lines)


def _find(runs: list[PeerRun], server: str, profile: str) -> PeerRun | None:
    return next((r for r in runs if r.server == server and r.profile == profile), None)


def checks(runs: list[PeerRun]) -> list[Check]:
    """The issue's floors, each as PASS/FAIL (n/a when a run is missing)."""
    ours, small, peer = (_find(runs, s, "neovim") for s in (OURS, OURS_SMALL, PEER))
    found: list[Check] = []
    if ours is None or peer is None or small is None:
        return [("peer comparison ran", None, "a run is missing")]
    mine, theirs = ours.typing.chars_accepted, peer.typing.chars_accepted
    ratio = mine / theirs if theirs else float("inf")
    found.append(("chars accepted >= 1.2x the peer's (Neovim-like)", ratio >= 1.2, f"{ratio:.2f}x"))
    calls = len(ours.calls) / max(1, len(peer.calls))
    found.append(("upstream calls <= 0.5x the peer's (Neovim-like)", calls <= 0.5, f"{calls:.2f}x"))
    sent = _per_char(small.sent_chars, small) / _per_char(peer.sent_chars, peer)
    found.append(
        (
            f"chars sent per accepted char at contextTokens {512} <= 0.5x the peer's",
            sent <= 0.5,
            f"{sent:.2f}x (at our default: "
            f"{_per_char(ours.sent_chars, ours) / _per_char(peer.sent_chars, peer):.2f}x)",
        )
    )
    stale = _stale(ours) + _stale(small)
    found.append(("zero stale answers the server could have known (ours)", stale == 0, str(stale)))
    overhead = ours.log_values("overhead_ms")
    if overhead:
        p50 = _pct(overhead, 0.5)
        found.append(("server-added latency p50 <= 1 ms (Neovim-like)", p50 <= 1, f"{p50:.3f} ms"))
    memory = ours.log_values("total_ms", MEMORY_SOURCES)
    if memory:
        p50 = _pct(memory, 0.5)
        found.append(("answers from memory p50 <= 1 ms (Neovim-like)", p50 <= 1, f"{p50:.3f} ms"))
    ours_k, peer_k = _find(runs, OURS, "keystroke"), _find(runs, PEER, "keystroke")
    if ours_k is not None and peer_k is not None:
        a, b = ours_k.typing.chars_accepted, peer_k.typing.chars_accepted
        found.append(("chars accepted >= the peer's (per keystroke)", a >= b, f"{a} vs {b}"))
    return found
