"""``$/progress`` for upstream calls that take a while: at most one per document at a time."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.progress import Progress

logger = logging.getLogger(__name__)

SHOW_AFTER_S = 0.3  # a call answered faster than this shows no progress at all


@dataclass
class _Shown:
    token: str
    task: asyncio.Future[Any]
    begun: bool = False
    ended: bool = False


class CallProgress:
    """Shows a work-done progress while a document's upstream call runs past a threshold."""

    def __init__(
        self,
        progress: Callable[[], Progress],
        run_task: Callable[[Coroutine[Any, Any, None], str], None],
    ) -> None:
        self._progress = progress
        self._run_task = run_task
        self._shown: dict[str, _Shown] = {}
        self.enabled = False  # the client supports window.workDoneProgress

    def watch(self, uri: str, task: asyncio.Future[Any]) -> None:
        """Start a progress for ``task`` if it is still running after ``SHOW_AFTER_S``."""
        if not self.enabled:
            return
        timer = asyncio.get_running_loop().call_later(SHOW_AFTER_S, self._show, uri, task)

        def finished(done: asyncio.Future[Any]) -> None:
            timer.cancel()
            self._finish(uri, done)

        task.add_done_callback(finished)

    def _show(self, uri: str, task: asyncio.Future[Any]) -> None:
        if task.done() or uri in self._shown:
            return
        shown = self._shown[uri] = _Shown(f"codestral-{uuid.uuid4().hex[:12]}", task)
        self._run_task(self._begin(uri, shown), "progress")

    async def _begin(self, uri: str, shown: _Shown) -> None:
        await self._progress().create_async(shown.token)
        if shown.ended:
            return  # the call ended while the client created the token: nothing to show
        name = unquote(urlparse(uri).path).rsplit("/", 1)[-1] or uri
        self._progress().begin(
            shown.token,
            types.WorkDoneProgressBegin(title="Codestral", message=f"completing {name}"),
        )
        shown.begun = True

    def _finish(self, uri: str, task: asyncio.Future[Any]) -> None:
        shown = self._shown.get(uri)
        if shown is None or shown.task is not task:
            return
        del self._shown[uri]
        shown.ended = True
        if shown.begun:
            message = "cancelled" if task.cancelled() else "done"
            self._progress().end(shown.token, types.WorkDoneProgressEnd(message=message))
