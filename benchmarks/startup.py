"""Startup: spawn to `initialize` answered, and to the first suggestion, ours beside tabby-agent.

`python -m benchmarks --startup [--spawns N]` spawns, in turn, codestral-lsp at the defaults,
codestral-lsp in the replay's plain configuration, "pygls alone" (a pygls server with no feature
of its own: the floor any pygls server pays) and tabby-agent 1.5.0 (`node dist/cli.js --lsp
--stdio`, as editors run it: no clock shim), N rounds, so that the machine's drift reaches them
alike. Each spawn has its own fake backend (answering at once) and is timed from just before
the process is created:

- **initialize**: until the `initialize` response is read;
- **first suggestion** (not for pygls alone): then `initialized`, `didOpen` of a small Python
  file, and a request at the end of its last line (ours: `textDocument/inlineCompletion`,
  invoked; the peer, which has no inline completion: `textDocument/completion`), asked again
  at once after each answer without an item, until one brings an item;
- **CPU** (user + system, all threads, from /proc) used by the `initialize` answer: less
  sensitive than wall time to the other work on a shared machine.

Our package's bytecode is compiled first (`compileall`), as `pip install` leaves it: a
development environment with `PYTHONDONTWRITEBYTECODE=1` would otherwise compile our ~40
modules from source at every spawn. One untimed round first warms the disk cache for all.

Reported as median and p90 of each, with the ratio of the medians to the peer's from the same
run; the target: our median spawn to `initialize` no slower than the peer's.
"""

from __future__ import annotations

import asyncio
import compileall
import statistics
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import codestral_lsp
from benchmarks.lsp_client import LspClient, ServerGone, process_stats, server_env
from benchmarks.peer import PEER, _tabby_home, ensure_tabby
from benchmarks.replay import PLAIN
from tests.fake_codestral import FakeCodestral, default_completion
from tests.fake_tabby import FakeTabby

OURS, OURS_PLAIN, FLOOR = "codestral-lsp", "codestral-lsp plain", "pygls alone"
SERVERS = (OURS, OURS_PLAIN, FLOOR, PEER)
# The least a pygls server costs: one with no feature of its own (no suggestion to time).
_FLOOR_SERVER = (
    "from pygls.lsp.server import LanguageServer; LanguageServer('floor', '0').start_io()"
)
URI = "file:///startup/add.py"
TEXT = "def add(a, b):\n    "
FIRST_SUGGESTION_TIMEOUT_S = 30.0

Check = tuple[str, "bool | None", str]


@dataclass(frozen=True)
class StartupOptions:
    spawns: int = 10  # rounds: each spawns every server once
    cache: Path = Path.home() / ".cache" / "codestral-lsp" / "bench"
    keep_logs: Path | None = None


@dataclass
class Timings:
    """One server's spawns: seconds from spawn to each event."""

    server: str
    initialize: list[float] = field(default_factory=list)
    first_suggestion: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # CPU seconds (all threads) to initialize
    asks: list[int] = field(default_factory=list)  # requests until the first suggestion


async def _spawn(
    server: str, fake: FakeCodestral, options: StartupOptions, work: Path
) -> LspClient:
    stderr = work / f"{server.replace(' ', '-')}.stderr"
    if server == PEER:
        script = ensure_tabby(options.cache)
        env = server_env(work, fake.api_key)
        env["HOME"] = str(_tabby_home(work, fake.url))
        return await LspClient.spawn([str(script), "--lsp", "--stdio"], env, stderr, program="node")
    args = ["-c", _FLOOR_SERVER] if server == FLOOR else ["-m", "codestral_lsp"]
    return await LspClient.spawn(args, server_env(work, fake.api_key), stderr)


def _settings(server: str, fake: FakeCodestral) -> Mapping[str, Any]:
    if server == PEER:
        return {}
    return {"endpoint": fake.url, **(PLAIN if server == OURS_PLAIN else {})}


def _has_item(result: Any) -> bool:
    found = result.get("items") if isinstance(result, dict) else result
    return bool(found)


async def _first_suggestion(client: LspClient, server: str) -> int:
    """Ask until an answer brings an item; returns how many requests it took."""
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": TEXT}},
    )
    line, character = TEXT.count("\n"), len(TEXT.rsplit("\n", 1)[-1])
    params = {
        "textDocument": {"uri": URI},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": 1},  # invoked, both for the menu and inline
    }
    method = "textDocument/completion" if server == PEER else "textDocument/inlineCompletion"
    deadline = time.perf_counter() + FIRST_SUGGESTION_TIMEOUT_S
    asks = 0
    while time.perf_counter() < deadline:
        asks += 1
        left = deadline - time.perf_counter()
        if _has_item(await client.call(method, params, timeout=max(left, 0.001))):
            return asks
    raise RuntimeError(f"{server}: no suggestion within {FIRST_SUGGESTION_TIMEOUT_S:.0f} s")


