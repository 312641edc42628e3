"""Property: random open/change/complete/close sequences leave the server's copy of every open
document equal to the client's, in each position encoding.

One server per encoding runs all the examples; each example uses fresh URIs and closes what it
opened. The server's copy is read back through the fake backend (see ``mirror.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.conftest import ServerFactory, open_doc
from tests.e2e.mirror import (
    MIRROR_SETTINGS,
    line_spans,
    offset_of,
    position_of,
    sent_for,
    server_copy,
)
from tests.fake_codestral import FakeCodestral

# Line ends of every kind, and characters that other splitters take for line ends (\x0c,
# U+2028, \x85), astral (two utf-16 units, four utf-8 bytes) and CJK (three utf-8 bytes).
ALPHABET = ["a", "b", " ", "\t", "\n", "\r", "\r\n", "😀", "中文", "\x0c", "\u2028", "\x85", "é"]
texts = st.lists(st.sampled_from(ALPHABET), max_size=12).map("".join)
# Longer than the server's long-line threshold (16,384 characters): kept in pieces there.
LONG_LINE = "ab😀é中文 " * 2_500
_examples = itertools.count()


@dataclass
class Editor:
    """The client's side: the open documents' texts, by URI."""

    client: LanguageClient
    fake: FakeCodestral
    encoding: str
    docs: dict[str, str] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    async def check_all(self) -> None:
        for uri, text in self.docs.items():
            copy = await server_copy(self.client, self.fake, uri, text, self.encoding)
            assert copy == text, f"{uri}: server {copy!r} != client {text!r}"


@pytest.fixture(params=["utf-8", "utf-16", "utf-32"])
async def editor(
    request: pytest.FixtureRequest, start_server: ServerFactory, fake_codestral: FakeCodestral
) -> AsyncIterator[Editor]:
    encoding = request.param
    async with start_server(init_options=MIRROR_SETTINGS, encodings=[encoding]) as client:
        yield Editor(client, fake_codestral, encoding)


def position(data: st.DataObject, text: str, encoding: str) -> tuple[int, int]:
    """Any position a client may send: on a character boundary, or past a line's end."""
    spans = line_spans(text)
    line = data.draw(st.integers(0, len(spans) - 1), label="line")
    start, end = spans[line]
    offset = data.draw(st.integers(start, end), label="offset")
    _, character = position_of(text, offset, encoding)
    past = data.draw(st.sampled_from([0, 0, 0, 1, 50]), label="past the line end")
    return line, character + (past if offset == end else 0)


async def step_open(ed: Editor, data: st.DataObject, example: int) -> None:
    uri = f"file:///w/e{example}/{data.draw(st.sampled_from('abc'), label='uri')}.py"
    text = data.draw(texts, label="text")
    if data.draw(st.booleans(), label="with a long line"):
        at = data.draw(st.integers(0, len(text)), label="long line at")
        text = text[:at] + LONG_LINE + text[at:]
    open_doc(ed.client, uri, text)  # opening an open document replaces it
    ed.docs[uri], ed.versions[uri] = text, 1


async def step_change(ed: Editor, data: st.DataObject) -> None:
    uri = data.draw(st.sampled_from(sorted(ed.docs)), label="change uri")
    text = ed.docs[uri]
    changes: list[tuple[tuple[int, int, int, int] | None, str]] = []
    for _ in range(data.draw(st.integers(1, 3), label="changes")):
        new = data.draw(texts, label="new text")
        if data.draw(st.integers(0, 9), label="whole") == 0:
            changes.append((None, new))
            text = new
            continue
        a, b = position(data, text, ed.encoding), position(data, text, ed.encoding)
        start_pos, end_pos = min(a, b), max(a, b)
        start = offset_of(text, *start_pos, ed.encoding)
        end = offset_of(text, *end_pos, ed.encoding)
        changes.append(((*start_pos, *end_pos), new))
        text = text[:start] + new + text[end:]
    ed.versions[uri] += 1
    ed.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=ed.versions[uri]),
            content_changes=[event(rng, new) for rng, new in changes],
        )
    )
    ed.docs[uri] = text


def event(rng: tuple[int, int, int, int] | None, text: str) -> types.TextDocumentContentChangeEvent:
    if rng is None:
        return types.TextDocumentContentChangeWholeDocument(text=text)
    return types.TextDocumentContentChangePartial(
        range=types.Range(types.Position(rng[0], rng[1]), types.Position(rng[2], rng[3])),
        text=text,
    )


async def step_complete(ed: Editor, data: st.DataObject) -> None:
    uri = data.draw(st.sampled_from(sorted(ed.docs)), label="complete uri")
    text = ed.docs[uri]
    line, character = position(data, text, ed.encoding)
    prompt, suffix, _ = await sent_for(ed.client, ed.fake, uri, line, character)
    at = offset_of(text, line, character, ed.encoding)
    assert (prompt, suffix) == (text[:at], text[at:])


async def step_close(ed: Editor, data: st.DataObject) -> None:
    uri = data.draw(st.sampled_from(sorted(ed.docs)), label="close uri")
    ed.client.text_document_did_close(
        types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=uri))
    )
    del ed.docs[uri], ed.versions[uri]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_server_copy_follows_the_client(editor: Editor, data: st.DataObject) -> None:
    example = next(_examples)
    editor.docs.clear()  # a failed example may have left some open: fresh URIs from here
    editor.versions.clear()
    for _ in range(data.draw(st.integers(1, 12), label="steps")):
        kinds = ["open"] + (["change", "change", "complete", "close"] if editor.docs else [])
        kind = data.draw(st.sampled_from(kinds), label="step")
        if kind == "open":
            await step_open(editor, data, example)
        elif kind == "change":
            await step_change(editor, data)
        elif kind == "complete":
            await step_complete(editor, data)
        else:
            await step_close(editor, data)
        await editor.check_all()
    for uri in list(editor.docs):
        editor.client.text_document_did_close(
            types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=uri))
        )
