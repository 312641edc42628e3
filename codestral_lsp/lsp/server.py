"""Wires LSP handlers to the modules that do the work; all state lives on the server instance."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Coroutine, Mapping
from typing import Any
from urllib.parse import urlparse

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from codestral_lsp import __version__
from codestral_lsp.backends import PROVIDERS, Route
from codestral_lsp.backends.client import FimClient
from codestral_lsp.completer import Answer, BadRequest, Completer
from codestral_lsp.documents import DocumentStore, TextChange
from codestral_lsp.engine import CompletionEngine
from codestral_lsp.governor import Governor, Limits
from codestral_lsp.lsp import items
from codestral_lsp.lsp.progress import CallProgress
from codestral_lsp.lsp.transport import Protocol, StdioServer
from codestral_lsp.notices import Notices
from codestral_lsp.positions import Encoding
from codestral_lsp.privacy import RedactingFilter
from codestral_lsp.scheduler import Scheduler
from codestral_lsp.settings import (
    Problem,
    Settings,
    client_section,
    load_layers,
    rate_limit,
    secrets,
    secrets_in,
)
from codestral_lsp.snippets import display_path
from codestral_lsp.stats import Stats
from codestral_lsp.tokens import TokenEstimator
from codestral_lsp.window import Assembler

logger = logging.getLogger(__name__)

_ENCODINGS: Mapping[str, Encoding] = {"utf-8": "utf-8", "utf-16": "utf-16", "utf-32": "utf-32"}
TRIGGER_CHARACTERS = [".", "(", "[", "{", ",", ":", "="]


class CodestralServer(StdioServer):
    """The language server; one instance per editor connection."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(
            "codestral-lsp",
            __version__,
            protocol_cls=Protocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.environ = dict(os.environ if environ is None else environ)
        self.documents = DocumentStore()
        self.settings_layers, self._startup_problems = load_layers(self.environ)
        self.client = FimClient(ca_bundle=self.settings_layers.current.ca_bundle)
        self._background: set[asyncio.Task[None]] = set()
        self.stats = Stats()
        self.notices = Notices(self.show_warning)  # the engine's and the governor's, one channel
        self.governor = Governor(notify=self.notices)
        self.assembler = Assembler(TokenEstimator(), self.documents)
        self.engine = CompletionEngine(
            self.client,
            Route.of(self.settings, self.environ),
            self.notices,
            self.governor,
            self.assembler.estimator,
            self.stats,
            answered=self.settings_layers.pin_destination,
        )
        self.call_progress = CallProgress(lambda: self.work_done_progress, self.run_task)
        self.scheduler = Scheduler(self.engine, self.documents, self.call_progress.watch)
        self.completer = Completer(
            self.documents, self.scheduler, self.assembler, self.governor, self.stats
        )
        self.client_is_neovim = False
        self.menu_fallback = False
        self.menu_caps = items.MenuCaps()
        self.redactor = RedactingFilter()
        self._learned: set[str] = set()  # credentials clients sent, valid or not: never shown
        self._shown: set[str] = set()
        self._settings_changed()

    @property
    def encoding(self) -> Encoding:
        return _ENCODINGS.get(str(self.workspace.position_encoding), "utf-16")

    @property
    def settings(self) -> Settings:
        return self.settings_layers.current

    def show_warning(self, message: str) -> None:
        self.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=message)
        )

    def take_client(self, params: types.InitializeParams) -> None:
        """What the client is and can do, from its initialize request."""
        client = params.client_info.name if params.client_info else ""
        self.client_is_neovim = client.lower().startswith("neovim")
        document = params.capabilities.text_document
        self.menu_fallback = document is None or document.inline_completion is None
        self.menu_caps = items.MenuCaps.of(params.capabilities)
        window = params.capabilities.window
        self.call_progress.enabled = bool(window and window.work_done_progress)
        root = params.root_uri or (params.root_path and f"file://{params.root_path}")
        self.completer.root = display_path(root) if root else None
        folders = [f.uri for f in params.workspace_folders or ()]
        self.completer.roots = tuple(display_path(uri) for uri in [*folders, root] if uri)

    def elsewhere(self, uri: str, invoked: bool) -> bool:
        """Whether an inline request for ``uri`` is Neovim asking for a buffer not in view.

        Neovim 0.12 asks for every buffer it serves, each with the current window's cursor
        (neovim#35965), always as an automatic request: the one to serve is the document
        edited (or opened) last. Its cost: in a buffer you switch to, the first suggestion
        comes once you have typed in it. A request the user invoked is always served.
        """
        if not self.client_is_neovim or invoked:
            return False
        recent = self.documents.recent()
        return bool(recent) and recent[0].uri != uri

    def serves_menu(self) -> bool:
        mode = self.settings.completion_fallback
        return mode == "on" or (mode == "auto" and self.menu_fallback)

    def learn_secrets(self, values: object) -> None:
        """Mask the credentials in a client's raw settings from now on, before anything logs."""
        self._learned.update(secrets_in(values))
        self._update_redactor()

    def apply_settings(self, source: str, values: Mapping[str, object]) -> None:
        """Take one source's settings; tell the user about each new problem once."""
        self.learn_secrets(values)
        self.report_problems(self.settings_layers.set_layer(source, values))
        self._settings_changed()
        logger.info("settings: %r", self.settings_layers.current)

    def _update_redactor(self) -> None:
        # every provider's key in the environment, sent or not (the current provider may take none)
        env_keys = [self.environ.get(p.key_env) for p in PROVIDERS.values() if p.key_env]
        self.redactor.secrets = tuple(secrets(self.settings, [*env_keys, *self._learned]))

    def _settings_changed(self) -> None:
        settings = self.settings
        self._update_redactor()
        # The one place the key and URL are resolved; requests use this route until the next change.
        self.engine.configure(settings, Route.of(settings, self.environ))
        limit = rate_limit(settings)
        self.governor.configure(
            Limits(limit.rpm, limit.tpm, limit.window_seconds, settings.max_tokens_per_day)
        )
        if settings.ca_bundle != self.client.ca_bundle:
            self.run_task(self.client.use_ca_bundle(settings.ca_bundle), "loading caBundle")

    def report_problems(self, problems: list[Problem]) -> None:
        for problem in problems:
            message = str(problem)
            logger.warning("%s", message)
            if "unknown" not in problem.reason and message not in self._shown:
                self._shown.add(message)
                self.show_warning(message)

    def statistics(self) -> dict[str, object]:
        return {
            **self.stats.snapshot(),
            "limiter": self.governor.snapshot(),
            "charsPerToken": self.assembler.estimator.snapshot(),
            "documents": len(self.documents),
            "held": self.held(),
            "process": {
                "rssBytes": resident_bytes(),
                "tasks": len(asyncio.all_tasks()),
                "connections": self.client.open_connections,
            },
        }

    def held(self) -> dict[str, int]:
        """What is kept about documents: per open document (its record's slots), and in the
        structures shared by all of them. All 0 once every document is closed."""
        return {
            **self.documents.held(),
            "cached": len(self.scheduler.memory),
            **self.assembler.held(),
        }

    def status(self) -> dict[str, object]:
        """What a user asks when completions do not appear: where, who, and what is wrong."""
        settings, route = self.settings, self.engine.route
        numbers = self.statistics()
        limiter: Any = numbers["limiter"]
        return {
            "version": __version__,
            "provider": settings.provider,
            "model": settings.model,
            "endpointHost": _host(route.url),
            "apiKey": {"set": route.key is not None, "source": route.key_source},
            "stopped": self.engine.stopped,
            "coolDownSeconds": limiter["coolDownSeconds"],
            "holding": limiter["holding"],
            "pacing": {
                "shareTokensPerMinute": limiter["shareTokensPerMinute"],
                "plannedTokensPerRequest": limiter["plannedTokensPerRequest"],
                "othersTokensPerMinute": limiter["othersTokensPerMinute"],
                "guardHeldShare": limiter["guardHeldShare"],
                "lastDecision": limiter["lastDecision"],
            },
            "lastError": numbers["lastError"],
            "stats": numbers,
        }

    async def stop_background(self) -> None:
        """Exclusion checks stop (their git processes killed and reaped) before the loop ends."""
        await self.completer.exclusions.aclose()

    def run_task(self, work: Coroutine[Any, Any, None], what: str) -> None:
        """Run ``work`` in the background; failures are logged, never lost."""
        task = asyncio.ensure_future(work)
        self._background.add(task)

        def finished(done: asyncio.Task[None]) -> None:
            self._background.discard(done)
            if not done.cancelled() and done.exception() is not None:
                logger.error("%s failed: %s", what, done.exception())

        task.add_done_callback(finished)

    async def suggest(
        self, document: types.TextDocumentIdentifier, position: types.Position, invoked: bool
    ) -> Answer:
        try:
            return await self.completer.suggest(
                document.uri,
                position.line,
                position.character,
                self.encoding,
                self.settings,
                invoked,
            )
        except BadRequest as exc:
            raise JsonRpcInvalidParams(str(exc)) from exc


