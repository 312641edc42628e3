"""The text around the cursor that goes to the model: a budgeted prompt, suffix and extra context.

The window is whole lines nearest the cursor on each side. The suffix gets its share of the
budget; whichever side reaches the start or end of the document first lends what it did not use
to the other. Building it costs O(window), never O(document).
"""

from __future__ import annotations

from dataclasses import dataclass

from codestral_lsp.documents import Cursor, Document
from codestral_lsp.redaction import Hidden
from codestral_lsp.shaping import Surroundings

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
    extra: str = ""  # context from other places, sent before the prompt (secrets masked)
    extra_files: tuple[tuple[str, str], ...] = ()  # the same, one (path, text) per snippet
    hidden: Hidden | None = None  # secrets in prompt and suffix (None: not looked for yet)

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
        # The prompt reached the start with budget to spare: the suffix may use it.
        after, _, last = _take(doc, cursor.line, +1, tail, suffix_chars + prompt_left)
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


def surroundings(doc: Document, cursor: Cursor, following: int = 8) -> Surroundings:
    """What shaping needs to know about the text around ``cursor``: O(a few dozen lines)."""
    line = doc.line(cursor.line)
    after = range(cursor.line + 1, min(doc.line_count, cursor.line + 1 + following))
    return Surroundings(
        head=line[: cursor.index],
        tail=line[cursor.index :],
        next_lines=tuple(doc.line(n) for n in after),
        indent_unit=indent_unit(doc, cursor.line),
        at_end_of_file=cursor.line == doc.line_count - 1,
    )


def indent_unit(doc: Document, around: int, span: int = 60) -> str:
    """Tabs or spaces (and how many), as the lines near ``around`` indent; "" if none are."""
    tabs = spaces = 0
    widths: list[int] = []
    for number in range(max(0, around - span), min(doc.line_count, around + span)):
        line = doc.line(number)
        if line.startswith("\t"):
            tabs += 1
        elif line.startswith(" ") and line.strip():
            spaces += 1
            widths.append(len(line) - len(line.lstrip(" ")))
    if tabs > spaces:
        return "\t"
    if not spaces:
        return ""  # nothing indented nearby: leave the model's indentation alone
    smallest = min((w for w in widths if w >= 2), default=4)
    return " " * (smallest if smallest in (2, 3, 4, 8) else 4)
