"""The replay's table, side by side, and its targets."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from benchmarks.replay import MEMORY_SOURCES, PLAIN, ConfigResult, ReplayReport

CONVERGENCE_FIRST = 5  # full-window calls before the estimator has learnt much


def _pct(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def _ms(values: list[float], qs: Sequence[float] = (0.5, 0.95, 0.99)) -> str:
    if not values:
        return "n/a"
    return " / ".join(f"{_pct(values, q):.2f}" for q in qs) + f"  (n={len(values)})"


def _cpu(result: ConfigResult) -> str:
    if result.end is None:
        return "n/a"
    during = result.end.cpu_s - result.start.cpu_s if result.start else float("nan")
    return f"{result.end.cpu_s:.2f} / {during:.2f}"


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def estimate_pairs(result: ConfigResult) -> list[tuple[float, float]]:
    """(estimated, counted) prompt tokens of each answered call, from the server's log."""
    pairs = []
    for line in result.upstream_log:
        try:
            pairs.append((float(line["prompt_tokens_est"]), float(line["prompt_tokens"])))
        except (KeyError, ValueError):
            continue
    return [(est, counted) for est, counted in pairs if est > 0]


def _estimates(result: ConfigResult) -> str:
    pairs = estimate_pairs(result)
    if not pairs:
        return "n/a"
    est, counted = _mean([e for e, _ in pairs]), _mean([c for _, c in pairs])
    return f"{est:.0f} / {counted:.0f}  (n={len(pairs)})"


def _estimate_ratio(result: ConfigResult) -> str:
    ratios = [counted / est for est, counted in estimate_pairs(result)]
    return f"{_mean(ratios):.2f} / {max(ratios):.2f}" if ratios else "n/a"


def budget_shares(result: ConfigResult, full_only: bool) -> list[float]:
    """Counted prompt + suffix tokens over the budget, per call (full windows only if asked)."""
    if not result.budget:
        return []
    return [p.tokens / result.budget for p in result.prompts if p.full or not full_only]


def _budget(result: ConfigResult, full_only: bool) -> str:
    shares = budget_shares(result, full_only)
    if not shares:
        return "n/a"
    over = sum(share > 1 for share in shares)
    return f"{_mean(shares):.2f} / {max(shares):.2f} / {over}  (n={len(shares)})"


def _convergence(result: ConfigResult) -> str:
    shares = budget_shares(result, full_only=True)
    if len(shares) <= CONVERGENCE_FIRST:
        return "n/a"
    first, later = shares[:CONVERGENCE_FIRST], shares[CONVERGENCE_FIRST:]
    return f"{_mean(first):.2f} / {_mean(later):.2f}"


def charged_tokens(result: ConfigResult) -> int:
    """Prompt + completion tokens the fake counted for the calls it served."""
    return sum(
        (r.prompt_tokens or 0) + r.completion_tokens for r in result.calls if not r.rate_limited
    )


def _per_char(result: ConfigResult) -> str:
    tokens, chars = charged_tokens(result), result.typing.chars_accepted
    return f"{tokens / chars:.1f}  ({tokens} / {chars})" if chars else f"n/a  ({tokens} / 0)"


def _wasted(result: ConfigResult) -> str:
    return str(result.server_calls.get("wasted", "n/a"))


def rows(report: ReplayReport) -> list[tuple[str, str, str]]:
    def row(label: str, get: Any) -> tuple[str, str, str]:
        return (label, str(get(report.full)), str(get(report.plain)))

    def received(r: ConfigResult) -> str:
        return f"{r.typing.requests} / {len(r.done) if r.done else 'n/a'}"

    return [
        row("keystrokes", lambda r: r.typing.keystrokes),
        row("accepts", lambda r: r.typing.accepts),
        row("requests sent / logged by server", received),
        row("upstream calls", lambda r: r.upstream),
        row("upstream calls abandoned", lambda r: r.abandoned),
        row("  wasted: never shown (server stats)", _wasted),
        row("suggestions shown", lambda r: r.typing.shown),
        row("characters accepted", lambda r: r.typing.chars_accepted),
        row("stale shown (must be 0)", lambda r: r.typing.stale + r.typing.inconsistent),
        row("  of which not a continuation", lambda r: r.typing.inconsistent),
        row("stale in transit (race, info)", lambda r: r.typing.in_transit),
        row(
            "answers null / [] / cancelled / error",
            lambda r: (
                f"{r.typing.nulls} / {r.typing.empties} / {r.typing.cancelled} / {r.typing.errors}"
            ),
        ),
        row("server-added ms p50/p95/p99 (log)", lambda r: _ms(r.log_values("overhead_ms"))),
        row("  same, seen by the editor", lambda r: _ms(r.editor_side()["added"])),
        row("  of which stdio + pygls I/O", lambda r: _ms(r.editor_side()["io"])),
        row(
            "from memory (cache, typed) ms p50",
            lambda r: _ms(r.log_values("total_ms", MEMORY_SOURCES), (0.5,)),
        ),
        row(
            "  same, seen by the editor",
            lambda r: _ms(r.editor_side(MEMORY_SOURCES)["answer"], (0.5,)),
        ),
        row(
            "coalesced answers ms p50",
            lambda r: _ms(r.log_values("total_ms", ("coalesced",)), (0.5,)),
        ),
        row(
            "any answer at the editor ms p50/p95",
            lambda r: _ms(list(r.typing.answer_ms.values()), (0.5, 0.95)),
        ),
        row("shown answer at the editor ms p50", lambda r: _ms(r.typing.shown_ms, (0.5,))),
        row("stdio round trip (probe) ms p50/p95", lambda r: _ms(r.typing.probe_ms, (0.5, 0.95))),
        row("prompt tokens/call est / counted, mean", _estimates),
        row("  counted / estimated, mean / max", _estimate_ratio),
        row(
            f"prompt / budget ({report.full.budget}) mean/max/over",
            lambda r: _budget(r, full_only=False),
        ),
        row("  windows full: mean / max / over", lambda r: _budget(r, full_only=True)),
        row(f"  windows full: first {CONVERGENCE_FIRST} / later mean", _convergence),
        row("tokens (prompt+completion) / char accepted", _per_char),
        row("peak RSS MiB", lambda r: f"{r.end.peak_rss_mib:.1f}" if r.end else "n/a"),
        row("CPU s total / during replay", _cpu),
        row("wall s", lambda r: f"{r.wall_s:.1f}"),
    ]


