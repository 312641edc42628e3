"""pygls plumbing: no document copies, stdin read on the event loop, logs sent to the editor."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import sys
import threading
from typing import Any

from lsprotocol import types
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from codestral_lsp.lsp import connections, jsonrpc

logger = logging.getLogger(__name__)


class Protocol(LanguageServerProtocol):
    """pygls' protocol without its own document copies: our DocumentStore is the only one.

    pygls' TextDocument rebuilds the whole text on every edit and splits lines on characters
    that LSP does not treat as line ends, so its built-in sync handlers only forward here.
    Strings are structured strictly: cattrs would turn ``"text": 42`` into ``"42"`` and
    silently replace a document.
    """

    def __init__(self, server: Any, converter: Any) -> None:
        super().__init__(server, converter)
        converter.register_structure_hook(str, _strict_str)

    # Plain methods, not generators: pygls keeps a future per generator-run notification in
    # a dict that only responses ever clear (1.5 KiB per keystroke, forever).

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Any:
        """Tell the server the client's credentials before pygls logs the request (at -vvv)."""
        learn = getattr(self._server, "learn_secrets", None)
        if learn is not None:
            learn(params.initialization_options)
        return (yield from super().lsp_initialize(params))

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        self._forward(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        self._forward(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        self._forward(types.TEXT_DOCUMENT_DID_CLOSE, params)

    def _forward(self, method: str, params: Any) -> None:
        if (handler := self.fm.features.get(method)) is not None:
            handler(params)


def _strict_str(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


class _Valve(asyncio.ReadTransport):
    """What a StreamReader pauses and resumes when its buffer fills: here, ``_feed``'s reads."""

    def __init__(self) -> None:
        super().__init__()
        self.open = asyncio.Event()
        self.open.set()

    def pause_reading(self) -> None:
        self.open.clear()

    def resume_reading(self) -> None:
        self.open.set()

    def is_reading(self) -> bool:
        return self.open.is_set()


async def _feed(reader: asyncio.StreamReader, fd: int) -> None:
    """Read ``fd`` in a worker thread into ``reader``: for files the event loop cannot watch.

    Reads pause while the reader holds more than its limit (an endless /dev/zero stays small).
    """
    loop = asyncio.get_running_loop()
    valve = _Valve()
    reader.set_transport(valve)
    while True:
        await valve.open.wait()
        chunk = await loop.run_in_executor(None, os.read, fd, 1 << 16)
        if not chunk:
            break
        reader.feed_data(chunk)
    reader.feed_eof()


class LspLogHandler(logging.Handler):
    """Sends our log records to the editor as ``window/logMessage``."""

    _TYPES = (
        (logging.ERROR, types.MessageType.Error),
        (logging.WARNING, types.MessageType.Warning),
        (logging.INFO, types.MessageType.Info),
    )

    def __init__(self, server: LanguageServer) -> None:
        super().__init__()
        self._server = server
        self._busy = False

    def delivers(self, record: logging.LogRecord) -> bool:
        """Whether this record reaches the editor (our loggers, once connected)."""
        return not record.name.startswith("pygls") and self._server.protocol.writer is not None

    def emit(self, record: logging.LogRecord) -> None:
        if self._busy or not self.delivers(record):
            return
        kind = next((t for level, t in self._TYPES if record.levelno >= level), None)
        self._busy = True
        try:
            message = self.format(record)
            self._server.window_log_message(
                types.LogMessageParams(type=kind or types.MessageType.Log, message=message)
            )
        finally:
            self._busy = False


class StdioServer(LanguageServer):
    """A LanguageServer that reads stdin on the event loop."""

    def start_stdio(self) -> None:
        """Serve on stdin/stdout, reading stdin on the event loop; the end of input ends it.

        pygls' own stdio reader hands every message through a worker thread (about 1 ms per
        message); an asyncio pipe reader needs none. stdin that the event loop cannot watch (a
        regular file, /dev/null) is read by a worker thread instead.
        """
        stop = self._stop_event = threading.Event()
        self.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
        try:
            asyncio.run(self._serve_stdin(stop))
        except BrokenPipeError:
            logger.error("the connection to the editor is lost; stopping")
        except (KeyboardInterrupt, SystemExit):
            pass
        self.shutdown()  # type: ignore[no-untyped-call]

    async def _serve_stdin(self, stop: threading.Event) -> None:
        reader = asyncio.StreamReader()
        try:
            mode = os.fstat(sys.stdin.fileno()).st_mode
        except (OSError, ValueError):  # stdin closed (``<&-``): no input at all
            logger.info("no standard input; stopping")
            return
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or sys.stdin.isatty():
            loop = asyncio.get_running_loop()
            await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer
            )
            await self._serve(reader, stop)
            return
        feeding = asyncio.ensure_future(_feed(reader, sys.stdin.fileno()))
        try:
            await self._serve(reader, stop)
        finally:
            feeding.cancel()

    async def _serve(self, reader: asyncio.StreamReader, stop: threading.Event) -> None:
        """The message loop, then the background work stopped while the loop still runs.

        ``exit`` raises SystemExit from inside the loop, and ``asyncio.run`` would then cancel
        every task at once, asyncio's own among them; work that owns a child process must be
        stopped first, in order (see ``stop_background``).
        """
        try:
            await jsonrpc.serve(reader, self.protocol, stop)
        finally:
            await self.stop_background()

    async def stop_background(self) -> None:
        """Cancel and await this server's background work; subclasses that have some override."""

    def start_tcp(self, host: str, port: int) -> None:
        """Serve one editor over TCP (see ``connections``); raises OSError if it cannot listen."""
        self._serve_one_editor(connections.listen_tcp(host, port))

    def start_socket(self, path: str) -> None:
        """Serve one editor on an owner-only unix socket; raises OSError if it cannot listen."""
        listener = connections.UnixListener(path)
        try:
            self._serve_one_editor(listener)
        finally:
            listener.remove()

    def _serve_one_editor(self, listen: connections.Listen) -> None:
        stop = self._stop_event = threading.Event()
        with contextlib.suppress(KeyboardInterrupt, SystemExit):
            asyncio.run(self._serve_editor(listen, stop))
        self.shutdown()  # type: ignore[no-untyped-call]

    async def _serve_editor(self, listen: connections.Listen, stop: threading.Event) -> None:
        try:
            await connections.serve_one_editor(listen, self.protocol, stop)
        finally:
            await self.stop_background()

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log server-side errors; pygls would also show each one to the user."""
        logger.error("%s: %s", getattr(source, "__name__", source), error)
