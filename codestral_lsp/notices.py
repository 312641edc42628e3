"""The one channel for what the server has to say about itself: to the user, or to the log.

Every component (the engine, the governor) says what happened as a ``Notice``; ``Notices`` applies
the same rules to all of them:

- a notice is logged once, at its level: the same text on the same topic again (a keystroke that
  meets the same missing key) is not news, and is dropped;
- an actionable notice (the user can fix it: no key, a refused key, the daily cap) is also shown
  (``window/showMessage``), by the same rule: once, not once per keystroke;
- ``clear(topic)`` makes a topic news again (after the settings changed, say).

Log lines go through the logging handlers, so the ``RedactingFilter`` masks any key in them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    """One thing to say: its topic (what it is about), its text, how loud, whether to show it."""

    topic: str
    text: str
    level: int = logging.INFO
    actionable: bool = False  # the user can act on it: shown in the editor, once


class Notices:
    """Says each notice once: to the log always, to the user when it is actionable."""

    def __init__(self, show: Callable[[str], None] = lambda text: None) -> None:
        self._show = show
        self._last: dict[str, str] = {}  # per topic, the text said last

    def __call__(self, notice: Notice) -> None:
        if self._last.get(notice.topic) == notice.text:
            return
        self._last[notice.topic] = notice.text
        logger.log(notice.level, "%s", notice.text)
        if notice.actionable:
            self._show(notice.text)

    def clear(self, topic: str) -> None:
        """The next notice on ``topic`` is news, even with the same text."""
        self._last.pop(topic, None)
