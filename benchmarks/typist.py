"""The simulated user in an editor: types a region key by key, requests, accepts.

Two client profiles. ``neovim`` follows Neovim 0.12's `vim.lsp.inline_completion`
(runtime/lua/vim/lsp/inline_completion.lua): every cursor move (re)starts a 200 ms timer that
sends one request; older requests are never cancelled; whatever answer arrives last is shown
(`null` keeps the shown item, `[]` hides it); accepting cancels the pending requests and applies
the item (its `range`, or a paste at the cursor). ``keystroke`` is VS Code-like: a request on
every key, cancelling the previous one, whose late answer is then dropped. With ``menu`` the
typist asks `textDocument/completion` instead (for a server without inline completion) and
takes the first item's edit as the suggestion. The human accepts a shown item when it is what
comes next (all of it, or its longest prefix that ends a word or a line), else types the next
character.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.corpus import Oracle, Sample
from benchmarks.lsp_client import LspClient, Message, ServerGone

NEOVIM_DEBOUNCE_S = 0.200
PROFILES = ("neovim", "keystroke")
SYNC_METHOD = "$/benchmark/sync"  # unknown to the server: its error reply marks a point in order


@dataclass
class TypingStats:
    """What one configuration's replay counted; summed over files."""

    keystrokes: int = 0
    accepts: int = 0
    chars_accepted: int = 0
    requests: int = 0
    shown: int = 0
    nulls: int = 0
    empties: int = 0
    cancelled: int = 0
    errors: int = 0
    stale: int = 0  # answered for a state the server had already seen replaced
    inconsistent: int = 0  # fresh, but not a continuation of the document at the cursor
    in_transit: int = 0  # the newer state was still in the pipe when the server answered
    probe_ms: list[float] = field(default_factory=list)  # round trips of the ordering probes
    answer_ms: dict[int, float] = field(default_factory=dict)  # request number -> sent..read
    shown_ms: list[float] = field(default_factory=list)  # same, for answers that were shown
    error_samples: list[str] = field(default_factory=list)
    shown_items: list[tuple[str, int, str]] = field(default_factory=list)  # file, cursor, text


@dataclass
class _Request:
    number: int  # 1, 2, ... per server: the server's own ids are c1, c2, ...
    version: int
    cursor: int
    sent_at: float
    cancelled: bool = False


def inline_of(item: dict[str, Any]) -> dict[str, Any]:
    """A completion item as the inline item it stands for: its edit (the insert range of an
    insert/replace edit), or its insertText or label at the cursor."""
    edit = item.get("textEdit")
    if isinstance(edit, dict):
        span = edit.get("range") or edit.get("insert")
        return {"insertText": edit.get("newText"), "range": span}
    return {"insertText": item.get("insertText") or item.get("label")}


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def accept_length(suggestion: str, truth: str) -> int:
    """How much of the suggestion a human accepts: all of it if it is what comes next, else its
    longest matching prefix that ends a word or a line (0: none)."""
    n = 0
    limit = min(len(suggestion), len(truth))
    while n < limit and suggestion[n] == truth[n]:
        n += 1
    if n == len(suggestion):
        return n
    for i in range(n, 0, -1):
        if truth[i - 1] == "\n" or (
            _is_word(truth[i - 1]) and (i == len(truth) or not _is_word(truth[i]))
        ):
            return i
    return 0


