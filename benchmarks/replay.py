"""Typing replay: real files re-typed through the real server, full and plain side by side.

Each configuration gets its own fake Codestral (playing the file's true continuation with a
realistic latency) and its own server process; both replay the same files with the same seeds.
Run alone with `python -m benchmarks.replay [options]` (same options as `python -m benchmarks`).
"""

from __future__ import annotations

import collections
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.corpus import Oracle, PromptSize, Sample, pick_samples
from benchmarks.lsp_client import (
    LspClient,
    ProcessStats,
    ServerGone,
    done_lines,
    done_values,
    process_stats,
    server_env,
    session_stats,
    tagged_lines,
)
from benchmarks.typist import HumanClock, TypingStats, Typist
from tests.fake_codestral import FIM_PATH, FakeCodestral, RecordedRequest

PLAIN = {"debounceMs": 0, "debounceMaxMs": 0, "cacheSize": 0, "coalesce": False}
MEMORY_SOURCES = ("cache", "typed")
FIRST_TOKEN_S = (0.150, 0.400)
TOKEN_S = 0.003


@dataclass(frozen=True)
class ReplayOptions:
    files: int = 3
    seed: int = 1
    compression: float = 5.0
    min_lines: int = 20
    max_lines: int = 60
    wrong_rate: float = 0.2
    keep_logs: Path | None = None


@dataclass
class ConfigResult:
    """One configuration's run: the typist's counts, the fake's, the server's log and /proc."""

    name: str
    settings: dict[str, Any]
    typing: TypingStats
    upstream: int = 0
    abandoned: int = 0
    still_open: int = 0
    unmapped: int = 0
    budget: int = 0  # contextTokens of the run
    calls: list[RecordedRequest] = field(default_factory=list)  # the fake's FIM records
    prompts: list[PromptSize] = field(default_factory=list)  # the oracle's, per call it answered
    done: list[dict[str, str]] = field(default_factory=list)
    upstream_log: list[dict[str, str]] = field(default_factory=list)  # [cN] upstream lines
    start: ProcessStats | None = None
    end: ProcessStats | None = None
    messages: list[str] = field(default_factory=list)
    server_calls: dict[str, Any] = field(default_factory=dict)  # codestral.stats "calls"
    wall_s: float = 0.0

    def log_values(self, key: str, sources: Sequence[str] | None = None) -> list[float]:
        """A numeric field of the server's done lines (optionally of some sources only)."""
        return done_values(self.done, key, sources)

    def editor_side(self, sources: Sequence[str] | None = None) -> dict[str, list[float]]:
        """Per request, as the editor sees it: ``added`` (answer time minus debounce minus
        upstream), ``io`` (answer time minus the server's own total) and ``answer``.

        The server numbers inline requests c1, c2, ... in arrival order, as the typist does; if
        the two do not line up (an answer faster than the server's own total), all are empty.
        """
        by_id = {line["id"]: line for line in self.done}
        found: dict[str, list[float]] = {"added": [], "io": [], "answer": []}
        for number, answer in self.typing.answer_ms.items():
            line = by_id.get(f"c{number}")
            if line is None or (sources is not None and line.get("source") not in sources):
                continue
            try:
                total, debounce, upstream = (
                    float(line[k]) for k in ("total_ms", "debounce_ms", "upstream_ms")
                )
            except (KeyError, ValueError):
                continue
            if answer < total - 1:
                return {"added": [], "io": [], "answer": []}
            found["added"].append(answer - debounce - upstream)
            found["io"].append(answer - total)
            found["answer"].append(answer)
        return found

    @property
    def sources(self) -> collections.Counter[str]:
        return collections.Counter(line.get("source", "?") for line in self.done)


@dataclass
class ReplayReport:
    samples: list[Sample]
    options: ReplayOptions
    full: ConfigResult
    plain: ConfigResult


def default_context_tokens() -> int:
    from codestral_lsp.settings import Settings

    return Settings().context_tokens


def default_debounce_ms() -> tuple[int, int]:
    """The server's default debounce floor and ceiling (75/300 until settings.py says)."""
    from codestral_lsp.settings import Settings

    defaults = Settings()
    return getattr(defaults, "debounce_ms", 75), getattr(defaults, "debounce_max_ms", 300)


def full_settings(compression: float) -> dict[str, Any]:
    """The default configuration, its debounce compressed like every other delay."""
    floor, ceiling = default_debounce_ms()
    return {
        "debounceMs": max(1, round(floor / compression)),
        "debounceMaxMs": max(1, round(ceiling / compression)),
    }


