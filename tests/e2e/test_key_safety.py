"""The key and other credentials: never in any output at any verbosity, refused when they cannot
be sent safely, and never sent to a host that a later configuration chose.

Through the real server at -vvv (pygls logs whole messages there) with raw frames, and through
`codestral-lsp doctor`. A refused value carries a marker that must appear nowhere.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import run_cli, server_env
from tests.e2e.rpc import RawServer, raw_server
from tests.fake_codestral import FakeCodestral

URI = "file:///w/key.py"
MARK = "SECRETPART"
CHANGE = "workspace/didChangeConfiguration"


@contextlib.asynccontextmanager
async def loud_server(
    fake: FakeCodestral, tmp_path: Path, env: dict[str, str | None] | None = None
) -> AsyncIterator[RawServer]:
    """The server at -vvv; the settings file points at the fake (the last good endpoint)."""
    config = tmp_path / "config" / "codestral-lsp" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'endpoint = "{fake.url}"\nstream = false\ncacheSize = 0\n', encoding="utf-8")
    environ = server_env(tmp_path, {"CODESTRAL_API_KEY": fake.api_key, **(env or {})})
    async with raw_server(environ, tmp_path / "loud.log", verbosity="-vvv") as server:
        yield server


async def complete(server: RawServer) -> dict[str, Any]:
    doc = {"uri": URI, "languageId": "python", "version": 1, "text": "x = "}
    await server.notify("textDocument/didOpen", {"textDocument": doc})
    params = {
        "textDocument": {"uri": URI},
        "position": {"line": 0, "character": 4},
        "context": {"triggerKind": 1},
    }
    return await server.request("textDocument/inlineCompletion", params)


async def status(server: RawServer) -> dict[str, Any]:
    reply = await server.request("workspace/executeCommand", {"command": "codestral.status"})
    result: dict[str, Any] = reply["result"]
    return result


def everything_said(server: RawServer) -> str:
    """The log file, stderr, and every frame the server wrote to stdout."""
    stderr = server.log_file.with_suffix(".stderr").read_text(encoding="utf-8", errors="replace")
    frames = "\n".join(json.dumps(m, ensure_ascii=False) for m in server.received)
    return server.log_file.read_text(encoding="utf-8", errors="replace") + stderr + frames


def shown(server: RawServer) -> list[str]:
    return [
        m["params"]["message"] for m in server.received if m.get("method") == "window/showMessage"
    ]


async def test_an_api_key_in_initialization_options_is_not_logged_at_vvv(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    """pygls logs the whole initialize request at -vvv, before the server reads its settings."""
    fake_codestral.completion = "1"
    async with loud_server(fake_codestral, tmp_path, {"CODESTRAL_API_KEY": None}) as server:
        await server.initialize({"apiKey": fake_codestral.api_key})
        assert (await complete(server))["result"]["items"]
        await status(server)
    [sent] = fake_codestral.requests
    assert sent.headers["authorization"] == f"Bearer {fake_codestral.api_key}"
    said = everything_said(server)
    assert "Language server initialized" in said  # pygls did log the request (-vvv)
    assert fake_codestral.api_key not in said


def bad_values(url: str) -> dict[str, tuple[str, object, str]]:
    """id: (setting, value, what the message says)."""
    return {
        "key with a line feed": ("apiKey", f"sk-first-half\n{MARK}-second", "line break"),
        "key with a carriage return": ("apiKey", f"sk-first-half\r{MARK}-second", "line break"),
        "key with a NUL": ("apiKey", f"sk-first-half\x00{MARK}", "control character"),
        "key not ASCII": ("apiKey", f"sk-clé-{MARK}-123", "non-ASCII"),
        "key with a space": ("apiKey", f"sk-first {MARK}", "space"),
        "header value not ASCII": ("headers", {"X-Gateway": f"välue-{MARK}"}, "printable ASCII"),
        "header value with CRLF": (
            "headers",
            {"X-Gateway": f"{MARK}\r\nX-Injected: 1"},
            "printable ASCII",
        ),
        "header name not a token": ("headers", {"X Gateway": f"{MARK}-value"}, "RFC 7230"),
        "header name not ASCII": ("headers", {"X-Gatewäy": f"{MARK}-value"}, "RFC 7230"),
        "endpoint with user:password": (
            "endpoint",
            url.replace("http://", f"http://user:{MARK}@"),
            "credentials",
        ),
        "endpoint with ?api-key=": ("endpoint", f"{url}?api-key={MARK}", "credentials"),
        "endpoint with ?token=": ("endpoint", f"{url}?x=1&token={MARK}", "credentials"),
        "endpoint with ?sig=": ("endpoint", f"{url}?sv=2024&sig={MARK}", "credentials"),
        "endpoint with ?code=": ("endpoint", f"{url}?code={MARK}", "credentials"),
        "endpoint with #access_token=": ("endpoint", f"{url}#access_token={MARK}", "credentials"),
    }


CASES = list(bad_values("http://127.0.0.1:1/v1/fim/completions"))


@pytest.mark.parametrize("where", ["initializationOptions", CHANGE])
@pytest.mark.parametrize("case", CASES)
async def test_a_credential_that_cannot_be_sent_safely_is_refused_unechoed(
    fake_codestral: FakeCodestral, tmp_path: Path, case: str, where: str
) -> None:
    """Refused at validation with one message naming the field; the server keeps working with
    the last good value; the refused value appears nowhere (log, stderr, editor, status)."""
    key, value, says = bad_values(fake_codestral.url)[case]
    fake_codestral.completion = "2"
    async with loud_server(fake_codestral, tmp_path) as server:
        if where == CHANGE:
            await server.initialize({})
            await server.notify(CHANGE, {"settings": {"codestral": {key: value}}})
        else:
            await server.initialize({key: value})
        reply = await complete(server)
        assert reply["result"]["items"], reply  # still working, with the last good values
        state = await status(server)
    [message] = [m for m in shown(server) if f"'{key}'" in m]
    assert says in message
    assert "last good value" in message
    [sent] = fake_codestral.requests
    assert sent.headers["authorization"] == f"Bearer {fake_codestral.api_key}"
    assert state["endpointHost"] == fake_codestral.base_url.removeprefix("http://")
    said = everything_said(server) + json.dumps(state)
    assert MARK not in said
    assert "Traceback" not in said


async def test_a_key_from_the_environment_that_cannot_be_sent_is_explained_once(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    async with loud_server(fake_codestral, tmp_path, {"CODESTRAL_API_KEY": "sk-clé"}) as server:
        await server.initialize({})
        for _ in range(2):
            reply = await complete(server)
            assert "error" not in reply, reply  # no -32603 and traceback: an empty answer
    assert [m for m in shown(server) if "non-ASCII" in m] == [
        "codestral-lsp: the API key from $CODESTRAL_API_KEY contains non-ASCII characters, "
        "which an HTTP header cannot carry: copy it again."
    ]
    assert fake_codestral.requests == []
    assert "Traceback" not in everything_said(server)


@pytest.mark.parametrize("case", CASES)
async def test_doctor_refuses_the_same_and_never_echoes_them(
    fake_codestral: FakeCodestral, tmp_path: Path, case: str
) -> None:
    key, value, says = bad_values(fake_codestral.url)[case]
    env = server_env(tmp_path, {"CODESTRAL_API_KEY": fake_codestral.api_key})
    settings = json.dumps(
        {"endpoint": fake_codestral.url, key: value} if key != "endpoint" else {key: value}
    )
    ran = await run_cli("-vvv", "doctor", "--settings", settings, env=env)
    assert f"setting '{key}'" in ran.out
    assert says in ran.out
    assert MARK not in ran.out + ran.err
    assert "Traceback" not in ran.out + ran.err
    if key != "endpoint":  # the last good values: the environment's key, the fake
        assert ran.code == 0, ran.out


async def test_doctor_with_a_key_that_cannot_be_sent(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    env = server_env(tmp_path, {"CODESTRAL_API_KEY": f"sk-{MARK}\nrest"})
    ran = await run_cli("doctor", "--endpoint", fake_codestral.url, env=env)
    assert ran.code == 1
    assert "FAILED: the API key from $CODESTRAL_API_KEY contains a line break" in ran.out
    assert MARK not in ran.out + ran.err
    assert fake_codestral.requests == []


async def test_a_later_configuration_cannot_send_the_key_to_another_host(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    """After the first completion the key goes to that host only, unless the configuration that
    names another host brings its own key."""
    fake_codestral.completion = "3"
    async with FakeCodestral(api_key="attackers-own-key") as attacker:
        attacker.completion = "4"
        async with loud_server(fake_codestral, tmp_path) as server:
            await server.initialize({})
            assert (await complete(server))["result"]["items"]
            await server.notify(CHANGE, {"settings": {"endpoint": attacker.url}})
            assert (await complete(server))["result"]["items"]  # refused: still the fake
            redirect = {"endpoint": attacker.url, "apiKey": "attackers-own-key"}
            await server.notify(CHANGE, {"settings": redirect})
            assert (await complete(server))["result"]["items"]
    assert len(fake_codestral.requests) == 2
    [stolen] = attacker.requests  # only the one that brought its own key
    assert stolen.headers["authorization"] == "Bearer attackers-own-key"
    [refusal] = [m for m in shown(server) if "'endpoint'" in m]
    assert attacker.base_url.removeprefix("http://") in refusal
    assert "apiKey" in refusal
