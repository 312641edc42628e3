"""Completions kept in memory: an exact cache, and reuse while the user types through a suggestion.

Two lookups, both O(context window):
- exact: a cachetools TTLCache keyed on the document, the answer-changing settings, the prompt
  and the suffix;
- typed-through: for the last few completions of a document, whether the current state is that
  completion's state plus a prefix of its text typed (or accepted) at the cursor, across line
  ends too; if so, the rest of the text is the answer.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from cachetools import TTLCache

from codestral_lsp.documents import DocumentStore, Slot
from codestral_lsp.local import FimContext
from codestral_lsp.settings import Settings
from codestral_lsp.source import Source

_PER_DOCUMENT = 8  # recent completions per document checked for typed-through reuse


def answer_key(settings: Settings) -> Hashable:
    """Everything in the settings that changes what the model answers.

    ``maxTokens`` is not part of it: pacing plans it per request, and a shorter answer is the
    start of a longer one, as good to show."""
    return (
        settings.provider,  # with region and endpoint: the backend (the route's URL follows
        settings.region,  # from these three; it is not resolved again per request)
        settings.endpoint,
        settings.model,
        settings.temperature,
        settings.top_p,
        settings.min_tokens,
        settings.stop,
        settings.random_seed,
    )


def typed_since(old: FimContext, new: FimContext) -> str | None:
    """The text typed at ``old``'s cursor that leads to ``new``, or None if ``new`` is not that.

    Typing across line ends (Enter and indentation, accepting lines of a suggestion) counts
    too: the typed text then starts at ``old``'s column of the line as many lines up in
    ``new``'s prompt as the cursor moved down. O(typed text).
    """
    if new.uri != old.uri or new.suffix != old.suffix:
        return None
    (l0, i0), (l1, i1) = (old.cursor.line, old.cursor.index), (new.cursor.line, new.cursor.index)
    if l1 < l0 or (l1 == l0 and i1 < i0):
        return None
    if l0 < new.first_line:
        return None  # the old cursor's line is not in the new window
    prompt = new.prompt
    line_start = len(prompt) - i1  # where the cursor's line starts in the prompt
    for _ in range(l1 - l0):
        line_start = prompt.rfind("\n", 0, max(0, line_start - 1)) + 1
    at = line_start + i0
    if at < 0 or at > len(prompt):
        return None
    typed = prompt[at:]
    # The window may have dropped whole lines at its start; what remains must line up.
    if not (old.prompt + typed).endswith(prompt):
        return None
    return typed


@dataclass(frozen=True)
class Remembered:
    context: FimContext
    key: Hashable
    text: str
    stored_at: float
    origin: object = None  # what the caller said the text came from (the call's record)


@dataclass(frozen=True)
class Hit:
    text: str
    source: Source  # CACHE (same state) or TYPED (typed through)
    origin: object = None


class CompletionMemory:
    """The exact cache and each open document's recent completions.

    Sized by the settings each call brings (``cacheSize``, ``cacheTtlSeconds``; 0 turns it
    off). A document's recent completions are kept in its record in ``documents``, and its
    exact entries are dropped when it closes: nothing stays of a closed document.
    """

    def __init__(
        self, documents: DocumentStore, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.documents = documents
        self._clock = clock
        self._shape = (0, 0.0)
        self._exact: TTLCache[tuple[str, Hashable, str, str], tuple[str, object]] = TTLCache(
            maxsize=1, ttl=0, timer=clock
        )
        self._recent: Slot[collections.deque[Remembered]] = Slot(
            "memory", lambda: collections.deque(maxlen=_PER_DOCUMENT)
        )
        documents.also_forget(self._forget_exact)

    def __len__(self) -> int:
        """Entries in the exact cache."""
        return len(self._exact)

    def _fit(self, settings: Settings) -> bool:
        """Take the size and lifetime ``settings`` ask for (a new size starts empty); on?"""
        shape = (settings.cache_size, settings.cache_ttl_seconds)
        if shape != self._shape:
            self._shape = shape
            self._exact = TTLCache(maxsize=max(shape[0], 1), ttl=shape[1], timer=self._clock)
        return shape[0] > 0

    def remember(
        self, context: FimContext, settings: Settings, text: str, origin: object = None
    ) -> None:
        tracked = self.documents.tracked(context.uri)
        if not self._fit(settings) or not text or tracked is None:
            return
        key = answer_key(settings)
        self._exact[(context.uri, key, context.sent_prompt, context.suffix)] = (text, origin)
        tracked.get(self._recent).append(Remembered(context, key, text, self._clock(), origin))

    def lookup(self, context: FimContext, settings: Settings) -> Hit | None:
        tracked = self.documents.tracked(context.uri)
        if not self._fit(settings) or tracked is None:
            return None
        key = answer_key(settings)
        exact = self._exact.get((context.uri, key, context.sent_prompt, context.suffix))
        if exact is not None:
            return Hit(exact[0], Source.CACHE, exact[1])
        now = self._clock()
        for item in reversed(tracked.peek(self._recent) or ()):
            if item.key != key or now - item.stored_at > self._shape[1]:
                continue
            typed = typed_since(item.context, context)
            if typed is not None and item.text.startswith(typed) and len(item.text) > len(typed):
                return Hit(
                    item.text[len(typed) :], Source.TYPED if typed else Source.CACHE, item.origin
                )
        return None

    def _forget_exact(self, uri: str) -> None:
        """A document closed: its exact entries go too (O(cache size), once per close)."""
        for entry in [k for k in list(self._exact.keys()) if k[0] == uri]:
            self._exact.pop(entry, None)
