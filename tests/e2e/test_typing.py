"""Speed while typing: supersede, cancel, coalesce, debounce, memory; never a stale answer."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled
from pytest_lsp import LanguageClient

from tests.e2e.conftest import (
    ServerFactory,
    inline,
    items,
    open_doc,
    send_inline,
    server_env,
)
from tests.e2e.rpc import frame, raw_server
from tests.fake_codestral import FakeCodestral, Reply

URI = "file:///w/t.py"
NO_DEBOUNCE = {"debounceMs": 0, "debounceMaxMs": 0}


class Typist:
    """Sends edits the way an editor does, one versioned didChange per edit."""

    def __init__(self, client: LanguageClient, uri: str, text: str) -> None:
        self.client, self.uri, self.version = client, uri, 1
        open_doc(client, uri, text)

    def edit(self, line: int, start: int, end: int, text: str) -> None:
        self.version += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=self.uri, version=self.version
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line=line, character=start),
                            end=types.Position(line=line, character=end),
                        ),
                        text=text,
                    )
                ],
            )
        )

    def type(self, line: int, column: int, text: str) -> None:
        for i, char in enumerate(text):
            self.edit(line, column + i, column + i, char)


def texts(result: object) -> list[str]:
    return [str(item.insert_text) for item in items(result)]


async def test_superseded_request_gets_null_and_its_call_is_abandoned(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    fake_codestral.enqueue(Reply(gate=asyncio.Event()))  # the first call never answers
    fake_codestral.completion = "2"
    async with start_server(init_options=NO_DEBOUNCE) as client:
        typist = Typist(client, URI, "x = 1\n")
        first = asyncio.ensure_future(inline(client, URI, 0, 5))
        await fake_codestral.wait_for_requests(1)
        typist.edit(0, 4, 5, "")  # backspace: not typing on top of the first state
        second = await inline(client, URI, 0, 4)
        assert await first is None
        assert texts(second) == ["2"]
        await fake_codestral.wait_until(lambda fake: fake.requests[0].aborted)
        numbers = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codestral.stats")
        )
        assert numbers["calls"]["wasted"] == 1
        assert numbers["calls"]["wastedBy"] == {"superseded": 1}
        assert numbers["calls"]["shown"] == 1
    assert [r.body["prompt"] for r in fake_codestral.requests] == ["x = 1", "x = "]


async def test_cancelled_request_leaves_its_call_to_memory(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    """VS Code cancels on every key: the call goes on, and the next request gets its answer."""
    gate = asyncio.Event()
    fake_codestral.enqueue(Reply(gate=gate, completion="42"))
    async with start_server(init_options=NO_DEBOUNCE) as client:
        Typist(client, URI, "x = ")
        msg_id = str(uuid.uuid4())
        pending = send_inline(client, URI, 0, 4, msg_id=msg_id)
        await fake_codestral.wait_for_requests(1)
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
        with pytest.raises(JsonRpcRequestCancelled):
            await pending
        gate.set()
        await fake_codestral.wait_until(lambda fake: fake.requests[0].ended_at is not None)
        assert texts(await inline(client, URI, 0, 4)) == ["42"]
    [call] = fake_codestral.requests
    assert call.finished
    assert not call.aborted


async def test_cancelled_call_is_closed_when_the_next_request_cannot_use_it(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    fake_codestral.enqueue(Reply(gate=asyncio.Event()))
    fake_codestral.completion = "2"
    async with start_server(init_options=NO_DEBOUNCE) as client:
        typist = Typist(client, URI, "x = 1")
        msg_id = str(uuid.uuid4())
        pending = send_inline(client, URI, 0, 5, msg_id=msg_id)
        await fake_codestral.wait_for_requests(1)
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
        with pytest.raises(JsonRpcRequestCancelled):
            await pending
        typist.edit(0, 4, 5, "")  # backspace: the call's state is gone
        assert texts(await inline(client, URI, 0, 4)) == ["2"]
        await fake_codestral.wait_until(lambda fake: fake.requests[0].aborted)


async def test_a_request_answered_from_memory_supersedes_one_in_its_pause(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    """The older request must not go upstream after its pause for a state the editor left."""
    fake_codestral.completion = "42"
    slow = {"debounceMs": 400, "debounceMaxMs": 400}
    async with start_server(init_options=slow) as client:
        Typist(client, URI, "x = \ny = 1\n")
        invoked = send_inline(client, URI, 0, 4, invoked=True)  # no pause: fills the memory
        assert texts(await invoked) == ["42"]
        pausing = send_inline(client, URI, 1, 0)  # a cursor move, then back (no edit)
        assert texts(await inline(client, URI, 0, 4)) == ["42"]  # from memory
        assert await pausing is None
    assert len(fake_codestral.requests) == 1


async def test_a_change_during_the_pause_keeps_the_request_from_going_upstream(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    """Neovim asks 200 ms after the last key and never cancels: a key typed during the
    server's pause means the request is for a state the document has left."""
    async with start_server(init_options={"debounceMs": 400, "debounceMaxMs": 400}) as client:
        typist = Typist(client, URI, "x = ")
        pausing = send_inline(client, URI, 0, 4)
        await client.workspace_execute_command_async(  # a round trip: the request is pausing
            types.ExecuteCommandParams(command="codestral.stats")
        )
        typist.type(0, 4, "1")
        assert await pausing is None
    assert fake_codestral.requests == []


