"""Secret-looking text out of what is sent: found in whole document lines, masked in any cut.

What is sent is always a run of one document's text (the prompt, the suffix, a snippet chunk of
another file or of the edit trail), cut anywhere. Secrets are therefore never looked for in the
cut text itself but in the document:

- **Line rules** (``secret_forms``) run on the whole lines that a run touches, never on a cut
  piece of a line, so a cut at the cursor or at the window's edge cannot hide a token. What
  they found is remembered per line text, so a request rescans only the lines edited since.
- **Private keys** span lines, so each document keeps an index of its ``BEGIN``/``END PRIVATE
  KEY`` markers (``KeyBlocks``), built at open and kept up to date per edit by rescanning only
  the edited lines. A ``BEGIN`` without its ``END`` hides everything to the end of the document,
  an ``END`` without its ``BEGIN`` everything back to the previous marker: when unsure, hide.

``SecretIndex.lines`` maps both into a run's coordinates (``clip`` cuts them to a part of it);
``mask`` replaces each span by ``<redacted>``.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from codestral_lsp.documents import Document, DocumentStore, Slot, TextChange, Tracked
from codestral_lsp.secret_forms import CODE_LANGUAGES, Span, find, merge

__all__ = ["CODE_LANGUAGES", "MASK", "Hidden", "SecretIndex", "clip", "mask", "redact_secrets"]

logger = logging.getLogger(__name__)

MASK = "<redacted>"


def mask(text: str, spans: Sequence[Span]) -> str:
    """``text`` with each span (sorted, disjoint) replaced by ``<redacted>``."""
    if not spans:
        return text
    parts: list[str] = []
    at = 0
    for start, end in spans:
        parts += (text[at:start], MASK)
        at = end
    parts.append(text[at:])
    return "".join(parts)


def redact_secrets(text: str, code: bool = False) -> str:
    """``text`` with what looks like a secret masked, private keys included (no document)."""
    blocks = [(m.start(), m.end(), m.group(1) == "BEGIN") for m in _MARKER.finditer(text)]
    return mask(text, merge([*find(text, code), *_pair(blocks, 0, len(text))]))


# --- private keys across lines -------------------------------------------------------------------

_MARKER = re.compile(r"-----[ \t]*(BEGIN|END)[A-Z0-9 _\-]*PRIVATE KEY(?: BLOCK)?[ \t]*-----")
Position = tuple[int, int]  # (line, index in the line)
Marker = tuple[int, int, int, bool]  # line, start, end, is BEGIN


def _pair(markers: Iterable[tuple[int, int, bool]], first: int, last: int) -> list[Span]:
    """Spans from each BEGIN to its END, in one coordinate system: unmatched ones fail closed."""
    spans: list[Span] = []
    opened: int | None = None
    closed = first  # where the last block ended: an orphan END hides back to it
    for start, end, begin in markers:
        if begin:
            if opened is None:
                opened = start
        else:
            spans.append((closed if opened is None else opened, end))
            opened, closed = None, end
    if opened is not None:
        spans.append((opened, last))
    return spans


def _line_markers(number: int, line: str) -> list[Marker]:
    if "PRIVATE KEY" not in line:
        return []
    return [(number, m.start(), m.end(), m.group(1) == "BEGIN") for m in _MARKER.finditer(line)]


class KeyBlocks:
    """The private-key markers of one document, kept up to date per edit in O(edited lines)."""

    def __init__(self, doc: Document, text: str | None = None) -> None:
        self.version = doc.version
        self._markers: list[Marker] = []
        self.rescan(doc, text)

    def rescan(self, doc: Document, text: str | None = None) -> None:
        """Find every marker again: O(document), at open and when out of step.

        ``text``: the document's whole text, when the caller has it (at open).
        """
        self.version = doc.version
        if "PRIVATE KEY" not in (doc.text if text is None else text):  # the usual case, in C
            self._markers = []
            return
        self._markers = [
            marker for n in range(doc.line_count) for marker in _line_markers(n, doc.line(n))
        ]

    def edited(self, doc: Document, change: TextChange, old_count: int) -> None:
        """Follow one change already applied to ``doc`` (which had ``old_count`` lines)."""
        if change.range is None:
            self.rescan(doc)
            return
        first = min(change.range[0], old_count - 1)
        last = min(change.range[2], old_count - 1)
        delta = doc.line_count - old_count
        low, high = max(0, first - 1), min(doc.line_count - 1, last + delta + 1)
        kept = [m for m in self._markers if m[0] < low]
        moved = [(m[0] + delta, *m[1:]) for m in self._markers if m[0] > last]
        fresh = [m for n in range(low, high + 1) for m in _line_markers(n, doc.line(n))]
        self._markers = [*kept, *fresh, *(m for m in moved if m[0] > high)]

    def blocks(self, doc: Document) -> list[tuple[Position, Position]]:
        """Each key block as (start, end) positions; rescans first if the index is stale."""
        if self.version != doc.version or not self._still_there(doc):
            logger.info("private-key index of %s out of step: rescanned", doc.uri)
            self.rescan(doc)
        if not self._markers:
            return []
        width = max(len(doc.line_with_ending(m[0])) for m in self._markers) + 1
        flat = [(m[0] * width + m[1], m[0] * width + m[2], m[3]) for m in self._markers]
        end = doc.line_count * width
        return [(divmod(a, width), divmod(b, width)) for a, b in _pair(flat, 0, end)]

    def _still_there(self, doc: Document) -> bool:
        for number, start, end, begin in self._markers:
            if number >= doc.line_count:
                return False
            found = _MARKER.match(doc.line(number), start)
            if found is None or found.end() != end or (found.group(1) == "BEGIN") != begin:
                return False
        return True


# --- documents: what a run of lines hides ------------------------------------------------------

LINE_MEMORY = 5_000  # lines whose findings are remembered (by text): a window rescans only edits
LINE_MEMORY_CHARS = 1_000_000  # and at most this many characters of them
LONG_LINE = 4_096  # longer lines are not remembered, and the cursor's is scanned near the cut
MARGIN = 2_048  # how far past a cut of a long line to look (a token crossing the cut is caught)


@dataclass(frozen=True)
class Lines:
    """Lines ``first..last`` of a document as one text, where each starts, and what it hides."""

    text: str
    starts: list[int]
    hidden: list[Span]


@dataclass(frozen=True)
class Hidden:
    """The spans of a context's prompt and suffix that ``mask`` hides before they are sent."""

    prompt: tuple[Span, ...] = ()
    suffix: tuple[Span, ...] = ()