class HumanClock:
    """Seeded gaps between keys: lognormal around 140 ms, quick within indentation, and
    occasional 0.5-2 s pauses at line ends and between words."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def gap(self, previous: str, in_indent: bool) -> float:
        rng = self.rng
        if in_indent:  # what auto-indent or a held key would type
            gap = rng.lognormvariate(math.log(0.045), 0.3)
        else:
            gap = rng.lognormvariate(math.log(0.140), 0.5)
        if previous == "\n" and rng.random() < 0.3:
            gap += rng.uniform(0.5, 2.0)  # thinking about the next line
        elif previous == " " and not in_indent and rng.random() < 0.05:
            gap += rng.uniform(0.5, 2.0)  # between words
        return gap


class Typist:
    """Re-types one sample's region through the server."""

    def __init__(
        self,
        client: LspClient,
        sample: Sample,
        oracle: Oracle,
        clock: HumanClock,
        compression: float,
        stats: TypingStats,
        profile: str = "neovim",
        menu: bool = False,
    ) -> None:
        self.client, self.sample, self.oracle = client, sample, oracle
        self.profile, self.menu = profile, menu
        self.clock, self.compression, self.stats = clock, compression, stats
        self.cursor = sample.start  # offset into the original text
        self.line = sample.line_of(self.cursor)
        self.col = 0  # utf-8 bytes
        self.version = 1
        self.acked_version = 1  # the newest version the server is known to have read
        self.pending: dict[int, _Request] = {}
        self.current: tuple[dict[str, Any], _Request] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._settled: asyncio.Future[None] | None = None

    # --- the session

    async def run(self) -> None:
        text = self.sample.with_region_removed()
        item = {"uri": self.sample.uri, "languageId": "python", "version": 1, "text": text}
        self.client.notify("textDocument/didOpen", {"textDocument": item})
        self.oracle.sample, self.oracle.cursor = self.sample, self.cursor
        self._cursor_moved()  # InsertEnter
        try:
            await self._type_region()
        finally:
            if self._timer is not None:
                self._timer.cancel()
        self.client.notify("textDocument/didClose", {"textDocument": {"uri": self.sample.uri}})

    async def _type_region(self) -> None:
        previous = "\n"
        while self.cursor < self.sample.end:
            await asyncio.sleep(self.clock.gap(previous, self._in_indent()) / self.compression)
            if not self.client.alive:
                raise ServerGone("the server exited during the replay")
            truth = self.sample.text[self.cursor : self.sample.end]
            suggestion = self._effective(self.current[0]) if self.current else None
            accepted = accept_length(suggestion, truth) if suggestion else 0
            if accepted:
                self._accept(truth[:accepted])
            else:
                self._insert(truth[0])
                self.stats.keystrokes += 1
            previous = self.sample.text[self.cursor - 1]
        await self._settle()

    async def _settle(self, timeout: float = 60) -> None:
        """Wait until Neovim's last timer has fired and every request is answered."""
        self._settled = asyncio.get_running_loop().create_future()
        self._check_settled()
        closed = asyncio.ensure_future(self.client.wait_closed())
        try:
            await asyncio.wait(
                {self._settled, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            closed.cancel()
        if not self._settled.done():
            why = "the server exited" if not self.client.alive else f"after {timeout} s"
            raise ServerGone(f"{len(self.pending)} requests unanswered: {why}")

    def _check_settled(self) -> None:
        if self._settled and not self._settled.done() and not self.pending and not self._timer:
            self._settled.set_result(None)

    def _in_indent(self) -> bool:
        """Is the next key part of the line's leading indentation?"""
        text, start = self.sample.text, self.sample.line_starts[self.line]
        return text[self.cursor] in " \t" and not text[start : self.cursor].strip(" \t")

    # --- edits

    def _insert(self, text: str) -> None:
        """One didChange inserting ``text`` at the cursor (a key, or an accepted suggestion)."""
        self.version += 1
        at = {"line": self.line, "character": self.col}
        change = {"range": {"start": at, "end": at}, "text": text}
        doc = {"uri": self.sample.uri, "version": self.version}
        self.client.notify(
            "textDocument/didChange", {"textDocument": doc, "contentChanges": [change]}
        )
        self.cursor += len(text)
        self.oracle.cursor = self.cursor
        lines = text.split("\n")
        self.line += len(lines) - 1
        self.col = (self.col if len(lines) == 1 else 0) + len(lines[-1].encode("utf-8"))
        if any(r.version == self.version - 1 for r in self.pending.values()):
            # The first change after a request: its reply marks when the server read it.
            version, sent = self.version, time.perf_counter()
            self.client.request(SYNC_METHOD, None, lambda _m, t: self._acked(version, t - sent))
        self._cursor_moved()

    def _acked(self, version: int, round_trip_s: float) -> None:
        self.acked_version = max(self.acked_version, version)
        self.stats.probe_ms.append(round_trip_s * 1000)

    def _accept(self, text: str) -> None:
        self._cancel_pending()  # Completor:abort() on accept
        self.current = None
        self.stats.accepts += 1
        self.stats.chars_accepted += len(text)
        self._insert(text)

    # --- requests and answers

    def _cursor_moved(self) -> None:
        if self.profile == "keystroke":
            self._cancel_pending()
            self._request()
            return
        if self._timer is not None:
            self._timer.cancel()
        delay = NEOVIM_DEBOUNCE_S / self.compression
        self._timer = asyncio.get_running_loop().call_later(delay, self._request)

    def _cancel_pending(self) -> None:
        for msg_id, request in self.pending.items():
            if not request.cancelled:
                request.cancelled = True
                self.client.notify("$/cancelRequest", {"id": msg_id})

    def _request(self) -> None:
        self._timer = None
        params = {
            "textDocument": {"uri": self.sample.uri},
            "position": {"line": self.line, "character": self.col},
            "context": {"triggerKind": 1 if self.menu else 2},  # Invoked menu, Automatic inline
        }
        self.stats.requests += 1
        request = _Request(self.stats.requests, self.version, self.cursor, time.perf_counter())
        method = "textDocument/completion" if self.menu else "textDocument/inlineCompletion"
        msg_id, _ = self.client.request(method, params, lambda m, t: self._answered(msg_id, m, t))
        self.pending[msg_id] = request

    def _answered(self, msg_id: int, message: Message, arrived: float) -> None:
        request = self.pending.pop(msg_id)
        self._answer(request, message, arrived)
        self._check_settled()

    def _answer(self, request: _Request, message: Message, arrived: float) -> None:
        stats = self.stats
        stats.answer_ms[request.number] = (arrived - request.sent_at) * 1000
        if "error" in message:
            if message["error"].get("code") == -32800:
                stats.cancelled += 1
            else:
                stats.errors += 1
                if len(stats.error_samples) < 3:
                    stats.error_samples.append(str(message["error"].get("message"))[:200])
            return
        if request.cancelled and self.profile == "keystroke":
            stats.cancelled += 1  # VS Code drops the answer to a cancelled request
            return
        result = message.get("result")
        if result is None:
            stats.nulls += 1
            return
        items = result.get("items", []) if isinstance(result, dict) else result
        if self.menu:
            items = [inline_of(item) for item in items[:1]]
        if not items:
            stats.empties += 1
            self.current = None
            return
        stats.shown += 1
        stats.shown_ms.append((arrived - request.sent_at) * 1000)
        self._judge(items[0], request)
        self.current = (items[0], request)
        shown = self._effective(items[0])
        if shown:
            stats.shown_items.append((self.sample.name, self.cursor, shown))

    def _judge(self, item: dict[str, Any], request: _Request) -> None:
        """Is a shown item for the document as it is now? (Neovim itself never checks.)"""
        if request.version != self.version:
            if self.acked_version > request.version:
                self.stats.stale += 1
            else:
                self.stats.in_transit += 1
            return
        suggestion = self._effective(item)
        truth_follows = suggestion is not None and self.sample.text.startswith(
            suggestion, self.cursor
        )
        if not truth_follows and not any(
            suggestion and suggestion in wrong for wrong in self.oracle.wrong_texts
        ):
            self.stats.inconsistent += 1

    # --- geometry: LSP positions in the current document

    def _effective(self, item: dict[str, Any]) -> str | None:
        """The text that applying ``item`` inserts at the cursor, None if it is not one."""
        text = item.get("insertText")
        if isinstance(text, dict):
            text = text.get("value")
        if not isinstance(text, str):
            return None
        span = item.get("range")
        if span is None:
            return text
        start, end = self._offset(span["start"]), self._offset(span["end"])
        if start is None or end is None or not start <= self.cursor <= end:
            return None
        before = self.sample.text[start : self.cursor]
        after = self.sample.text[self.sample.end : self.sample.end + end - self.cursor]
        if not text.startswith(before) or not text.endswith(after):
            return None
        return text[len(before) : len(text) - len(after)]

    def _offset(self, position: dict[str, int]) -> int | None:
        """A position's offset in document coordinates (the cursor is ``self.cursor``)."""
        sample, line = self.sample, position["line"]
        if line < 0:
            return None
        if line < self.line:
            start = sample.line_starts[line]
            content = sample.text[start : sample.line_starts[line + 1] - 1]
        elif line == self.line:
            start = sample.line_starts[line]
            content = sample.text[start : self.cursor] + self._rest_of_line()
        else:
            original = sample.line_of(sample.end) + line - self.line
            if original >= len(sample.line_starts):
                return None
            stop = sample.text.find("\n", sample.line_starts[original])
            content = sample.text[sample.line_starts[original] : None if stop < 0 else stop]
            start = self.cursor + sample.line_starts[original] - sample.end
        raw = content.encode("utf-8")  # a column past the end means the end (LSP)
        return start + len(raw[: position["character"]].decode("utf-8", "ignore"))

    def _rest_of_line(self) -> str:
        end = self.sample.end
        stop = self.sample.text.find("\n", end)
        return self.sample.text[end : None if stop < 0 else stop]
