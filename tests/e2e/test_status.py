"""Seeing what it does: $/progress for slow calls, the status command, per-request log lines."""

from __future__ import annotations

import asyncio
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.conftest import ServerFactory, items, open_doc, send_inline
from tests.fake_codestral import ERROR_BODIES, FakeCodestral, Reply

URI = "file:///w/slow.py"
FAST = {"debounceMs": 0, "debounceMaxMs": 0, "cacheSize": 0}
PROGRESS = types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=True))


def kinds(client: LanguageClient) -> dict[str, list[str]]:
    """Each progress token's sequence of report kinds (begin, report, end)."""
    return {
        str(token): [str(getattr(value, "kind", "?")) for value in reports]
        for token, reports in client.progress_reports.items()
    }


async def until(client: LanguageClient, condition: Any, what: str, timeout: float = 10) -> None:
    """Poll ``condition`` on the client's records until it holds, for at most ``timeout`` s.

    Not ``wait_for_notification`` under a timeout: the timeout cancels pytest-lsp's future, and
    a $/progress arriving before the next wait finds it cancelled and fails in the client's
    reader (seen once in CI as a CANCELLED error on the next request)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"no {what} within {timeout} s: {kinds(client)}")
        await asyncio.sleep(0.02)


async def test_a_slow_call_shows_progress_until_it_ends(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    gate = asyncio.Event()
    fake_codestral.enqueue(Reply(gate=gate, completion="done()"))
    async with start_server(init_options=FAST, capabilities=PROGRESS) as client:
        open_doc(client, URI, "x = ")
        pending = send_inline(client, URI, 0, 4, invoked=True)
        await fake_codestral.wait_for_requests(1)
        await until(client, lambda: any("begin" in k for k in kinds(client).values()), "a begin")
        [(token, sequence)] = kinds(client).items()
        assert sequence == ["begin"]
        gate.set()
        assert [i.insert_text for i in items(await pending)] == ["done()"]
        await until(client, lambda: kinds(client)[token] == ["begin", "end"], "the end")
        begin = client.progress_reports[token][0]
        assert isinstance(begin, types.WorkDoneProgressBegin)
        assert begin.title == "Codestral"
        assert "slow.py" in (begin.message or "")


async def test_an_abandoned_call_ends_its_progress_and_fast_calls_show_none(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    fake_codestral.enqueue(Reply(gate=asyncio.Event()))  # never answers
    async with start_server(init_options=FAST, capabilities=PROGRESS) as client:
        open_doc(client, URI, "x = 1\n")
        first = send_inline(client, URI, 0, 5)
        await fake_codestral.wait_for_requests(1)
        await until(client, lambda: len(kinds(client)) == 1, "a progress")
        # A request for another state supersedes the first: its call is abandoned.
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text="y = ")],
            )
        )
        assert items(await send_inline(client, URI, 0, 4))  # answered at once by the fake
        assert await first is None
        await until(client, lambda: list(kinds(client).values()) == [["begin", "end"]], "one ended")
    # The fast second call showed no progress; never two at once for the document.
    assert len(kinds(client)) == 1


async def test_status_says_where_who_and_what_went_wrong(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    fake_codestral.enqueue(Reply(503, ERROR_BODIES["error_object_nested"]))
    options = {**FAST, "model": "codestral-2508"}
    async with start_server(init_options=options) as client:
        open_doc(client, URI, "x = ")
        assert items(await send_inline(client, URI, 0, 4, invoked=True)) == []
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codestral.status")
        )
        logged = client.log_file.read_text(encoding="utf-8")  # type: ignore[attr-defined]
    assert status["provider"] == "codestral"
    assert status["model"] == "codestral-2508"
    assert status["endpointHost"] == fake_codestral.base_url.removeprefix("http://")
    assert status["apiKey"] == {"set": True, "source": "$CODESTRAL_API_KEY"}
    assert status["coolDownSeconds"] == 0
    assert status["holding"] is None
    assert status["lastError"]["kind"] == "server"
    assert "HTTP 503" in status["lastError"]["message"]
    assert status["lastError"]["at"].endswith("+00:00")
    assert status["stats"]["requests"] == {"empty": 1}
    # -v: one line per request with its trigger, sizes, source, timings; -vv: the prompt.
    assert "done source=empty" in logged
    assert "trigger=invoked prompt=4 suffix=0 extra=0" in logged
    assert "prompt 'x = ' suffix ''" in logged
    assert fake_codestral.api_key not in str(status) + logged
