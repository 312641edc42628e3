"""Context from other places: snippets of other open files and recently edited spots.

Snippets are chosen by the identifiers they share with the text around the cursor, skip what the
local window already holds, and fit in their own character budget. They are sent before the local
prompt as ``+++++ path`` sections, the form Codestral tooling (Continue's Codestral template) uses
for other files: it needs no comment syntax per language, and it names the path plainly.

Choosing never costs more than a few milliseconds: other documents are split into chunks once per
version (cached), the current document is never indexed (only the few lines around an edit), and
scoring stops at a deadline.
"""

from __future__ import annotations

import collections
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

from cachetools import LRUCache

from codestral_lsp.documents import Document
from codestral_lsp.local import FimContext

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
CHUNK_LINES = 20
CHUNK_STEP = 10
MAX_INDEXED_LINES = 4_000  # per document
MAX_DOCUMENTS = 20  # most recently used others
DEADLINE_S = 0.003
_QUERY_LINES = 30  # lines around the cursor that make the query


@dataclass(frozen=True)
class Chunk:
    uri: str
    start: int  # first line
    end: int  # last line
    text: str
    identifiers: frozenset[str]


@dataclass(frozen=True)
class Scored:
    chunk: Chunk
    score: float


def identifiers(text: str) -> frozenset[str]:
    return frozenset(IDENTIFIER.findall(text))


def _chunk(doc: Document, start: int, end: int) -> Chunk:
    text = "".join(doc.line_with_ending(n) for n in range(start, end + 1))
    return Chunk(doc.uri, start, end, text, identifiers(text))


class EditTrail:
    """Where the user edited recently, newest last; one entry per nearby spot."""

    def __init__(self, size: int = 16) -> None:
        self._spots: collections.deque[tuple[str, int]] = collections.deque(maxlen=size)

    def record(self, uri: str, line: int) -> None:
        if self._spots and self._spots[-1][0] == uri and abs(self._spots[-1][1] - line) <= 3:
            self._spots[-1] = (uri, line)
            return
        self._spots.append((uri, line))

    def spots(self) -> list[tuple[str, int]]:
        return list(reversed(self._spots))

    def __len__(self) -> int:
        return len(self._spots)

    def forget(self, uri: str) -> None:
        self._spots = collections.deque(
            (s for s in self._spots if s[0] != uri), maxlen=self._spots.maxlen
        )


class ChunkIndex:
    """Chunks of other documents, built once per document version.

    Holds the ``MAX_DOCUMENTS`` most recently used documents' chunks: however many documents
    are open, the index stays that size (an open document costs its text, not its chunks too).
    """

    def __init__(self, size: int = MAX_DOCUMENTS) -> None:
        self._built: LRUCache[str, tuple[int, list[Chunk]]] = LRUCache(size)

    def __len__(self) -> int:
        return len(self._built)

    def chunks(self, doc: Document) -> list[Chunk]:
        cached = self._built.get(doc.uri)
        if cached is not None and cached[0] == doc.version:
            return cached[1]
        last = min(doc.line_count, MAX_INDEXED_LINES) - 1
        found = [
            _chunk(doc, start, min(start + CHUNK_LINES - 1, last))
            for start in range(0, max(last, 0) + 1, CHUNK_STEP)
        ]
        self._built[doc.uri] = (doc.version, found)
        return found

    def forget(self, uri: str) -> None:
        self._built.pop(uri, None)


def choose(
    local: FimContext,
    current: Document,
    others: Iterable[Document],
    trail: EditTrail,
    index: ChunkIndex,
    budget: int,
    clock: Callable[[], float] = time.perf_counter,
    deadline_s: float = DEADLINE_S,
) -> list[Chunk]:
    """The most relevant chunks that fit in ``budget`` characters, best first.

    Candidates are scored until ``deadline_s`` has passed on ``clock``, then the best so far
    are kept: the choice never holds a keystroke up for more than a few milliseconds.
    """
    if budget <= 0:
        return []
    deadline = clock() + deadline_s
    query = identifiers(_near_cursor(local))
    if not query:
        return []
    scored: dict[tuple[str, int], Scored] = {}
    for chunk, bonus in _candidates(local, current, others, trail, index):
        if clock() > deadline:
            break
        if _in_window(chunk, local) or not chunk.identifiers:
            continue
        shared = len(query & chunk.identifiers)
        if shared:
            score = shared / math.sqrt(len(chunk.identifiers)) + bonus
            key = (chunk.uri, chunk.start)
            if key not in scored or scored[key].score < score:
                scored[key] = Scored(chunk, score)
    return _fit(sorted(scored.values(), key=lambda s: -s.score), local, budget)


def _near_cursor(local: FimContext) -> str:
    before = local.prompt[-_QUERY_LINES * 60 :]
    return before + local.suffix[: 10 * 60]


def _candidates(
    local: FimContext,
    current: Document,
    others: Iterable[Document],
    trail: EditTrail,
    index: ChunkIndex,
) -> Iterable[tuple[Chunk, float]]:
    docs = {d.uri: d for d in others}
    docs[current.uri] = current
    for recency, (uri, line) in enumerate(trail.spots()):
        doc = docs.get(uri)
        if doc is not None and line < doc.line_count:
            start = max(0, line - CHUNK_LINES // 2)
            end = min(doc.line_count - 1, start + CHUNK_LINES - 1)
            yield _chunk(doc, start, end), 1.0 / (1 + recency)  # recently edited: a bonus
    for doc in list(docs.values())[:MAX_DOCUMENTS]:
        if doc.uri != current.uri:
            for chunk in index.chunks(doc):
                yield chunk, 0.0


def _in_window(chunk: Chunk, local: FimContext) -> bool:
    if chunk.uri != local.uri:
        return False
    return chunk.start <= local.last_line and chunk.end >= local.first_line


def _fit(ranked: list[Scored], local: FimContext, budget: int) -> list[Chunk]:
    chosen: list[Chunk] = []
    budget -= len(display_path(local.uri)) + 7  # the closing "+++++ <this file>" line
    for item in ranked:
        text = item.chunk.text
        cost = len(text) + len(display_path(item.chunk.uri)) + 8
        if cost > budget or text in local.prompt or text in local.suffix:
            continue
        if any(
            c.uri == item.chunk.uri and c.start <= item.chunk.end and c.end >= item.chunk.start
            for c in chosen
        ):
            continue  # overlaps a chunk already chosen
        chosen.append(item.chunk)
        budget -= cost
    return chosen


def display_path(uri: str, root: str | None = None) -> str:
    """A path the model can read: relative to the workspace root when under it."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return uri
    path = unquote(parsed.path)
    if root and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1 :]
    return path


def preamble(chunks: list[Chunk], current_uri: str, root: str | None = None) -> str:
    """The ``+++++ path`` sections, least relevant first so the best sits nearest the cursor."""
    if not chunks:
        return ""
    sections = [
        f"+++++ {display_path(c.uri, root)}\n{c.text}{'' if c.text.endswith(chr(10)) else chr(10)}"
        for c in reversed(chunks)
    ]
    return "".join(sections) + f"+++++ {display_path(current_uri, root)}\n"


def files(chunks: list[Chunk], root: str | None = None) -> tuple[tuple[str, str], ...]:
    """The same snippets one by one as ``(path, text)``, in ``preamble``'s order: for an API
    that takes other files' context as a list (llama.cpp's ``input_extra``) and writes its own
    separators."""
    return tuple((display_path(c.uri, root), c.text) for c in reversed(chunks))
