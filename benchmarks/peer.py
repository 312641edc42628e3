"""Side by side with the best peer: codestral-lsp and tabby-agent 1.5.0 on the same typing.

`python -m benchmarks --peer tabby-agent` installs tabby-agent 1.5.0 from npm into a cache
outside the repository (once), starts it as an LSP server over stdio (`--lsp --stdio`), pointed
at a fake Tabby (tests/fake_tabby.py) through its config file in a temporary HOME, and replays
the same Python standard-library functions with the same client profiles through both servers,
one run after the other. The model (benchmarks/corpus.py's Oracle: the true code, or for some
offsets a wrong line) and its latency (150 ms + 5 ms per completion token) are the same for both.
tabby-agent has no inline completion: the typist asks for `textDocument/completion` and takes
the first item's edit. Node's timers in the peer are compressed like every other delay
(benchmarks/peer_clock.cjs), so its adaptive debounce sees the typing it would in real time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.corpus import Oracle, Sample, pick_functions
from benchmarks.lsp_client import (
    LspClient,
    ServerGone,
    done_lines,
    done_values,
    server_env,
    session_stats,
)
from benchmarks.replay import full_settings
from benchmarks.typist import HumanClock, TypingStats, Typist
from tests.fake_codestral import FIM_PATH, FakeCodestral, RecordedRequest, count_tokens
from tests.fake_tabby import TABBY_PATH, FakeTabby, sent_text

TABBY_VERSION = "1.5.0"
FIRST_TOKEN_S = 0.150  # the backend: 150 ms to the first token, then 5 ms per token
TOKEN_S = 0.005
OURS, OURS_SMALL, OURS_SPEC = "codestral-lsp", "codestral-lsp @512", "codestral-lsp +spec"
PEER = "tabby-agent"
SMALL_CONTEXT = 512  # about tabby-agent's 20 + 20 lines


@dataclass(frozen=True)
class PeerOptions:
    peer: str = "tabby-agent"
    functions: int = 4
    keystroke_traces: int = 2
    seed: int = 1
    compression: float = 5.0
    wrong_rate: float = 0.2
    keep_logs: Path | None = None
    cache: Path = Path.home() / ".cache" / "codestral-lsp" / "bench"


@dataclass
class PeerRun:
    """One server with one client profile over the traces."""

    server: str
    profile: str
    samples: list[Sample]
    typing: TypingStats = field(default_factory=TypingStats)
    calls: list[RecordedRequest] = field(default_factory=list)
    answers: dict[int, tuple[str, int, str]] = field(default_factory=dict)
    done: list[dict[str, str]] = field(default_factory=list)
    server_calls: dict[str, Any] = field(default_factory=dict)  # codestral.stats "calls"
    wall_s: float = 0.0

    @property
    def region_chars(self) -> int:
        return sum(s.end - s.start for s in self.samples)

    @property
    def sent_chars(self) -> int:
        return sum(len(text) for call in self.calls for text in _sent(call))

    @property
    def sent_tokens(self) -> int:
        return sum(count_tokens(text) for call in self.calls for text in _sent(call))

    def wasted(self) -> int:
        """Calls none of whose answer was ever shown: abandoned, superseded, stale, shaped
        away, or answered with nothing."""
        return sum(not self._shown(call) for call in self.calls)

    def _shown(self, call: RecordedRequest) -> bool:
        answer = self.answers.get(id(call.body))
        if answer is None or call.aborted or not answer[2].strip():
            return False
        name, offset, text = answer
        for file, cursor, shown in self.typing.shown_items:
            if file != name or cursor < offset or not shown.strip():
                continue
            sample = next(s for s in self.samples if s.name == file)
            typed = sample.text[offset:cursor]
            if not text.startswith(typed):
                continue
            rest = text[len(typed) :]
            if rest.startswith(shown) or rest.lstrip().startswith(shown.lstrip()[:8]):
                return True
        return False

    def log_values(self, key: str, sources: tuple[str, ...] | None = None) -> list[float]:
        return done_values(self.done, key, sources)


def _sent(call: RecordedRequest) -> list[str]:
    body = call.body if isinstance(call.body, dict) else {}
    if call.path.endswith(FIM_PATH):
        return [str(body.get("prompt") or ""), str(body.get("suffix") or "")]
    return sent_text(body)


def ensure_tabby(cache: Path) -> Path:
    """tabby-agent's CLI script, installed from npm into ``cache`` unless already there."""
    prefix = cache / f"tabby-agent-{TABBY_VERSION}"
    script = prefix / "node_modules" / "tabby-agent" / "dist" / "cli.js"
    if script.is_file():
        return script
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("the peer needs Node.js and npm on PATH")
    prefix.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(prefix), f"tabby-agent@{TABBY_VERSION}"]
    done = subprocess.run(
        [*command, "--no-audit", "--no-fund"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or not script.is_file():
        why = done.stderr[-2000:]
        raise RuntimeError(f"npm install tabby-agent@{TABBY_VERSION} failed:\n{why}")
    return script


def _tabby_home(work: Path, endpoint: str) -> Path:
    """A HOME whose tabby config points at the fake: the user's own config is not touched."""
    home = work / "tabby-home"
    config = home / ".tabby-client" / "agent" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[server]\nendpoint = "{endpoint}"\n\n[logs]\nlevel = "silent"\n\n'
        "[anonymousUsageTracking]\ndisable = true\n",
        encoding="utf-8",
    )
    return home


async def _spawn(server: str, fake: FakeCodestral, options: PeerOptions, work: Path) -> LspClient:
    tag = _tag(server)
    stderr = work / f"{tag}.stderr"
    if server == PEER:
        script = ensure_tabby(options.cache)
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env["HOME"] = str(_tabby_home(work, fake.url))
        env["BENCH_TIME_COMPRESSION"] = str(options.compression)
        clock = Path(__file__).with_name("peer_clock.cjs")
        node = shutil.which("node") or "node"
        args = ["-r", str(clock), str(script), "--lsp", "--stdio"]
        return await LspClient.spawn(args, env, stderr, program=node)
    log = work / f"{tag}.log"
    args = ["-m", "codestral_lsp", "-v", "--log-file", str(log)]
    return await LspClient.spawn(args, server_env(work, fake.api_key), stderr)


def _settings(server: str, compression: float) -> dict[str, Any]:
    settings = full_settings(compression)
    if server == OURS_SMALL:
        settings["contextTokens"] = SMALL_CONTEXT
    if server == OURS_SPEC:
        settings["speculate"] = True
    return settings


async def run_one(
    server: str, profile: str, samples: list[Sample], options: PeerOptions, work: Path
) -> PeerRun:
    """One server process and its own fake, replaying ``samples`` with ``profile``."""
    oracle = Oracle(options.seed, options.wrong_rate)
    kind = FakeTabby if server == PEER else FakeCodestral
    fake = kind(
        completion=oracle.completion,
        first_token_delay=FIRST_TOKEN_S / options.compression,
        token_delay=TOKEN_S / options.compression,
    )
    await fake.start()
    run = PeerRun(server, profile, samples)
    began = time.perf_counter()
    try:
        client = await _spawn(server, fake, options, work)
        try:
            await _replay(client, fake, oracle, run, options)
        except ServerGone as exc:
            tail = (work / f"{_tag(server)}.stderr").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{server}: {exc}; its stderr ends:\n{tail}") from exc
        finally:
            await client.close()
    finally:
        await fake.stop()
    run.wall_s = time.perf_counter() - began
    run.calls = [r for r in fake.requests if r.path.endswith((FIM_PATH, TABBY_PATH))]
    run.answers = dict(oracle.answers)
    if server != PEER:
        log = work / f"{_tag(server)}.log"
        run.done = done_lines(log)
        run.server_calls = session_stats(log).get("calls") or {}
    return run


def _tag(server: str) -> str:
    return server.replace(" ", "").replace("@", "-").replace("+", "-")


async def _replay(
    client: LspClient, fake: FakeCodestral, oracle: Oracle, run: PeerRun, options: PeerOptions
) -> None:
    peer = run.server == PEER
    settings = {} if peer else {"endpoint": fake.url, **_settings(run.server, options.compression)}
    await client.initialize(settings, ["utf-8", "utf-16", "utf-32"])
    if peer:  # tabby-agent is ready once its health check has reached the fake
        await fake.wait_until(lambda f: any(r.path == "/v1/health" for r in f.requests), 30)
    clock = HumanClock(options.seed)
    for sample in run.samples:
        typist = Typist(
            client, sample, oracle, clock, options.compression, run.typing, run.profile, peer
        )
        await typist.run()
    with contextlib.suppress(TimeoutError):  # the counts below say what stayed open
        await fake.wait_until(lambda f: all(r.ended_at is not None for r in f.requests), 10)


def _ascii_where_typed(sample: Sample) -> bool:
    """The region and the line after it (where the cursor is at first) are ASCII, so that
    columns agree in every position encoding."""
    stop = sample.text.find("\n", sample.end)
    return sample.text[sample.start : None if stop < 0 else stop].isascii()


async def compare(options: PeerOptions) -> list[PeerRun]:
    """Neovim-like: ours, ours at contextTokens 512, the peer; per keystroke: ours, the peer."""
    samples = pick_functions(options.functions, options.seed)
    if not all(_ascii_where_typed(s) for s in samples):  # utf-8 for us, utf-16 for the peer
        raise RuntimeError("the peer replay needs ASCII regions")
    plan = [(OURS, "neovim"), (OURS_SMALL, "neovim"), (OURS_SPEC, "neovim"), (PEER, "neovim")]
    plan += [(OURS, "keystroke"), (PEER, "keystroke")]
    runs = []
    with tempfile.TemporaryDirectory(prefix="codestral-peer-") as tmp:
        for server, profile in plan:
            work = (options.keep_logs or Path(tmp)) / profile
            work.mkdir(parents=True, exist_ok=True)
            traces = samples if profile == "neovim" else samples[: options.keystroke_traces]
            runs.append(await run_one(server, profile, traces, options, work))
    return runs