async def spawn_once(server: str, options: StartupOptions, work: Path, timings: Timings) -> None:
    """One spawn of ``server`` against its own fake, timed into ``timings``."""
    kind = FakeTabby if server == PEER else FakeCodestral
    fake = kind(completion=default_completion)
    await fake.start()
    try:
        began = time.perf_counter()
        client = await _spawn(server, fake, options, work)
        try:
            await client.initialize(_settings(server, fake), ["utf-8", "utf-16", "utf-32"])
            initialized = time.perf_counter()
            used = process_stats(client.proc.pid)
            asks = 0 if server == FLOOR else await _first_suggestion(client, server)
            answered = time.perf_counter()
        except (ServerGone, RuntimeError, TimeoutError) as exc:
            stderr = work / f"{server.replace(' ', '-')}.stderr"
            tail = stderr.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{server}: {exc}; its stderr ends:\n{tail}") from exc
        finally:
            await client.close()
    finally:
        await fake.stop()
    timings.initialize.append(initialized - began)
    if asks:
        timings.first_suggestion.append(answered - began)
        timings.asks.append(asks)
    if used is not None:
        timings.cpu.append(used.cpu_s)


async def measure(options: StartupOptions) -> dict[str, Timings]:
    """``options.spawns`` rounds of one spawn of each server, in turn."""
    found = {server: Timings(server) for server in SERVERS}
    with tempfile.TemporaryDirectory(prefix="codestral-startup-") as tmp:
        work = options.keep_logs or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ensure_tabby(options.cache)  # installing it (once) is not part of its startup
        compileall.compile_dir(Path(codestral_lsp.__file__).parent, quiet=1)
        for server in SERVERS:  # warm-up, untimed
            await spawn_once(server, options, work, Timings(server))
        for _ in range(options.spawns):
            for server in SERVERS:
                await spawn_once(server, options, work, found[server])
    return found


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile, linear between the order statistics (the median at 0.5)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def _cell(values: list[float], peer: list[float], width: int) -> str:
    """Median / p90 and the ratio of the medians to the peer's; n/a when not measured."""
    if not values or not peer:
        return f"{'n/a':>{width}}{'':>8}"
    spread = f"{pct(values, 0.5):.3f} / {pct(values, 0.9):.3f}"
    return f"{spread:>{width}}{pct(values, 0.5) / pct(peer, 0.5):>8.2f}"


def format_report(found: Mapping[str, Timings]) -> str:
    peer = found[PEER]
    lines = [
        "Startup (seconds from spawn; median / p90; ratio = of the medians to tabby-agent's)",
        f"  {'':22}{'initialize':>16}{'ratio':>8}{'first suggestion':>18}{'ratio':>8}"
        f"{'CPU s to init':>16}{'ratio':>8}{'asks':>6}",
    ]
    for server, t in found.items():
        cpu = f"{pct(t.cpu, 0.5):>16.3f}" if t.cpu else f"{'n/a':>16}"
        ratio_cpu = pct(t.cpu, 0.5) / pct(peer.cpu, 0.5) if t.cpu and peer.cpu else float("nan")
        lines.append(
            f"  {server:22}{_cell(t.initialize, peer.initialize, 16)}"
            f"{_cell(t.first_suggestion, peer.first_suggestion, 18)}"
            f"{cpu}{ratio_cpu:>8.2f}{max(t.asks, default=0) or '':>6}"
        )
    ours, floor = pct(found[OURS].initialize, 0.5), pct(found[FLOOR].initialize, 0.5)
    lines.append(
        f"  ({len(peer.initialize)} spawns each, in turn; ours beyond pygls alone: "
        f"{ours - floor:.3f} s of {ours:.3f} s)"
    )
    return "\n".join(lines)


def checks(found: Mapping[str, Timings]) -> list[Check]:
    peer = pct(found[PEER].initialize, 0.5)
    result: list[Check] = []
    for server in (OURS, OURS_PLAIN):
        ours = pct(found[server].initialize, 0.5)
        result.append(
            (
                f"{server}: spawn to initialize answered, median <= tabby-agent's",
                ours <= peer,
                f"{ours:.3f} s vs {peer:.3f} s (x{ours / peer:.2f})",
            )
        )
    return result


def run(options: StartupOptions) -> tuple[str, list[Check]]:
    found = asyncio.run(measure(options))
    return format_report(found), checks(found)
