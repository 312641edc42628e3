"""Backend failures never reach the editor as a hang or a crash, and the key never leaks."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from pytest_lsp import LanguageClient

from tests.e2e.conftest import ServerFactory, inline, items, open_doc, send_inline
from tests.fake_codestral import ERROR_BODIES, FakeCodestral, Reply

URI = "file:///w/a.py"


def everything_the_server_said(client: LanguageClient) -> str:
    log: Path = client.log_file  # type: ignore[attr-defined]
    shown = [m.message for m in client.messages]
    logged = [m.message for m in client.log_messages]
    return "\n".join([log.read_text(encoding="utf-8"), *shown, *logged])


async def test_wrong_key_tells_the_user_once_and_never_shows_the_key(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    wrong = "wrong-key-4f1e9d2c7b"
    async with start_server(env={"CODESTRAL_API_KEY": wrong}) as client:
        open_doc(client, URI, "x = ")
        for _ in range(3):
            assert items(await inline(client, URI, 0, 4)) == []
        assert len(fake_codestral.requests) == 3
        assert all(r.status == 401 for r in fake_codestral.requests)
        [message] = client.messages
        assert "CODESTRAL_API_KEY" in message.message
        assert "401" in message.message
        said = everything_the_server_said(client)
    assert wrong not in said
    assert "refused the API key" in said


async def test_missing_key_names_the_variable_without_calling_out(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    env = {"CODESTRAL_API_KEY": None}
    async with start_server(env=env, init_options={"provider": "langdock"}) as client:
        open_doc(client, URI, "x = ")
        assert items(await inline(client, URI, 0, 4)) == []
        assert items(await inline(client, URI, 0, 4)) == []
        [message] = client.messages
    assert "LANGDOCK_API_KEY" in message.message
    assert fake_codestral.requests == []


async def test_api_key_setting_is_used_and_never_logged(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    env = {"CODESTRAL_API_KEY": None}
    async with start_server(env=env, init_options={"apiKey": fake_codestral.api_key}) as client:
        open_doc(client, URI, "x = ")
        assert items(await inline(client, URI, 0, 4))
        said = everything_the_server_said(client)
    assert fake_codestral.requests[0].headers["authorization"].endswith(fake_codestral.api_key)
    assert fake_codestral.api_key not in said


FAULTS: list[tuple[str, Reply]] = [
    (
        "429 with Retry-After",
        Reply(429, ERROR_BODIES["requests_rate_limit"], headers={"Retry-After": "3"}),
    ),
    ("429 rate_limited 1300", Reply(429, ERROR_BODIES["rate_limited_1300"])),
    ("500 error object", Reply(500, ERROR_BODIES["error_object_string_message"])),
    ("502 HTML", Reply(502, text=ERROR_BODIES["html_502"])),
    ("503 nested detail", Reply(503, ERROR_BODIES["error_object_nested"])),
    ("422 validation", Reply(422, ERROR_BODIES["validation_422"])),
    ("200 wrong shape", Reply(200, {"id": "x", "choices": "none"})),
    ("200 not JSON", Reply(200, text="<html>hello</html>")),
    ("stream cut", Reply(cut_after_chunks=1, completion="a b c d e f")),
    ("stream without [DONE]", Reply(omit_done=True, completion="done anyway")),
]


def _reply(fault: Reply) -> Reply:
    # Replies with a body are sent verbatim; give the non-JSON ones a content type.
    if fault.text is not None and "content-type" not in {k.lower() for k in fault.headers}:
        fault.headers["Content-Type"] = "text/html"
    return fault


@pytest.mark.parametrize(("name", "fault"), FAULTS, ids=[n for n, _ in FAULTS])
async def test_fault_gives_an_empty_answer_and_the_next_request_works(
    start_server: ServerFactory, fake_codestral: FakeCodestral, name: str, fault: Reply
) -> None:
    fake_codestral.enqueue(_reply(fault))
    fake_codestral.completion = "fine"
    async with start_server(init_options={"cacheSize": 0}) as client:
        open_doc(client, URI, "x = ")
        first = items(await inline(client, URI, 0, 4))
        if fault.status == 429:
            # A cool-down follows: automatic requests answer empty without a call...
            assert items(await inline(client, URI, 0, 4)) == []
            assert len(fake_codestral.requests) == 1
            # ...while one the user asked for still goes out.
            second = items(await send_inline(client, URI, 0, 4, invoked=True))
        else:
            second = items(await inline(client, URI, 0, 4))
        said = everything_the_server_said(client)
    if name == "stream without [DONE]":
        assert [i.insert_text for i in first] == ["done anyway"]  # finish_reason arrived
    else:
        assert first == []
        assert "no completion" in said or "rate limited" in said
    assert [i.insert_text for i in second] == ["fine"]
    assert client.messages == []  # none of these needs the user's action
    assert fake_codestral.requests[0].status == fault.status


async def test_backend_down_gives_an_empty_answer(start_server: ServerFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    options: dict[str, Any] = {"endpoint": f"http://127.0.0.1:{port}/v1/fim/completions"}
    async with start_server(init_options=options) as client:
        open_doc(client, URI, "x = ")
        assert items(await inline(client, URI, 0, 4)) == []
        assert "cannot reach 127.0.0.1" in everything_the_server_said(client)


async def test_slow_backend_times_out(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    fake_codestral.enqueue(Reply(hang=True))
    async with start_server(init_options={"requestTimeoutMs": 300}) as client:
        open_doc(client, URI, "x = ")
        assert items(await inline(client, URI, 0, 4)) == []
        assert "no answer within 0.3 s" in everything_the_server_said(client)
        await fake_codestral.wait_until(lambda fake: fake.requests[0].aborted)
