"""Counts for this session: requests by outcome, upstream calls and tokens per model, and the
calls whose answer was never shown (wasted), by why."""

from __future__ import annotations

import collections
import datetime
from dataclasses import dataclass

from codestral_lsp.source import Source


@dataclass(eq=False)
class CallUse:
    """One upstream call, followed until any answer drawn from it (directly, shared, or from
    memory) is shown; ``loss`` is the first reason one of its answers was not."""

    speculative: bool = False
    shown: bool = False
    loss: str | None = None


@dataclass
class ModelUsage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: int = 0


class Stats:
    """What the server did; read by the ``codestral.stats`` command and logged on shutdown."""

    def __init__(self) -> None:
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.models: dict[str, ModelUsage] = collections.defaultdict(ModelUsage)
        self.errors: collections.Counter[str] = collections.Counter()
        self.last_error: tuple[str, str, str] | None = None  # kind, message, ISO time
        self.suggestions_shown = 0
        self.suggestions_accepted = 0
        self.accepted_chars = 0
        self.calls_started = 0
        self.calls_shown = 0
        self.speculative_started = 0
        self.speculative_shown = 0
        self.losses: collections.Counter[str] = collections.Counter()  # of calls not shown yet

    def call_started(self, speculative: bool = False) -> CallUse:
        self.calls_started += 1
        self.speculative_started += speculative
        return CallUse(speculative)

    def call_shown(self, use: CallUse | None) -> None:
        """An answer drawn from ``use`` was shown: the call was not wasted."""
        if use is None or use.shown:
            return
        use.shown = True
        self.calls_shown += 1
        self.speculative_shown += use.speculative
        if use.loss is not None:
            self.losses[use.loss] -= 1

    def call_lost(self, use: CallUse | None, reason: Source) -> None:
        """An answer of ``use`` was not shown (superseded, stale, shaped-away, empty...)."""
        if use is None or use.shown or use.loss is not None:
            return
        use.loss = reason.value
        self.losses[reason.value] += 1

    def shown(self) -> None:
        self.suggestions_shown += 1

    def accepted(self, chars: int) -> None:
        self.suggestions_accepted += 1
        self.accepted_chars += max(0, chars)

    def outcome(self, source: Source) -> None:
        self.outcomes[source.value] += 1

    def call(self, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        usage = self.models[model]
        usage.calls += 1
        usage.prompt_tokens += prompt_tokens
        usage.completion_tokens += completion_tokens

    def failure(self, model: str, kind: str, message: str) -> None:
        self.models[model].failures += 1
        self.errors[kind] += 1
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self.last_error = (kind, message, stamp)

    def _calls(self) -> dict[str, object]:
        """Started, shown, wasted (never shown, so far) by first reason, speculative."""
        wasted = self.calls_started - self.calls_shown
        reasons = {k: v for k, v in self.losses.items() if v > 0}
        unclaimed = wasted - sum(reasons.values())
        if unclaimed > 0:
            reasons["unclaimed"] = unclaimed  # answered into memory, not asked for (yet)
        return {
            "started": self.calls_started,
            "shown": self.calls_shown,
            "wasted": wasted,
            "wastedBy": reasons,
            "speculative": self.speculative_started,
            "speculativeUnused": self.speculative_started - self.speculative_shown,
        }

    def snapshot(self) -> dict[str, object]:
        total_prompt = sum(m.prompt_tokens for m in self.models.values())
        total_completion = sum(m.completion_tokens for m in self.models.values())
        return {
            "requests": dict(self.outcomes),
            "suggestions": {
                "shown": self.suggestions_shown,
                "accepted": self.suggestions_accepted,
                "acceptedChars": self.accepted_chars,
            },
            "upstreamCalls": sum(m.calls + m.failures for m in self.models.values()),
            "calls": self._calls(),
            "promptTokens": total_prompt,
            "completionTokens": total_completion,
            "models": {
                name: {
                    "calls": m.calls,
                    "failures": m.failures,
                    "promptTokens": m.prompt_tokens,
                    "completionTokens": m.completion_tokens,
                }
                for name, m in self.models.items()
            },
            "errors": dict(self.errors),
            "lastError": None
            if self.last_error is None
            else {
                "kind": self.last_error[0],
                "message": self.last_error[1],
                "at": self.last_error[2],
            },
        }
