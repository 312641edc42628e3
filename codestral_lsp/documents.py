"""Open documents as line lists, edited in place by LSP incremental changes, and the one owner
of what every stage keeps about each of them.

Costs: an edit is O(edit + the lines it touches); a line longer than ``longlines.LONG``
characters is kept in pieces, so typing within it (an edit without line breaks) is O(edit +
log line), and an edit that adds or removes line breaks in it copies that line once (O(line),
at memory-copy speed). Resolving a position is O(line) on a short line, O(log line) on a long one.

Per-document state: the store holds a ``Tracked`` record per open document, and each stage
keeps what it knows about that document in its own ``Slot`` of the record (an exclusion
decision, the request in flight, recent completions, where the secrets are...). The record is
made at ``open`` and dropped at ``close``, slots and all, so a stage cannot forget to clean up;
a slot whose state still runs something (a task, a waiting request) names a ``close`` to stop
it. Structures shared by all documents (the snippet index, the edit trail, the exact cache)
stay with their stage, keyed by URI, and are cleaned from the same ``close`` (``also_forget``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeGuard, TypeVar, cast

from codestral_lsp import longlines
from codestral_lsp.longlines import LongLine
from codestral_lsp.positions import Encoding, to_index

logger = logging.getLogger(__name__)

_Line = str | LongLine  # a line with its terminator, or a long line in pieces
T = TypeVar("T")


def split_lines(text: str) -> list[str]:
    """Split ``text`` into lines that keep their terminators; the last line has none.

    LSP lines end only at \\n, \\r\\n and \\r (unlike str.splitlines, which also breaks at
    \\x0b \\x0c \\x1c-\\x1e \\x85 U+2028 U+2029). At C speed unless a bare \\r ends a line.
    """
    parts = text.split("\n")
    if text.count("\r") == text.count("\r\n"):  # no bare "\r": splitting after "\n" will do
        return [part + "\n" for part in parts[:-1]] + parts[-1:]
    lines: list[str] = []
    last = len(parts) - 1
    for i, part in enumerate(parts):
        end = "" if i == last else "\n"
        if "\r" not in part:
            lines.append(part + end)
            continue
        crlf = end and part.endswith("\r")
        pieces = (part[:-1] if crlf else part).split("\r")
        lines += [piece + "\r" for piece in pieces[:-1]]
        lines.append(pieces[-1] + ("\r\n" if crlf else end))
    return lines


def _content(line: str) -> str:
    """Return ``line`` without its terminator (a line holds no other \\r or \\n)."""
    return line.rstrip("\r\n")


def _stored(lines: Iterable[str]) -> list[_Line]:
    """Lines as stored: long ones in pieces."""
    long = longlines.LONG
    return [
        line if len(line) <= long else LongLine(_content(line), line[len(_content(line)) :])
        for line in lines
    ]


def _full(line: _Line) -> str:
    return line if isinstance(line, str) else line.content + line.ending


class DocumentError(ValueError):
    """A position or range that does not exist in the document."""


@dataclass(frozen=True)
class TextChange:
    """One ``contentChanges`` entry of ``textDocument/didChange``.

    ``range`` is (start line, start character, end line, end character) in the negotiated
    position encoding's code units; ``None`` replaces the whole text.
    """

    range: tuple[int, int, int, int] | None
    text: str


@dataclass(frozen=True, order=True)
class Cursor:
    """A resolved position: a line number and a Python str index into that line's content."""

    line: int
    index: int


