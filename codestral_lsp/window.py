"""A request's whole context: the token budget, the local window, then snippets from elsewhere.

With ``redactSecrets`` the secrets each part holds are found in its document (``redaction``):
the snippets are masked here, the prompt and suffix carry their spans (``FimContext.hidden``)
and are masked as they leave (``engine.outgoing``), so the cache and the staleness checks still
compare them with the document.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from codestral_lsp import redaction, snippets
from codestral_lsp.documents import Cursor, Document, DocumentStore, TextChange
from codestral_lsp.local import FimContext
from codestral_lsp.local import build as build_local
from codestral_lsp.positions import Encoding
from codestral_lsp.settings import Settings
from codestral_lsp.tokens import TokenEstimator

logger = logging.getLogger(__name__)

_FIM_OVERHEAD_TOKENS = 16  # the FIM control tokens around prompt and suffix


@dataclass(frozen=True)
class Budget:
    """Characters for each part of a request, from its token budget."""

    prompt: int
    suffix: int
    extra: int
    tokens: int


def budget(settings: Settings, estimator: TokenEstimator, language: str, scale: float) -> Budget:
    """Split ``contextTokens`` (capped by the model's length) into the parts' characters."""
    room = settings.context_length - (settings.max_tokens or 0) - _FIM_OVERHEAD_TOKENS
    tokens = max(0, int(min(settings.context_tokens, room) * scale))
    extra = int(tokens * settings.extra_context_share)
    suffix = int((tokens - extra) * settings.suffix_share)
    prompt = tokens - extra - suffix
    chars = estimator.chars
    cautious = estimator.cautious_chars(extra, language)
    return Budget(chars(prompt, language), chars(suffix, language), cautious, tokens)


class Assembler:
    """Builds FimContexts; keeps the snippet index, the trail of recent edits and the secrets.

    With ``documents`` (the server), what it keeps about a document goes when that document
    closes: its secrets with its record, its chunks and edit spots from the shared structures.
    """

    def __init__(
        self,
        estimator: TokenEstimator,
        documents: DocumentStore | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.estimator = estimator
        self.clock = clock  # times the choice of snippets (snippets.DEADLINE_S)
        self.trail = snippets.EditTrail()
        self.index = snippets.ChunkIndex()
        self.secrets = redaction.SecretIndex(documents)
        if documents is not None:
            documents.also_forget(self.trail.forget)
            documents.also_forget(self.index.forget)

    def opened(self, doc: Document, text: str | None = None) -> None:
        """Index a document just opened for its secrets (``text``: its whole text, if at hand)."""
        self.secrets.opened(doc, text)

    def edit(
        self,
        store: DocumentStore,
        uri: str,
        version: int,
        changes: Sequence[TextChange],
        encoding: Encoding,
    ) -> None:
        """Apply one ``didChange`` to ``store``, and follow it in the trail and the secrets.

        Changes go one at a time, so the secret index learns where each one moved lines.
        """
        doc = store.get(uri)
        if doc is None:
            store.change(uri, version, changes, encoding)  # says it is not open
            return
        for change in changes:
            before = doc.line_count
            store.change(uri, version, [change], encoding)
            self.secrets.changed(doc, change, before)
            self.trail.record(uri, change.range[0] if change.range else 0)
        self.secrets.synced(doc)

    def assemble(
        self,
        doc: Document,
        cursor: Cursor,
        settings: Settings,
        others: Iterable[Document],
        scale: float = 1.0,
        root: str | None = None,
    ) -> FimContext:
        plan = budget(settings, self.estimator, doc.language_id, scale)
        local = build_local(doc, cursor, plan.prompt, plan.suffix)
        if settings.redact_secrets:
            local = dataclasses.replace(local, hidden=self.hidden(doc, local))
        if not settings.extra_context_share:
            return local
        others = list(others)
        unused = plan.prompt + plan.suffix - len(local.prompt) - len(local.suffix)
        lent = self.estimator.tokens(max(0, unused), doc.language_id) - 1
        room = plan.extra + self.estimator.cautious_chars(lent, doc.language_id)
        chosen = snippets.choose(local, doc, others, self.trail, self.index, room, self.clock)
        if not chosen:
            return local
        if settings.redact_secrets:
            docs = {d.uri: d for d in others} | {doc.uri: doc}
            chosen = [self._masked(chunk, docs) for chunk in chosen]
        return dataclasses.replace(
            local,
            extra=snippets.preamble(chosen, doc.uri, root),
            extra_files=snippets.files(chosen, root),
        )

    def hidden(self, doc: Document, local: FimContext) -> redaction.Hidden:
        """Where the secrets are in ``local``'s prompt and suffix, found in whole lines."""
        cursor = local.cursor
        head = len(local.prompt) if local.first_line == cursor.line else cursor.index
        rest = len(doc.line_with_ending(cursor.line)) - cursor.index
        tail = len(local.suffix) if local.last_line == cursor.line else rest
        focus = (cursor.line, cursor.index - head, cursor.index + tail)
        lines = self.secrets.lines(doc, local.first_line, local.last_line, focus)
        at = lines.starts[cursor.line - local.first_line] + cursor.index
        prompt = (at - len(local.prompt), at)
        suffix = (at, at + len(local.suffix))
        if lines.text[prompt[0] : prompt[1]] != local.prompt or (
            lines.text[suffix[0] : suffix[1]] != local.suffix
        ):  # cannot happen; if it ever does, hide everything rather than guess
            logger.error("window of %s does not line up with its lines: all of it hidden", doc.uri)
            return redaction.Hidden(((0, len(local.prompt)),), ((0, len(local.suffix)),))
        return redaction.Hidden(
            redaction.clip(lines.hidden, *prompt), redaction.clip(lines.hidden, *suffix)
        )

    def _masked(self, chunk: snippets.Chunk, docs: Mapping[str, Document]) -> snippets.Chunk:
        """``chunk`` with the secrets of its document's lines masked."""
        doc = docs.get(chunk.uri)
        if doc is None:  # cannot happen: chunks come from these documents
            return dataclasses.replace(chunk, text=redaction.MASK + "\n")
        lines = self.secrets.lines(doc, chunk.start, chunk.end)
        if lines.text != chunk.text:  # the document moved on: say nothing of it
            return dataclasses.replace(chunk, text=redaction.MASK + "\n")
        return dataclasses.replace(chunk, text=redaction.mask(chunk.text, lines.hidden))

    def budget_need(self, language: str, settings: Settings) -> int:
        """Tokens a request with the full budget would spend, maxTokens included."""
        full = budget(settings, self.estimator, language, 1.0)
        return full.tokens + (settings.max_tokens or 0)

    def need(self, fim: FimContext, settings: Settings) -> int:
        """Estimated tokens a request spends: its prompt and suffix, plus maxTokens."""
        chars = len(fim.extra) + len(fim.prompt) + len(fim.suffix)
        return self.estimator.tokens(chars, fim.language_id) + (settings.max_tokens or 0)

    def held(self) -> dict[str, int]:
        """What the shared structures hold: edit spots, indexed documents, remembered lines."""
        return {
            "editSpots": len(self.trail),
            "indexedDocuments": len(self.index),
            "secretLines": self.secrets.held(),
        }
