"""The server's copy of a document, read back through what the fake backend receives.

With ``MIRROR_SETTINGS`` (no other files, no memory, no pause, a budget larger than the
document, no redaction) an invoked inline completion sends the whole text around the cursor:
``prompt + suffix`` is the server's copy, and at the end of the document ``suffix`` is empty.
"""

from __future__ import annotations

import re
from typing import Any

from pytest_lsp import LanguageClient

from tests.e2e.conftest import send_inline
from tests.fake_codestral import FakeCodestral

MIRROR_SETTINGS: dict[str, Any] = {
    "extraContextShare": 0,
    "cacheSize": 0,
    "debounceMs": 0,
    "debounceMaxMs": 0,
    "contextTokens": 200_000,
    "redactSecrets": False,
}

_LSP_LINE_END = re.compile(r"\r\n|\r|\n")  # LSP lines end only here (not at \x0c, U+2028, ...)


def units(text: str, encoding: str) -> int:
    """Length of ``text`` in code units; a lone surrogate is one unit, 3 bytes in utf-8."""
    if encoding == "utf-32":
        return len(text)
    if encoding == "utf-16":
        return len(text) + sum(ord(c) > 0xFFFF for c in text)
    return len(text.encode("utf-8", "surrogatepass"))


def lsp_lines(text: str) -> list[str]:
    """``text``'s lines without their ends, split as LSP splits them."""
    return _LSP_LINE_END.split(text)


def line_spans(text: str) -> list[tuple[int, int]]:
    """(start, end of content) offsets of each LSP line of ``text``."""
    spans, start = [], 0
    for match in _LSP_LINE_END.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    return [*spans, (start, len(text))]


def offset_of(text: str, line: int, character: int, encoding: str) -> int:
    """The str offset of an LSP position, as a client computes it: a character past the line
    end is the line end, one inside a character its start, ``(line count, 0)`` the end."""
    spans = line_spans(text)
    if (line, character) == (len(spans), 0):
        return len(text)
    start, end = spans[line]
    index, used = start, 0
    while index < end and used + units(text[index], encoding) <= character:
        used += units(text[index], encoding)
        index += 1
    return index


def position_of(text: str, offset: int, encoding: str) -> tuple[int, int]:
    """The LSP position of a str offset that is not inside a line end."""
    spans = line_spans(text)
    line = next(n for n, (start, end) in enumerate(spans) if start <= offset <= end)
    return line, units(text[spans[line][0] : offset], encoding)


def end_of(text: str, encoding: str) -> tuple[int, int]:
    """The LSP position of the end of ``text``."""
    lines = lsp_lines(text)
    return len(lines) - 1, units(lines[-1], encoding)


async def sent_for(
    client: LanguageClient,
    fake: FakeCodestral,
    uri: str,
    line: int,
    character: int,
) -> tuple[str, str, Any]:
    """(prompt, suffix, result) of one invoked request at ``(line, character)``."""
    before = len(fake.requests)
    result = await send_inline(client, uri, line, character, invoked=True)
    sent = fake.requests[before:]
    assert len(sent) == 1, f"expected one backend request, got {len(sent)}"
    body = sent[0].body
    return body["prompt"], body.get("suffix") or "", result


async def server_copy(
    client: LanguageClient, fake: FakeCodestral, uri: str, text: str, encoding: str
) -> str:
    """The server's copy of ``uri``, asked for at the end of the client's ``text``."""
    prompt, suffix, _ = await sent_for(client, fake, uri, *end_of(text, encoding))
    return prompt + suffix
