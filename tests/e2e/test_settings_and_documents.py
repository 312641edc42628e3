"""Settings from every source, and documents that survive bad edits, through the real server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pytest_lsp import LanguageClient

from tests.e2e.conftest import ServerFactory, inline, items, open_doc, send_inline
from tests.fake_codestral import FakeCodestral, Reply

URI = "file:///w/a.py"


def change(
    client: object, uri: str, version: int, text: str, rng: tuple[int, int, int, int] | None
) -> None:
    event: types.TextDocumentContentChangeEvent
    if rng is None:
        event = types.TextDocumentContentChangeWholeDocument(text=text)
    else:
        event = types.TextDocumentContentChangePartial(
            range=types.Range(
                start=types.Position(line=rng[0], character=rng[1]),
                end=types.Position(line=rng[2], character=rng[3]),
            ),
            text=text,
        )
    client.text_document_did_change(  # type: ignore[attr-defined]
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[event],
        )
    )


async def test_did_change_configuration_takes_effect(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    async with start_server(init_options={"model": "m-init", "temperature": 0.1}) as client:
        open_doc(client, URI, "x = ")
        await inline(client, URI, 0, 4)
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"codestral": {"model": "m-changed"}})
        )
        await inline(client, URI, 0, 4)
        # `settings` itself is ours when it has no `codestral` key (Helix, plain clients).
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"model": "m-flat"})
        )
        await inline(client, URI, 0, 4)
    models = [r.body["model"] for r in fake_codestral.requests]
    assert models == ["m-init", "m-changed", "m-flat"]
    # The change replaced the editor's layer; the init options stay below it.
    assert fake_codestral.requests[1].body["temperature"] == 0.1


async def test_bad_value_is_shown_and_the_last_good_value_stays(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    async with start_server(init_options={"temperature": 0.2}) as client:
        open_doc(client, URI, "x = ")
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"temperature": "hot", "maxTokens": 12})
        )
        await inline(client, URI, 0, 4)
        [message] = client.messages
    assert message.type == types.MessageType.Warning
    assert "'temperature'" in message.message
    assert "must be a number" in message.message
    body = fake_codestral.requests[0].body
    assert (body["temperature"], body["max_tokens"]) == (0.2, 12)


async def test_toml_file_is_read_and_editor_options_win(
    start_server: ServerFactory, fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    config = tmp_path / "codestral.toml"
    config.write_text('model = "m-file"\ntemperature = 0.5\n', encoding="utf-8")
    env = {"CODESTRAL_LSP_CONFIG": str(config)}
    async with start_server(env=env, init_options={"temperature": 0.0}) as client:
        open_doc(client, URI, "x = ")
        assert items(await inline(client, URI, 0, 4))
    body = fake_codestral.requests[0].body
    assert (body["model"], body["temperature"]) == ("m-file", 0.0)


async def test_unknown_documents_and_bad_ranges_are_ignored(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    async with start_server() as client:
        change(client, "file:///w/never-opened.py", 2, "boom", (0, 0, 0, 0))
        open_doc(client, URI, "abc\ndef")
        change(client, URI, 2, "X", (7, 0, 7, 1))  # line far past the end
        change(client, URI, 3, "X", (1, 2, 0, 1))  # ends before it starts
        change(client, URI, 4, "!", (1, 3, 1, 3))  # a good edit still applies
        assert items(await inline(client, URI, 1, 4))
        said = (client.log_file).read_text(encoding="utf-8")  # type: ignore[attr-defined]
    assert fake_codestral.requests[0].body["prompt"] == "abc\ndef!"
    assert "never-opened.py" in said


async def test_full_text_sync_and_line_ends(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    async with start_server(encodings=["utf-8"]) as client:
        open_doc(client, URI, "old")
        change(client, URI, 2, "a\r\nb\rc\x0cd\nx = ", None)
        # A form feed is not a line end in LSP: line 2 is "c\x0cd", line 3 is "x = ".
        change(client, URI, 3, "é", (2, 1, 2, 2))
        assert items(await inline(client, URI, 3, 4))
    assert fake_codestral.requests[0].body["prompt"] == "a\r\nb\rcéd\nx = "


async def test_requests_for_unknown_documents_and_positions_get_clear_errors(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    async with start_server() as client:
        open_doc(client, URI, "x = 1\n")
        for uri, line, message in [
            ("file:///w/unknown.py", 0, "document is not open"),
            (URI, 9, "bad position 9:0"),
        ]:
            with pytest.raises(JsonRpcInvalidParams, match=message):
                await inline(client, uri, line, 0)
        # Past the end of a line clamps to the line end (LSP spec), and the server is still up.
        assert items(await inline(client, URI, 0, 99))
    assert fake_codestral.requests[0].body["prompt"] == "x = 1"


async def stats(client: LanguageClient) -> dict[str, Any]:
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="codestral.stats")
    )
    assert isinstance(result, dict)
    return result


KEY_FILE = """import os

PEM = '''-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEA7bq0uJ3xk9Zs
-----END RSA PRIVATE KEY-----'''


def load_key(path):
    return open(path).read()
"""


async def test_closing_every_document_leaves_nothing_behind(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    """What every stage keeps about a document (its exclusion decision, request and call,
    typing rhythm, recent completions, secrets, snippet chunks, edit spots) goes at its close."""
    options = {"debounceMs": 0, "debounceMaxMs": 0, "extraContextShare": 0.3}
    uris = [f"file:///w/m{i}.py" for i in range(24)] + ["file:///w/.env"]
    async with start_server(init_options=options) as client:
        for n, uri in enumerate(uris):
            open_doc(client, uri, KEY_FILE + f"\ndef load_{n}(path):\n    return load_key(\n")
            change(client, uri, 2, "p", (12, 20, 12, 20))
            await inline(client, uri, 12, 21)
        # One more whose call is still running when its document closes.
        gate = asyncio.Event()
        fake_codestral.enqueue(Reply(gate=gate))
        waiting = send_inline(client, uris[0], 1, 0)
        await fake_codestral.wait_for_requests(len(uris))  # the .env never went upstream
        held = (await stats(client))["held"]
        assert held["documents"] == len(uris)
        assert all(held[k] > 0 for k in ("states", "cached", "editSpots", "indexedDocuments"))
        assert held["secretLines"] > 0
        for uri in uris:
            client.text_document_did_close(
                types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=uri))
            )
        assert items(await waiting) == []  # answered at the close, not when the call ends
        await fake_codestral.wait_until(lambda fake: fake.requests[-1].aborted)
        after = await stats(client)
        assert after["documents"] == 0
        assert after["held"] == dict.fromkeys(held, 0)
        gate.set()
