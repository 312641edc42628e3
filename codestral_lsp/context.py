"""The text around the cursor that goes to the model: prompt before it, suffix after it."""

from __future__ import annotations

from dataclasses import dataclass

from codestral_lsp.documents import Cursor, Document

# Until the token-budgeted window lands, a fixed character budget per side keeps a request's cost
# bounded (about 2,300 + 600 tokens of code) and its construction O(window), not O(document).
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


def build(
    doc: Document,
    cursor: Cursor,
    prompt_chars: int = PROMPT_CHARS,
    suffix_chars: int = SUFFIX_CHARS,
) -> FimContext:
    """Whole lines nearest the cursor on each side, within each side's character budget."""
    line = doc.line_with_ending(cursor.line)
    head, tail = line[: cursor.index], line[cursor.index :]
    before = [head[-prompt_chars:]]
    budget = prompt_chars - len(before[0])
    for number in range(cursor.line - 1, -1, -1):
        text = doc.line_with_ending(number)
        if len(text) > budget:
            break
        before.append(text)
        budget -= len(text)
    after = [tail[:suffix_chars]]
    budget = suffix_chars - len(after[0])
    for number in range(cursor.line + 1, doc.line_count):
        text = doc.line_with_ending(number)
        if len(text) > budget:
            break
        after.append(text)
        budget -= len(text)
    return FimContext(
        uri=doc.uri,
        version=doc.version,
        language_id=doc.language_id,
        cursor=cursor,
        prompt="".join(reversed(before)),
        suffix="".join(after),
    )


def still_fits(doc: Document | None, fim: FimContext) -> bool:
    """Whether ``doc`` is still in the state ``fim`` was taken from (version and cursor line)."""
    if doc is None or doc.version != fim.version or fim.cursor.line >= doc.line_count:
        return False
    line = doc.line_with_ending(fim.cursor.line)
    head, tail = line[: fim.cursor.index], line[fim.cursor.index :]
    head_fits = fim.prompt.endswith(head) or head.endswith(fim.prompt)  # head may be cut
    tail_fits = fim.suffix.startswith(tail) or tail.startswith(fim.suffix)
    return head_fits and tail_fits
