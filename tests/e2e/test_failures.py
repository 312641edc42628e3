"""The API key: a missing or refused one is reported once, and no key ever reaches a log.

Backend faults (status codes, broken streams, timeouts, TLS) are in `test_faults.py`.
"""

from __future__ import annotations

from pathlib import Path

from pytest_lsp import LanguageClient

from tests.e2e.conftest import ServerFactory, inline, items, open_doc
from tests.fake_codestral import FakeCodestral

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
