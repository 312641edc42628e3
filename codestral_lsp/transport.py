"""pygls plumbing: no document copies, stdin read on the event loop, logs sent to the editor."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import Any

from lsprotocol import types
from pygls.io_ import StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

logger = logging.getLogger(__name__)


class Protocol(LanguageServerProtocol):
    """pygls' protocol without its own document copies: our DocumentStore is the only one.

    pygls' TextDocument rebuilds the whole text on every edit and splits lines on characters
    that LSP does not treat as line ends, so its built-in sync handlers only forward here.
    """

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Any:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Any:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Any:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None


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
        await run_async(
            stop_event=stop,
            reader=reader,
            protocol=self.protocol,
            logger=logging.getLogger("pygls.io_"),
            error_handler=self.report_server_error,
        )