class Document:
    """The text of one open document, stored as lines that keep their own line endings."""

    def __init__(self, uri: str, text: str, version: int, language_id: str = "") -> None:
        self.uri = uri
        self.version = version
        self.language_id = language_id
        self._lines = _stored(split_lines(text))
        self.length = len(text)  # characters, kept up to date by each edit in O(edit)

    def __repr__(self) -> str:
        return (
            f"Document(uri={self.uri!r}, version={self.version}, "
            f"language_id={self.language_id!r}, line_count={self.line_count})"
        )

    @property
    def line_count(self) -> int:
        """Number of lines; a text ending in a line break has a final empty line."""
        return len(self._lines)

    @property
    def text(self) -> str:
        """The whole text (O(document): for full sync and tests)."""
        return "".join(map(_full, self._lines))

    def line_with_ending(self, i: int) -> str:
        """Line ``i`` including its terminator (none on the last line)."""
        if not 0 <= i < len(self._lines):
            raise IndexError(f"line {i} out of range (0..{len(self._lines) - 1})")
        return _full(self._lines[i])

    def line(self, i: int) -> str:
        """Line ``i`` without its terminator."""
        if not 0 <= i < len(self._lines):
            raise IndexError(f"line {i} out of range (0..{len(self._lines) - 1})")
        line = self._lines[i]
        return _content(line) if isinstance(line, str) else line.content

    def resolve(self, line: int, character: int, encoding: Encoding) -> Cursor:
        """Resolve an LSP position; a character past the line end means the line end.

        ``(line_count, 0)``, one past the last line, is accepted as the end of the document.
        """
        if line < 0 or character < 0:
            raise DocumentError(f"negative position ({line}, {character})")
        count = len(self._lines)
        if line == count and character == 0:
            last = self._lines[-1]
            return Cursor(count - 1, len(_content(last)) if isinstance(last, str) else len(last))
        if line >= count:
            raise DocumentError(f"line {line} out of range ({count} lines)")
        found = self._lines[line]
        if isinstance(found, LongLine):
            return Cursor(line, found.to_index(character, encoding))
        return Cursor(line, to_index(_content(found), character, encoding))

    def apply(self, change: TextChange, encoding: Encoding) -> None:
        """Apply one change; on an invalid range raise DocumentError and change nothing."""
        if change.range is None:
            self._lines = _stored(split_lines(change.text))
            self.length = len(change.text)
            return
        start_line, start_char, end_line, end_char = change.range
        start = self.resolve(start_line, start_char, encoding)
        end = self.resolve(end_line, end_char, encoding)
        if end < start:
            raise DocumentError(f"range end before start: {change.range}")
        self._splice(start, end, change.text)

    def _splice(self, start: Cursor, end: Cursor, text: str) -> None:
        """Replace ``start..end`` by ``text``, re-splitting only the touched lines."""
        lines = self._lines
        first, last = start.line, end.line
        line = lines[first]
        if _in_line(line, start, end, text):
            line.replace(start.index, end.index, text)  # typing in a long line: O(edit)
            self.length += len(text) - (end.index - start.index)
            return
        new = _full(line)[: start.index] + text + _full(lines[last])[end.index :]
        # A bare "\r" ending the line before the edit and a "\n" now starting it are one
        # "\r\n" ending. The far edge needs no such care: ``new`` ends with line ``last``'s
        # own terminator, whose pairing with the next line has not changed.
        if first > 0 and new.startswith("\n") and _full(lines[first - 1]).endswith("\r"):
            first -= 1
            new = _full(lines[first]) + new
        new_lines = split_lines(new)
        if last + 1 < len(lines):
            # ``new`` ends with line ``last``'s terminator: drop the empty tail after it.
            new_lines.pop()
        old = sum(
            len(x) if isinstance(x, str) else len(x) + len(x.ending)
            for x in lines[first : last + 1]
        )
        self.length += sum(map(len, new_lines)) - old
        lines[first : last + 1] = _stored(new_lines)


def _in_line(line: _Line, start: Cursor, end: Cursor, text: str) -> TypeGuard[LongLine]:
    """Whether the edit stays within a long line's content: it adds no line break, and leaves
    some content (an emptied line's "\\n" could pair with a "\\r" ending the line before)."""
    return (
        isinstance(line, LongLine)
        and start.line == end.line
        and "\n" not in text
        and "\r" not in text
        and bool(text or start.index > 0 or end.index < len(line))
    )


@dataclass(frozen=True, eq=False)
class Slot(Generic[T]):
    """What one stage keeps about each open document (compared by identity).

    ``make`` builds it on first use (``Tracked.get``); ``close`` stops what it still runs when
    its document closes (nothing else is needed: the record and its slots are dropped).
    """

    name: str
    make: Callable[[], T] | None = None
    close: Callable[[T], None] | None = None


