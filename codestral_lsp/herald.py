"""What the governor has to say: holding back and resuming, its share, its last decisions.

Holding automatic requests back is told once when it starts and once when it ends (the daily
cap is actionable: the user may raise ``maxTokensPerDay``); pacing is no news. The share is told
to the log when it changes by a quarter, never per keystroke. The counts and the last decision
go into ``codestral.status``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from codestral_lsp.notices import Notice


@dataclass
class Decisions:
    holding: str = ""  # why automatic requests are held back, "" when they are not
    skipped: int = 0
    shrunk: int = 0
    last_decision: str = ""  # why the last request was shrunk or held


class Herald:
    """Tells the user and the log what the governor decided, each thing once."""

    def __init__(self, notify: Callable[[Notice], None]) -> None:
        self._notify = notify
        self.decisions = Decisions()
        self.share_told: float | None = None  # the share last told, tokens a minute

    def decided(self, allowed: bool, reason: str, invoked: bool, shrunk: str | None) -> None:
        """A request at the door: held back for ``reason``, or let go (``shrunk``: why it is
        smaller than configured)."""
        d = self.decisions
        if not allowed:
            d.skipped += 1
            d.last_decision = reason
            if reason.startswith("pacing"):
                return
            held = reason.split(",")[0].split("(")[0].strip()
            if d.holding != held:
                d.holding = held
                text = f"codestral-lsp: holding automatic requests back: {reason}"
                actionable = reason.startswith("daily token cap")  # maxTokensPerDay
                self._notify(Notice("holding", text, logging.WARNING, actionable))
            return
        if d.holding and not invoked:
            text = f"codestral-lsp: requests resume (was: {d.holding})"
            self._notify(Notice("holding", text, logging.INFO))
            d.holding = ""
        if shrunk is not None:
            d.shrunk += 1
            d.last_decision = shrunk

    def share(self, share: float | None, others: float, tpm: int | None) -> None:
        """Our share and the others' spend, tokens a minute: told when it moved by a quarter."""
        last = self.share_told
        if share is None or (last is not None and abs(share - last) <= 0.25 * last):
            return
        self.share_told = share
        text = f"pacing: share ~{share:.0f} tokens/min of {tpm}; others ~{others:.0f}"
        self._notify(Notice("share", text + " tokens/min", logging.INFO))

    def snapshot(self) -> dict[str, object]:
        d = self.decisions
        return {
            "holding": d.holding or None,
            "skipped": d.skipped,
            "shrunk": d.shrunk,
            "lastDecision": d.last_decision or None,
        }