async def run_config(
    name: str, settings: dict[str, Any], samples: list[Sample], options: ReplayOptions, work: Path
) -> ConfigResult:
    compression = options.compression
    oracle = Oracle(options.seed, options.wrong_rate)
    latency = random.Random(options.seed)
    fake = FakeCodestral(
        completion=oracle.completion,
        first_token_delay=lambda: latency.uniform(*FIRST_TOKEN_S) / compression,
        token_delay=TOKEN_S / compression,
    )
    await fake.start()
    result = ConfigResult(name, settings, TypingStats())
    began = time.perf_counter()
    try:
        await run_server(fake, oracle, samples, options, result, work, HumanClock(options.seed))
    finally:
        await fake.stop()
    result.wall_s = time.perf_counter() - began
    collect(result, fake.requests, oracle, work)
    return result


async def run_server(
    fake: FakeCodestral,
    oracle: Oracle,
    samples: list[Sample],
    options: ReplayOptions,
    result: ConfigResult,
    work: Path,
    clock: HumanClock,
    mine: Callable[[RecordedRequest], bool] = lambda request: True,
) -> None:
    """One server process replaying ``samples`` against ``fake``; ``mine`` picks its calls."""
    client = await LspClient.spawn(
        ["-m", "codestral_lsp", "-v", "--log-file", str(work / f"{result.name}.log")],
        server_env(work, fake.api_key),
        work / f"{result.name}.stderr",
    )
    try:
        await _replay_all(client, fake, oracle, samples, options, result, clock, mine)
    except ServerGone as exc:
        tail = (work / f"{result.name}.stderr").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{result.name}: {exc}; the server's stderr ends:\n{tail}") from exc
    finally:
        await client.close()
    result.messages = [
        str(m["params"].get("message"))
        for m in client.notifications
        if m.get("method") == "window/showMessage"
    ]


def collect(
    result: ConfigResult, requests: list[RecordedRequest], oracle: Oracle, work: Path
) -> None:
    """What the fake, the oracle and the server's log say about one server's run."""
    calls = [r for r in requests if r.path.endswith(FIM_PATH)]
    result.calls = calls
    result.upstream = len(calls)
    result.abandoned = sum(r.aborted for r in calls)
    result.unmapped = oracle.unmapped
    result.prompts = list(oracle.prompts)
    result.budget = int(result.settings.get("contextTokens", default_context_tokens()))
    log = work / f"{result.name}.log"
    result.done = done_lines(log)
    result.upstream_log = tagged_lines(log, "upstream")
    result.server_calls = session_stats(log).get("calls") or {}


async def _replay_all(
    client: LspClient,
    fake: FakeCodestral,
    oracle: Oracle,
    samples: list[Sample],
    options: ReplayOptions,
    result: ConfigResult,
    clock: HumanClock,
    mine: Callable[[RecordedRequest], bool],
) -> None:
    reply = await client.initialize(
        {"endpoint": fake.url, **result.settings}, ["utf-8", "utf-16", "utf-32"]
    )
    encoding = reply["capabilities"].get("positionEncoding", "utf-16")
    if encoding != "utf-8":
        raise RuntimeError(f"the server chose {encoding!r}, but Neovim offers utf-8 first")
    result.start = process_stats(client.proc.pid)
    for sample in samples:
        typist = Typist(client, sample, oracle, clock, options.compression, result.typing)
        await typist.run()
    try:
        await fake.wait_until(
            lambda f: all(r.ended_at is not None for r in f.requests if mine(r)), 10
        )
    except TimeoutError:
        result.still_open = sum(r.ended_at is None for r in fake.requests if mine(r))
    result.end = process_stats(client.proc.pid)


async def replay(options: ReplayOptions) -> ReplayReport:
    samples = pick_samples(options.files, options.seed, options.min_lines, options.max_lines)
    with tempfile.TemporaryDirectory(prefix="codestral-bench-") as tmp:
        work = options.keep_logs or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        full = await run_config("full", full_settings(options.compression), samples, options, work)
        plain = await run_config("plain", dict(PLAIN), samples, options, work)
    return ReplayReport(samples, options, full, plain)


if __name__ == "__main__":
    from benchmarks.run import main

    raise SystemExit(main(["--only", "replay", *sys.argv[1:]]))