async def test_a_request_sees_the_document_as_it_was_when_it_arrived(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    """A request and the next key's didChange read in one go: the request is for the state
    before the key (so it is dropped in its pause), not for the new text at its old position."""
    env = server_env(tmp_path, {"CODESTRAL_API_KEY": fake_codestral.api_key})
    async with raw_server(env, tmp_path / "raw.log") as server:
        options = {"endpoint": fake_codestral.url, "debounceMs": 400, "debounceMaxMs": 400}
        await server.initialize(options)
        doc = {"uri": URI, "languageId": "python", "version": 1, "text": "x = \n"}
        await server.notify("textDocument/didOpen", {"textDocument": doc})
        where = {"line": 0, "character": 4}
        request = {
            "jsonrpc": "2.0",
            "id": "r1",
            "method": "textDocument/inlineCompletion",
            "params": {
                "textDocument": {"uri": URI},
                "position": where,
                "context": {"triggerKind": 2},
            },
        }
        change = {
            "jsonrpc": "2.0",
            "method": "textDocument/didChange",
            "params": {
                "textDocument": {"uri": URI, "version": 2},
                "contentChanges": [{"range": {"start": where, "end": where}, "text": "1"}],
            },
        }
        await server.send(frame(request) + frame(change))
        assert (await server.reply("r1"))["result"] is None
    assert fake_codestral.requests == []


async def test_typing_on_top_of_an_in_flight_call_shares_it(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    gate = asyncio.Event()
    fake_codestral.enqueue(Reply(gate=gate, completion="hello(world)"))
    async with start_server(init_options=NO_DEBOUNCE) as client:
        typist = Typist(client, URI, "x = ")
        first = send_inline(client, URI, 0, 4)
        await fake_codestral.wait_for_requests(1)
        typist.type(0, 4, "he")
        second = send_inline(client, URI, 0, 6)
        assert await first is None  # superseded, answered at once
        gate.set()
        assert texts(await second) == ["llo(world)"]
    [request] = fake_codestral.requests
    assert request.finished
    assert not request.aborted


async def test_shared_answer_that_disagrees_with_the_typing_asks_anew(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    gate = asyncio.Event()
    fake_codestral.enqueue(Reply(gate=gate, completion="hello"), Reply(completion="rizon"))
    async with start_server(init_options=NO_DEBOUNCE) as client:
        typist = Typist(client, URI, "x = ")
        first = send_inline(client, URI, 0, 4)
        await fake_codestral.wait_for_requests(1)
        typist.type(0, 4, "ho")
        second = send_inline(client, URI, 0, 6)
        assert await first is None
        gate.set()
        assert texts(await second) == ["rizon"]
    assert [r.body["prompt"] for r in fake_codestral.requests] == ["x = ", "x = ho"]


async def test_typed_through_and_repeated_requests_need_no_upstream_call(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    fake_codestral.completion = "total = a + b\n    return total"
    async with start_server(init_options=NO_DEBOUNCE, encodings=["utf-8"]) as client:
        typist = Typist(client, URI, "def f(a, b):\n    \n")
        assert texts(await inline(client, URI, 1, 4)) == ["total = a + b\n    return total"]
        # Neovim asks again on InsertEnter / cursor moves: the same state is free.
        assert texts(await inline(client, URI, 1, 4)) == ["total = a + b\n    return total"]
        typist.type(1, 4, "tot")
        assert texts(await inline(client, URI, 1, 7)) == ["al = a + b\n    return total"]
        # A partial accept of the first line (and the editor's indent) as one edit.
        typist.edit(1, 7, 7, "al = a + b\n    ")
        assert texts(await inline(client, URI, 2, 4)) == ["return total"]
    assert len(fake_codestral.requests) == 1


async def test_typing_that_leaves_the_suggestion_asks_anew(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    fake_codestral.completion = "abc"
    async with start_server(init_options=NO_DEBOUNCE) as client:
        typist = Typist(client, URI, "x = ")
        assert texts(await inline(client, URI, 0, 4)) == ["abc"]
        typist.type(0, 4, "z")
        assert texts(await inline(client, URI, 0, 5)) == ["abc"]
    assert [r.body["prompt"] for r in fake_codestral.requests] == ["x = ", "x = z"]


async def test_request_superseded_during_its_pause_never_reaches_the_network(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    options: dict[str, Any] = {"debounceMs": 60_000, "debounceMaxMs": 60_000}
    async with start_server(init_options=options) as client:
        typist = Typist(client, URI, "x = ")
        first = send_inline(client, URI, 0, 4)
        typist.type(0, 4, "1")
        # Invoked (the user asked) goes out at once, without the pause.
        second = await send_inline(client, URI, 0, 5, invoked=True)
        assert await first is None
        assert texts(second)
    assert [r.body["prompt"] for r in fake_codestral.requests] == ["x = 1"]


async def test_answer_for_a_state_the_document_left_is_never_shown(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    """Neovim never cancels: the document moves on while the only request waits upstream."""
    gate = asyncio.Event()
    fake_codestral.enqueue(Reply(gate=gate, completion="value"))
    async with start_server(init_options=NO_DEBOUNCE) as client:
        typist = Typist(client, URI, "x = ")
        first = send_inline(client, URI, 0, 4)
        await fake_codestral.wait_for_requests(1)
        typist.type(0, 4, "v")  # no new request: the editor is still in its own pause
        with pytest.raises(Exception, match="document is not open"):
            await inline(client, "file:///w/other.py", 0, 0)  # the edit has been handled
        gate.set()
        assert await first is None
        # The follow-up request for the new state is served from memory: typed through.
        assert texts(await inline(client, URI, 0, 5)) == ["alue"]
    assert len(fake_codestral.requests) == 1


async def stats(client: Any) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="codestral.stats")
    )


async def test_accepting_a_whole_suggestion_starts_the_next_call_at_once(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    fake_codestral.enqueue(
        Reply(completion="total = a + b"), Reply(completion="\n    return total")
    )
    async with start_server(init_options={**NO_DEBOUNCE, "speculate": True}) as client:
        typist = Typist(client, URI, "def f(a, b):\n    \n")
        assert texts(await inline(client, URI, 1, 4)) == ["total = a + b"]
        typist.edit(1, 4, 4, "total = a + b")  # the editor applies the accepted item
        [_, speculative] = await fake_codestral.wait_for_requests(2)
        assert speculative.body["prompt"].endswith("    total = a + b")
        # The request the editor then sends at the end of the accepted text needs no call.
        assert texts(await inline(client, URI, 1, 17)) == ["\n    return total"]
        calls = (await stats(client))["calls"]
    assert len(fake_codestral.requests) == 2
    assert (calls["speculative"], calls["speculativeUnused"]) == (1, 0)


async def test_no_speculation_after_a_partial_accept_or_without_budget(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    """Typing a part of the suggestion leaves its rest in memory: nothing to ask. With the
    requests of this minute spent, nothing is spent on a guess either."""
    fake_codestral.completion = "total = a + b"
    limited = {
        **NO_DEBOUNCE,
        "speculate": True,
        "rateLimit": {"rpm": 2, "tpm": None, "windowSeconds": 60},
    }
    async with start_server(init_options=limited) as client:
        typist = Typist(client, URI, "def f(a, b):\n    \n    \n")
        assert texts(await inline(client, URI, 1, 4)) == ["total = a + b"]
        typist.edit(1, 4, 4, "total")  # a part only
        assert texts(await inline(client, URI, 1, 9)) == [" = a + b"]  # from memory
        assert texts(await inline(client, URI, 2, 4)) == ["total = a + b"]  # 2nd call: rpm spent
        typist.edit(2, 4, 4, "total = a + b")  # a whole accept, but no room left
        calls = (await stats(client))["calls"]
    assert len(fake_codestral.requests) == 2
    assert calls["speculative"] == 0
