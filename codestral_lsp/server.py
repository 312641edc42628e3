"""Wires LSP handlers to the modules that do the work; all state lives on the server instance."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.io_ import StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from codestral_lsp import __version__, context
from codestral_lsp.backend import FimClient
from codestral_lsp.cache import CompletionMemory
from codestral_lsp.documents import Document, DocumentError, DocumentStore, TextChange
from codestral_lsp.engine import CompletionEngine
from codestral_lsp.governor import Governor, Limits
from codestral_lsp.positions import Encoding, to_units
from codestral_lsp.privacy import DEFAULT_EXCLUDE, RedactingFilter, is_excluded
from codestral_lsp.providers import resolve_key
from codestral_lsp.scheduler import Outcome, Scheduler
from codestral_lsp.settings import (
    Problem,
    Settings,
    client_section,
    load_layers,
    rate_limit,
    secrets,
)
from codestral_lsp.snippets import display_path
from codestral_lsp.stats import Stats
from codestral_lsp.tokens import TokenEstimator
from codestral_lsp.window import Assembler

logger = logging.getLogger(__name__)

_ENCODINGS: Mapping[str, Encoding] = {"utf-8": "utf-8", "utf-16": "utf-16", "utf-32": "utf-32"}


class _Protocol(LanguageServerProtocol):
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


class CodestralServer(LanguageServer):
    """The language server; one instance per editor connection."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(
            "codestral-lsp",
            __version__,
            protocol_cls=_Protocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.environ = dict(os.environ if environ is None else environ)
        self.documents = DocumentStore()
        self.settings_layers, self._startup_problems = load_layers(self.environ)
        self.client = FimClient()
        self.stats = Stats()
        self.governor = Governor(notify=lambda message: logger.warning("%s", message))
        self.assembler = Assembler(TokenEstimator())
        self.engine = CompletionEngine(
            self.client,
            self.environ,
            self.show_warning,
            self.governor,
            self.assembler.estimator,
            self.stats,
        )
        self.scheduler = Scheduler(self.engine, self._new_memory())
        self.root: str | None = None
        self._exclusions: dict[str, bool] = {}
        self.client_is_neovim = False
        self.redactor = RedactingFilter()
        self._shown: set[str] = set()
        self._ids = itertools.count(1)
        self._settings_changed()

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

    @property
    def encoding(self) -> Encoding:
        return _ENCODINGS.get(str(self.workspace.position_encoding), "utf-16")

    @property
    def settings(self) -> Settings:
        return self.settings_layers.current

    def inline_item(
        self, doc: Document, fim: context.FimContext, text: str
    ) -> types.InlineCompletionItem:
        """An item inserting ``text`` at the cursor.

        Neovim pastes an item without a range at the cursor and draws it inline; given a range
        it draws the text over what follows the cursor. VS Code, without a range, replaces from
        the word start to the line end. So Neovim gets no range, every other client an empty
        range at the cursor, in the negotiated encoding.
        """
        if self.client_is_neovim:
            return types.InlineCompletionItem(insert_text=text)
        line = doc.line(fim.cursor.line)
        at = types.Position(fim.cursor.line, to_units(line, fim.cursor.index, self.encoding))
        return types.InlineCompletionItem(insert_text=text, range=types.Range(at, at))

    def next_request_id(self) -> str:
        return f"c{next(self._ids)}"

    def show_warning(self, message: str) -> None:
        self.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=message)
        )

    def apply_settings(self, source: str, values: Mapping[str, object]) -> None:
        """Take one source's settings; tell the user about each new problem once."""
        self.report_problems(self.settings_layers.set_layer(source, values))
        self._settings_changed()
        logger.info("settings: %r", self.settings_layers.current)

    def _settings_changed(self) -> None:
        settings = self.settings
        self._exclusions.clear()
        env_key, _ = resolve_key(settings.provider, None, self.environ)
        self.redactor.secrets = tuple(secrets(settings, [env_key]))
        if self.scheduler.memory.shape != (settings.cache_size, settings.cache_ttl_seconds):
            self.scheduler.memory = self._new_memory()
        limit = rate_limit(settings)
        self.governor.configure(
            Limits(limit.rpm, limit.tpm, limit.window_seconds, settings.max_tokens_per_day)
        )

    def excluded(self, uri: str) -> bool:
        """Whether ``uri`` must never be completed nor read; said once per file in the log."""
        known = self._exclusions.get(uri)
        if known is not None:
            return known
        settings = self.settings
        patterns = [*settings.exclude, *(DEFAULT_EXCLUDE if settings.exclude_defaults else ())]
        excluded = self._exclusions[uri] = is_excluded(uri, patterns)
        if excluded:
            logger.warning("%s is excluded: no completions, never sent", uri)
        return excluded

    def forget_exclusion(self, uri: str) -> None:
        self._exclusions.pop(uri, None)

    def statistics(self) -> dict[str, object]:
        return {
            **self.stats.snapshot(),
            "limiter": self.governor.snapshot(),
            "charsPerToken": self.assembler.estimator.snapshot(),
        }

    def report_problems(self, problems: list[Problem]) -> None:
        for problem in problems:
            message = str(problem)
            logger.warning("%s", message)
            if "unknown" not in problem.reason and message not in self._shown:
                self._shown.add(message)
                self.show_warning(message)

    def _new_memory(self) -> CompletionMemory:
        return CompletionMemory(self.settings.cache_size, self.settings.cache_ttl_seconds)


