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
from codestral_lsp.documents import (
    Cursor,
    Document,
    DocumentError,
    DocumentStore,
    Slot,
    TextChange,
)
from codestral_lsp.engine import shape_at
from codestral_lsp.exclusion import Exclusions, Policy, refusal
from codestral_lsp.governor import Governor
from codestral_lsp.positions import Encoding, to_units
from codestral_lsp.scheduler import Outcome, Scheduler
from codestral_lsp.settings import Settings
from codestral_lsp.shaping import Shaped, Surroundings
from codestral_lsp.source import Source
from codestral_lsp.stats import Stats
from codestral_lsp.window import Assembler

logger = logging.getLogger(__name__)


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


@dataclass
class _Seen:
    """What the completer keeps about one open document."""

    latest: int = 0  # the newest request's number
    shown: _Shown | None = None  # the last suggestion shown, until the next change
    told_too_large: bool = False  # "larger than maxFileSize" is logged once per file


@dataclass(frozen=True)
class Answer:
    """What to show for one request: a suggestion, or why there is none."""

    request_id: str
    source: Source
    suggestion: Suggestion | None = None

    @property
    def nothing_here(self) -> bool:
        """No suggestion, and none belongs here: an empty list, not ``null``."""
        return self.suggestion is None and self.source.nothing_here


class Completer:
    """Runs suggestion requests against the open documents.

    What each stage keeps about a document lives in its record in ``documents`` (made at
    open, dropped at close: see ``documents.Tracked``). Settings come with each call: a
    request reads them once and hands that one snapshot to every stage it goes through.
    """

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
        self.roots: tuple[str, ...] = ()  # workspace roots, for the exclusion policy
        self.exclusions = Exclusions(documents)
        self._seen: Slot[_Seen] = Slot("completer", _Seen)
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
        tracked = self.documents.tracked(uri)
        if tracked is None and self.documents.was_closed(uri):
            return Answer("-", Source.CLOSED)  # closed while this request was on its way: null
        if tracked is None:
            raise BadRequest(f"document is not open: {uri}")
        doc, seen = tracked.doc, tracked.get(self._seen)
        try:
            cursor = doc.resolve(line, character, encoding)
        except DocumentError as exc:
            raise BadRequest(f"bad position {line}:{character}: {exc}") from exc
        self._ids += 1
        request_id, number = f"c{self._ids}", self._ids
        seen.latest = number
        trigger = "invoked" if invoked else "auto"
        version = doc.version
        refusal = await self.refusal(doc, settings)
        if refusal is None and seen.latest != number:
            refusal = Source.SUPERSEDED  # a newer request came while this one awaited the decision
        elif refusal is None and doc.version != version:
            refusal = Source.STALE  # edited while its exclusion was being decided: asked again
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
            waited = Outcome(None, Source.CANCELLED, upstream_s=time.monotonic() - waiting)
            self._done(Answer(request_id, Source.CANCELLED), waited, started, detail)
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
        tracked = self.documents.tracked(uri)
        if tracked is None:
            return
        seen, doc = tracked.get(self._seen), tracked.doc
        shown, seen.shown = seen.shown, None
        if shown is None or not settings.speculate or len(changes) != 1:
            return
        cursor = _accepted(shown, changes[0], doc, encoding)
        policy = Policy.of(settings, self.roots)
        allowed = self.exclusions.allowed(uri, policy) and doc.length <= settings.max_file_size
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
        tracked = self.documents.tracked(fim.uri)
        if tracked is None or not local.still_fits(tracked.doc, fim):
            self.stats.call_lost(outcome.use, Source.STALE)
            outcome.source, outcome.text = Source.STALE, None
            return Answer(request_id, Source.STALE)
        current = tracked.doc
        shaped, around = shape_at(outcome.text, current, fim.cursor, settings)
        if shaped is None:
            self.stats.call_lost(outcome.use, Source.SHAPED_AWAY)
            outcome.source, outcome.text = Source.SHAPED_AWAY, None
            return Answer(request_id, Source.SHAPED_AWAY)
        outcome.text = shaped.text
        self.stats.shown()
        self.stats.call_shown(outcome.use)
        tracked.get(self._seen).shown = _Shown(fim.cursor, shaped.text)
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
        policy = Policy.of(settings, self.roots)
        allowed = (
            d
            for d in self.documents.recent()
            if d.uri != uri
            and self.exclusions.allowed(d.uri, policy)
            and d.length <= settings.max_file_size
        )
        return list(itertools.islice(allowed, snippets.MAX_DOCUMENTS))

    async def refusal(self, doc: Document, settings: Settings) -> Source | None:
        """Why ``doc`` must not be completed nor read (EXCLUDED, TOO_LARGE), or None.

        Waits (briefly, see ``exclusion.WAIT_S``) for this document's own exclusion decision,
        never for another's. Each reason is logged once per file.
        """
        decision = await self.exclusions.decision(doc.uri, Policy.of(settings, self.roots))
        refused = refusal(decision, doc.length, settings.max_file_size)
        if refused is None:
            return None
        if refused.source is Source.TOO_LARGE:
            tracked = self.documents.tracked(doc.uri)
            seen = None if tracked is None else tracked.get(self._seen)
            if seen is not None and not seen.told_too_large:
                seen.told_too_large = True
                logger.warning("%s %s: no completions", doc.uri, refused.why)
        return refused.source

    def opened(self, uri: str, settings: Settings) -> None:
        """Decide ``uri``'s exclusion now, in the background (its requests wait for it)."""
        self.exclusions.open(uri, Policy.of(settings, self.roots))


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