def _host(url: str) -> str:
    """host[:port] of ``url``, without any credentials."""
    parts = urlparse(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port}" if parts.port else host


def resident_bytes() -> int:
    """This process's resident memory (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def is_ignore_file(uri: str) -> bool:
    """Whether saving ``uri`` may change what git ignores (``.gitignore``, ``info/exclude``)."""
    path = urlparse(uri).path
    return path.endswith(("/.gitignore", "/.git/info/exclude"))


def to_change(event: types.TextDocumentContentChangeEvent) -> TextChange:
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
        ls.take_client(params)
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

    @server.command("codestral.status")
    def status(ls: CodestralServer, *args: Any) -> dict[str, object]:
        return ls.status()

    @server.command(items.ACCEPTED)
    def accepted(ls: CodestralServer, *args: Any) -> None:
        details = args[0] if args and isinstance(args[0], dict) else {}
        chars = details.get("chars")
        ls.stats.accepted(chars if isinstance(chars, int) else 0)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CodestralServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        opened = ls.documents.open(doc.uri, doc.text, doc.version, doc.language_id)
        ls.assembler.opened(opened, doc.text)
        ls.completer.opened(doc.uri, ls.settings)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: CodestralServer, params: types.DidSaveTextDocumentParams) -> None:
        if is_ignore_file(params.text_document.uri):
            ls.completer.exclusions.refresh()  # what git ignores may have changed

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: CodestralServer, params: types.DidChangeTextDocumentParams) -> None:
        doc = params.text_document
        changes = [to_change(c) for c in params.content_changes]
        ls.assembler.edit(ls.documents, doc.uri, doc.version, changes, ls.encoding)
        ls.completer.changed(doc.uri, changes, ls.encoding, ls.settings)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CodestralServer, params: types.DidCloseTextDocumentParams) -> None:
        if not ls.documents.close(params.text_document.uri):
            logger.warning("didClose for a document that is not open: %s", params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: CodestralServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList | None:
        """``null``: this request lost (the editor asks again); empty: nothing to show here.

        Neovim gets an empty list in both cases, and for a position that is not in the
        document: it shows any answer wherever its cursor is by then, and keeps what it shows
        on ``null``; a request that lost means the text moved on, so what it shows is stale.
        """
        nothing = types.InlineCompletionList(items=[])
        invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        if ls.elsewhere(params.text_document.uri, invoked):
            return nothing
        try:
            answer = await ls.suggest(params.text_document, params.position, invoked)
        except JsonRpcInvalidParams:
            if ls.client_is_neovim:
                return nothing
            raise
        return items.inline_reply(answer, ls.encoding, ls.client_is_neovim)

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=TRIGGER_CHARACTERS, resolve_provider=False),
    )
    async def completion(
        ls: CodestralServer, params: types.CompletionParams
    ) -> types.CompletionList | None:
        """The same suggestion as one menu item, for clients without inline completion."""
        if not ls.serves_menu():
            return None
        # Menu clients ask on their own idle timers: treat every request as automatic.
        answer = await ls.suggest(params.text_document, params.position, invoked=False)
        return items.menu_reply(answer, ls.encoding, ls.menu_caps, ls.client_is_neovim)

    return server
