"""Serving over a socket (--tcp, --socket): one editor per server, LSP only, loopback only.

Each test runs the real server as a subprocess and attacks it as another local program or a web
page would: a second connection, an HTTP request, an attempt to point the key elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import stat
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import server_env
from tests.e2e.rpc import SERVER, frame, response
from tests.e2e.test_cli import _connect, _free_port, _session
from tests.fake_codestral import FakeCodestral

INIT = {"processId": None, "capabilities": {}}


@dataclass
class Running:
    proc: asyncio.subprocess.Process
    port: int
    log: Path

    def said(self) -> str:
        return self.log.read_text(encoding="utf-8")


@contextlib.asynccontextmanager
async def listening(
    tmp_path: Path, fake: FakeCodestral, *args: str, port: int | None = None
) -> AsyncIterator[Running]:
    """The server on ``--tcp 127.0.0.1:PORT`` (or ``args``), at -vv with a log file; the
    settings file points it at ``fake``."""
    port = port or _free_port()
    log = tmp_path / f"listen-{port}.log"
    where = list(args) or ["--tcp", f"127.0.0.1:{port}"]
    env = server_env(tmp_path, {"CODESTRAL_API_KEY": fake.api_key})
    write_config(tmp_path, fake)
    proc = await asyncio.create_subprocess_exec(
        *SERVER, "-vv", "--log-file", str(log), *where, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield Running(proc, port, log)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def write_config(tmp_path: Path, fake: FakeCodestral) -> None:
    """The settings file of ``server_env(tmp_path)``: over TCP, it says where the key goes."""
    config = tmp_path / "config" / "codestral-lsp" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'endpoint = "{fake.url}"\n', encoding="utf-8")


async def closed_without_a_word(reader: asyncio.StreamReader) -> bool:
    """The server closed this connection and wrote nothing to it."""
    try:
        return await asyncio.wait_for(reader.read(), 20) == b""
    except ConnectionResetError:
        return True


async def ends_cleanly(proc: asyncio.subprocess.Process) -> None:
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    assert await proc.stdout.read() == b""  # type: ignore[union-attr]


async def _complete(reader: asyncio.StreamReader, writer: Any) -> None:
    """Open a document and ask for a completion there; one must come back."""
    doc = {"uri": "file:///t.py", "languageId": "python", "version": 1, "text": "x = "}
    opened = {"textDocument": doc}
    writer.write(frame({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": opened}))
    request = {
        "textDocument": {"uri": "file:///t.py"},
        "position": {"line": 0, "character": 4},
        "context": {"triggerKind": 1},
    }
    method = "textDocument/inlineCompletion"
    writer.write(frame({"jsonrpc": "2.0", "id": 2, "method": method, "params": request}))
    assert (await response(reader, 2))["result"]["items"]


async def test_a_second_connection_is_refused_and_cannot_stop_the_server(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    fake_codestral.completion = "mine"
    async with listening(tmp_path, fake_codestral) as server:
        reader, writer = await _connect(server.port, server.proc)
        writer.write(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT}))
        await response(reader, 1)  # served: this connection is the editor now
        other_reader, other_writer = await asyncio.open_connection("127.0.0.1", server.port)
        other_writer.write(
            frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT})
        )
        assert await closed_without_a_word(other_reader)
        other_writer.close()
        # The refused one is gone; the editor goes on with a new session on its connection.
        writer.write(frame({"jsonrpc": "2.0", "id": 9, "method": "shutdown", "params": None}))
        await response(reader, 9)
        writer.close()
        await ends_cleanly(server.proc)
    assert "an editor is already connected" in server.said()


async def test_only_the_editor_ending_stops_the_server(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    """A connection that opened first but sent nothing is not the editor; its end is nothing."""
    fake_codestral.completion = "still here"
    async with listening(tmp_path, fake_codestral) as server:
        _, idle_writer = await _connect(server.port, server.proc)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        idle_writer.close()  # before the editor's session: must not end the server
        assert await _session(reader, writer, fake_codestral.url) == "still here"
        writer.close()
        await ends_cleanly(server.proc)


HTTP_REQUESTS = {
    "POST": b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
    b"Content-Length: %d\r\n\r\n%s",
    "POST, headers LSP-like": b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s",
    "GET": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "a websocket": b"GET /lsp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    "not initialize first": b"Content-Length: %d\r\n\r\n%s",
}


@pytest.mark.parametrize("template", HTTP_REQUESTS.values(), ids=HTTP_REQUESTS.keys())
async def test_a_first_message_that_is_not_an_lsp_initialize_is_refused(
    fake_codestral: FakeCodestral, tmp_path: Path, template: bytes
) -> None:
    """What a web page can send to localhost: refused and closed, unanswered, nothing run."""
    fake_codestral.completion = "after"
    message = {"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration"}
    body = json.dumps({**message, "params": {"settings": {"endpoint": "http://127.0.0.1:9"}}})
    data = template % (len(body), body.encode()) if b"%d" in template else template
    async with listening(tmp_path, fake_codestral) as server:
        reader, writer = await _connect(server.port, server.proc)
        writer.write(data)
        assert await closed_without_a_word(reader)
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await _session(reader, writer, fake_codestral.url) == "after"
        writer.close()
        await ends_cleanly(server.proc)
    assert "not an LSP client" in server.said()


async def test_a_later_client_cannot_send_the_key_elsewhere(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    """Another program connects while the editor works and tries to point the endpoint at its
    own host: it is refused, and the key goes nowhere but the editor's endpoint."""
    async with (
        FakeCodestral(api_key="attacker") as attacker,
        listening(tmp_path, fake_codestral) as server,
    ):
        reader, writer = await _connect(server.port, server.proc)
        init = {**INIT, "initializationOptions": {"endpoint": fake_codestral.url}}
        writer.write(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}))
        await response(reader, 1)
        evil_reader, evil_writer = await asyncio.open_connection("127.0.0.1", server.port)
        for message in (
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT},
            {
                "jsonrpc": "2.0",
                "method": "workspace/didChangeConfiguration",
                "params": {"settings": {"endpoint": attacker.url}},
            },
        ):
            evil_writer.write(frame(message))
        assert await closed_without_a_word(evil_reader)
        evil_writer.close()
        await _complete(reader, writer)
        writer.close()
        await ends_cleanly(server.proc)
    assert attacker.requests == []
    [sent] = fake_codestral.requests
    assert sent.headers["authorization"] == f"Bearer {fake_codestral.api_key}"


