"""One workspace limit, several servers: concurrent replays against one rate-limited fake.

Each server is its own process with the default configuration (its debounce scaled by F like
every delay) plus `rateLimit: {rpm: null, tpm: null, windowSeconds: 60/F}`: its governor's window
matches the fake's, and the limit's values are left for it to learn from the headers. Each
re-types a different file, the same number of characters, all at the same time. The fake enforces
one `WorkspaceLimit` over all of them (Langdock's 500 requests and 60,000 tokens, per window of
60/F s) and tells them apart by a header each server is configured to send. Run alone with
`python -m benchmarks --shared [--quick] [--servers N]`. The same servers first run against a
fake without a limit: what each would get alone is the yardstick for its share.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import random
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.corpus import Oracle, Sample, pick_samples
from benchmarks.replay import (
    FIRST_TOKEN_S,
    TOKEN_S,
    ConfigResult,
    ReplayOptions,
    collect,
    full_settings,
    run_server,
)
from benchmarks.typist import HumanClock, TypingStats
from tests.fake_codestral import FakeCodestral, RecordedRequest, WindowUse, WorkspaceLimit

CLIENT_HEADER = "X-Benchmark-Client"
_NOT_SENT = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*\[c\d+\] not sent: "
    r"(?P<reason>[^,(]+?)\s*(?:\((?P<left>\d+) left\))?(?:,.*)?$",
    re.MULTILINE,
)
_SESSION = re.compile(r"session stats: (\{.*\})\s*$", re.MULTILINE)


TYPIST_TPM = 2_000  # a 30-person team on Langdock's 60,000 tokens a minute
TYPIST_RPM = 17  # and on its 500 requests


@dataclass(frozen=True)
class SharedOptions:
    servers: int = 4
    seed: int = 1
    compression: float = 5.0
    chars: int = 1200  # characters each server re-types
    wrong_rate: float = 0.2
    rpm: int = 500  # the workspace's limit per window (Langdock's per minute)
    tpm: int = 60_000
    keep_logs: Path | None = None
    realistic: bool = False  # a sliding 60 s window, the limit per typist, scaled by F

    @property
    def window_s(self) -> float:
        return 60.0 if self.realistic else 60.0 / self.compression

    @property
    def limit(self) -> tuple[int, int]:
        """Requests and tokens per window. Realistic: each typist's part of a team's
        workspace, times F (typing F times faster spends F times more a minute)."""
        if not self.realistic:
            return self.rpm, self.tpm
        scale = self.servers * self.compression
        return round(TYPIST_RPM * scale), round(TYPIST_TPM * scale)


@dataclass(frozen=True)
class HeldBack:
    """A request the server's governor did not send, from its log."""

    at: float  # time.monotonic() of the harness and the fake
    reason: str  # "token allowance low", "cool-down after HTTP 429", ...
    believed_left: int | None  # the tokens the governor reckoned were left, when it says


@dataclass
class Server:
    """One server's run, and what its log says about its governor."""

    result: ConfigResult
    sample: Sample
    held: list[HeldBack] = field(default_factory=list)
    limiter: dict[str, Any] = field(default_factory=dict)  # the governor's snapshot at shutdown
    began: float = 0.0  # time.monotonic() at its start and end
    ended: float = 0.0

    @property
    def held_back(self) -> Counter[str]:
        return Counter(h.reason for h in self.held)

    @property
    def name(self) -> str:
        return self.result.name

    @property
    def calls(self) -> list[RecordedRequest]:
        return self.result.calls

    @property
    def served(self) -> int:
        return sum(r.status == 200 for r in self.calls)

    @property
    def refused(self) -> list[RecordedRequest]:
        return [r for r in self.calls if r.rate_limited]

    def headers_seen_at(self) -> float | None:
        """When the server first read the limit's headers: the end of its first answered call
        (a 2xx read to its end, or a 429); its governor reads them only then."""
        ends = [r.ended_at for r in self.calls if r.limit_headers and r.finished and r.ended_at]
        return min(ends, default=None)

    def refused_after_headers(self) -> list[RecordedRequest]:
        seen = self.headers_seen_at()
        return [r for r in self.refused if seen is not None and r.received_at > seen]


