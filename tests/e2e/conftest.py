"""End-to-end fixtures: the real server as a subprocess, spoken to over LSP stdio."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient, make_test_lsp_client

from tests.fake_codestral import FakeCodestral

ServerFactory = Callable[..., contextlib.AbstractAsyncContextManager[LanguageClient]]


def server_env(tmp_path: Path, overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The environment of a server under test: no user config, no real keys from the host."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.pop("CODESTRAL_LSP_CONFIG", None)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@pytest.fixture
def start_server(tmp_path: Path, fake_codestral: FakeCodestral) -> ServerFactory:
    """Start `python -m codestral_lsp` against the fake; yields an initialized client.

    Every server logs at -vv to ``tmp_path/server-N.log`` so tests can grep what it wrote.
    """
    counter = iter(range(1, 1000))

    @contextlib.asynccontextmanager
    async def start(
        *,
        init_options: Mapping[str, Any] | None = None,
        env: Mapping[str, str | None] | None = None,
        encodings: list[str] | None = None,
        capabilities: types.ClientCapabilities | None = None,
        root_uri: str | None = None,
    ) -> AsyncIterator[LanguageClient]:
        log = tmp_path / f"server-{next(counter)}.log"
        client = make_test_lsp_client()
        environ = server_env(tmp_path, {"CODESTRAL_API_KEY": fake_codestral.api_key, **(env or {})})
        await client.start_io(
            sys.executable, "-m", "codestral_lsp", "-vv", "--log-file", str(log), env=environ
        )
        if capabilities is None:
            general = types.GeneralClientCapabilities(position_encodings=encodings)
            capabilities = types.ClientCapabilities(general=general if encodings else None)
        options = {"endpoint": fake_codestral.url, **(init_options or {})}
        result = await client.initialize_session(
            types.InitializeParams(
                capabilities=capabilities, initialization_options=options, root_uri=root_uri
            )
        )
        client.server_capabilities = result.capabilities  # type: ignore[attr-defined]
        client.log_file = log  # type: ignore[attr-defined]
        try:
            yield client
        finally:
            await client.shutdown_session()
            await client.stop()

    return start


def open_doc(client: LanguageClient, uri: str, text: str, language: str = "python") -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id=language, version=1, text=text
            )
        )
    )


async def inline(
    client: LanguageClient, uri: str, line: int, character: int
) -> types.InlineCompletionList | list[types.InlineCompletionItem] | None:
    return await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic
            ),
        )
    )


def send_inline(
    client: LanguageClient,
    uri: str,
    line: int,
    character: int,
    *,
    invoked: bool = False,
    msg_id: str | None = None,
) -> asyncio.Future[Any]:
    """Send an inline-completion request now (in order with notifications); await it later."""
    kind = types.InlineCompletionTriggerKind
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(
            trigger_kind=kind.Invoked if invoked else kind.Automatic
        ),
    )
    future = client.protocol.send_request(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=msg_id
    )
    return asyncio.wrap_future(future)


async def ask_until(
    client: LanguageClient,
    fake: FakeCodestral,
    uri: str,
    line: int,
    character: int,
    holds: Callable[[str], bool],
    what: str,
    tries: int = 5,
) -> str:
    """Ask (invoked) at a place until the prompt sent upstream ``holds``; return that prompt.

    Other files' snippets are chosen within a 3 ms wall-clock deadline (``snippets.DEADLINE_S``):
    a busy machine that deschedules the server for longer spends it before the first candidate,
    and the snippet is skipped, as it should be. Tests of what a snippet holds ask again."""
    for _ in range(tries):
        await send_inline(client, uri, line, character, invoked=True)
        prompt = str(fake.requests[-1].body["prompt"])
        if holds(prompt):
            return prompt
    raise AssertionError(f"no {what} in {tries} requests")


def items(result: object) -> list[types.InlineCompletionItem]:
    if result is None:
        return []
    if isinstance(result, types.InlineCompletionList):
        return list(result.items)
    assert isinstance(result, list)
    return result


def units(text: str, encoding: str) -> int:
    """Length of ``text`` in code units, computed independently of the server's code."""
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-16":
        return len(text.encode("utf-16-le")) // 2
    return len(text)


@dataclasses.dataclass(frozen=True)
class Ran:
    """What a terminal command (`doctor`, `complete`) did."""

    code: int
    out: str
    err: str


async def run_cli(*args: str, env: Mapping[str, str], timeout: float = 60) -> Ran:
    """Run `python -m codestral_lsp ARGS` to the end (the fake keeps serving in this loop)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "codestral_lsp", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(env),
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode("utf-8"), err.decode("utf-8"))