class SecretIndex:
    """Per open document, what must never be sent; kept up to date by the server per edit.

    Line findings are remembered by line text (the last ``LINE_MEMORY`` lines), so a request
    scans only the lines it has not seen: O(edit) while typing, O(window) at worst. Each
    document's key blocks are kept in its record in ``documents`` (gone at its close); a
    document that is not there (no store: the terminal command) is scanned per request.
    """

    def __init__(self, documents: DocumentStore | None = None) -> None:
        self.documents = documents
        self._blocks: Slot[KeyBlocks] = Slot("secrets")
        if documents is not None:
            documents.also_forget(self._closed)
        self._found: tuple[dict[str, tuple[Span, ...]], ...] = ({}, {})  # by line, per ``code``
        self._held = 0  # characters of the lines in ``_found``

    def opened(self, doc: Document, text: str | None = None) -> None:
        """Index a document just opened (``text``: its whole text, which saves a join)."""
        tracked = self._record(doc)
        if tracked is not None:
            tracked.put(self._blocks, KeyBlocks(doc, text))

    def _record(self, doc: Document) -> Tracked | None:
        """``doc``'s record, if it is the open document (not a copy, not closed)."""
        tracked = None if self.documents is None else self.documents.tracked(doc.uri)
        return tracked if tracked is not None and tracked.doc is doc else None

    def _kept(self, doc: Document) -> KeyBlocks | None:
        tracked = self._record(doc)
        return None if tracked is None else tracked.peek(self._blocks)

    def changed(self, doc: Document, change: TextChange, old_count: int) -> None:
        blocks = self._kept(doc)
        if blocks is not None:
            blocks.edited(doc, change, old_count)

    def synced(self, doc: Document) -> None:
        """``doc`` is at a new version and every change to it was passed to ``changed``."""
        blocks = self._kept(doc)
        if blocks is not None:
            blocks.version = doc.version

    def _closed(self, uri: str) -> None:
        """A document closed; when none is left open, no line of them is remembered either."""
        if self.documents is not None and not len(self.documents):
            self._found = ({}, {})
            self._held = 0

    def held(self) -> int:
        """Lines whose findings are remembered (by text, for every open document; bounded)."""
        return sum(map(len, self._found))

    def lines(
        self, doc: Document, first: int, last: int, focus: tuple[int, int, int] | None = None
    ) -> Lines:
        """Lines ``first..last`` of ``doc`` and every secret span in them: O(lines).

        ``focus`` (line, start, end): only that part of the line is sent; a long line is then
        scanned only there and ``MARGIN`` around it, so a keystroke on a 5 MB line costs O(window).
        """
        texts = [doc.line_with_ending(n) for n in range(first, last + 1)]
        starts = [0]
        for line in texts:
            starts.append(starts[-1] + len(line))
        text = "".join(texts)
        code = doc.language_id in CODE_LANGUAGES
        long = None
        if focus is not None and len(texts[focus[0] - first]) > LONG_LINE:
            long = focus[0] - first
        findings = self._line_findings([t if i != long else "" for i, t in enumerate(texts)], code)
        if long is not None and focus is not None:
            low = max(0, focus[1] - MARGIN)
            near = texts[long][low : focus[2] + MARGIN]
            findings[long] = tuple((low + a, low + b) for a, b in find(near, code))
        hidden = [
            (starts[i] + a, starts[i] + b) for i, spans in enumerate(findings) for a, b in spans
        ]
        blocks = self._kept(doc)
        if blocks is None:  # a document the server was not told about: index it now
            blocks = KeyBlocks(doc)
            tracked = self._record(doc)
            if tracked is not None:
                tracked.put(self._blocks, blocks)
        for (l1, c1), (l2, c2) in blocks.blocks(doc):
            if l2 < first or l1 > last:
                continue
            start = 0 if l1 < first else starts[l1 - first] + c1
            end = len(text) if l2 > last else starts[l2 - first] + c2
            hidden.append((start, end))
        return Lines(text, starts, merge(hidden))

    def _line_findings(self, texts: list[str], code: bool) -> list[tuple[Span, ...]]:
        """Each line's spans: remembered ones, the others found in one batch."""
        memory = self._found[code]
        found = [memory.get(line) for line in texts]
        missing = [i for i, spans in enumerate(found) if spans is None]
        if missing:
            batch = [texts[i] for i in missing]
            for i, spans in zip(missing, _split(find("".join(batch), code), batch), strict=True):
                found[i] = spans
                if len(texts[i]) <= LONG_LINE:
                    memory[texts[i]] = spans
                    self._held += len(texts[i])
            while len(memory) > LINE_MEMORY or self._held > LINE_MEMORY_CHARS:
                oldest = next(iter(memory))  # the longest remembered go first
                del memory[oldest]
                self._held -= len(oldest)
        return [spans or () for spans in found]


def _split(spans: list[Span], lines: list[str]) -> list[tuple[Span, ...]]:
    """``spans`` of the concatenated ``lines``, cut per line and made relative to each."""
    result: list[tuple[Span, ...]] = []
    at = 0
    index = 0
    for line in lines:
        end = at + len(line)
        own: list[Span] = []
        while index < len(spans) and spans[index][0] < end:
            a, b = spans[index]
            own.append((max(a, at) - at, min(b, end) - at))
            if b > end:
                break  # it goes on into the next line
            index += 1
        result.append(tuple(own))
        at = end
    return result


def clip(hidden: Sequence[Span], start: int, end: int) -> tuple[Span, ...]:
    """The parts of ``hidden`` (sorted, disjoint) inside ``[start, end)``, shifted to 0."""
    at = bisect.bisect_right([s[1] for s in hidden], start)
    clipped: list[Span] = []
    for a, b in hidden[at:]:
        if a >= end:
            break
        clipped.append((max(a, start) - start, min(b, end) - start))
    return tuple(s for s in clipped if s[1] > s[0])
