"""The shared-limit scenario's table, its diagnosis of the governors' decisions, its targets."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.shared import TYPIST_RPM, TYPIST_TPM, HeldBack, Server, SharedReport
from tests.fake_codestral import RecordedRequest

_REMAINING = "x-ratelimit-remaining-tokens-minute"


def _ratio(values: list[int] | list[float]) -> float:
    return min(values) / max(values) if values and max(values) else float("nan")


def _tokens(r: RecordedRequest) -> int:
    return 0 if r.rate_limited else (r.prompt_tokens or 0) + r.completion_tokens


def _stale(s: Server) -> str:
    typing = s.result.typing
    return f"{typing.stale + typing.inconsistent} / {typing.inconsistent}"


def _shown(server: Server) -> int:
    return server.result.typing.shown


def _served(server: Server) -> int:
    return server.served


def _accepted(server: Server) -> int:
    return server.result.typing.chars_accepted


def _tokens_per_char(server: Server) -> str:
    accepted = _accepted(server)
    spent = sum(_tokens(r) for r in server.calls)
    return f"{spent / accepted:.0f}" if accepted else "n/a"


def _share(server: Server, base: dict[str, Server], get: Any) -> float:
    """``get`` of ``server`` as a share of the same without the limit."""
    alone = get(base[server.name])
    return get(server) / alone if alone else float("nan")


def rows(report: SharedReport) -> list[tuple[str, list[str]]]:
    base = {s.name: s for s in report.baseline}

    def row(label: str, get: Any) -> tuple[str, list[str]]:
        return (label, [str(get(s)) for s in report.servers])

    def limiter(s: Server) -> str:
        learnt = s.limiter.get("limits", {}).get("tpm")
        return f"{learnt} / {s.limiter.get('othersTokensPerSecond', '?')}"

    def prompt_mean(s: Server) -> str:
        sizes = [r.prompt_tokens for r in s.calls if r.prompt_tokens and not r.rate_limited]
        return f"{sum(sizes) / len(sizes):.0f}" if sizes else "n/a"

    return [
        row("file", lambda s: s.sample.name),
        row("characters to type", lambda s: s.sample.end - s.sample.start),
        row("requests sent", lambda s: s.result.typing.requests),
        row("held back by the governor", lambda s: sum(s.held_back.values())),
        row("upstream calls", lambda s: len(s.calls)),
        row("  served (2xx)", lambda s: s.served),
        row("    without the limit", lambda s: base[s.name].served),
        row("    share of that", lambda s: f"{_share(s, base, _served):.2f}"),
        row("  429 in all", lambda s: len(s.refused)),
        row("  429 after headers seen", lambda s: len(s.refused_after_headers())),
        row("suggestions shown", lambda s: s.result.typing.shown),
        row("  without the limit", lambda s: base[s.name].result.typing.shown),
        row("  share of that", lambda s: f"{_share(s, base, _shown):.2f}"),
        row("characters accepted", lambda s: s.result.typing.chars_accepted),
        row("  without the limit", lambda s: base[s.name].result.typing.chars_accepted),
        row("  share of that", lambda s: f"{_share(s, base, _accepted):.2f}"),
        row("tokens per accepted character", _tokens_per_char),
        row("stale shown / not a continuation", _stale),
        row("answers error", lambda s: s.result.typing.errors),
        row("prompt tokens per served call", prompt_mean),
        row("tokens charged", lambda s: sum(_tokens(r) for r in s.calls)),
        row("learnt tpm / others' tok/s (end)", limiter),
        row("wall s", lambda s: f"{s.result.wall_s:.1f}"),
    ]


def format_report(report: SharedReport) -> str:
    opts = report.options
    table = rows(report)
    width = max(len(label) for label, _ in table)
    col = max(8, *(len(v) for _, values in table for v in values))
    names = [s.name for s in report.servers]
    settings = dict(report.servers[0].result.settings)
    settings.pop("headers", None)
    rpm, tpm = opts.limit
    if opts.realistic:
        kind = (
            f"sliding {opts.window_s:g} s window: {TYPIST_TPM} tokens and {TYPIST_RPM} requests a "
            f"minute per typist, x{opts.compression:g} as typing is x{opts.compression:g}"
        )
    else:
        kind = f"{opts.window_s:g} s window (60 s / x{opts.compression:g})"
    lines = [
        f"Shared workspace: {len(names)} servers at once, one fake limited to {rpm} requests "
        f"and {tpm} tokens per {kind}; at most {tpm / opts.window_s:.0f} tokens/s for all",
        f"each server: {settings}",
        "",
        f"{'':<{width}}  " + "  ".join(f"{n:>{col}}" for n in names),
    ]
    lines += [f"{label:<{width}}  " + "  ".join(f"{v:>{col}}" for v in vs) for label, vs in table]
    lines.append("fairness min/max (as shares of own unlimited / raw counts / raw unlimited):")
    for what, get in (("suggestions shown", _shown), ("calls served", _served)):
        share, raw, alone = fairness(report, get)
        lines.append(f"  {what}: {share:.2f} / {raw:.2f} / {alone:.2f}")
    lines += _held_back(report)
    lines.append("workspace per window (tokens charged / requests / 429 / servers typing):")
    lines += [
        f"  {n:>3}: {u.tokens:>7} / {u.requests:>3} / {u.rejected:>3} / {_typing(report, n)}"
        for n, u in sorted(report.windows.items())
    ]
    events = [e for s in report.servers for e in _refusals(report, s)]
    if events:
        lines.append("429s after headers seen (the server's last figure vs what happened since):")
        lines += [f"  {e}" for e in events[:12]]
        if len(events) > 12:
            lines.append(f"  ... and {len(events) - 12} more")
    if report.unmapped:
        lines.append(f"{report.unmapped} prompts no oracle could place (answered empty)")
    return "\n".join(lines)


def full_size_room(tpm: int) -> int:
    """Tokens left at which a governor sends a request at full size: twice what one needs
    (contextTokens + maxTokens) plus its reserve of 5% of the limit (governor.py)."""
    from codestral_lsp.settings import Settings

    defaults = Settings()
    return 2 * (defaults.context_tokens + (defaults.max_tokens or 0)) + tpm // 20


def _typing(report: SharedReport, window: int) -> int:
    """How many servers were replaying during (part of) ``window``."""
    start = (report.start or 0.0) + window * report.options.window_s
    end = start + report.options.window_s
    return sum(s.began < end and s.ended > start for s in report.servers)


def _held_back(report: SharedReport) -> list[str]:
    """Per server: why requests were held back, and how many of the holds for a low allowance
    came while the workspace truly had room for a full-size request."""
    room = full_size_room(report.options.limit[1])
    lines = []
    for server in report.servers:
        if not server.held:
            continue
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(server.held_back.items()))
        lines.append(f"{server.name} held back: {reasons}")
        low = [h for h in server.held if h.reason.startswith("token allowance")]
        if not low:
            continue
        truly = [report.left_at(h.at) for h in low]
        roomy = [h for h, left in zip(low, truly, strict=True) if left >= room]
        unseen = sum(_figure_window(report, server, h) != report.window_of(h.at) for h in roomy)
        believed = [h.believed_left for h in low if h.believed_left is not None]
        lines.append(
            f"  of the {len(low)} for a low allowance, {len(roomy)} came with >= {room} truly "
            f"left ({unseen} of these after a reset it had not read yet); its reckoning median "
            f"{_median(believed)} left, truly {_median(truly)}"
        )
    return lines


def _figure_window(report: SharedReport, server: Server, held: HeldBack) -> int | None:
    """The window of the last limit figure ``server`` had read before ``held``."""
    read = [r for r in server.calls if r.limit_headers and r.finished and r.ended_at]
    before = [r for r in read if (r.ended_at or 0) < held.at]
    last = max(before, key=lambda r: r.received_at, default=None)
    return None if last is None else last.window


def _median(values: list[int]) -> str:
    return f"{statistics.median(values):.0f}" if values else "n/a"


def _refusals(report: SharedReport, server: Server) -> list[str]:
    """Each 429 after headers seen, against the last figure the server had read."""
    found = []
    window_s, start = report.options.window_s, report.start or 0.0
    everyone = [r for s in report.servers for r in s.calls]
    mine = {id(r) for r in server.calls}
    for refused in server.refused_after_headers():
        at = refused.received_at
        read = [r for r in server.calls if r.limit_headers and r.finished and r.ended_at]
        last = max((r for r in read if (r.ended_at or 0) < at), key=lambda r: r.received_at)
        figure = int(last.limit_headers[_REMAINING])
        left = int(refused.limit_headers[_REMAINING])
        since = [r for r in everyone if last.received_at < r.received_at < at]
        since = [r for r in since if not r.rate_limited]
        own = sum(r.prompt_tokens or 0 for r in since if id(r) in mine)
        others = sum(r.prompt_tokens or 0 for r in since) - own
        if last.window == refused.window:
            rest = f"completions {figure - left - own - others}"
        else:
            rest = "the window was reset since"
        found.append(
            f"{server.name} window {refused.window} +{(at - start) % window_s:.1f} s: prompt "
            f"{refused.prompt_tokens} > {left} left; its figure: {figure} left "
            f"{at - last.received_at:.1f} s before; spent since: own prompts {own}, "
            f"others' prompts {others}, {rest}"
        )
    return found


def fairness(report: SharedReport, get: Any) -> tuple[float, float, float]:
    """min/max over servers of each one's ``get`` as a share of its own without the limit;
    and of ``get`` itself, with and without the limit. Raw counts differ by file even without
    a limit (some regions turn more calls into suggestions), so the share is the fair measure."""
    base = {s.name: s for s in report.baseline}
    shares = [_share(s, base, get) for s in report.servers]
    raw = _ratio([get(s) for s in report.servers])
    return _ratio(shares), raw, _ratio([get(s) for s in report.baseline])


def checks(report: SharedReport) -> list[tuple[str, bool | None, str]]:
    servers = report.servers
    after = [len(s.refused_after_headers()) for s in servers]
    held = sum(sum(s.held_back.values()) for s in servers)
    refused = sum(len(s.refused) for s in servers)
    errors = sum(s.result.typing.errors for s in servers)
    per_server = ", ".join(f"{s.name} {n}" for s, n in zip(servers, after, strict=True))
    shrunk = sum(int(s.limiter.get("shrunk") or 0) for s in servers)
    binds = held + refused + shrunk > 0
    found: list[tuple[str, bool | None, str]] = [
        (
            "the limit binds (requests shrunk, held back or 429)",
            binds,
            f"{shrunk} shrunk, {held} held, {refused} 429",
        ),
        ("zero 429s after headers seen (each server)", not any(after), per_server),
    ]
    for what, get in (("suggestions shown", _shown), ("calls served", _served)):
        share, raw, alone = fairness(report, get)
        value = f"{share:.2f} (raw counts {raw:.2f}; without the limit {alone:.2f})"
        found.append((f"{what} as shares of own unlimited, min/max >= 0.5", share >= 0.5, value))
    base = {s.name: s for s in report.baseline}
    shares = [_share(s, base, _accepted) for s in servers]
    listed = ", ".join(f"{s.name} {v:.2f}" for s, v in zip(servers, shares, strict=True))
    # The floor is for a realistic limit (2,000 tokens a minute per typist); the
    # compressed scenario's is Langdock's whole workspace for four typists: information there.
    realistic = report.options.realistic
    found.append(
        (
            "each accepts >= half its characters without the limit",
            min(shares) >= 0.5 if realistic else None,
            listed,
        )
    )
    raw = _ratio([_accepted(s) for s in servers])
    alone = _ratio([_accepted(s) for s in report.baseline])
    found.append(
        (
            "no server accepts less than half of another's characters (as shares)",
            _ratio(shares) >= 0.5 if realistic else None,
            f"{_ratio(shares):.2f} (raw {raw:.2f}; files differ: unlimited {alone:.2f})",
        )
    )
    found.append(("no error answers (shared)", errors == 0, str(errors)))
    return found
