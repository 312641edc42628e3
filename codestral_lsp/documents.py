"""Open documents as line lists, edited in place by LSP incremental changes."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from codestral_lsp.positions import Encoding, to_index

logger = logging.getLogger(__name__)

# Split after "\n", or after "\r" not followed by "\n": LSP lines end only at \n, \r\n, \r
# (unlike str.splitlines, which also breaks at \x0b \x0c \x1c-\x1e \x85 U+2028 U+2029).
_LINE_BREAK: Final = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")


def split_lines(text: str) -> list[str]:
    """Split ``text`` into lines that keep their terminators; the last line has none."""
    return _LINE_BREAK.split(text)


def _content(line: str) -> str:
    """Return ``line`` without its terminator (a line holds no other \\r or \\n)."""
    return line.rstrip("\r\n")


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
        self._lines = split_lines(text)
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
        return "".join(self._lines)

    def line_with_ending(self, i: int) -> str:
        """Line ``i`` including its terminator (none on the last line)."""
        if not 0 <= i < len(self._lines):
            raise IndexError(f"line {i} out of range (0..{len(self._lines) - 1})")
        return self._lines[i]

    def line(self, i: int) -> str:
        """Line ``i`` without its terminator."""
        return _content(self.line_with_ending(i))

    def resolve(self, line: int, character: int, encoding: Encoding) -> Cursor:
        """Resolve an LSP position; a character past the line end means the line end.

        ``(line_count, 0)``, one past the last line, is accepted as the end of the document.
        """
        if line < 0 or character < 0:
            raise DocumentError(f"negative position ({line}, {character})")
        count = len(self._lines)
        if line == count and character == 0:
            return Cursor(count - 1, len(_content(self._lines[-1])))
        if line >= count:
            raise DocumentError(f"line {line} out of range ({count} lines)")
        return Cursor(line, to_index(_content(self._lines[line]), character, encoding))

    def apply(self, change: TextChange, encoding: Encoding) -> None:
        """Apply one change; on an invalid range raise DocumentError and change nothing."""
        if change.range is None:
            self._lines = split_lines(change.text)
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
        new = lines[first][: start.index] + text + lines[last][end.index :]
        # A bare "\r" ending the line before the edit and a "\n" now starting it are one
        # "\r\n" ending. The far edge needs no such care: ``new`` ends with line ``last``'s
        # own terminator, whose pairing with the next line has not changed.
        if first > 0 and new.startswith("\n") and lines[first - 1].endswith("\r"):
            first -= 1
            new = lines[first] + new
        new_lines = split_lines(new)
        if last + 1 < len(lines):
            # ``new`` ends with line ``last``'s terminator: drop the empty tail after it.
            new_lines.pop()
        self.length += sum(map(len, new_lines)) - sum(map(len, lines[first : last + 1]))
        lines[first : last + 1] = new_lines


class DocumentStore:
    """The open documents, by URI."""

    def __init__(self) -> None:
        self._documents: dict[str, Document] = {}
        self._closed: dict[str, None] = {}  # recently closed, oldest first

    def __contains__(self, uri: object) -> bool:
        return uri in self._documents

    def __len__(self) -> int:
        return len(self._documents)

    def open(self, uri: str, text: str, version: int, language_id: str) -> Document:
        """Open (or re-open, replacing) a document."""
        document = Document(uri, text, version, language_id)
        self._closed.pop(uri, None)
        self._documents.pop(uri, None)
        self._documents[uri] = document
        return document

    def recent(self) -> list[Document]:
        """Open documents, most recently opened or edited first."""
        return list(reversed(self._documents.values()))

    def get(self, uri: str) -> Document | None:
        """The open document at ``uri``, if any."""
        return self._documents.get(uri)

    def close(self, uri: str) -> bool:
        """Forget a document; False if it was not open."""
        closed = self._documents.pop(uri, None) is not None
        if closed:
            self._closed[uri] = None
            while len(self._closed) > 256:
                del self._closed[next(iter(self._closed))]
        return closed

    def was_closed(self, uri: str) -> bool:
        """Whether ``uri`` was open a moment ago (a request may arrive just after its close)."""
        return uri in self._closed

    def change(
        self, uri: str, version: int, changes: Sequence[TextChange], encoding: Encoding
    ) -> Document | None:
        """Apply ``changes`` in order; an invalid one is logged and skipped."""
        document = self._documents.get(uri)
        if document is None:
            logger.warning("change to a document that is not open: %s", uri)
            return None
        if next(reversed(self._documents)) != uri:  # keep the most recently edited last
            self._documents[uri] = self._documents.pop(uri)
        for change in changes:
            try:
                document.apply(change, encoding)
            except DocumentError as exc:
                logger.warning("skipped change to %s at %s: %s", uri, change.range, exc)
        document.version = version
        return document