async def test_the_first_client_cannot_point_the_key_at_its_own_host(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    """Whoever connects first is the client: over TCP its settings cannot direct the key (the
    settings file does), unless it brings its own key."""
    async with (
        FakeCodestral(api_key="attacker") as attacker,
        listening(tmp_path, fake_codestral) as server,
    ):
        reader, writer = await _connect(server.port, server.proc)
        init = {**INIT, "initializationOptions": {"endpoint": attacker.url}}
        writer.write(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}))
        await response(reader, 1)
        await _complete(reader, writer)
        writer.close()
        await ends_cleanly(server.proc)
    assert attacker.requests == []
    [sent] = fake_codestral.requests
    assert sent.headers["authorization"] == f"Bearer {fake_codestral.api_key}"
    assert "setting 'endpoint' from initializationOptions would send the API key" in server.said()


@pytest.mark.parametrize("host", ["0.0.0.0", "[::]", "192.0.2.1"])
async def test_listening_beyond_loopback_needs_allow_remote(tmp_path: Path, host: str) -> None:
    env = server_env(tmp_path)
    proc = await asyncio.create_subprocess_exec(
        *SERVER, "--tcp", f"{host}:{_free_port()}", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert out == b""
    assert "--allow-remote" in err.decode()
    assert "listens beyond this machine" in err.decode()


async def test_allow_remote_listens_with_a_warning(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    fake_codestral.completion = "remote"
    port = _free_port()
    args = ("--tcp", f"0.0.0.0:{port}", "--allow-remote")
    async with listening(tmp_path, fake_codestral, *args, port=port) as server:
        reader, writer = await _connect(port, server.proc)
        assert await _session(reader, writer, fake_codestral.url) == "remote"
        writer.close()
        await ends_cleanly(server.proc)
        stderr = (await server.proc.stderr.read()).decode()  # type: ignore[union-attr]
    assert "WARNING" in stderr
    assert "reachable from other machines" in stderr


@pytest.mark.skipif(sys.platform == "win32", reason="unix sockets")
async def test_a_unix_socket_is_owner_only_and_removed_at_the_end(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    fake_codestral.completion = "by socket"
    path = tmp_path / "run" / "codestral.sock"  # the directory does not exist yet
    async with listening(tmp_path, fake_codestral, "--socket", str(path)) as server:
        reader, writer = await _open_unix(path, server.proc)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert await _session(reader, writer, fake_codestral.url) == "by socket"
        writer.close()
        await ends_cleanly(server.proc)
    assert not path.exists()


async def _open_unix(path: Path, proc: asyncio.subprocess.Process) -> tuple[Any, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        try:
            return await asyncio.open_unix_connection(str(path))
        except OSError:
            if proc.returncode is not None or loop.time() > deadline:
                raise
            await asyncio.sleep(0.05)  # polling a socket that is not listening yet


async def test_a_socket_in_use_is_not_taken_over(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    path = tmp_path / "codestral.sock"
    async with listening(tmp_path, fake_codestral, "--socket", str(path)) as first:
        reader, writer = await _open_unix(path, first.proc)
        env = server_env(tmp_path)
        second = await asyncio.create_subprocess_exec(
            *SERVER, "--socket", str(path), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(second.communicate(), 20)
        assert second.returncode == 1
        assert "another server is listening" in err.decode()
        assert await _session(reader, writer, fake_codestral.url)  # the first still serves
        writer.close()
        await ends_cleanly(first.proc)
    assert not path.exists()