class Tracked:
    """An open document and what each stage keeps about it; all of it goes at close."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.open = True
        self._kept: dict[Slot[Any], Any] = {}

    def get(self, slot: Slot[T]) -> T:
        """The slot's state, made now if this is its first use (and not kept if closed)."""
        if slot not in self._kept:
            if slot.make is None:
                raise KeyError(slot.name)
            made = slot.make()
            if not self.open:
                return made
            self._kept[slot] = made
        return cast(T, self._kept[slot])

    def peek(self, slot: Slot[T]) -> T | None:
        return cast("T | None", self._kept.get(slot))

    def put(self, slot: Slot[T], value: T) -> None:
        if self.open:  # a closed record keeps nothing
            self._kept[slot] = value

    def kept(self) -> list[str]:
        """The names of the slots in use."""
        return [slot.name for slot in self._kept]

    def close(self) -> None:
        """Drop every slot, stopping what each still runs."""
        self.open = False
        kept, self._kept = self._kept, {}
        for slot, value in kept.items():
            if slot.close is not None:
                slot.close(value)


class DocumentStore:
    """The open documents, by URI, each with what the stages keep about it."""

    def __init__(self) -> None:
        self._documents: dict[str, Tracked] = {}
        self._closed: dict[str, None] = {}  # recently closed, oldest first
        self._forgetters: list[Callable[[str], None]] = []

    def __contains__(self, uri: object) -> bool:
        return uri in self._documents

    def __len__(self) -> int:
        return len(self._documents)

    def also_forget(self, forget: Callable[[str], None]) -> None:
        """Call ``forget(uri)`` at every close: for structures shared by all documents."""
        self._forgetters.append(forget)

    def open(self, uri: str, text: str, version: int, language_id: str) -> Document:
        """Open (or re-open, replacing) a document."""
        document = Document(uri, text, version, language_id)
        self._closed.pop(uri, None)
        old = self._documents.pop(uri, None)
        if old is not None:  # what was kept about the old text goes with it
            self._drop(uri, old)
        self._documents[uri] = Tracked(document)
        return document

    def recent(self) -> list[Document]:
        """Open documents, most recently opened or edited first."""
        return [tracked.doc for tracked in reversed(self._documents.values())]

    def get(self, uri: str) -> Document | None:
        """The open document at ``uri``, if any."""
        tracked = self._documents.get(uri)
        return None if tracked is None else tracked.doc

    def tracked(self, uri: str) -> Tracked | None:
        """The record of the open document at ``uri``, if any."""
        return self._documents.get(uri)

    def records(self) -> list[Tracked]:
        return list(self._documents.values())

    def close(self, uri: str) -> bool:
        """Forget a document and all that is kept about it; False if it was not open."""
        tracked = self._documents.pop(uri, None)
        if tracked is None:
            return False
        self._drop(uri, tracked)
        self._closed[uri] = None
        while len(self._closed) > 256:
            del self._closed[next(iter(self._closed))]
        return True

    def _drop(self, uri: str, tracked: Tracked) -> None:
        tracked.close()
        for forget in self._forgetters:
            forget(uri)

    def held(self) -> dict[str, int]:
        """Open documents, and the slots kept for them."""
        states = sum(len(tracked.kept()) for tracked in self._documents.values())
        return {"documents": len(self._documents), "states": states}

    def was_closed(self, uri: str) -> bool:
        """Whether ``uri`` was open a moment ago (a request may arrive just after its close)."""
        return uri in self._closed

    def change(
        self, uri: str, version: int, changes: Sequence[TextChange], encoding: Encoding
    ) -> Document | None:
        """Apply ``changes`` in order; an invalid one is logged and skipped."""
        tracked = self._documents.get(uri)
        if tracked is None:
            logger.warning("change to a document that is not open: %s", uri)
            return None
        document = tracked.doc
        if next(reversed(self._documents)) != uri:  # keep the most recently edited last
            self._documents[uri] = self._documents.pop(uri)
        for change in changes:
            try:
                document.apply(change, encoding)
            except DocumentError as exc:
                logger.warning("skipped change to %s at %s: %s", uri, change.range, exc)
        document.version = version
        return document
