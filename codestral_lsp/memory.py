"""Completions kept in memory: an exact cache, and reuse while the user types through a suggestion.

Two lookups, both O(context window):
- exact: a cachetools TTLCache keyed on the answer-changing settings, the prompt and the suffix;
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

from codestral_lsp.local import FimContext
from codestral_lsp.settings import Settings

_PER_DOCUMENT = 8  # recent completions per document checked for typed-through reuse


def answer_key(settings: Settings, url: str) -> Hashable:
    """Everything in the settings (and the URL they lead to) that changes what the model answers.

    ``maxTokens`` is not part of it: pacing plans it per request, and a shorter answer is the
    start of a longer one, as good to show."""
    return (
        url,
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
    source: str  # "cache" (same state) or "typed" (typed through)
    origin: object = None


class CompletionMemory:
    """The exact cache and the per-document recent completions."""

    def __init__(self, size: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ttl = ttl
        self._exact: TTLCache[tuple[Hashable, str, str], tuple[str, object]] = TTLCache(
            maxsize=max(size, 1), ttl=ttl, timer=clock
        )
        self._recent: dict[str, collections.deque[Remembered]] = {}
        self.enabled = size > 0
        self.shape = (size, ttl)

    def remember(
        self, context: FimContext, key: Hashable, text: str, origin: object = None
    ) -> None:
        if not self.enabled or not text:
            return
        self._exact[(key, context.sent_prompt, context.suffix)] = (text, origin)
        recent = self._recent.setdefault(context.uri, collections.deque(maxlen=_PER_DOCUMENT))
        recent.append(Remembered(context, key, text, self._clock(), origin))

    def lookup(self, context: FimContext, key: Hashable) -> Hit | None:
        if not self.enabled:
            return None
        exact = self._exact.get((key, context.sent_prompt, context.suffix))
        if exact is not None:
            return Hit(exact[0], "cache", exact[1])
        now = self._clock()
        for item in reversed(self._recent.get(context.uri, ())):
            if item.key != key or now - item.stored_at > self._ttl:
                continue
            typed = typed_since(item.context, context)
            if typed is not None and item.text.startswith(typed) and len(item.text) > len(typed):
                return Hit(item.text[len(typed) :], "typed" if typed else "cache", item.origin)
        return None

    def forget(self, uri: str) -> None:
        """Drop a closed document's recent completions."""
        self._recent.pop(uri, None)