@dataclass
class SharedReport:
    options: SharedOptions
    servers: list[Server]
    baseline: list[Server]  # the same servers and typing against a fake without a limit
    windows: dict[int, WindowUse]
    start: float | None  # the limit's clock at its first request
    unmapped: int
    wall_s: float

    def window_of(self, at: float) -> int:
        return max(0, int((at - (self.start or at)) // self.options.window_s))

    def left_at(self, at: float) -> int:
        """The workspace's tokens truly left at ``at`` (the fake's charges replayed)."""
        window, used = self.window_of(at), 0
        for r in (r for s in self.servers for r in s.calls if not r.rate_limited):
            if r.received_at <= at and self.window_of(r.received_at) == window:
                used += r.prompt_tokens or 0
            if r.ended_at is not None and r.ended_at <= at and self.window_of(r.ended_at) == window:
                used += r.completion_tokens
        return self.options.limit[1] - used


class Router:
    """The fake's model for several servers at once: the oracle whose file holds the prompt's
    end answers (each server re-types a different file)."""

    def __init__(self, oracles: list[Oracle]) -> None:
        self.oracles = oracles
        self.unmapped = 0

    def completion(self, body: dict[str, Any]) -> str:
        prompt = str(body.get("prompt") or "")
        for oracle in self.oracles:
            if oracle.locate(prompt) is not None:
                return oracle.completion(body)
        self.unmapped += 1
        return ""


def server_settings(options: SharedOptions, name: str) -> dict[str, Any]:
    """The defaults (debounce scaled), the fake's window, and a header naming the server."""
    return {
        **full_settings(options.compression),
        "rateLimit": {"rpm": None, "tpm": None, "windowSeconds": options.window_s},
        "headers": {CLIENT_HEADER: name},
    }


async def run(options: SharedOptions) -> SharedReport:
    """The servers once against a fake without a limit (what each would get alone), then
    against one with the workspace limit."""
    samples = pick_samples(options.servers, options.seed, large=1, chars=options.chars)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="codestral-shared-") as tmp:
        work = _folder(options.keep_logs or Path(tmp))
        baseline, _ = await _phase(options, samples, None, _folder(work / "unlimited"))
        rpm, tpm = options.limit
        limit = WorkspaceLimit(rpm, tpm, options.window_s, sliding=options.realistic)
        servers, unmapped = await _phase(options, samples, limit, work)
    wall = time.perf_counter() - began
    return SharedReport(
        options, servers, baseline, dict(limit.windows), limit.start, unmapped, wall
    )


async def _phase(
    options: SharedOptions, samples: list[Sample], limit: WorkspaceLimit | None, work: Path
) -> tuple[list[Server], int]:
    """All servers at once against one fake (with ``limit``, if any); logs go to ``work``."""
    oracles = [Oracle(options.seed, options.wrong_rate) for _ in samples]
    router = Router(oracles)
    latency = random.Random(options.seed)
    fake = FakeCodestral(
        completion=router.completion,
        first_token_delay=lambda: latency.uniform(*FIRST_TOKEN_S) / options.compression,
        token_delay=TOKEN_S / options.compression,
        limit=limit,
    )
    replay = ReplayOptions(seed=options.seed, compression=options.compression)
    servers = [
        Server(ConfigResult(f"s{i}", server_settings(options, f"s{i}"), TypingStats()), sample)
        for i, sample in enumerate(samples, start=1)
    ]
    await fake.start()
    try:
        runs = [
            _timed(fake, oracle, server, replay, work, HumanClock(options.seed + i))
            for i, (oracle, server) in enumerate(zip(oracles, servers, strict=True))
        ]
        failures = [e for e in await asyncio.gather(*runs, return_exceptions=True) if e]
    finally:
        await fake.stop()
    if failures:
        raise failures[0]
    for oracle, server in zip(oracles, servers, strict=True):
        mine = [r for r in fake.requests if _sent_by(server.name)(r)]
        collect(server.result, mine, oracle, work)
        server.held, server.limiter = _governor_log(work / f"{server.name}.log")
    return servers, router.unmapped


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


async def _timed(
    fake: FakeCodestral,
    oracle: Oracle,
    server: Server,
    options: ReplayOptions,
    work: Path,
    clock: HumanClock,
) -> None:
    server.began = time.monotonic()
    await run_server(
        fake, oracle, [server.sample], options, server.result, work, clock, _sent_by(server.name)
    )
    server.ended = time.monotonic()
    server.result.wall_s = server.ended - server.began


def _sent_by(name: str) -> Any:
    return lambda request: request.headers.get(CLIENT_HEADER.lower()) == name


def _governor_log(log: Path) -> tuple[list[HeldBack], dict[str, Any]]:
    """The requests the governor held back, and its snapshot at shutdown, from the log."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return [], {}
    offset = time.time() - time.monotonic()  # log times are wall clock, ours monotonic
    held = []
    for match in _NOT_SENT.finditer(text):
        stamp = datetime.datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        left = int(match["left"]) if match["left"] else None
        held.append(HeldBack(stamp - offset, match["reason"].strip(), left))
    session = _SESSION.findall(text)
    limiter = json.loads(session[-1]).get("limiter", {}) if session else {}
    return held, limiter
