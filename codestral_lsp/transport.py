"""pygls plumbing: no document copies, stdin read on the event loop, logs sent to the editor."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from typing import Any

from lsprotocol import types
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from codestral_lsp import jsonrpc

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


class _NotAPipeError(Exception):
    """stdin cannot be read by an asyncio pipe transport."""


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
        """Serve on stdin/stdout, reading stdin on the event loop.

        pygls' own stdio reader hands every message through a worker thread (about 1 ms per
        message); an asyncio pipe reader needs none. Falls back to pygls' reader when stdin is
        not a pipe, socket or terminal (a regular file).
        """
        stop = self._stop_event = threading.Event()
        self.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
        try:
            asyncio.run(self._serve_stdin(stop))
        except _NotAPipeError:
            self.start_io()  # shuts down by itself
            return
        except BrokenPipeError:
            logger.error("the connection to the editor is lost; stopping")
        except (KeyboardInterrupt, SystemExit):
            pass
        self.shutdown()  # type: ignore[no-untyped-call]

    async def _serve_stdin(self, stop: threading.Event) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        try:
            await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer
            )
        except (ValueError, OSError) as exc:
            raise _NotAPipeError from exc
        await self._serve(reader, stop)

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
        """Serve one editor over TCP with the same message loop as stdio."""
        stop = self._stop_event = threading.Event()

        async def main() -> None:
            done = asyncio.Event()

            async def connection(reader: asyncio.StreamReader, writer: Any) -> None:
                self.protocol.set_writer(writer)
                try:
                    await self._serve(reader, stop)
                finally:
                    done.set()

            server = await asyncio.start_server(connection, host, port)
            logger.info("serving on %s", [s.getsockname() for s in server.sockets])
            async with server:
                await done.wait()

        with contextlib.suppress(KeyboardInterrupt, SystemExit):
            asyncio.run(main())
        self.shutdown()  # type: ignore[no-untyped-call]

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log server-side errors; pygls would also show each one to the user."""
        logger.error("%s: %s", getattr(source, "__name__", source), error)
