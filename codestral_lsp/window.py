"""A request's whole context: the token budget, the local window, then snippets from elsewhere."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from codestral_lsp import context, snippets
from codestral_lsp.documents import Cursor, Document
from codestral_lsp.settings import Settings
from codestral_lsp.tokens import TokenEstimator

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
    """Builds FimContexts; keeps the snippet index and the trail of recent edits."""

    def __init__(self, estimator: TokenEstimator) -> None:
        self.estimator = estimator
        self.trail = snippets.EditTrail()
        self.index = snippets.ChunkIndex()

    def assemble(
        self,
        doc: Document,
        cursor: Cursor,
        settings: Settings,
        others: Iterable[Document],
        scale: float = 1.0,
        root: str | None = None,
    ) -> context.FimContext:
        plan = budget(settings, self.estimator, doc.language_id, scale)
        local = context.build(doc, cursor, plan.prompt, plan.suffix)
        if not settings.extra_context_share:
            return local
        unused = plan.prompt + plan.suffix - len(local.prompt) - len(local.suffix)
        lent = self.estimator.tokens(max(0, unused), doc.language_id) - 1
        room = plan.extra + self.estimator.cautious_chars(lent, doc.language_id)
        chosen = snippets.choose(local, doc, others, self.trail, self.index, room)
        if not chosen:
            return local
        return dataclasses.replace(local, extra=snippets.preamble(chosen, doc.uri, root))

    def budget_need(self, language: str, settings: Settings) -> int:
        """Tokens a request with the full budget would spend, maxTokens included."""
        full = budget(settings, self.estimator, language, 1.0)
        return full.tokens + (settings.max_tokens or 0)

    def need(self, fim: context.FimContext, settings: Settings) -> int:
        """Estimated tokens a request spends: its prompt and suffix, plus maxTokens."""
        chars = len(fim.extra) + len(fim.prompt) + len(fim.suffix)
        return self.estimator.tokens(chars, fim.language_id) + (settings.max_tokens or 0)

    def forget(self, uri: str) -> None:
        self.trail.forget(uri)
        self.index.forget(uri)
