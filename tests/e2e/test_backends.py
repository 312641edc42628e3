"""The same cases against every backend's contract, as the fake plays it: completion (JSON and
streamed), token counts in stats, errors, which key goes where, `doctor` and `complete`."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tests.e2e.conftest import ServerFactory, items, open_doc, run_cli, send_inline, server_env
from tests.fake_codestral import FIM_PATH, FakeCodestral, Reply, count_tokens
from tests.fake_dialects import OpenAI


@dataclass(frozen=True)
class Backend:
    provider: str
    path: str  # where the fake receives its calls
    model: str
    endpoint: Callable[[FakeCodestral], str]  # the endpoint setting for the fake
    prefix: Callable[[dict[str, Any]], str]  # the text before the cursor, in the body sent

    def options(self, fake: FakeCodestral) -> dict[str, Any]:
        return {"provider": self.provider, "endpoint": self.endpoint(fake), "model": self.model}

    def __str__(self) -> str:
        return self.provider


BACKENDS = [
    Backend("codestral", FIM_PATH, "codestral-latest", lambda f: f.url, lambda b: b["prompt"]),
    Backend("ollama", "/api/generate", "codestral", lambda f: f.base_url, lambda b: b["prompt"]),
    Backend("llamacpp", "/infill", "codestral", lambda f: f.base_url, lambda b: b["input_prefix"]),
    Backend(
        "openai",
        "/v1/completions",
        "codestral",
        lambda f: f.base_url + "/v1/completions",
        lambda b: b["prompt"],
    ),
]
LOCAL = [b for b in BACKENDS if b.provider != "codestral"]
BY_NAME = {b.provider: b for b in BACKENDS}
FAST = {"debounceMs": 0, "debounceMaxMs": 0, "cacheSize": 0}
URI = "file:///w/add.py"
TEXT = "def add(a, b):\n    \n"


async def _ask(client: Any) -> list[types.InlineCompletionItem]:
    return items(await send_inline(client, URI, 1, 4, invoked=True))


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
@pytest.mark.parametrize("backend", BACKENDS, ids=str)
async def test_a_completion_with_its_token_counts(
    start_server: ServerFactory, fake_codestral: FakeCodestral, backend: Backend, stream: bool
) -> None:
    options = {**FAST, **backend.options(fake_codestral), "stream": stream}
    async with start_server(init_options=options) as client:
        open_doc(client, URI, TEXT)
        [item] = await _ask(client)
        stats = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codestral.stats")
        )
    assert item.insert_text == "return 42"
    [request] = fake_codestral.requests
    assert request.path == backend.path
    assert backend.prefix(request.body) == "def add(a, b):\n    "
    assert request.body["stream"] is stream
    usage = stats["models"][backend.model]
    assert usage["promptTokens"] == request.prompt_tokens
    assert usage["completionTokens"] == count_tokens("return 42")


@pytest.mark.parametrize("backend", BACKENDS, ids=str)
async def test_a_server_error_gives_nothing_and_the_next_call_works(
    start_server: ServerFactory, fake_codestral: FakeCodestral, backend: Backend
) -> None:
    fake_codestral.enqueue(Reply(500, {"error": "the GPU fell over"}))
    async with start_server(init_options={**FAST, **backend.options(fake_codestral)}) as client:
        open_doc(client, URI, TEXT)
        assert await _ask(client) == []
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codestral.status")
        )
        [item] = await _ask(client)
    assert status["lastError"]["kind"] == "server"
    assert "the GPU fell over" in status["lastError"]["message"]
    assert item.insert_text == "return 42"


@pytest.mark.parametrize("backend", BACKENDS, ids=str)
async def test_a_stream_cut_short_gives_nothing(
    start_server: ServerFactory, fake_codestral: FakeCodestral, backend: Backend
) -> None:
    fake_codestral.enqueue(Reply(omit_done=True, cut_after_chunks=2))
    async with start_server(init_options={**FAST, **backend.options(fake_codestral)}) as client:
        open_doc(client, URI, TEXT)
        assert await _ask(client) == []
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codestral.status")
        )
    assert status["lastError"]["kind"] in ("invalid_response", "unavailable")


@pytest.mark.parametrize("backend", LOCAL, ids=str)
async def test_a_local_server_gets_no_key_that_is_not_its_own(
    start_server: ServerFactory, fake_codestral: FakeCodestral, backend: Backend
) -> None:
    """$CODESTRAL_API_KEY and $MISTRAL_API_KEY are set; neither goes to a local server."""
    env = {"MISTRAL_API_KEY": "mistral-key-0123456789"}
    async with start_server(
        init_options={**FAST, **backend.options(fake_codestral)}, env=env
    ) as client:
        open_doc(client, URI, TEXT)
        [item] = await _ask(client)
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codestral.status")
        )
    assert item.insert_text == "return 42"
    [request] = fake_codestral.requests
    assert "authorization" not in request.headers
    assert status["apiKey"]["set"] is False


@pytest.mark.parametrize(
    ("backend", "variable"),
    [
        (BY_NAME["llamacpp"], "LLAMA_API_KEY"),
        (BY_NAME["openai"], "OPENAI_API_KEY"),
    ],
    ids=str,
)
async def test_a_local_server_that_wants_a_key_gets_its_own(
    start_server: ServerFactory, fake_codestral: FakeCodestral, backend: Backend, variable: str
) -> None:
    fake_codestral.local_key = "local-key-0123456789"
    options = {**FAST, **backend.options(fake_codestral)}
    async with start_server(init_options=options, env={variable: "local-key-0123456789"}) as c:
        open_doc(c, URI, TEXT)
        [item] = await _ask(c)
    assert item.insert_text == "return 42"
    [request] = fake_codestral.requests
    assert request.headers["authorization"] == "Bearer local-key-0123456789"


async def test_ollama_without_the_model_says_to_pull_it(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    environ = server_env(tmp_path, {"CODESTRAL_API_KEY": fake_codestral.api_key})
    args = ["--provider", "ollama", "--endpoint", fake_codestral.base_url, "--model", "qwen-x"]
    ran = await run_cli("doctor", *args, env=environ)
    assert ran.code == 1
    text = re.sub(r"\s+", " ", ran.out)
    assert "GET " + fake_codestral.base_url + "/api/version: HTTP 200" in text
    assert "HTTP 404" in text
    assert "run `ollama pull qwen-x`" in text


async def test_vllm_refuses_a_suffix_and_fim_template_writes_the_prompt_out(
    start_server: ServerFactory, fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    fake_codestral.dialects["/v1/completions"] = OpenAI(reject_suffix=True)
    environ = server_env(tmp_path, {"CODESTRAL_API_KEY": fake_codestral.api_key})
    args = ["--provider", "openai", "--endpoint", fake_codestral.base_url + "/v1/completions"]
    ran = await run_cli("doctor", *args, env=environ)
    assert ran.code == 1
    assert "set fimTemplate" in re.sub(r"\s+", " ", ran.out)

    options = {**FAST, **BY_NAME["openai"].options(fake_codestral), "fimTemplate": "codestral"}
    async with start_server(init_options=options) as client:
        open_doc(client, URI, "x = 1\n    \nprint(x)\n")
        [item] = items(await send_inline(client, URI, 1, 4, invoked=True))
    assert item.insert_text == "return 42"
    body = fake_codestral.requests[-1].body
    assert body["prompt"] == "<s>[SUFFIX]\nprint(x)\n[PREFIX]x = 1\n    "
    assert "suffix" not in body


@pytest.mark.parametrize("backend", BACKENDS, ids=str)
async def test_doctor_and_complete_work_with_every_backend(
    fake_codestral: FakeCodestral, tmp_path: Path, backend: Backend
) -> None:
    environ = server_env(tmp_path, {"CODESTRAL_API_KEY": fake_codestral.api_key})
    args = ["--provider", backend.provider, "--endpoint", backend.endpoint(fake_codestral)]
    args += ["--model", backend.model]
    ran = await run_cli("doctor", *args, env=environ)
    assert ran.code == 0, ran.out
    assert "OK: the endpoint answered" in ran.out
    assert re.search(r"usage +prompt \d+ \+ completion \d+", ran.out)
    source = tmp_path / "add.py"
    source.write_text(TEXT, encoding="utf-8")
    ran = await run_cli("complete", *args, f"{source}:2:5", env=environ)
    assert (ran.code, ran.out) == (0, "return 42\n"), ran.err
    assert {r.path for r in fake_codestral.requests} >= {backend.path}
    if backend.provider != "codestral":
        assert all("authorization" not in r.headers for r in fake_codestral.requests)


@pytest.mark.parametrize(
    ("backend", "fix"),
    [
        (BY_NAME["ollama"], "ollama serve"),
        (BY_NAME["llamacpp"], "llama-server -m"),
        (BY_NAME["openai"], "start the server"),
    ],
    ids=str,
)
async def test_doctor_says_how_to_start_a_local_server_that_is_not_running(
    tmp_path: Path, backend: Backend, fix: str
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    closed = FakeCodestral(port=port)  # never started
    environ = server_env(tmp_path)
    args = ["--provider", backend.provider, "--endpoint", backend.endpoint(closed)]
    ran = await run_cli("doctor", *args, env=environ)
    assert ran.code == 1
    assert fix in re.sub(r"\s+", " ", ran.out)


async def test_llamacpp_gets_each_other_file_in_input_extra_with_its_path(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    billing = "def invoice_total(lines, tax_rate):\n    return sum(lines) * (1 + tax_rate)\n"
    tax = "def tax_rate(lines):\n    return 0.2 * len(lines)\n"
    line = "total = invoice_total(lines, "
    async with start_server(
        init_options={**FAST, **BY_NAME["llamacpp"].options(fake_codestral)},
        root_uri="file:///w",
    ) as client:
        open_doc(client, "file:///w/billing.py", billing)
        open_doc(client, "file:///w/lib/tax.py", tax)
        open_doc(client, "file:///w/main.py", "lines = load()\n" + line)
        for other in ("file:///w/billing.py", "file:///w/lib/tax.py"):  # each waits until
            await send_inline(client, other, 0, 0, invoked=True)  # it may go: then a snippet
        assert items(await send_inline(client, "file:///w/main.py", 1, len(line), invoked=True))
    body = fake_codestral.requests[-1].body
    # One entry per file, named relative to the workspace root; llama.cpp writes the separators.
    assert sorted((e["filename"], e["text"]) for e in body["input_extra"]) == [
        ("billing.py", billing),
        ("lib/tax.py", tax),
    ]
    assert body["input_prefix"] == "lines = load()\n" + line
