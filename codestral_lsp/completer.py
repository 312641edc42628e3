"""One suggestion request, start to finish: document → window → scheduler → shaping → answer.

Both the inline path and the completion-menu fallback come through here, so they share the
scheduling, memory, limits and shaping. Nothing here knows LSP types: ``items.py`` builds those.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from codestral_lsp import local, snippets
from codestral_lsp.documents import Cursor, Document, DocumentError, DocumentStore, TextChange
from codestral_lsp.engine import shape_at
from codestral_lsp.exclusion import Exclusions, Policy, refusal
from codestral_lsp.governor import Governor
from codestral_lsp.positions import Encoding, to_units
from codestral_lsp.scheduler import Outcome, Scheduler
from codestral_lsp.settings import Settings
from codestral_lsp.shaping import Shaped, Surroundings
from codestral_lsp.stats import Stats
from codestral_lsp.window import Assembler

logger = logging.getLogger(__name__)

# Outcomes that mean "nothing to show here" (an empty list hides what the editor shows); the
# others mean "this request lost" (null: the editor asks again for its new state).
NOTHING_HERE = frozenset({"empty", "limited", "stopped", "excluded", "too-large", "shaped-away"})


class BadRequest(ValueError):
    """The editor asked about a document or position that does not exist."""


@dataclass(frozen=True)
class Suggestion:
    """A shaped suggestion and where it goes: the document as it is now, at the cursor."""

    request_id: str
    doc: Document
    cursor: Cursor
    shaped: Shaped
    around: Surroundings


@dataclass(frozen=True)
class _Shown:
    """The last suggestion shown for a document (forgotten at its next change)."""

    cursor: Cursor
    text: str


@dataclass(frozen=True)
class Answer:
    """What to show for one request: a suggestion, or why there is none."""

    request_id: str
    source: str
    suggestion: Suggestion | None = None

    @property
    def nothing_here(self) -> bool:
        return self.source in NOTHING_HERE


class Completer:
    """Runs suggestion requests against the open documents."""

    def __init__(
        self,
        documents: DocumentStore,
        scheduler: Scheduler,
        assembler: Assembler,
        governor: Governor,
        stats: Stats,
    ) -> None:
        self.documents, self.scheduler, self.assembler = documents, scheduler, assembler
        self.governor, self.stats = governor, stats
        self.root: str | None = None
        self.exclusions = Exclusions()
        self._too_large_told: set[str] = set()
        self._latest: dict[str, int] = {}  # the newest request's number, per document
        self._shown: dict[str, _Shown] = {}
        self._ids = 0

    async def suggest(
        self,
        uri: str,
        line: int,
        character: int,
        encoding: Encoding,
        settings: Settings,
        invoked: bool,
    ) -> Answer:
        started = time.monotonic()
        doc = self.documents.get(uri)
        if doc is None and self.documents.was_closed(uri):
            return Answer("-", "closed")  # closed while this request was on its way: null
        if doc is None:
            raise BadRequest(f"document is not open: {uri}")
        try:
            cursor = doc.resolve(line, character, encoding)
        except DocumentError as exc:
            raise BadRequest(f"bad position {line}:{character}: {exc}") from exc
        self._ids += 1
        request_id, number = f"c{self._ids}", self._ids
        self._latest[uri] = number
        trigger = "invoked" if invoked else "auto"
        version = doc.version
        refusal = await self.refusal(doc, settings)
        if refusal is None and self._latest.get(uri) != number:
            refusal = "superseded"  # a newer request came while this one awaited the decision
        elif refusal is None and doc.version != version:
            refusal = "stale"  # edited while its exclusion was being decided: asked again
        if refusal is not None:
            answer = Answer(request_id, refusal)
            return self._done(answer, Outcome(None, refusal), started, f"trigger={trigger}")
        fim, need, settings = self._window(doc, cursor, settings, invoked)
        detail = (
            f"trigger={trigger} prompt={len(fim.prompt)} suffix={len(fim.suffix)} "
            f"extra={len(fim.extra)} est_tokens={need}"
        )
        waiting = time.monotonic()
        try:
            outcome = await self.scheduler.request(fim, settings, invoked, request_id, need)
        except asyncio.CancelledError:
            # Cancelled while waiting (pause or backend): that time is not the server's own.
            waited = Outcome(None, "cancelled", upstream_s=time.monotonic() - waiting)
            self._done(Answer(request_id, "cancelled"), waited, started, detail)
            raise
        answer = self._fit(request_id, fim, outcome, settings)
        return self._done(answer, outcome, started, detail)

    def _window(
        self, doc: Document, cursor: Cursor, settings: Settings, invoked: bool
    ) -> tuple[local.FimContext, int, Settings]:
        """The context to send for ``cursor``, the tokens it needs (prompt + maxTokens), and the
        settings for its call (``maxTokens`` as the governor planned it)."""
        others = self.snippet_sources(doc.uri, settings)
        full = self.assembler.budget_need(doc.language_id, settings)
        plan = self.governor.plan(invoked, full, settings.max_tokens)
        if plan.max_tokens != settings.max_tokens:
            settings = dataclasses.replace(settings, max_tokens=plan.max_tokens)
        fim = self.assembler.assemble(doc, cursor, settings, others, plan.scale, self.root)
        return fim, self.assembler.need(fim, settings), settings

    def changed(
        self, uri: str, changes: Sequence[TextChange], encoding: Encoding, settings: Settings
    ) -> None:
        """A didChange was applied. When it inserted the whole suggestion last shown (an
        accept), the next request will come at its end: start that call now."""
        self.scheduler.changed(uri)
        shown = self._shown.pop(uri, None)
        doc = self.documents.get(uri)
        if shown is None or doc is None or not settings.speculate or len(changes) != 1:
            return
        cursor = _accepted(shown, changes[0], doc, encoding)
        allowed = self.exclusions.allowed(uri) and doc.length <= settings.max_file_size
        if cursor is None or not allowed:
            return
        fim, need, settings = self._window(doc, cursor, settings, invoked=False)
        self._ids += 1
        request_id = f"s{self._ids}"
        if self.scheduler.speculate(fim, settings, request_id, need):
            logger.info("[%s] speculative call after an accept, est_tokens=%d", request_id, need)

    def _fit(
        self, request_id: str, fim: local.FimContext, outcome: Outcome, settings: Settings
    ) -> Answer:
        """Check the answer against the document as it is now, and shape it to fit there."""
        if outcome.text is None:
            return Answer(request_id, outcome.source)
        current = self.documents.get(fim.uri)
        if current is None or not local.still_fits(current, fim):
            self.stats.call_lost(outcome.use, "stale")
            outcome.source, outcome.text = "stale", None
            return Answer(request_id, "stale")
        shaped, around = shape_at(outcome.text, current, fim.cursor, settings)
        if shaped is None:
            self.stats.call_lost(outcome.use, "shaped-away")
            outcome.source, outcome.text = "shaped-away", None
            return Answer(request_id, "shaped-away")
        outcome.text = shaped.text
        self.stats.shown()
        self.stats.call_shown(outcome.use)
        self._shown[fim.uri] = _Shown(fim.cursor, shaped.text)
        suggestion = Suggestion(request_id, current, fim.cursor, shaped, around)
        return Answer(request_id, outcome.source, suggestion)

    def _done(self, answer: Answer, outcome: Outcome, started: float, detail: str) -> Answer:
        """Count the answer and log its one line (at -v): what was asked, where time went."""
        self.stats.outcome(answer.source)
        total = time.monotonic() - started
        overhead = total - outcome.debounce_s - outcome.upstream_s
        logger.info(
            "[%s] done source=%s total_ms=%.3f debounce_ms=%.3f upstream_ms=%.3f "
            "overhead_ms=%.3f chars=%d %s",
            answer.request_id,
            answer.source,
            total * 1000,
            outcome.debounce_s * 1000,
            outcome.upstream_s * 1000,
            overhead * 1000,
            len(outcome.text or ""),
            detail,
        )
        return answer

    def snippet_sources(self, uri: str, settings: Settings) -> list[Document]:
        """The most recently used other documents known to be allowed (undecided ones wait).

        At most ``snippets.MAX_DOCUMENTS``: what a request reads of other files stays bounded
        however many are open.
        """
        allowed = (
            d
            for d in self.documents.recent()
            if d.uri != uri
            and self.exclusions.allowed(d.uri)
            and d.length <= settings.max_file_size
        )
        return list(itertools.islice(allowed, snippets.MAX_DOCUMENTS))

    async def refusal(self, doc: Document, settings: Settings) -> str | None:
        """Why ``doc`` must not be completed nor read ("excluded", "too-large"), or None.

        Waits (briefly, see ``exclusion.WAIT_S``) for this document's own exclusion decision,
        never for another's. Each reason is logged once per file.
        """
        decision = await self.exclusions.decision(doc.uri)
        refused = refusal(decision, doc.length, settings.max_file_size)
        if refused is None:
            return None
        if refused.source == "too-large" and doc.uri not in self._too_large_told:
            self._too_large_told.add(doc.uri)
            logger.warning("%s %s: no completions", doc.uri, refused.why)
        return refused.source

    def opened(self, uri: str) -> None:
        """Decide ``uri``'s exclusion now, in the background (its requests wait for it)."""
        self.exclusions.open(uri)

    def configure(self, settings: Settings, roots: tuple[str, ...] | None = None) -> None:
        """Take new settings (and workspace roots); decisions are redone only if they matter."""
        roots = self.exclusions.policy.roots if roots is None else roots
        self.exclusions.use(Policy.of(settings, roots))

    def forget(self, uri: str) -> None:
        self.exclusions.forget(uri)
        self._latest.pop(uri, None)
        self._shown.pop(uri, None)
        self._too_large_told.discard(uri)
        self.scheduler.forget(uri)
        self.assembler.forget(uri)


def _accepted(
    shown: _Shown, change: TextChange, doc: Document, encoding: Encoding
) -> Cursor | None:
    """Where the cursor is after ``change``, the first since ``shown`` was shown, if it inserted
    all of ``shown`` at its cursor (over what the suggestion replaced on that line), else None."""
    if change.range is None:
        return None
    line, start, end_line, _ = change.range
    at = shown.cursor
    if line != at.line or end_line != line or change.text.replace("\r\n", "\n") != shown.text:
        return None
    if start != to_units(doc.line(line), at.index, encoding):
        return None
    rows = shown.text.split("\n")
    if len(rows) == 1:
        return Cursor(line, at.index + len(shown.text))
    return Cursor(line + len(rows) - 1, len(rows[-1]))
