"""Where an answer came from, or why there is none, and what the editor is told for each.

Every request ends with one ``Source``. Its ``reply`` is the one decision of what an editor gets
when there is no suggestion: ``NOTHING`` (an empty list hides what the editor shows: nothing
belongs here) or ``LOST`` (``null``: this request lost to a newer state, the editor asks again).
The values are the names the stats and the log lines use.
"""

from __future__ import annotations

import enum


class Reply(enum.Enum):
    """What the editor gets for a request with no suggestion."""

    LOST = "null"  # this request lost: the editor asks again for its new state
    NOTHING = "empty"  # nothing to show here: an empty list hides what is shown


class Source(str, enum.Enum):
    """Where an answer came from, or why there is none (``str``: usable as a stats key)."""

    reply: Reply

    def __new__(cls, value: str, reply: Reply) -> Source:
        member = str.__new__(cls, value)
        member._value_ = value
        member.reply = reply
        return member

    # A suggestion (or, after shaping, none: see SHAPED_AWAY)
    UPSTREAM = "upstream", Reply.LOST  # a call of its own
    COALESCED = "coalesced", Reply.LOST  # a call already in flight, plus what was typed since
    CACHE = "cache", Reply.LOST  # memory: the same state
    TYPED = "typed", Reply.LOST  # memory: typed through an earlier suggestion
    # Lost: a newer state or request took over
    SUPERSEDED = "superseded", Reply.LOST
    STALE = "stale", Reply.LOST
    CANCELLED = "cancelled", Reply.LOST
    CLOSED = "closed", Reply.LOST
    # Nothing to show here
    EMPTY = "empty", Reply.NOTHING
    LIMITED = "limited", Reply.NOTHING
    STOPPED = "stopped", Reply.NOTHING  # no key, or a refused one: till the settings change
    EXCLUDED = "excluded", Reply.NOTHING
    TOO_LARGE = "too-large", Reply.NOTHING
    SHAPED_AWAY = "shaped-away", Reply.NOTHING

    def __str__(self) -> str:  # the plain name in logs and stats, on every Python version
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return format(str.__str__(self), spec)

    @property
    def nothing_here(self) -> bool:
        """An empty list (nothing belongs here), not ``null`` (asked again)."""
        return self.reply is Reply.NOTHING
