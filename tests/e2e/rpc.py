"""A raw JSON-RPC framing client: bytes on the server's stdin, parsed frames from its stdout.

For what pytest-lsp cannot send (bad JSON, bad framing, wrong parameter types) and for checking
exactly what the server writes. ``RawServer`` runs ``python -m codestral_lsp`` as a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

SERVER = [sys.executable, "-m", "codestral_lsp"]
REPLY_TIMEOUT = 20.0  # seconds: a request the server never answers fails the test, not CI


def frame(message: Any) -> bytes:
    """``message`` as JSON (lone surrogates escaped as ``\\udXXX``) with its LSP header."""
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    data: dict[str, Any] = json.loads(await reader.readexactly(length))
    return data


async def response(reader: asyncio.StreamReader, request_id: int | str) -> dict[str, Any]:
    while (message := await read_frame(reader)).get("id") != request_id:
        pass  # notifications such as window/logMessage
    return message


class RawServer:
    """The server as a subprocess, spoken to in raw frames; see ``raw_server``."""

    def __init__(self, proc: asyncio.subprocess.Process, log_file: Path) -> None:
        assert proc.stdin is not None
        assert proc.stdout is not None
        self.proc, self.log_file = proc, log_file
        self.stdin, self.stdout = proc.stdin, proc.stdout
        self.received: list[dict[str, Any]] = []  # every frame read, in order
        self._ids = 0

    async def send(self, data: bytes | Mapping[str, Any]) -> None:
        """Write raw bytes, or one framed message."""
        self.stdin.write(data if isinstance(data, bytes) else frame(data))
        await self.stdin.drain()

    async def notify(self, method: str, params: Any) -> None:
        await self.send({"jsonrpc": "2.0", "method": method, "params": params})

    async def request(
        self, method: str, params: Any, timeout: float = REPLY_TIMEOUT
    ) -> dict[str, Any]:
        """Send a request; return the whole response message (``result`` or ``error``)."""
        self._ids += 1
        await self.send({"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params})
        return await self.reply(self._ids, timeout)

    async def reply(
        self, request_id: int | str | None, timeout: float = REPLY_TIMEOUT
    ) -> dict[str, Any]:
        """The response to ``request_id``; the frames before it are kept in ``received``."""

        async def read() -> dict[str, Any]:
            while True:
                message = await read_frame(self.stdout)
                self.received.append(message)
                if "method" not in message and message.get("id", False) == request_id:
                    return message

        try:
            return await asyncio.wait_for(read(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"no reply to request {request_id!r} within {timeout}s; server log:\n"
                + self.log_tail()
            ) from None

    async def initialize(self, options: Mapping[str, Any], capabilities: Any = None) -> None:
        init = {
            "processId": None,
            "capabilities": capabilities or {},
            "initializationOptions": dict(options),
        }
        assert "result" in await self.request("initialize", init)
        await self.notify("initialized", {})

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no log file)"


@contextlib.asynccontextmanager
async def raw_server(
    env: Mapping[str, str], log_file: Path, verbosity: str = "-vv"
) -> AsyncIterator[RawServer]:
    """Start the server at ``-vv --log-file log_file`` (stderr next to it, ``.stderr``); on
    exit send shutdown and exit, and check that it ends with status 0 (a crash or a hang fails
    the test)."""
    with log_file.with_suffix(".stderr").open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            *SERVER, verbosity, "--log-file", str(log_file),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=stderr, env=dict(env),
        )  # fmt: skip
    server = RawServer(proc, log_file)
    try:
        yield server
        assert proc.returncode is None, f"the server died: {proc.returncode}\n{server.log_tail()}"
        assert "result" in await server.request("shutdown", None)
        await server.notify("exit", None)
        assert await asyncio.wait_for(proc.wait(), REPLY_TIMEOUT) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
