"""Bad input from the editor: a JSON-RPC error or a logged, ignored notification, never a crash
and never a corrupted document. Through the real server, with pytest-lsp or raw frames."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams, JsonRpcMethodNotFound

from tests.e2e.conftest import ServerFactory, items, open_doc, send_inline, server_env
from tests.e2e.mirror import MIRROR_SETTINGS, end_of, sent_for, server_copy
from tests.e2e.rpc import REPLY_TIMEOUT, RawServer, frame, raw_server
from tests.e2e.test_settings_and_documents import change
from tests.fake_codestral import FakeCodestral

URI = "file:///w/bad.py"
TEXT = "def f(x):\n    return x\n"
INVALID_PARAMS, METHOD_NOT_FOUND, PARSE_ERROR, INVALID_REQUEST = -32602, -32601, -32700, -32600


def log_of(client: object) -> str:
    return client.log_file.read_text(encoding="utf-8")  # type: ignore[attr-defined]


# --- positions and ranges ----------------------------------------------------------------------


async def test_positions_past_the_end_clamp_or_get_invalid_params(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    async with start_server(init_options=MIRROR_SETTINGS) as client:
        open_doc(client, URI, TEXT)
        # A character past the line end is the line end (LSP spec).
        prompt, suffix, _ = await sent_for(client, fake_codestral, URI, 0, 999)
        assert (prompt, suffix) == ("def f(x):", "\n    return x\n")
        # (line_count, 0) is the end of the document; here the last line is empty anyway.
        prompt, suffix, _ = await sent_for(client, fake_codestral, URI, 3, 0)
        assert (prompt, suffix) == (TEXT, "")
        for line, character in [(3, 1), (4, 0), (2**31 - 1, 0), (2**31 - 1, 2**31 - 1)]:
            with pytest.raises(JsonRpcInvalidParams, match=f"bad position {line}:{character}"):
                await sent_for(client, fake_codestral, URI, line, character)
        assert await server_copy(client, fake_codestral, URI, TEXT, "utf-16") == TEXT


async def test_bad_edits_are_skipped_and_logged_and_good_ones_apply(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    async with start_server(init_options=MIRROR_SETTINGS) as client:
        open_doc(client, URI, TEXT)
        bad = [
            (5, 0, 5, 0),  # a line past the end
            (0, 0, 4, 0),  # ends past the end
            (1, 4, 0, 2),  # ends before it starts (line)
            (1, 6, 1, 2),  # ends before it starts (character)
            (3, 1, 3, 1),  # one past the last line, but not at character 0
        ]
        for version, rng in enumerate(bad, start=2):
            change(client, URI, version, "BOOM", rng)
        assert await server_copy(client, fake_codestral, URI, TEXT, "utf-16") == TEXT
        change(client, URI, 10, "#", (0, 999, 0, 999))  # past the line end: at the line end
        change(client, URI, 11, "pass\n", (3, 0, 3, 0))  # (line_count, 0): the end
        expected = "def f(x):#\n    return x\npass\n"
        assert await server_copy(client, fake_codestral, URI, expected, "utf-16") == expected
        said = log_of(client)
    assert said.count("skipped change to file:///w/bad.py") == len(bad)


async def test_negative_positions_get_invalid_params(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    """lsprotocol refuses to build a negative Position, so these go as raw frames."""
    async with started_raw(fake_codestral, tmp_path) as server:
        await open_raw(server, URI, TEXT)
        for line, character in [(-1, 0), (0, -1), (-5, -5)]:
            reply = await server.request("textDocument/inlineCompletion", inline(line, character))
            error = reply.get("error")
            assert error is not None, reply
            assert error["code"] == INVALID_PARAMS
            assert "bad position" in error["message"]
        # A negative range in an edit: the edit is dropped, the document is unchanged.
        await server.notify("textDocument/didChange", edit(2, (0, -1, 0, 3), "BOOM"))
        await expect_text(server, fake_codestral, TEXT)


# --- documents that are not open, or not files ------------------------------------------------


async def test_unknown_closed_and_never_opened_documents(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    ghost = "file:///w/never-opened.py"
    async with start_server(init_options=MIRROR_SETTINGS) as client:
        open_doc(client, URI, TEXT)
        change(client, ghost, 2, "boom", (0, 0, 0, 0))  # never opened: not created by this
        change(client, ghost, 3, "whole", None)
        with pytest.raises(JsonRpcInvalidParams, match=f"document is not open: {ghost}"):
            await sent_for(client, fake_codestral, ghost, 0, 0)
        for _ in range(2):  # closing twice: the second is logged and ignored
            client.text_document_did_close(
                types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=URI))
            )
        # A request for a document closed a moment ago (its didClose may overtake it): null.
        calls = len(fake_codestral.requests)
        assert await send_inline(client, URI, 0, 0, invoked=True) is None
        assert len(fake_codestral.requests) == calls
        open_doc(client, URI, "x = ")  # opened again: the new text, nothing of the old
        assert await server_copy(client, fake_codestral, URI, "x = ", "utf-16") == "x = "
        said = log_of(client)
    assert "change to a document that is not open: file:///w/never-opened.py" in said
    assert "didClose for a document that is not open: file:///w/bad.py" in said
    assert all(ghost not in (r.body["prompt"] + r.body["suffix"]) for r in fake_codestral.requests)


@pytest.mark.parametrize("uri", ["untitled:Untitled-1", "untitled:/Untitled-2", "inmemory://1"])
async def test_documents_that_are_not_files_complete(
    start_server: ServerFactory, fake_codestral: FakeCodestral, uri: str
) -> None:
    async with start_server(init_options=MIRROR_SETTINGS) as client:
        open_doc(client, uri, "def add(a, b):\n    ")
        change(client, uri, 2, "\n", (0, 14, 0, 14))
        text = "def add(a, b):\n\n    "
        prompt, suffix, result = await sent_for(client, fake_codestral, uri, 2, 4)
        assert (prompt, suffix) == (text, "")
        assert [i.insert_text for i in items(result)] == ["return 42"]
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=uri))
        )
        said = log_of(client)
    assert "not open" not in said


# --- methods and parameter types ---------------------------------------------------------------


async def test_unknown_methods(start_server: ServerFactory, fake_codestral: FakeCodestral) -> None:
    async with start_server(init_options=MIRROR_SETTINGS) as client:
        open_doc(client, URI, TEXT)
        with pytest.raises(JsonRpcMethodNotFound, match="codestral/nonsense"):
            await client.protocol.send_request_async("codestral/nonsense", {"a": 1})
        with pytest.raises(JsonRpcMethodNotFound):
            await client.protocol.send_request_async("textDocument/nonsense", None)
        client.protocol.notify("codestral/nonsense", {"a": 1})  # ignored
        client.protocol.notify("$/nonsense", None)  # "$/" notifications may be ignored
        assert await server_copy(client, fake_codestral, URI, TEXT, "utf-16") == TEXT


# --- raw frames: wrong parameter types, malformed JSON-RPC, odd framing ------------------------


@contextlib.asynccontextmanager
async def started_raw(fake: FakeCodestral, tmp_path: Path) -> AsyncIterator[RawServer]:
    """A raw-framed server, initialized (utf-16, the default) with the mirror settings."""
    env = server_env(tmp_path, {"CODESTRAL_API_KEY": fake.api_key})
    async with raw_server(env, tmp_path / "raw.log") as server:
        await server.initialize({"endpoint": fake.url, **MIRROR_SETTINGS})
        yield server


async def open_raw(server: RawServer, uri: str, text: str) -> None:
    doc = {"uri": uri, "languageId": "python", "version": 1, "text": text}
    await server.notify("textDocument/didOpen", {"textDocument": doc})


def inline(line: Any, character: Any, uri: str = URI) -> dict[str, Any]:
    return {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": 1},  # Invoked
    }


def edit(version: int, rng: tuple[Any, Any, Any, Any], text: str) -> dict[str, Any]:
    start, end = {"line": rng[0], "character": rng[1]}, {"line": rng[2], "character": rng[3]}
    return {
        "textDocument": {"uri": URI, "version": version},
        "contentChanges": [{"range": {"start": start, "end": end}, "text": text}],
    }


async def expect_text(
    server: RawServer, fake: FakeCodestral, text: str, timeout: float = REPLY_TIMEOUT
) -> None:
    """The server answers a request at the end of ``text``, and its copy is ``text``."""
    before = len(fake.requests)
    where = inline(*end_of(text, "utf-16"))
    reply = await server.request("textDocument/inlineCompletion", where, timeout)
    assert "result" in reply, reply
    [sent] = fake.requests[before:]
    assert sent.body["prompt"] + sent.body["suffix"] == text


def logged(server: RawServer) -> str:
    return server.log_file.read_text(encoding="utf-8", errors="replace")


WRONG_REQUEST_PARAMS: dict[str, Any] = {
    "params null": None,
    "params an array": [],
    "params a string": "file:///w/bad.py",
    "no position": {"textDocument": {"uri": URI}, "context": {"triggerKind": 1}},
    "no textDocument": {"position": {"line": 0, "character": 0}, "context": {"triggerKind": 1}},
    "no context": {"textDocument": {"uri": URI}, "position": {"line": 0, "character": 0}},
    "uri a number": inline(0, 0, uri=42),  # type: ignore[arg-type]
    "line not a number": inline("zero", 0),
    "character an object": inline(0, {"units": 3}),
    "line null": inline(None, 0),
    "position an array": {**inline(0, 0), "position": [0, 0]},
    "triggerKind unknown": {**inline(0, 0), "context": {"triggerKind": 99}},
    "line too large": inline(2**31, 0),  # above LSP's uinteger
}


@pytest.mark.parametrize("params", WRONG_REQUEST_PARAMS.values(), ids=WRONG_REQUEST_PARAMS.keys())
async def test_request_with_wrong_parameter_types_gets_invalid_params(
    fake_codestral: FakeCodestral, tmp_path: Path, params: Any
) -> None:
    async with started_raw(fake_codestral, tmp_path) as server:
        await open_raw(server, URI, TEXT)
        reply = await server.request("textDocument/inlineCompletion", params, timeout=5)
        assert reply.get("error", {}).get("code") == INVALID_PARAMS, reply
        assert reply["error"]["message"]
        await expect_text(server, fake_codestral, TEXT)


WRONG_NOTIFICATIONS: dict[str, tuple[str, Any]] = {
    "didChange params null": ("textDocument/didChange", None),
    "didChange changes a string": (
        "textDocument/didChange",
        {"textDocument": {"uri": URI, "version": 2}, "contentChanges": "BOOM"},
    ),
    "didChange no version": (
        "textDocument/didChange",
        {"textDocument": {"uri": URI}, "contentChanges": [{"text": "BOOM"}]},
    ),
    "didChange text a number": (
        "textDocument/didChange",
        {"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{"text": 42}]},
    ),
    "didChange range line a word": ("textDocument/didChange", edit(2, ("one", 0, 0, 0), "BOOM")),
    "didChange range end missing": (
        "textDocument/didChange",
        {
            "textDocument": {"uri": URI, "version": 2},
            "contentChanges": [{"range": {"start": {"line": 0, "character": 0}}, "text": "B"}],
        },
    ),
    "didOpen text a number (same uri)": (
        "textDocument/didOpen",
        {"textDocument": {"uri": URI, "languageId": "python", "version": 2, "text": 42}},
    ),
    "didOpen no textDocument": ("textDocument/didOpen", {}),
    "didClose params an array": ("textDocument/didClose", [URI]),
    "didChangeConfiguration settings a string": (
        "workspace/didChangeConfiguration",
        {"settings": "contextTokens=1"},
    ),
    "$/cancelRequest unknown id": ("$/cancelRequest", {"id": 12345}),
    "$/cancelRequest no id": ("$/cancelRequest", {}),
}


@pytest.mark.parametrize(
    ("method", "params"), WRONG_NOTIFICATIONS.values(), ids=WRONG_NOTIFICATIONS.keys()
)
async def test_notification_with_wrong_parameter_types_is_ignored(
    fake_codestral: FakeCodestral, tmp_path: Path, method: str, params: Any
) -> None:
    async with started_raw(fake_codestral, tmp_path) as server:
        await open_raw(server, URI, TEXT)
        await server.notify(method, params)
        await expect_text(server, fake_codestral, TEXT)
        replies = [m for m in server.received if "method" not in m and m.get("id") is None]
        assert replies == []  # nothing answers a notification


async def test_bad_input_is_logged_not_shown_to_the_user(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    """The editor sent it, not the user: no error message box per malformed message."""
    async with started_raw(fake_codestral, tmp_path) as server:
        await open_raw(server, URI, TEXT)
        await server.notify("textDocument/didChange", None)
        await server.send(framed(b'{"jsonrpc": "2.0", "method": '))
        await server.send(framed(b"[]"))
        await expect_text(server, fake_codestral, TEXT)
        shown = [m["params"] for m in server.received if m.get("method") == "window/showMessage"]
        said = logged(server)
    assert shown == []
    assert said.count("ERROR") + said.count("WARNING") >= 3  # each one is in the log


def framed(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


DEEP = nested(5000)

# A frame and the replies it may get: (ids, outcomes) where an outcome is an error code, or None
# for a result; None when nothing may come back.
Allowed = tuple[set[Any], set[int | None]] | None
MALFORMED: dict[str, tuple[bytes, Allowed]] = {
    "invalid JSON": (
        framed(b'{"jsonrpc": "2.0", "id": 77, "method": '),
        ({None}, {PARSE_ERROR}),
    ),
    "not UTF-8": (
        framed(b'{"jsonrpc": "2.0", "id": 78, "method": "codestral/x", "params": "\xff\xfe"}'),
        ({None}, {PARSE_ERROR}),
    ),
    "empty array": (framed(b"[]"), ({None}, {INVALID_REQUEST})),
    "a batch": (  # LSP has no batches: the shutdown inside must not run
        framed(b'[{"jsonrpc": "2.0", "id": 79, "method": "shutdown", "params": null}]'),
        ({None}, {INVALID_REQUEST}),
    ),
    "a number": (framed(b"42"), ({None}, {INVALID_REQUEST})),
    "a string": (framed(b'"initialize"'), ({None}, {INVALID_REQUEST})),
    "null": (framed(b"null"), ({None}, {INVALID_REQUEST})),
    "no jsonrpc member": (  # refused, or served leniently (an unknown method)
        frame({"id": 80, "method": "codestral/x", "params": {}}),
        ({80, None}, {INVALID_REQUEST, METHOD_NOT_FOUND}),
    ),
    "jsonrpc 1.0": (
        frame({"jsonrpc": "1.0", "id": 81, "method": "codestral/x", "params": {}}),
        ({81, None}, {INVALID_REQUEST}),
    ),
    "method a number": (
        frame({"jsonrpc": "2.0", "id": 82, "method": 42, "params": {}}),
        ({82, None}, {INVALID_REQUEST}),
    ),
    "id an object": (
        frame({"jsonrpc": "2.0", "id": {"a": 1}, "method": "codestral/x", "params": {}}),
        ({None}, {INVALID_REQUEST}),
    ),
    "neither method nor result": (framed(b'{"jsonrpc": "2.0"}'), None),
    "a response to nothing": (frame({"jsonrpc": "2.0", "id": 83, "result": None}), None),
    "an error response to nothing": (
        frame({"jsonrpc": "2.0", "id": 84, "error": {"code": -1, "message": "?"}}),
        None,
    ),
    "an empty body": (b"Content-Length: 0\r\n\r\n", None),
    "nested 5,000 deep": (  # deeper than Python's recursion limit
        framed(b'{"jsonrpc": "2.0", "id": 85, "method": "codestral/x", "params": %s}' % DEEP),
        ({85, None}, {PARSE_ERROR, INVALID_REQUEST}),
    ),
    "nested 5,000 deep, a notification": (
        framed(b'{"jsonrpc": "2.0", "method": "textDocument/didChange", "params": %s}' % DEEP),
        ({None}, {PARSE_ERROR, INVALID_REQUEST}),
    ),
    "nested 960 deep in an initialize": (  # parses, but deep enough to trip what comes next
        framed(b'{"jsonrpc": "2.0", "id": 86, "method": "initialize", "params": %s}' % nested(960)),
        ({86, None}, {PARSE_ERROR, INVALID_PARAMS, INVALID_REQUEST}),
    ),
}


@pytest.mark.parametrize(("data", "allowed"), MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_message_gets_a_json_rpc_error_and_changes_nothing(
    fake_codestral: FakeCodestral, tmp_path: Path, data: bytes, allowed: Allowed
) -> None:
    async with started_raw(fake_codestral, tmp_path) as server:
        await open_raw(server, URI, TEXT)
        await server.send(data)
        await expect_text(server, fake_codestral, TEXT)  # it still serves, in order
        replies = [m for m in server.received if "method" not in m and m.get("id") != 1]
        replies = replies[:-1]  # the last one answered expect_text
    if allowed is None:
        assert replies == []
        return
    ids, outcomes = allowed
    assert len(replies) == 1, f"expected one reply, got {replies}"
    [reply] = replies
    error = reply.get("error")
    assert reply.get("id") in ids, reply
    assert (error or {}).get("code") in outcomes, reply
    assert error is None or error["message"]


FRAMING: dict[str, bytes] = {
    "no Content-Length": b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n"
    + json.dumps({"jsonrpc": "2.0", "method": "codestral/x", "params": {}}).encode(),
    "Content-Length not a number": b"Content-Length: many\r\n\r\n"
    + json.dumps({"jsonrpc": "2.0", "method": "codestral/x", "params": {}}).encode(),
    "Content-Length negative": b"Content-Length: -5\r\n\r\n"
    + json.dumps({"jsonrpc": "2.0", "method": "codestral/x", "params": {}}).encode(),
}


@pytest.mark.parametrize("data", FRAMING.values(), ids=FRAMING.keys())
async def test_bad_header_loses_at_most_that_message(
    fake_codestral: FakeCodestral, tmp_path: Path, data: bytes
) -> None:
    """A frame whose length is unknown cannot be read; the next well-framed message can."""
    async with started_raw(fake_codestral, tmp_path) as server:
        await open_raw(server, URI, TEXT)
        await server.send(data)
        await expect_text(server, fake_codestral, TEXT, timeout=5)


async def test_a_header_without_end_is_dropped_and_memory_stays_flat(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    """32 MiB of header bytes and no blank line: skipped in bounded memory, then served again."""
    async with started_raw(fake_codestral, tmp_path) as server:
        await open_raw(server, URI, TEXT)
        await expect_text(server, fake_codestral, TEXT)
        before = resident(server)
        chunk = b"X-Junk: " + b"a" * (1 << 20) + b"\r\n"
        for _ in range(32):
            await server.send(chunk)  # drained: the server has read all but a pipe's worth
        grown = resident(server) - before  # measured while the header is still open
        await expect_text(server, fake_codestral, TEXT)  # the next frame's header ends the junk
        said = logged(server)
    assert grown < 8 << 20, f"resident memory grew by {grown} bytes"
    assert said.count("header over 8192 bytes") == 1


def resident(server: RawServer) -> int:
    """The server process's resident memory, from /proc (the server cannot answer mid-header)."""
    status = Path(f"/proc/{server.proc.pid}/status")
    if not status.exists():
        pytest.skip("needs Linux /proc")
    [line] = [x for x in status.read_text().splitlines() if x.startswith("VmRSS:")]
    return int(line.split()[1]) * 1024


async def test_split_frames_and_extra_headers_are_read_whole(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    """A Content-Length larger than what has arrived so far: the server waits for the rest."""
    async with started_raw(fake_codestral, tmp_path) as server:
        await open_raw(server, URI, TEXT)
        change = {"method": "textDocument/didChange", "params": edit(2, (1, 4, 1, 10), "yield")}
        body = json.dumps({"jsonrpc": "2.0", **change}).encode()
        data = b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n" + framed(
            body + b" " * 7  # JSON may end in whitespace: the last 7 bytes of the length
        )
        for part in (data[:20], data[20:-7], data[-7:]):
            await server.send(part)
            await asyncio.sleep(0.05)  # not a wait for anything: makes the parts arrive apart
        await expect_text(server, fake_codestral, "def f(x):\n    yield x\n")


async def test_unknown_method_raw(fake_codestral: FakeCodestral, tmp_path: Path) -> None:
    async with started_raw(fake_codestral, tmp_path) as server:
        await open_raw(server, URI, TEXT)
        reply = await server.request("codestral/nonsense", {"a": 1})
        assert reply["error"]["code"] == METHOD_NOT_FOUND
        assert "codestral/nonsense" in reply["error"]["message"]
        await expect_text(server, fake_codestral, TEXT)
