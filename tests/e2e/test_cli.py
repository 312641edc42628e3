"""The command line: --version, --help, --tcp, logging to a file, nothing but protocol on stdout."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from codestral_lsp import __version__
from codestral_lsp.backends import PROVIDERS
from tests.e2e.conftest import server_env
from tests.e2e.rpc import SERVER, frame, response
from tests.fake_codestral import FakeCodestral


def test_version_and_help() -> None:
    out = subprocess.run([*SERVER, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"codestral-lsp {__version__}"
    out = subprocess.run([*SERVER, "--help"], capture_output=True, text=True, check=True)
    for flag in ("--tcp", "--socket", "--allow-remote", "--log-file", "--verbose", "--version"):
        assert flag in out.stdout
    out = subprocess.run([*SERVER, "doctor", "--help"], capture_output=True, text=True, check=True)
    said = " ".join(out.stdout.split())
    for row in PROVIDERS.values():  # each provider's key variable, from the table
        assert row.key_env is None or f"{row.key_env} ({row.name})" in said, row.name
    bad = subprocess.run([*SERVER, "--tcp", "nonsense"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "HOST:PORT" in bad.stderr


async def _session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, url: str) -> str:
    """initialize, open, complete, shutdown, exit; returns the completion text."""
    init = {"capabilities": {}, "initializationOptions": {"endpoint": url}, "processId": None}
    writer.write(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}))
    assert "inlineCompletionProvider" in (await response(reader, 1))["result"]["capabilities"]
    doc = {"uri": "file:///t.py", "languageId": "python", "version": 1, "text": "x = "}
    for method, params in [
        ("initialized", {}),
        ("textDocument/didOpen", {"textDocument": doc}),
    ]:
        writer.write(frame({"jsonrpc": "2.0", "method": method, "params": params}))
    request = {
        "textDocument": {"uri": "file:///t.py"},
        "position": {"line": 0, "character": 4},
        "context": {"triggerKind": 2},
    }
    writer.write(
        frame(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "textDocument/inlineCompletion",
                "params": request,
            }
        )
    )
    result = (await response(reader, 2))["result"]
    writer.write(frame({"jsonrpc": "2.0", "id": 3, "method": "shutdown", "params": None}))
    await response(reader, 3)
    writer.write(frame({"jsonrpc": "2.0", "method": "exit", "params": None}))
    await writer.drain()
    text: str = result["items"][0]["insertText"]
    return text


async def test_stdio_speaks_only_protocol_on_stdout_even_at_vv(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    fake_codestral.completion = "42"
    log = tmp_path / "server.log"
    env = server_env(tmp_path, {"CODESTRAL_API_KEY": fake_codestral.api_key})
    proc = await asyncio.create_subprocess_exec(
        *SERVER, "-vv", "--log-file", str(log),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        assert await _session(proc.stdout, proc.stdin, fake_codestral.url) == "42"  # type: ignore[arg-type]
        proc.stdin.close()
        rest = await asyncio.wait_for(proc.stdout.read(), 20)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert rest == b""  # every byte on stdout was part of a frame we parsed
    stderr = await proc.stderr.read()  # type: ignore[union-attr]
    logged = log.read_text(encoding="utf-8")
    assert "completion '42'" in logged  # -vv logs completions
    assert "completion '42'" not in stderr.decode()  # said once, by window/logMessage
    assert fake_codestral.api_key not in logged + stderr.decode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _connect(port: int, proc: asyncio.subprocess.Process) -> tuple[Any, Any]:
    deadline = time.monotonic() + 20
    while True:
        try:
            return await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if proc.returncode is not None or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)  # polling a port that is not listening yet


async def test_tcp_serves_one_editor(fake_codestral: FakeCodestral, tmp_path: Path) -> None:
    fake_codestral.completion = "over tcp"
    port = _free_port()
    env = server_env(tmp_path, {"CODESTRAL_API_KEY": fake_codestral.api_key})
    config = tmp_path / "config" / "codestral-lsp" / "config.toml"  # over TCP, the file or the
    config.parent.mkdir(parents=True)  # environment says where the key goes, not the client
    config.write_text(f'endpoint = "{fake_codestral.url}"\n', encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        *SERVER, "--tcp", f"127.0.0.1:{port}", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        reader, writer = await _connect(port, proc)
        assert await _session(reader, writer, fake_codestral.url) == "over tcp"
        writer.close()
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert await proc.stdout.read() == b""  # type: ignore[union-attr]


async def _run_with_stdin(stdin: Any, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *SERVER, stdin=stdin, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out, err


async def test_end_of_input_at_start_ends_the_server_quietly(tmp_path: Path) -> None:
    """`codestral-lsp </dev/null`: no input, so nothing to do; stdout stays empty."""
    code, out, err = await _run_with_stdin(asyncio.subprocess.DEVNULL, server_env(tmp_path))
    assert (code, out) == (0, b""), err.decode()
    assert b"Traceback" not in err


async def test_a_regular_file_as_stdin_is_served_to_its_end(tmp_path: Path) -> None:
    """Messages from a file (a replayed session): each answered, on stdout only frames."""
    init = {"processId": None, "capabilities": {}}
    script = tmp_path / "session.lsp"
    script.write_bytes(
        frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init})
        + frame({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        + frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": None})
    )  # no exit: the end of the file ends the server
    with script.open("rb") as stdin:
        code, out, err = await _run_with_stdin(stdin, server_env(tmp_path))
    assert code == 0, err.decode()
    reader = asyncio.StreamReader()
    reader.feed_data(out)
    reader.feed_eof()
    assert "capabilities" in (await response(reader, 1))["result"]
    assert (await response(reader, 2)) == {"jsonrpc": "2.0", "id": 2, "result": None}
    assert await reader.read() == b""  # nothing after the last frame
    assert b"Traceback" not in out + err
