"""The server end to end: capabilities, encodings, the FIM request it sends, what comes back."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from tests.e2e.conftest import ServerFactory, inline, items, open_doc, units
from tests.fake_codestral import FakeCodestral, Reply

LINE0 = 'name = "héllo 中文 😀"; x = '
TEXT = LINE0 + "\nprint(x)\r\nend\n"


async def test_advertises_inline_completion_and_incremental_sync(
    start_server: ServerFactory,
) -> None:
    async with start_server() as client:
        caps = client.server_capabilities
        assert caps.inline_completion_provider is not None
        sync = caps.text_document_sync
        assert isinstance(sync, types.TextDocumentSyncOptions)
        assert sync.change == types.TextDocumentSyncKind.Incremental
        assert sync.open_close is True


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["utf-8", "utf-16"], "utf-8"),  # Neovim
        (None, "utf-16"),  # VS Code: no list, utf-16 is the LSP default
        (["utf-32"], "utf-32"),  # eglot
    ],
)
@pytest.mark.parametrize("stream", [True, False])
async def test_completion_at_non_ascii_cursor(
    start_server: ServerFactory,
    fake_codestral: FakeCodestral,
    offered: list[str] | None,
    chosen: str,
    stream: bool,
) -> None:
    fake_codestral.completion = "len(name)"
    options = {"stream": stream, "headers": {"X-Gateway-Team": "editors"}}
    async with start_server(init_options=options, encodings=offered) as client:
        assert client.server_capabilities.position_encoding == chosen
        open_doc(client, "file:///w/a.py", TEXT)
        column = units(LINE0, chosen)
        result = await inline(client, "file:///w/a.py", 0, column)

    [item] = items(result)
    assert item.insert_text == "len(name)"
    assert item.range == types.Range(
        start=types.Position(line=0, character=column), end=types.Position(line=0, character=column)
    )
    [request] = fake_codestral.requests
    assert request.body["prompt"] == LINE0
    assert request.body["suffix"] == "\nprint(x)\r\nend\n"
    assert request.body["model"] == "codestral-latest"
    assert request.body["stream"] is stream
    assert request.headers["authorization"] == f"Bearer {fake_codestral.api_key}"
    assert request.headers["x-gateway-team"] == "editors"
    assert request.headers["user-agent"].startswith("codestral-lsp/")


async def test_incremental_edits_reach_the_prompt(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    async with start_server(encodings=["utf-16"]) as client:
        open_doc(client, "file:///w/b.py", "def f(a):\n    \nf(1)\n")
        # Type "return a" on the blank line, one key at a time, as an editor does.
        for i, char in enumerate("return a"):
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(
                        uri="file:///w/b.py", version=2 + i
                    ),
                    content_changes=[
                        types.TextDocumentContentChangePartial(
                            range=types.Range(
                                start=types.Position(line=1, character=4 + i),
                                end=types.Position(line=1, character=4 + i),
                            ),
                            text=char,
                        )
                    ],
                )
            )
        result = await inline(client, "file:///w/b.py", 1, 12)
    assert items(result)
    [request] = fake_codestral.requests
    assert request.body["prompt"] == "def f(a):\n    return a"
    assert request.body["suffix"] == "\nf(1)\n"


async def test_all_api_parameters_are_sent_with_api_names(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    options = {
        "model": "codestral-2508",
        "temperature": 0.2,
        "topP": 0.9,
        "maxTokens": 64,
        "minTokens": 1,
        "stop": ["\n\n"],
        "randomSeed": 7,
    }
    async with start_server(init_options=options) as client:
        open_doc(client, "file:///w/c.py", "x = ")
        result = await inline(client, "file:///w/c.py", 0, 4)
    assert items(result)
    body = fake_codestral.requests[0].body
    assert {k: v for k, v in body.items() if k not in ("prompt", "suffix")} == {
        "model": "codestral-2508",
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 64,
        "min_tokens": 1,
        "stop": ["\n\n"],
        "random_seed": 7,
        "stream": True,
    }


async def test_only_set_fields_are_sent(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    async with start_server() as client:
        open_doc(client, "file:///w/d.py", "x = ")
        assert items(await inline(client, "file:///w/d.py", 0, 4))
    body = fake_codestral.requests[0].body
    assert set(body) == {"model", "prompt", "suffix", "max_tokens", "stream"}


async def test_a_stale_answer_is_not_shown(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    """The document changes while the model is answering: the answer is dropped."""
    gate = asyncio.Event()
    fake_codestral.enqueue(Reply(gate=gate))
    async with start_server() as client:
        open_doc(client, "file:///w/e.py", "x = ")
        task = asyncio.ensure_future(inline(client, "file:///w/e.py", 0, 4))
        await fake_codestral.wait_for_requests(1)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri="file:///w/e.py", version=2
                ),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text="y = ")],
            )
        )
        # Messages are handled in order: once this request is answered, so is the didChange.
        with pytest.raises(JsonRpcInvalidParams):
            await inline(client, "file:///w/not-open.py", 0, 0)
        gate.set()
        assert await task is None
    assert fake_codestral.requests[0].finished
