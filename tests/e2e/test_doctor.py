"""`codestral-lsp doctor` against the fake: what it shows, the advice per failure, exit codes."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from codestral_lsp.commands.doctor import PROBE_PROMPT
from tests.e2e.conftest import Ran, run_cli, server_env
from tests.fake_codestral import ERROR_BODIES, FakeCodestral, Reply, WorkspaceLimit


async def doctor(
    fake: FakeCodestral, tmp_path: Path, *args: str, env: dict[str, str | None] | None = None
) -> Ran:
    environ = server_env(tmp_path, {"CODESTRAL_API_KEY": fake.api_key, **(env or {})})
    ran = await run_cli("doctor", "--endpoint", fake.url, *args, env=environ)
    assert fake.api_key not in ran.out + ran.err
    return ran


def flat(text: str) -> str:
    """``text`` with its line wrapping undone: advice is wrapped for the terminal."""
    return re.sub(r"\s+", " ", text)


def setting(out: str, key: str) -> str:
    """The row of the settings table for ``key``, without the key."""
    row = next(line for line in out.splitlines() if line.strip().startswith(key + " "))
    return row.strip()[len(key) :].strip()


async def test_passes_and_shows_latency_usage_and_the_key_only_as_set(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    fake_codestral.completion = "a + b"
    fake_codestral.limit = WorkspaceLimit(rpm=500, tpm=60_000)
    ran = await doctor(fake_codestral, tmp_path)
    assert ran.code == 0, ran.out + ran.err
    assert setting(ran.out, "apiKey") == "set (from $CODESTRAL_API_KEY)"
    assert setting(ran.out, "endpoint") == f'"{fake_codestral.url}"  (from command line)'
    assert setting(ran.out, "model").endswith("(default)")
    assert re.search(r"latency +\d+ ms", ran.out)
    assert "completion   'a + b' (finish_reason stop)" in ran.out
    assert re.search(r"usage +prompt \d+ \+ completion 5 = \d+ tokens", ran.out)
    assert "x-ratelimit-remaining-req-minute: 499" in ran.out
    assert "OK:" in ran.out
    (request,) = fake_codestral.requests
    assert request.body["prompt"] == PROBE_PROMPT
    assert (request.body["suffix"], request.body["max_tokens"], request.body["stream"]) == (
        "",
        8,
        False,
    )
    assert request.headers["authorization"] == f"Bearer {fake_codestral.api_key}"


@pytest.mark.parametrize(
    ("provider", "variable"),
    [(None, "CODESTRAL_API_KEY"), ("mistral", "MISTRAL_API_KEY"), ("langdock", "LANGDOCK_API_KEY")],
)
async def test_no_key_fails_naming_the_variable_to_set(
    fake_codestral: FakeCodestral, tmp_path: Path, provider: str | None, variable: str
) -> None:
    args = ["--provider", provider] if provider else []
    ran = await doctor(fake_codestral, tmp_path, *args, env={"CODESTRAL_API_KEY": None})
    assert ran.code == 1
    assert setting(ran.out, "apiKey") == f"not set (no ${variable})"
    assert f"FAILED: no API key for provider '{provider or 'codestral'}'" in ran.out
    assert f"Fix: set {variable} to " in ran.out
    assert "choose the provider your key belongs to with --provider" in flat(ran.out)
    assert fake_codestral.requests == []


@pytest.mark.parametrize(
    ("provider", "suggested"),
    [("codestral", "--provider mistral"), ("mistral", "--provider codestral")],
)
async def test_a_refused_key_is_explained_as_a_provider_mismatch(
    fake_codestral: FakeCodestral, tmp_path: Path, provider: str, suggested: str
) -> None:
    wrong = "wrong-key-but-long-enough"
    env = {"CODESTRAL_API_KEY": wrong, "MISTRAL_API_KEY": wrong}
    ran = await doctor(fake_codestral, tmp_path, "--provider", provider, env=env)
    assert ran.code == 1
    text = flat(ran.out)
    assert "FAILED: HTTP 401 from 127.0.0.1: Unauthorized" in text
    assert "a Codestral key gets 401 on api.mistral.ai and the reverse" in text
    assert f"use {suggested}" in text
    assert wrong not in ran.out + ran.err


async def test_an_unreachable_endpoint_names_the_host_and_proxy_hints(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    closed = f"http://127.0.0.1:{port}/v1/fim/completions"
    ran = await doctor(fake_codestral, tmp_path, "--endpoint", closed)
    assert ran.code == 1
    text = flat(ran.out)
    assert "FAILED: cannot reach 127.0.0.1" in text
    assert "HTTPS_PROXY" in text
    assert "caBundle" in text


async def test_rate_limited_says_how_long_to_wait(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    headers = {"Retry-After": "7", "x-ratelimit-remaining-tokens-minute": "0"}
    fake_codestral.enqueue(Reply(429, ERROR_BODIES["requests_rate_limit"], headers=headers))
    ran = await doctor(fake_codestral, tmp_path)
    assert ran.code == 1
    text = flat(ran.out)
    assert "FAILED: HTTP 429 from 127.0.0.1: Requests rate limit exceeded" in text
    assert "retry after 7 s" in text
    assert "Wait or lower usage" in text
    assert "x-ratelimit-remaining-tokens-minute: 0" in ran.out


@pytest.mark.parametrize(
    ("reply", "path", "advice"),
    [
        (None, "/v1/chat/completions", "its path should end in /v1/fim/completions"),
        (Reply(422, ERROR_BODIES["validation_422"]), None, "check the model name"),
        (Reply(200, text="<html>gateway login</html>"), None, "not as a FIM API does"),
    ],
    ids=["404", "422", "not the API"],
)
async def test_a_rejected_request_points_at_the_endpoint_or_model(
    fake_codestral: FakeCodestral,
    tmp_path: Path,
    reply: Reply | None,
    path: str | None,
    advice: str,
) -> None:
    if reply is not None:
        fake_codestral.enqueue(reply)
    args = ["--endpoint", fake_codestral.base_url + path] if path else []
    ran = await doctor(fake_codestral, tmp_path, *args)
    assert ran.code == 1
    assert advice in flat(ran.out)


async def test_sources_of_the_file_the_editor_settings_and_the_command_line(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    config = tmp_path / "codestral.toml"
    config.write_text(
        '[codestral]\nmodel = "codestral-2508"\nregion = "us"\n'
        f'apiKey = "{fake_codestral.api_key}"\n[codestral.headers]\n"X-Team" = "secret-team-id"\n',
        encoding="utf-8",
    )
    editor = json.dumps({"temperature": 0.2, "region": "eu", "colour": "blue"})
    env: dict[str, str | None] = {"CODESTRAL_LSP_CONFIG": str(config), "CODESTRAL_API_KEY": None}
    try:
        ran = await doctor(
            fake_codestral, tmp_path, "--settings", editor, "--model", "m-cli", env=env
        )
    finally:
        config.unlink()  # an input holding the key, not output: the suite's leak check skips it
    assert ran.code == 0, ran.out
    in_file = f"(from the settings file {config})"
    assert setting(ran.out, "model") == '"m-cli"               (from command line)'
    assert setting(ran.out, "temperature").endswith("(from initializationOptions)")
    assert setting(ran.out, "region").endswith("(from initializationOptions)")
    assert setting(ran.out, "headers") == f'{{"X-Team": "<hidden>"}}  {in_file}'
    assert setting(ran.out, "apiKey") == (
        f"set (from the apiKey setting in the settings file {config})"
    )
    assert "setting 'colour' from initializationOptions is unknown" in ran.out
    assert "secret-team-id" not in ran.out
    body = fake_codestral.requests[0].body
    assert (body["model"], body["temperature"]) == ("m-cli", 0.2)
    assert fake_codestral.requests[0].headers["x-team"] == "secret-team-id"


@pytest.mark.parametrize(
    "args",
    [["--endpoint", "not-a-url"], ["--settings", "{not json"], ["--provider", "anthropic"]],
)
async def test_bad_usage_exits_2(
    fake_codestral: FakeCodestral, tmp_path: Path, args: list[str]
) -> None:
    ran = await doctor(fake_codestral, tmp_path, *args)
    assert ran.code == 2
    assert fake_codestral.requests == []