def to_change(
    event: types.TextDocumentContentChangeEvent,
) -> TextChange:
    if isinstance(event, types.TextDocumentContentChangePartial):
        r = event.range
        return TextChange(
            (r.start.line, r.start.character, r.end.line, r.end.character), event.text
        )
    return TextChange(None, event.text)


def create_server(environ: Mapping[str, str] | None = None) -> CodestralServer:
    """A server with every handler registered."""
    server = CodestralServer(environ)

    @server.feature(types.INITIALIZE)
    def initialize(ls: CodestralServer, params: types.InitializeParams) -> None:
        ls.report_problems(ls._startup_problems)
        client = params.client_info.name if params.client_info else ""
        ls.client_is_neovim = client.lower().startswith("neovim")
        root = params.root_uri or (params.root_path and f"file://{params.root_path}")
        ls.root = display_path(root) if root else None
        options = params.initialization_options
        if options is not None:
            ls.apply_settings("initializationOptions", options if isinstance(options, dict) else {})
        logger.info("position encoding %s", ls.encoding)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(
        ls: CodestralServer, params: types.DidChangeConfigurationParams
    ) -> None:
        ls.apply_settings("workspace/didChangeConfiguration", client_section(params.settings))

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: CodestralServer, params: None) -> None:
        logger.warning("session stats: %s", json.dumps(ls.statistics()))
        await ls.client.aclose()

    @server.command("codestral.stats")
    def stats(ls: CodestralServer, *args: Any) -> dict[str, object]:
        return ls.statistics()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CodestralServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        ls.documents.open(doc.uri, doc.text, doc.version, doc.language_id)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: CodestralServer, params: types.DidChangeTextDocumentParams) -> None:
        doc = params.text_document
        changes = [to_change(c) for c in params.content_changes]
        ls.documents.change(doc.uri, doc.version, changes, ls.encoding)
        for change in changes:
            ls.assembler.trail.record(doc.uri, change.range[0] if change.range else 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CodestralServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.scheduler.forget(params.text_document.uri)
        ls.assembler.forget(params.text_document.uri)
        ls.forget_exclusion(params.text_document.uri)
        if not ls.documents.close(params.text_document.uri):
            logger.warning("didClose for a document that is not open: %s", params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: CodestralServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList | None:
        return await complete_inline(ls, params)

    return server


async def complete_inline(
    ls: CodestralServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList | None:
    """Handler body: context at the cursor, the scheduler's answer, an item if still current.

    ``null`` means "this request lost" (superseded or the document moved on; the editor asks
    again); an empty list means "nothing to show here", so the editor hides what it showed.
    """
    started = time.monotonic()
    doc = ls.documents.get(params.text_document.uri)
    if doc is None:
        raise JsonRpcInvalidParams(f"document is not open: {params.text_document.uri}")
    position = params.position
    try:
        cursor = doc.resolve(position.line, position.character, ls.encoding)
    except DocumentError as exc:
        message = f"bad position {position.line}:{position.character}: {exc}"
        raise JsonRpcInvalidParams(message) from exc
    request_id = ls.next_request_id()
    if ls.excluded(doc.uri):
        _log_outcome(request_id, Outcome(None, "excluded"), started)
        return types.InlineCompletionList(items=[])
    settings = ls.settings
    invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
    others = [d for d in ls.documents.recent() if d.uri != doc.uri and not ls.excluded(d.uri)]
    full = ls.assembler.budget_need(doc.language_id, settings)
    scale = ls.governor.check(invoked, full).scale if full else 1.0
    fim = ls.assembler.assemble(doc, cursor, settings, others, scale, ls.root)
    need = ls.assembler.need(fim, settings)
    waiting = time.monotonic()
    try:
        outcome = await ls.scheduler.request(fim, settings, invoked, request_id, need)
    except asyncio.CancelledError:
        # Cancelled while waiting (pause or backend): that time is not the server's own.
        waited = time.monotonic() - waiting
        _log_outcome(request_id, Outcome(None, "cancelled", upstream_s=waited), started)
        ls.stats.outcome("cancelled")
        raise
    current = ls.documents.get(fim.uri)
    if outcome.text is not None and not context.still_fits(current, fim):
        outcome.source, outcome.text = "stale", None
    _log_outcome(request_id, outcome, started)
    ls.stats.outcome(outcome.source)
    if outcome.text is None or current is None:
        nothing = outcome.source in ("empty", "limited")
        return types.InlineCompletionList(items=[]) if nothing else None
    return types.InlineCompletionList(items=[ls.inline_item(current, fim, outcome.text)])


def _log_outcome(request_id: str, outcome: Outcome, started: float) -> None:
    total = time.monotonic() - started
    overhead = total - outcome.debounce_s - outcome.upstream_s
    logger.info(
        "[%s] done source=%s total_ms=%.3f debounce_ms=%.3f upstream_ms=%.3f overhead_ms=%.3f "
        "chars=%d",
        request_id,
        outcome.source,
        total * 1000,
        outcome.debounce_s * 1000,
        outcome.upstream_s * 1000,
        overhead * 1000,
        len(outcome.text or ""),
    )
