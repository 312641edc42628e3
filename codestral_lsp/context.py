"""The text around the cursor that goes to the model: a budgeted prompt, suffix and extra context.

The window is whole lines nearest the cursor on each side. The suffix gets its share of the
budget; whichever side reaches the start or end of the document first lends what it did not use
to the other. Building it costs O(window), never O(document).
"""

from __future__ import annotations

from dataclasses import dataclass

from codestral_lsp.documents import Cursor, Document

# Used when nothing else is said (unit tests, tools): about 2,300 + 600 tokens of code.
PROMPT_CHARS = 8_000
SUFFIX_CHARS = 2_000


@dataclass(frozen=True)
class FimContext:
    """What one FIM request is built from, and the document state it was taken from."""

    uri: str
    version: int
    language_id: str
    cursor: Cursor
    prompt: str
    suffix: str
    first_line: int = 0  # first document line in the prompt window
    last_line: int = 0  # last document line in the suffix window
    extra: str = ""  # context from other places, sent before the prompt

    @property
    def sent_prompt(self) -> str:
        """The prompt as sent: other places first, then the local window."""
        return self.extra + self.prompt


def build(
    doc: Document,
    cursor: Cursor,
    prompt_chars: int = PROMPT_CHARS,
    suffix_chars: int = SUFFIX_CHARS,
) -> FimContext:
    """The window at ``cursor``: within ``prompt_chars`` + ``suffix_chars`` characters in all."""
    line = doc.line_with_ending(cursor.line)
    head, tail = line[: cursor.index], line[cursor.index :]
    after, suffix_left, last = _take(doc, cursor.line, +1, tail, suffix_chars)
    lent = suffix_left if last == doc.line_count - 1 else 0
    before, prompt_left, first = _take(doc, cursor.line, -1, head, prompt_chars + lent)
    if first == 0 and prompt_left > 0 and last < doc.line_count - 1:
        more, _, last = _take_more(doc, last, +1, prompt_left)
        after.extend(more)
    return FimContext(
        uri=doc.uri,
        version=doc.version,
        language_id=doc.language_id,
        cursor=cursor,
        prompt="".join(reversed(before)),
        suffix="".join(after),
        first_line=first,
        last_line=last,
    )


def _take(
    doc: Document, start: int, step: int, part: str, budget: int
) -> tuple[list[str], int, int]:
    """The cursor line's part (cut to the budget if longer), then whole lines going ``step``."""
    part = (part[-budget:] if budget else "") if step < 0 else part[:budget]
    lines, left, edge = _take_more(doc, start, step, budget - len(part))
    return [part, *lines], left, edge


def _take_more(doc: Document, start: int, step: int, budget: int) -> tuple[list[str], int, int]:
    """Whole lines after ``start`` in direction ``step`` while they fit; returns the last taken."""
    lines: list[str] = []
    edge = start
    number = start + step
    while 0 <= number < doc.line_count:
        text = doc.line_with_ending(number)
        if len(text) > budget:
            break
        lines.append(text)
        budget -= len(text)
        edge = number
        number += step
    return lines, budget, edge


def still_fits(doc: Document | None, fim: FimContext) -> bool:
    """Whether ``doc`` is still in the state ``fim`` was taken from (version and cursor line)."""
    if doc is None or doc.version != fim.version or fim.cursor.line >= doc.line_count:
        return False
    line = doc.line_with_ending(fim.cursor.line)
    head, tail = line[: fim.cursor.index], line[fim.cursor.index :]
    head_fits = fim.prompt.endswith(head) or head.endswith(fim.prompt)  # head may be cut
    tail_fits = fim.suffix.startswith(tail) or tail.startswith(fim.suffix)
    return head_fits and tail_fits
