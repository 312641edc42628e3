"""Scripted stand-ins for the scheduler's and completer's tests: no network, no real time."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from codestral_lsp.backends.client import FimResult
from codestral_lsp.engine import Completion
from codestral_lsp.governor import Verdict
from codestral_lsp.local import FimContext
from codestral_lsp.settings import Settings
from codestral_lsp.stats import Stats


@dataclasses.dataclass
class Call:
    context: FimContext
    answer: asyncio.Future[str | None]
    cancelled: bool = False

    def reply(self, text: str | None) -> None:
        self.answer.set_result(text)


class FakeGovernor:
    def __init__(self) -> None:
        self.allow = True

    def admit(self, invoked: bool, need: int) -> Verdict:
        return Verdict(self.allow, "" if self.allow else "held back")

    def room_for_speculation(self, need: int) -> bool:
        return self.allow


class FakeEngine:
    """Plays the engine: each call waits until the test replies to it."""

    def __init__(self) -> None:
        self.stats = Stats()
        self.governor = FakeGovernor()
        self.calls: list[Call] = []
        self.stopped: str | None = None  # why calls are stopped (no key, a refused one)

    def refuses(self) -> bool:
        return self.stopped is not None

    async def complete(
        self, context: FimContext, settings: Settings, request_id: str, need: int
    ) -> Completion | None:
        call = Call(context, asyncio.get_running_loop().create_future())
        self.calls.append(call)
        try:
            text = await call.answer
        except asyncio.CancelledError:
            call.cancelled = True
            raise
        if text is None:
            return None
        return Completion(context, text, FimResult(text, "stop", None, "m", {}, 0.2))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Pauses:
    """The debounce pause: records how long it was asked for; ends when released or ended."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self._release = asyncio.Event()

    async def __call__(self, superseded: asyncio.Event, seconds: float) -> None:
        self.asked.append(seconds)
        ends = [asyncio.ensure_future(e.wait()) for e in (superseded, self._release)]
        try:
            await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for end in ends:
                end.cancel()

    def release(self) -> None:
        self._release.set()


async def until(condition: Callable[[], object], what: str) -> None:
    """Let the loop run until ``condition()`` holds (a bounded number of turns, no timers)."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")