def format_report(report: ReplayReport) -> str:
    opts = report.options
    files = ", ".join(
        f"{s.name} ({s.region_lines} lines, {s.end - s.start} chars)" for s in report.samples
    )
    table = rows(report)
    width = max(len(label) for label, _, _ in table)
    col = max(12, *(len(v) for _, a, b in table for v in (a, b)))
    lines = [
        f"Replay: {files}; seed {opts.seed}, time compressed x{opts.compression:g}",
        f"full = defaults with debounce scaled {report.full.settings}; plain = {PLAIN}",
        "",
        f"{'':<{width}}  {'full':>{col}}  {'plain':>{col}}",
    ]
    lines += [f"{label:<{width}}  {a:>{col}}  {b:>{col}}" for label, a, b in table]
    ratio = report.full.upstream / report.plain.upstream if report.plain.upstream else float("nan")
    lines.append(f"{'upstream calls full / plain':<{width}}  {ratio:>{col}.2f}")
    for result in (report.full, report.plain):
        sources = ", ".join(f"{k}={v}" for k, v in sorted(result.sources.items()))
        lines.append(f"{result.name} sources: {sources or 'n/a (no done lines in the log)'}")
        wasted = sorted(result.server_calls.get("wastedBy", {}).items())
        if wasted:
            lines.append(f"{result.name} wasted calls by first reason: {dict(wasted)}")
        for problem in _problems(result):
            lines.append(f"{result.name}: {problem}")
    return "\n".join(lines)


def _problems(result: ConfigResult) -> list[str]:
    found = []
    if result.unmapped:
        found.append(f"{result.unmapped} prompts the oracle could not place (answered empty)")
    if result.still_open:
        found.append(f"{result.still_open} upstream calls still open 10 s after the replay")
    found += [f"error answer: {e}" for e in result.typing.error_samples]
    found += [f"showMessage: {m}" for m in result.messages[:3]]
    return found


def checks(report: ReplayReport) -> list[tuple[str, bool | None, str]]:
    """(target, passed or None when it cannot be checked, the measured value)."""
    full, plain = report.full, report.plain
    overhead = full.log_values("overhead_ms")
    memory = full.log_values("total_ms", MEMORY_SOURCES)
    stale = full.typing.stale + full.typing.inconsistent
    found: list[tuple[str, bool | None, str]] = []
    if overhead:
        p50, p99 = _pct(overhead, 0.5), _pct(overhead, 0.99)
        found.append(("server-added latency p50 <= 1 ms", p50 <= 1, f"{p50:.3f} ms"))
        found.append(("server-added latency p99 <= 5 ms", p99 <= 5, f"{p99:.3f} ms"))
    else:
        found.append(("server-added latency p50 <= 1 ms, p99 <= 5 ms", None, "no done lines"))
    if memory:
        p50 = _pct(memory, 0.5)
        found.append(("answers from memory p50 <= 1 ms", p50 <= 1, f"{p50:.3f} ms"))
    else:
        found.append(("answers from memory p50 <= 1 ms", None, "no cache/typed answers logged"))
    if plain.upstream:
        ratio = full.upstream / plain.upstream
        found.append(("upstream calls >= 40% fewer than plain", ratio <= 0.6, f"{ratio:.2f}x"))
    chars = f"{full.typing.chars_accepted} vs {plain.typing.chars_accepted}"
    found.append(
        (
            "characters accepted >= plain",
            full.typing.chars_accepted >= plain.typing.chars_accepted,
            chars,
        )
    )
    found.append(("zero stale suggestions shown (full)", stale == 0, str(stale)))
    errors = f"{full.typing.errors} full, {plain.typing.errors} plain"
    found.append(("no error answers", not full.typing.errors + plain.typing.errors, errors))
    found.append(_over_budget(full, plain))
    return found


def _over_budget(*results: ConfigResult) -> tuple[str, bool | None, str]:
    """No request's counted prompt + suffix over contextTokens (the estimate errs below)."""
    target = "counted prompt + suffix <= contextTokens (both)"
    shares = [share for r in results for share in budget_shares(r, full_only=False)]
    if not shares:
        return (target, None, "no prompt sizes recorded")
    over = sum(share > 1 for share in shares)
    return (target, over == 0, f"{over} over, largest {max(shares):.3f} of the budget")
