"""One editor over TCP or a unix socket: who may connect, and what its first bytes must be.

The stdio server has exactly one client, the process that started it. A listening socket can be
reached by others: another local user or program, and through a browser any web page (which can
POST to localhost). So, on a socket:

- one editor per server: the first connection whose first message is an LSP ``initialize``
  request becomes the client; any connection while it is served is closed at once, and only
  the client's end stops the server;
- the first message is held to the letter (``jsonrpc.opening``): an HTTP request, or anything
  else that is not an LSP ``initialize`` frame, is refused and its connection closed;
- a connection that has not sent its first message is not the client: at most
  ``MAX_PENDING`` wait, each for at most ``OPENING_TIMEOUT_S``;
- a unix socket is created owner-only (0600), and a peer of another user is refused (Linux).

Loopback-only TCP is the command line's rule (``cli``), as is the choice of socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pygls.protocol import JsonRPCProtocol

from codestral_lsp.lsp import jsonrpc

logger = logging.getLogger(__name__)

MAX_PENDING = 8
OPENING_TIMEOUT_S = 10.0

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Listen = Callable[[Handler], Awaitable[asyncio.Server]]


async def serve_one_editor(
    listen: Listen, protocol: JsonRPCProtocol, stop: threading.Event
) -> None:
    """Listen, serve the first LSP client to arrive until it leaves, refuse everyone else."""
    done = asyncio.Event()
    claimed = False
    pending = 0

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal claimed, pending
        peer = _peer(writer)
        refusal = _refusal(writer, claimed, pending)
        if refusal:
            logger.warning("refused a connection from %s: %s", peer, refusal)
            await _close(writer)
            return
        pending += 1
        try:
            first = await asyncio.wait_for(jsonrpc.opening(reader), OPENING_TIMEOUT_S)
        except (jsonrpc.NotLsp, asyncio.TimeoutError, ConnectionError) as exc:
            reason = "no first message in time" if isinstance(exc, asyncio.TimeoutError) else exc
            logger.warning("refused a connection from %s: not an LSP client (%s)", peer, reason)
            await _close(writer)
            return
        finally:
            pending -= 1
        if claimed:
            logger.warning("refused a connection from %s: an editor is already connected", peer)
            await _close(writer)
            return
        claimed = True
        logger.info("serving the editor at %s", peer)
        protocol.set_writer(writer)
        try:
            await jsonrpc.serve(reader, protocol, stop, first)
        finally:
            done.set()

    server = await listen(connection)
    logger.info("listening on %s", ", ".join(_name(s.getsockname()) for s in server.sockets))
    async with server:
        await done.wait()


def _refusal(writer: asyncio.StreamWriter, claimed: bool, pending: int) -> str | None:
    if claimed:
        return "an editor is already connected (one per server)"
    if pending >= MAX_PENDING:
        return f"{MAX_PENDING} connections are already waiting to start"
    uid = _peer_uid(writer.get_extra_info("socket"))
    if uid is not None and uid != os.getuid():
        return f"it belongs to another user (uid {uid})"
    return None


def _peer_uid(sock: Any) -> int | None:
    """The uid of a unix-socket peer (Linux SO_PEERCRED), else None."""
    option = getattr(socket, "SO_PEERCRED", None)
    if sock is None or option is None or sock.family != getattr(socket, "AF_UNIX", None):
        return None
    try:
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, option, 12))
    except OSError:
        return None
    return int(uid)


def _peer(writer: asyncio.StreamWriter) -> str:
    return _name(writer.get_extra_info("peername")) or "the socket"


def _name(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address or "")


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


def listen_tcp(host: str, port: int) -> Listen:
    async def listen(handler: Handler) -> asyncio.Server:
        return await asyncio.start_server(handler, host, port)

    return listen


class UnixListener:
    """Listens on a unix socket at ``path``: owner-only (0600), in a directory made 0700 if new."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._inode: int | None = None

    async def __call__(self, handler: Handler) -> asyncio.Server:
        _make_room(self.path)  # at start, before any client: blocking is harmless here
        old = os.umask(0o177)  # the socket file is born 0600: no moment when others may connect
        try:
            server = await asyncio.start_unix_server(handler, path=self.path)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self._inode = os.stat(self.path).st_ino
        return server

    def remove(self) -> None:
        """Remove the socket file if it is still the one made here."""
        with contextlib.suppress(OSError):
            if self._inode is not None and os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)


def _make_room(path: str) -> None:
    """Create the socket's directory (0700) if needed; refuse a path another server listens on.

    A socket file nobody answers on is stale: ``start_unix_server`` replaces it.
    """
    target = Path(path)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not target.is_socket():
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return
    raise OSError(f"another server is listening on {path}")
