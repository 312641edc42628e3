"""Soak: 100,000 keystrokes over several documents through one server; does anything grow?

One server process (`python -m codestral_lsp`, the default configuration with its debounce
scaled down to 5/20 ms) and one fake Codestral (first token after 5-20 ms) for the whole run. A
seeded editor, Neovim 0.12 as `benchmarks/typist.py` describes it, keeps K documents open (real
stdlib files) and edits them: typing (the next character of another stdlib file, newlines and
indentation included), backspaces (joining lines at column 0), paste-like multi-character
inserts, accepts of shown suggestions (their range or a paste at the cursor, then their
`codestral.accepted` command), jumps to other lines and switches to other documents; now and
then it closes a document and opens another under a new URI, so that per-document state has to
be let go of. Time is compressed: keys come in back-to-back bursts; Neovim's 200 ms timer fires
at once at the end of a burst that ends in a pause, which then lasts 0-15 ms more before the
next key (so the server's debounce, the backend and the next key race as they would at a
human's pace). Older requests are never cancelled, except on an InsertLeave (`$/cancelRequest`
for every pending one) and on an accept; at most `--max-in-flight` requests are pending.

The server is measured at rest (every answer in, the fake idle) after the warm-up (the first
10% of keystrokes), in the middle and at the end, each time after the same probe has evened
out its HTTP pool (`fill_pool`): VmRSS, and from `codestral.stats` its live asyncio tasks, open
HTTP connections and open documents; from /proc also its open descriptors and its sockets to
the fake (which stand in for the connections where the stats lack them).
Targets: RSS growth after warm-up under 10%, no more tasks nor connections at the end than
after warm-up. Run with `python -m benchmarks.soak [--keystrokes N] [--documents K] [--seed S]`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.corpus import LARGE, PREFERRED, read_source, stdlib_root
from benchmarks.lsp_client import LspClient, Message, ServerGone, process_stats, server_env
from benchmarks.run import Check, report_checks
from tests.fake_codestral import FIM_PATH, FakeCodestral, Reply

SETTINGS = {"debounceMs": 5, "debounceMaxMs": 20}  # the defaults (75/300) compressed
FIRST_TOKEN_S = (0.005, 0.020)
TOKEN_S = 0.0002
REST_S = 0.015  # the longest rest of a pause after Neovim's timer fired
RSS_GROWTH_MAX = 0.10
MIB = 1024 * 1024
# The editor's habits, per key or per burst (a run of back-to-back keys).
BURST_MEAN = 6  # keys
PAUSE_SHARE = 0.4  # bursts that end in a pause long enough for Neovim's timer (a request)
WAIT_SHARE = 0.35  # pauses in which the human waits for the answer to show
INSERT_LEAVE_SHARE = 0.03  # pauses that end in InsertLeave: pending requests cancelled
ACCEPT_SHARE = 0.5  # shown suggestions (still valid at the next key) that are accepted
BACKSPACE_SHARE, PASTE_SHARE = 0.10, 0.005  # per key; the rest types the next character
JUMP_SHARE, SWITCH_SHARE, ROTATE_SHARE = 0.03, 0.03, 0.02  # per burst


@dataclass(frozen=True)
class SoakOptions:
    keystrokes: int = 100_000
    documents: int = 6
    seed: int = 1
    max_in_flight: int = 8
    warmup: float = 0.1  # share of the keystrokes before the first measurement
    keep_logs: Path | None = None


@dataclass(frozen=True)
class Snapshot:
    """The server at rest after some keystrokes (None: not told by this server or system)."""

    keystrokes: int
    rss_mib: float | None  # VmRSS, else the stats' process.rssBytes
    tasks: int | None  # asyncio tasks alive (codestral.stats process.tasks)
    connections: int | None  # open HTTP connections in its pool (process.connections)
    documents: int | None  # open documents (codestral.stats documents)
    sockets: int | None  # its TCP sockets to the fake, any state (/proc)
    fds: int | None  # open file descriptors (/proc)
    cpu_s: float | None  # utime + stime
    stats: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass
class SoakResult:
    options: SoakOptions
    counts: Counter[str]  # what the editor did and the answers it got
    snapshots: list[Snapshot]  # after warm-up, middle, end
    upstream: int = 0  # FIM calls the fake received
    abandoned: int = 0  # of those, closed by the server before the fake finished
    probes: int = 0  # FIM calls of the measurements' probes (not in ``upstream``)
    open_documents: int = 0  # in the editor at the end
    wall_s: float = 0.0
    harness_cpu_s: float = 0.0  # this process: the editor and the fake
    errors: list[str] = field(default_factory=list)  # samples of error answers
    messages: list[str] = field(default_factory=list)  # window/showMessage texts
    trace: list[tuple[int, float]] = field(default_factory=list)  # (keystrokes, VmRSS MiB)


class Model:
    """The fake's answers: one to three lines of the corpus, chosen by a hash of the prompt's
    end (the same state gets the same answer, so the server's memory is hit), or nothing."""

    def __init__(self, lines: list[str], seed: int) -> None:
        self.lines = [line for line in lines if line.strip()]
        self.seed = seed

    def completion(self, body: dict[str, Any]) -> str:
        tail = str(body.get("prompt") or "")[-64:]
        digest = hashlib.blake2b(f"{self.seed}:{tail}".encode(), digest_size=8).digest()
        draw = int.from_bytes(digest, "big")
        if draw % 10 == 0:
            return ""
        first = (draw >> 8) % len(self.lines)
        return "\n".join(self.lines[first : first + 1 + (draw >> 40) % 3]).lstrip()


def _units(text: str) -> int:
    return len(text.encode("utf-8"))


class Doc:
    """One buffer as the editor holds it: lines, cursor (line, character index), version, and
    the text its typist types from (``feed``, read on from ``fed``)."""

    def __init__(self, uri: str, text: str, feed: str, rng: random.Random) -> None:
        self.uri, self.lines, self.version = uri, text.split("\n"), 1
        self.feed, self.fed = feed, rng.randrange(len(feed))
        self.line, self.col = 0, 0
        self.jump(rng)

    def position(self, line: int | None = None, col: int | None = None) -> dict[str, int]:
        line = self.line if line is None else line
        col = self.col if col is None else col
        return {"line": line, "character": _units(self.lines[line][:col])}

    def index(self, line: int, character: int) -> int:
        """The character index of a utf-8 column on ``line``."""
        raw = self.lines[line].encode("utf-8")[:character]
        return len(raw.decode("utf-8", "ignore"))

    def jump(self, rng: random.Random) -> None:
        self.line = rng.randrange(len(self.lines))
        self.col = rng.randint(0, len(self.lines[self.line]))

    def next_text(self, n: int) -> str:
        text = self.feed[self.fed : self.fed + n]
        self.fed = (self.fed + n) % len(self.feed)
        return text or self.next_text(n)

    def edit(self, start: tuple[int, int], end: tuple[int, int], text: str) -> dict[str, Any]:
        """Replace (line, index) ``start``..``end`` by ``text``, the cursor after it; returns
        the didChange content change."""
        (first, start_col), (last, end_col) = start, end
        change = {"range": {"start": self.position(*start), "end": self.position(*end)}}
        head, tail = self.lines[first][:start_col], self.lines[last][end_col:]
        self.lines[first : last + 1] = (head + text + tail).split("\n")
        pieces = text.split("\n")
        self.line = first + len(pieces) - 1
        self.col = (start_col if len(pieces) == 1 else 0) + len(pieces[-1])
        self.version += 1
        return {**change, "text": text}


@dataclass
class _Shown:
    """The suggestion on screen, and the document state it was shown for."""

    doc: Doc
    version: int
    item: dict[str, Any]


class Editor:
    """Neovim 0.12 with several buffers, driven by a seeded, time-compressed typist."""

    def __init__(
        self, client: LspClient, options: SoakOptions, pool: list[tuple[str, str]]
    ) -> None:
        self.client, self.options, self.pool = client, options, pool
        self.rng = random.Random(options.seed)
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []
        self.pending: dict[int, asyncio.Future[Message]] = {}
        self.docs: list[Doc] = []
        self.shown: _Shown | None = None
        for _ in range(options.documents):
            self.open()
        self.doc = self.docs[0]

    # --- documents

    def open(self) -> Doc:
        name, text = self.pool[self.counts["opened"] % len(self.pool)]
        feed = self.rng.choice(self.pool)[1]
        doc = Doc(f"file:///soak/{self.counts['opened']}/{name}", text, feed, self.rng)
        item = {"uri": doc.uri, "languageId": "python", "version": 1, "text": text}
        self.client.notify("textDocument/didOpen", {"textDocument": item})
        self.counts["opened"] += 1
        self.docs.append(doc)
        return doc

    def rotate(self) -> None:
        """Close a document and open another in its place (under a new URI)."""
        doc = self.docs.pop(self.rng.randrange(len(self.docs)))
        self.client.notify("textDocument/didClose", {"textDocument": {"uri": doc.uri}})
        self.counts["closed"] += 1
        opened = self.open()
        if self.doc is doc:
            self.doc = opened

    # --- keys

    async def type(self, until: int) -> None:
        """Type bursts until ``until`` keystrokes have been typed in all."""
        while self.counts["keystrokes"] < until:
            self._move()
            if not self._accept():
                burst = min(until - self.counts["keystrokes"], self._burst_length())
                for _ in range(burst):
                    self._key()
            assert self.client.proc.stdin is not None
            await self.client.proc.stdin.drain()
            if self.rng.random() < PAUSE_SHARE:
                await self._pause()
            await self._bound(self.options.max_in_flight - 1)

    def _burst_length(self) -> int:
        return 1 + int(self.rng.expovariate(1 / (BURST_MEAN - 0.5)))

    def _move(self) -> None:
        """Between bursts: maybe another document, another place, or a document swapped."""
        rng = self.rng
        if rng.random() < ROTATE_SHARE:
            self.rotate()
        if rng.random() < SWITCH_SHARE:
            self.doc = rng.choice(self.docs)
            self.counts["switches"] += 1
        if rng.random() < JUMP_SHARE:
            self.doc.jump(rng)
            self.counts["jumps"] += 1

    def _key(self) -> None:
        doc, draw = self.doc, self.rng.random()
        self.counts["keystrokes"] += 1
        if draw < BACKSPACE_SHARE and (doc.col or doc.line):
            at = (
                (doc.line, doc.col - 1) if doc.col else (doc.line - 1, len(doc.lines[doc.line - 1]))
            )
            self._change(at, (doc.line, doc.col), "")
            self.counts["backspaces"] += 1
        elif draw < BACKSPACE_SHARE + PASTE_SHARE:
            text = doc.next_text(self.rng.randint(10, 120))
            self._change((doc.line, doc.col), (doc.line, doc.col), text)
            self.counts["pastes"] += 1
            self.counts["pasted chars"] += len(text)
        else:
            text = doc.next_text(1)
            self._change((doc.line, doc.col), (doc.line, doc.col), text)
            self.counts["newlines" if text == "\n" else "typed"] += 1

    def _change(self, start: tuple[int, int], end: tuple[int, int], text: str) -> None:
        doc = self.doc
        change = doc.edit(start, end, text)
        versioned = {"uri": doc.uri, "version": doc.version}
        self.client.notify(
            "textDocument/didChange", {"textDocument": versioned, "contentChanges": [change]}
        )

    def _accept(self) -> bool:
        """Accept the shown suggestion if it is still for this state (and the human wants it):
        cancel what is pending, apply its range (or paste it), run its command."""
        shown, self.shown = self.shown, None
        if shown is None or shown.doc is not self.doc or shown.version != self.doc.version:
            return False
        if self.rng.random() >= ACCEPT_SHARE:
            return False
        doc, item = self.doc, shown.item
        text = item.get("insertText")
        text = text.get("value") if isinstance(text, dict) else text
        span = item.get("range")
        start, end = (doc.line, doc.col), (doc.line, doc.col)
        if span is not None:
            if not span["start"]["line"] == span["end"]["line"] == doc.line:
                return False
            start = (doc.line, doc.index(doc.line, span["start"]["character"]))
            end = (doc.line, doc.index(doc.line, span["end"]["character"]))
        if not isinstance(text, str) or not start[1] <= doc.col <= end[1]:
            return False
        self._cancel_pending()
        self._change(start, end, text)
        self.counts["accepts"] += 1
        self.counts["accepted chars"] += len(text)
        if isinstance(item.get("command"), dict):
            command = item["command"]
            params = {"command": command["command"], "arguments": command.get("arguments", [])}
            self._track("accepted command", self.client.request("workspace/executeCommand", params))
        return True

    # --- requests and answers

    async def _pause(self) -> None:
        """Neovim's timer fires (one request), then the rest of the pause."""
        doc, version = self.doc, self.doc.version
        params = {
            "textDocument": {"uri": doc.uri},
            "position": doc.position(),
            "context": {"triggerKind": 2},  # Automatic
        }
        self.counts["requests"] += 1
        msg_id, future = self.client.request(
            "textDocument/inlineCompletion",
            params,
            lambda message, _: self._answered(doc, version, message),
        )
        self._track("request", (msg_id, future))
        draw = self.rng.random()
        if draw < INSERT_LEAVE_SHARE:
            self._cancel_pending()
            self.counts["insert leaves"] += 1
        elif draw < INSERT_LEAVE_SHARE + WAIT_SHARE:
            await self._until_done({future})
        else:
            await asyncio.sleep(self.rng.uniform(0, REST_S))

    def _track(self, what: str, sent: tuple[int, asyncio.Future[Message]]) -> None:
        msg_id, future = sent
        self.pending[msg_id] = future
        future.add_done_callback(lambda _: self.pending.pop(msg_id, None))

    def _cancel_pending(self) -> None:
        for msg_id in list(self.pending):
            self.client.notify("$/cancelRequest", {"id": msg_id})
            self.counts["cancels sent"] += 1

    def _answered(self, doc: Doc, version: int, message: Message) -> None:
        if "error" in message:
            cancelled = message["error"].get("code") == -32800
            self.counts["cancelled" if cancelled else "errors"] += 1
            if not cancelled and len(self.errors) < 3:
                self.errors.append(str(message["error"].get("message"))[:200])
            return
        result = message.get("result")
        if result is None:
            self.counts["null"] += 1
            return
        items = result.get("items", []) if isinstance(result, dict) else result
        self.counts["shown" if items else "empty"] += 1
        if doc.version == version and doc in self.docs:
            self.shown = _Shown(doc, version, items[0]) if items else None

    async def _bound(self, most: int) -> None:
        """Wait until at most ``most`` requests are pending."""
        while len(self.pending) > most:
            await self._until_done(set(self.pending.values()))
            for msg_id in [i for i, future in self.pending.items() if future.done()]:
                del self.pending[msg_id]

    async def _until_done(self, futures: set[asyncio.Future[Message]], timeout: float = 60) -> None:
        """Wait until one of ``futures`` is done; raise if the server exits or is stuck."""
        closed = asyncio.ensure_future(self.client.wait_closed())
        try:
            done, _ = await asyncio.wait(
                {closed, *futures}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            closed.cancel()
        if not done or not self.client.alive:
            why = "the server exited" if not self.client.alive else f"no answer in {timeout} s"
            raise ServerGone(f"{len(self.pending)} requests unanswered: {why}")

    async def drain(self) -> None:
        """Wait until every request has its answer."""
        await self._bound(0)


# --- the server at rest


def _vm_rss_mib(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def _fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def sockets_to(pid: int, port: int) -> int | None:
    """The process's TCP sockets whose remote end is ``port`` (any state: a socket left in
    CLOSE_WAIT still holds its descriptor), from /proc; None where /proc cannot tell."""
    try:
        fd_dir = f"/proc/{pid}/fd"
        links = (os.readlink(f"{fd_dir}/{fd}") for fd in os.listdir(fd_dir))
        inodes = {link[8:-1] for link in links if link.startswith("socket:[")}
        rows = [
            row.split()
            for table in ("tcp", "tcp6")
            for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        ]
    except OSError:
        return None
    return sum(int(row[2].rsplit(":", 1)[1], 16) == port and row[9] in inodes for row in rows)


async def server_stats(client: LspClient, floor: int = 1) -> dict[str, Any]:
    """``codestral.stats`` at rest, its task and connection counts the fewest seen.

    A call that has just ended leaves short-lived tasks behind it in the server (a socket
    closing, an async generator's finalizer), so the stats are asked again, each answer a pass
    of the server's loop, until its tasks are down to ``floor`` (an idle server's) or 50
    answers have been read. A leaked task or connection is in every answer; a passing one
    is not.
    """
    params = {"command": "codestral.stats", "arguments": []}
    fewest: dict[str, int] = {}
    stats: dict[str, Any] = {}
    for _ in range(50):
        answer = await client.call("workspace/executeCommand", params)
        stats = answer if isinstance(answer, dict) else {}
        process = stats.get("process")
        if not isinstance(process, dict):
            return stats
        for key in ("tasks", "connections"):
            if _count(process.get(key)) is not None:
                fewest[key] = min(fewest.get(key, process[key]), process[key])
        if fewest.get("tasks", floor) <= floor:
            break
    return {**stats, "process": {**stats["process"], **fewest}}


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def measure(client: LspClient, fake_port: int, keystrokes: int, floor: int) -> Snapshot:
    """What the server holds now (call it at rest; ``floor``: an idle server's tasks)."""
    stats = await server_stats(client, floor)
    process = stats.get("process") if isinstance(stats.get("process"), dict) else {}
    pid = client.proc.pid
    rss = _vm_rss_mib(pid)
    if rss is None and _count(process.get("rssBytes")) is not None:
        rss = process["rssBytes"] / MIB
    cpu = process_stats(pid)
    return Snapshot(
        keystrokes,
        rss,
        _count(process.get("tasks")),
        _count(process.get("connections")),
        _count(stats.get("documents")),
        sockets_to(pid, fake_port),
        _fds(pid),
        cpu.cpu_s if cpu else None,
        stats,
    )


# --- the run

HARVEST_EVERY = 2_000  # keystrokes between two harvests of the fake's finished records
PROBES = 12  # more than the pool keeps idle (backends/client.py: 8)


def corpus(count: int) -> list[tuple[str, str]]:
    """(name, text) of ``count`` usable stdlib files (at least 8), the preferred ones first."""
    root, found = stdlib_root(), []
    for name in (*PREFERRED, *LARGE):
        text = read_source(root / name)
        if text is not None and text.count("\n") > 50:
            found.append((name, text))
        if len(found) >= max(8, count):
            break
    if not found:
        raise RuntimeError(f"no usable stdlib files under {root}")
    return found


def _harvest(client: LspClient, fake: FakeCodestral, result: SoakResult, keystrokes: int) -> None:
    """Count the fake's finished FIM calls and the server's messages, and drop their records
    (prompts and all), so that the harness's own memory stays flat over a long run."""
    done = [r for r in fake.requests if r.ended_at is not None]
    calls = [r for r in done if r.path.endswith(FIM_PATH)]
    result.upstream += len(calls)
    result.abandoned += sum(r.aborted for r in calls)
    fake.requests[:] = [r for r in fake.requests if r.ended_at is None]
    result.messages += [
        str(m["params"].get("message"))
        for m in client.notifications
        if m.get("method") == "window/showMessage"
    ]
    client.notifications.clear()
    rss = _vm_rss_mib(client.proc.pid)
    if rss is not None:
        result.trace.append((keystrokes, rss))


async def _initialize(client: LspClient, fake: FakeCodestral) -> None:
    """As Neovim 0.12 does (its name decides how items are drawn), with the soak's settings."""
    params = {
        "processId": os.getpid(),
        "rootUri": None,
        "capabilities": {
            "general": {"positionEncodings": ["utf-8", "utf-16", "utf-32"]},
            "textDocument": {"inlineCompletion": {"dynamicRegistration": False}},
        },
        "initializationOptions": {"endpoint": fake.url, **SETTINGS},
        "clientInfo": {"name": "Neovim", "version": "0.12.0"},
    }
    reply = await client.call("initialize", params)
    client.notify("initialized", {})
    encoding = reply["capabilities"].get("positionEncoding", "utf-16")
    if encoding != "utf-8":
        raise RuntimeError(f"the server chose {encoding!r}, but Neovim offers utf-8 first")


async def fill_pool(client: LspClient, fake: FakeCodestral, round_: int) -> None:
    """Bring the server's HTTP pool to the same state at every measurement.

    At rest a pool that reuses connections keeps idle whatever the last calls left (an
    abandoned call closes its connection, a finished one returns it): anywhere from none to
    its keep-alive cap. So PROBES new documents each get an invoked request, and the fake
    answers none of their calls until all of them are in: afterwards the pool holds
    min(PROBES, its cap) idle connections (none if it does not reuse them) plus whatever it
    leaked, whatever the typing left.
    """
    gate = asyncio.Event()
    fake.enqueue(*(Reply(gate=gate) for _ in range(PROBES)))
    uris = [f"file:///soak/probe/{round_}/{i}.py" for i in range(PROBES)]
    sent = []
    for i, uri in enumerate(uris):
        text = f"def probe_{round_}_{i}(value):\n    "  # unique: never answered from memory
        item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
        client.notify("textDocument/didOpen", {"textDocument": item})
        params = {
            "textDocument": {"uri": uri},
            "position": {"line": 1, "character": 4},
            "context": {"triggerKind": 1},  # Invoked: no debounce
        }
        sent.append(client.request("textDocument/inlineCompletion", params)[1])
    await fake.wait_until(lambda f: len(f.requests) >= PROBES, 30)
    gate.set()
    await asyncio.wait_for(asyncio.gather(*sent), 30)
    for uri in uris:
        client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    await fake.wait_until(lambda f: all(r.ended_at is not None for r in f.requests), 30)


async def _soak(
    client: LspClient, fake: FakeCodestral, pool: list[tuple[str, str]], result: SoakResult
) -> None:
    options = result.options
    await _initialize(client, fake)
    idle = await client.call("workspace/executeCommand", {"command": "codestral.stats"})
    floor = _count((idle.get("process") or {}).get("tasks")) or 1  # before any document
    editor = Editor(client, options, pool)
    total = options.keystrokes
    warm = max(1, round(total * options.warmup))
    for stop in (warm, (warm + total) // 2, total):
        typed = editor.counts["keystrokes"]
        for until in [*range(typed + HARVEST_EVERY, stop, HARVEST_EVERY), stop]:
            await editor.type(until)
            _harvest(client, fake, result, until)
        await editor.drain()
        await _rest(client, fake, result, editor.counts["keystrokes"], floor)
    result.counts, result.errors = editor.counts, editor.errors
    result.open_documents = len(editor.docs)


async def _rest(
    client: LspClient, fake: FakeCodestral, result: SoakResult, keystrokes: int, floor: int
) -> None:
    """Every answer is in: wait for the fake to be idle, even out the pool, measure."""
    await fake.wait_until(lambda f: all(r.ended_at is not None for r in f.requests), 30)
    _harvest(client, fake, result, keystrokes)
    await fill_pool(client, fake, len(result.snapshots))
    result.probes += sum(r.path.endswith(FIM_PATH) for r in fake.requests)
    fake.requests.clear()
    port = int(fake.base_url.rsplit(":", 1)[1])
    result.snapshots.append(await measure(client, port, keystrokes, floor))


async def run(options: SoakOptions) -> SoakResult:
    """One server, one fake, the whole soak; a failed server raises RuntimeError."""
    pool = corpus(options.documents * 2)
    latency = random.Random(options.seed)
    model = Model([line for _, text in pool for line in text.split("\n")], options.seed)
    result = SoakResult(options, Counter(), [])
    began, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="codestral-soak-") as tmp:
        work = options.keep_logs or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        async with FakeCodestral(
            completion=model.completion,
            first_token_delay=lambda: latency.uniform(*FIRST_TOKEN_S),
            token_delay=TOKEN_S,
        ) as fake:
            env = server_env(work, fake.api_key)
            client = await LspClient.spawn(["-m", "codestral_lsp"], env, work / "soak.stderr")
            try:
                await _soak(client, fake, pool, result)
            except ServerGone as exc:
                tail = (work / "soak.stderr").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{exc}; the server's stderr ends:\n{tail}") from exc
            finally:
                await client.close()
    result.wall_s = time.perf_counter() - began
    result.harness_cpu_s = time.process_time() - cpu
    return result


# --- the report


def rss_growth(result: SoakResult) -> float | None:
    """RSS at the end over RSS after warm-up, minus 1."""
    start, end = result.snapshots[0].rss_mib, result.snapshots[-1].rss_mib
    return None if start is None or end is None else end / start - 1


def _cell(value: float | None, spec: str = "d") -> str:
    return "n/a" if value is None else format(value, spec)


def format_report(result: SoakResult) -> str:
    c, o, snaps = result.counts, result.options, result.snapshots
    end = snaps[-1]
    sources = end.stats.get("requests") if isinstance(end.stats.get("requests"), dict) else {}
    answers = "/".join(str(c[k]) for k in ("shown", "null", "empty", "cancelled", "errors"))
    first, last = snaps[0].cpu_s, end.cpu_s
    lines = [
        f"Soak: {o.keystrokes:,} keystrokes, {o.documents} documents open, seed {o.seed}",
        "",
        f"  keystrokes                     {c['keystrokes']:,} (typed {c['typed']:,}, "
        f"newlines {c['newlines']:,}, backspaces {c['backspaces']:,}, "
        f"pastes {c['pastes']:,} = {c['pasted chars']:,} chars)",
        f"  accepts                        {c['accepts']:,} ({c['accepted chars']:,} chars)",
        f"  jumps / document switches      {c['jumps']:,} / {c['switches']:,}",
        f"  documents opened / closed      {c['opened']} / {c['closed']}",
        f"  requests sent                  {c['requests']:,} (InsertLeave {c['insert leaves']:,},"
        f" $/cancelRequest {c['cancels sent']:,})",
        f"  shown / null / [] / cancelled / error   {answers}",
        f"  upstream calls (abandoned)     {result.upstream:,} ({result.abandoned:,}); "
        f"{result.probes} more from the measurements' probes",
        f"  server's sources               {', '.join(f'{k} {v}' for k, v in sources.items())}",
        f"  wall s                         {result.wall_s:.1f}",
        f"  CPU s server (after warm-up)   {_cell(last, '.1f')} "
        f"({_cell(None if first is None or last is None else last - first, '.1f')}); "
        f"harness and fake {result.harness_cpu_s:.1f}",
        f"  RSS MiB while typing           {_trend(result.trace)}",
        "",
        _snapshot_table(result),
    ]
    for message in result.messages[:3]:
        lines.append(f"  server said: {message[:200]}")
    for error in result.errors:
        lines.append(f"  error answer: {error}")
    return "\n".join(lines)


def _trend(trace: list[tuple[int, float]], points: int = 10) -> str:
    """VmRSS at about ``points`` evenly spaced moments of the typing (not at rest)."""
    if not trace:
        return "n/a"
    step = max(1, len(trace) // points)
    picked = trace[step - 1 :: step]
    return ", ".join(f"{rss:.0f} @{keys // 1000}k" for keys, rss in picked)


def _snapshot_table(result: SoakResult) -> str:
    snaps = result.snapshots
    heads = ("after warm-up", "middle", "end")
    head = "".join(f"{h:>16}" for h in heads)
    rows = [
        f"  {'':30}{head}{'growth':>10}",
        f"  {'(keystrokes)':30}" + "".join(f"{s.keystrokes:>16,}" for s in snaps),
    ]
    growth = rss_growth(result)
    rows.append(
        f"  {'RSS MiB':30}"
        + "".join(f"{_cell(s.rss_mib, '.1f'):>16}" for s in snaps)
        + f"{_cell(None if growth is None else growth * 100, '+.1f') + '%':>10}"
    )
    for label, key in (
        ("asyncio tasks (stats)", "tasks"),
        ("HTTP connections (stats)", "connections"),
        ("open documents (stats)", "documents"),
        ("sockets to the fake (/proc)", "sockets"),
        ("open descriptors (/proc)", "fds"),
    ):
        values = [getattr(s, key) for s in snaps]
        delta = None if values[0] is None or values[-1] is None else values[-1] - values[0]
        rows.append(
            f"  {label:30}"
            + "".join(f"{_cell(v):>16}" for v in values)
            + f"{_cell(delta, '+d'):>10}"
        )
    return "\n".join(rows)


def _no_growth(what: str, start: int | None, end: int | None) -> Check:
    value = f"{_cell(start)} after warm-up, {_cell(end)} at the end"
    return (f"no growth in {what}", None if start is None or end is None else end <= start, value)


def growth_checks(result: SoakResult, rss_growth_max: float = RSS_GROWTH_MAX) -> list[Check]:
    """RSS, tasks, connections and documents: None where the server or system cannot tell."""
    start, end = result.snapshots[0], result.snapshots[-1]
    growth = rss_growth(result)
    shown = "n/a" if growth is None else f"{growth:+.1%}"
    found: list[Check] = [
        (
            f"RSS growth after warm-up < {rss_growth_max:.0%}",
            None if growth is None else growth < rss_growth_max,
            f"{shown} ({_cell(start.rss_mib, '.1f')} -> {_cell(end.rss_mib, '.1f')} MiB)",
        ),
        _no_growth("asyncio tasks", start.tasks, end.tasks),
    ]
    if start.connections is not None or start.sockets is None:
        found.append(_no_growth("HTTP connections", start.connections, end.connections))
    else:  # the stats do not tell: the sockets /proc sees stand in
        found.append(_no_growth("sockets to the backend (/proc)", start.sockets, end.sockets))
    documents = end.documents
    found.append(
        (
            "documents open in the server = in the editor",
            None if documents is None else documents == result.open_documents,
            f"{_cell(documents)} / {result.open_documents}",
        )
    )
    return found


def checks(result: SoakResult, rss_growth_max: float = RSS_GROWTH_MAX) -> list[Check]:
    """The soak's targets, and no error answers (a broken server would grow nothing)."""
    errors = result.counts["errors"]
    return [*growth_checks(result, rss_growth_max), ("no error answers", errors == 0, str(errors))]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak",
        description="Replay many keystrokes over several documents through one server against "
        "the fake backend; report RSS, tasks and connections after warm-up, midway and at the "
        "end, and check that nothing grows.",
    )
    parser.add_argument("--keystrokes", type=int, default=100_000, help="default 100000")
    parser.add_argument("--documents", type=int, default=6, help="open at once (default 6)")
    parser.add_argument("--seed", type=int, default=1, help="picks files, edits, answers")
    parser.add_argument(
        "--max-in-flight", type=int, default=8, help="pending requests at most (default 8)"
    )
    parser.add_argument("--keep-logs", type=Path, help="keep the server's stderr in this folder")
    parser.add_argument("--no-check", action="store_true", help="exit 0 even if a target fails")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = SoakOptions(
        keystrokes=args.keystrokes,
        documents=args.documents,
        seed=args.seed,
        max_in_flight=args.max_in_flight,
        keep_logs=args.keep_logs,
    )
    began = time.perf_counter()
    try:
        result = asyncio.run(run(options))
    except (RuntimeError, TimeoutError, asyncio.TimeoutError) as exc:  # the server failed
        print(f"Soak failed: {exc}", file=sys.stderr)
        return 2
    print(format_report(result), flush=True)
    ok = report_checks(checks(result))
    print(f"\nTotal {time.perf_counter() - began:.1f} s")
    return 0 if ok or args.no_check else 1


if __name__ == "__main__":
    raise SystemExit(main())
