"""The API key: a missing or refused one is reported once, and no key ever reaches a log.

Backend faults (status codes, broken streams, timeouts, TLS) are in `test_faults.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.conftest import ServerFactory, inline, items, open_doc
from tests.fake_codestral import FakeCodestral

URI = "file:///w/a.py"
FAST = {"debounceMs": 0, "debounceMaxMs": 0}


def server_log(client: LanguageClient) -> str:
    log: Path = client.log_file  # type: ignore[attr-defined]
    return log.read_text(encoding="utf-8")


def everything_the_server_said(client: LanguageClient) -> str:
    shown = [m.message for m in client.messages]
    logged = [m.message for m in client.log_messages]
    return "\n".join([server_log(client), *shown, *logged])


async def status(client: LanguageClient) -> dict[str, Any]:
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="codestral.status")
    )
    assert isinstance(result, dict)
    return result


def change_settings(client: LanguageClient, values: dict[str, object]) -> None:
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"codestral": values})
    )


async def test_a_refused_key_is_sent_once_then_calls_stop_until_the_settings_change(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    wrong = "wrong-key-4f1e9d2c7b"
    async with start_server(env={"CODESTRAL_API_KEY": wrong}, init_options=FAST) as client:
        open_doc(client, URI, "x = ")
        for _ in range(3):
            assert items(await inline(client, URI, 0, 4)) == []
        assert [r.status for r in fake_codestral.requests] == [401]  # then no call at all
        [message] = client.messages
        assert "CODESTRAL_API_KEY" in message.message
        assert "401" in message.message
        stopped = (await status(client))["stopped"]
        assert "HTTP 401" in stopped
        change_settings(client, {})  # nothing changed: still stopped
        assert items(await inline(client, URI, 0, 4)) == []
        assert len(fake_codestral.requests) == 1
        change_settings(client, {"apiKey": fake_codestral.api_key})  # the user fixed it
        assert items(await inline(client, URI, 0, 4))
        assert [r.status for r in fake_codestral.requests] == [401, 200]
        assert (await status(client))["stopped"] is None
        said = everything_the_server_said(client)
    assert wrong not in said
    assert fake_codestral.api_key not in said
    assert "refused the API key" in said
    assert server_log(client).count("refused the API key") == 1  # logged once


async def test_missing_key_is_said_once_and_nothing_goes_out_until_one_is_set(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    env = {"CODESTRAL_API_KEY": None}
    async with start_server(env=env, init_options={"provider": "langdock", **FAST}) as client:
        open_doc(client, URI, "x = ")
        for _ in range(3):
            assert items(await inline(client, URI, 0, 4)) == []
        [message] = client.messages
        assert "LANGDOCK_API_KEY" in message.message
        assert "no API key" in (await status(client))["stopped"]
        assert fake_codestral.requests == []
        change_settings(client, {"provider": "codestral", "apiKey": fake_codestral.api_key})
        assert items(await inline(client, URI, 0, 4))
        assert len(fake_codestral.requests) == 1
        assert (await status(client))["stopped"] is None
        assert len(client.messages) == 1
    assert server_log(client).count("no API key for provider") == 1


async def test_any_settings_change_lets_the_calls_try_again(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    """The stop lasts until the settings change; a key still refused then is said again (it is
    news about the new settings), and the calls stop again."""
    async with start_server(env={"CODESTRAL_API_KEY": "wrong-key-4f1e9d2c7b"}) as client:
        open_doc(client, URI, "x = ")
        assert items(await inline(client, URI, 0, 4)) == []
        change_settings(client, {"temperature": 0.1})
        assert items(await inline(client, URI, 0, 4)) == []
        assert items(await inline(client, URI, 0, 4)) == []
        assert [r.status for r in fake_codestral.requests] == [401, 401]
        assert len(client.messages) == 2


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
