"""A small JSON-RPC-over-stdio client for the server under test, and what /proc says about it.

Responses are handed to their callback synchronously, in the order they arrive on the pipe, so
the replay sees exactly the order an editor would (no task hop between two answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Message = dict[str, Any]
Callback = Callable[[Message, float], None]  # (message, perf_counter at arrival)

_TAGGED = re.compile(r"\[(?P<id>[^\]\s]+)\] (?P<tag>\w+) (?P<fields>\w+=.*)$")
_FIELD = re.compile(r"(\w+)=(\S+)")


class ServerGone(ConnectionError):
    """The server closed its stdout (exited) while requests were outstanding."""


@dataclass(frozen=True)
class ProcessStats:
    peak_rss_mib: float  # VmHWM
    cpu_s: float  # utime + stime


def process_stats(pid: int) -> ProcessStats | None:
    """Peak RSS and CPU time of a live process, from /proc (None where /proc is missing)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    hwm = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    fields = stat.rsplit(")", 1)[1].split()  # after "(comm)", which may hold spaces
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime: fields 14 and 15
    return ProcessStats(int(hwm.group(1)) / 1024 if hwm else float("nan"), cpu)


def done_lines(log_file: Path) -> list[dict[str, str]]:
    """The server's per-request ``[cN] done key=value ...`` lines, parsed; [] if none."""
    return tagged_lines(log_file, "done")


def done_values(
    done: Iterable[dict[str, str]], key: str, sources: Sequence[str] | None = None
) -> list[float]:
    """A numeric field of a server's done lines (optionally of some sources only)."""
    found = []
    for line in done:
        if key in line and (sources is None or line.get("source") in sources):
            try:
                found.append(float(line[key]))
            except ValueError:
                continue
    return found


def tagged_lines(log_file: Path, tag: str) -> list[dict[str, str]]:
    """The server's ``[cN] <tag> key=value ...`` lines (``done``, ``upstream``), parsed."""
    try:
        text = log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        match = _TAGGED.search(line)
        if match and match["tag"] == tag:
            found.append({"id": match["id"], **dict(_FIELD.findall(match["fields"]))})
    return found


def session_stats(log_file: Path) -> dict[str, Any]:
    """The session stats the server logs at shutdown (its ``codestral.stats``), {} if none."""
    try:
        text = log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    found: dict[str, Any] = {}
    for line in text.splitlines():
        if "session stats: " in line:
            with contextlib.suppress(ValueError):
                found = json.loads(line.split("session stats: ", 1)[1])
    return found if isinstance(found, dict) else {}


def server_env(home: Path, api_key: str) -> dict[str, str]:
    """The host's environment minus real keys and user config, plus the fake's key."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.pop("CODESTRAL_LSP_CONFIG", None)
    env["XDG_CONFIG_HOME"] = str(home / "config")
    env["CODESTRAL_API_KEY"] = api_key
    return env


class LspClient:
    """One server process and the JSON-RPC conversation with it."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[asyncio.Future[Message], Callback | None]] = {}
        self.notifications: list[Message] = []
        self._reader = asyncio.create_task(self._read_loop())

    @classmethod
    async def spawn(
        cls, args: list[str], env: Mapping[str, str], stderr: Path, program: str = sys.executable
    ) -> LspClient:
        """``program`` (this Python by default) with ``args``, stdio piped to us."""
        with stderr.open("wb") as err:  # the child keeps its own descriptor
            proc = await asyncio.create_subprocess_exec(
                program,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=dict(env),
            )
        return cls(proc)

    @property
    def alive(self) -> bool:
        """False once the server has closed its stdout."""
        return not self._reader.done()

    async def wait_closed(self) -> None:
        """Return when the server closes its stdout (used to stop waiting on a dead server)."""
        await asyncio.shield(self._reader)

    def request(
        self, method: str, params: Any, on_response: Callback | None = None
    ) -> tuple[int, asyncio.Future[Message]]:
        """Send a request; the callback (if any) runs as the response is read."""
        msg_id = next(self._ids)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = (future, on_response)
        self._send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return msg_id, future

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def _send(self, message: Message) -> None:
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    async def _read_loop(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            while True:
                header = await stdout.readuntil(b"\r\n\r\n")
                length = re.search(rb"Content-Length:\s*(\d+)", header, re.IGNORECASE)
                if length is None:
                    raise ServerGone(f"bad header from the server: {header!r}")
                self._dispatch(json.loads(await stdout.readexactly(int(length.group(1)))))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            for future, _ in self._pending.values():
                if not future.done():
                    future.set_exception(ServerGone(f"the server went away: {exc}"))
            self._pending.clear()

    def _dispatch(self, message: Message) -> None:
        arrived = time.perf_counter()
        if "method" not in message:
            entry = self._pending.pop(message.get("id", -1), None)
            if entry is None:
                return
            future, callback = entry
            if callback is not None:
                callback(message, arrived)
            if not future.done():
                future.set_result(message)
        elif "id" in message:  # a request from the server: say yes to whatever it asks
            self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})
        else:
            self.notifications.append(message)

    async def call(self, method: str, params: Any, timeout: float = 30) -> Any:
        """A request whose result the caller waits for; raises on an error response."""
        _, future = self.request(method, params)
        response = await asyncio.wait_for(future, timeout)
        if "error" in response:
            raise RuntimeError(f"{method} failed: {response['error']}")
        return response.get("result")

    async def initialize(self, options: Mapping[str, Any], encodings: list[str]) -> Any:
        capabilities = {
            "general": {"positionEncodings": encodings},
            "textDocument": {"inlineCompletion": {"dynamicRegistration": False}},
        }
        params = {
            "processId": os.getpid(),
            "rootUri": None,
            "capabilities": capabilities,
            "initializationOptions": dict(options),
            "clientInfo": {"name": "codestral-lsp-benchmark"},
        }
        result = await self.call("initialize", params)
        self.notify("initialized", {})
        return result

    async def close(self, timeout: float = 10) -> None:
        """shutdown + exit, then wait for the process; kill it if it hangs."""
        try:
            if self.proc.returncode is None:
                await self.call("shutdown", None, timeout)
                self.notify("exit", None)
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            await asyncio.wait_for(self.proc.wait(), timeout)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
