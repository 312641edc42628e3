"""Latest wins per document: supersede, coalesce, debounce, cancel, and serve from memory.

One request per document is current. A newer one answers every older one at once with nothing,
also when memory answers it; an upstream call nobody waits for any more is cancelled, which
closes its HTTP stream, except when the editor cancelled its last request (VS Code cancels on
every key): that call goes on and its answer goes to memory, unless the next request cannot use
it. A request whose state is an in-flight call's state plus text typed at the cursor shares
that call instead of making its own. Automatic requests wait an adaptive pause first (see
``Debouncer``), and one superseded during that pause, or whose document changed during it,
never reaches the network.

What it keeps about a document (the current request, the call in flight, when its text last
changed) is that document's ``_Lane``, kept in its record in the ``DocumentStore``: closing the
document answers its waiting request and cancels a call nobody waits for. Settings come with
each call.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from codestral_lsp import lazy
from codestral_lsp.documents import DocumentStore, Slot
from codestral_lsp.engine import Completion, CompletionEngine
from codestral_lsp.local import FimContext
from codestral_lsp.memory import CompletionMemory, answer_key, typed_since
from codestral_lsp.settings import Settings
from codestral_lsp.source import Source
from codestral_lsp.stats import CallUse

if TYPE_CHECKING:
    import statistics
else:  # with fractions and decimal: imported at the first adaptive debounce (issue 13)
    statistics = lazy.module("statistics")

logger = logging.getLogger(__name__)

TYPING_GAP_S = 1.0  # gaps between requests longer than this are pauses, not typing rhythm


@dataclass
class Outcome:
    """What the scheduler made of one request, with where its time went."""

    text: str | None
    source: Source
    debounce_s: float = 0.0
    upstream_s: float = 0.0
    use: CallUse | None = None  # the call the text came from (directly, shared or remembered)


@dataclass
class _Flight:
    """One upstream call and the number of requests waiting for it."""

    context: FimContext
    key: Hashable
    task: asyncio.Task[Completion | None]
    use: CallUse
    lane: _Lane
    waiters: int = 0
    orphan: bool = False  # its last waiter was cancelled by the editor; it goes on to memory


@dataclass
class _Pending:
    """One editor request, current until a newer one for its document arrives."""

    context: FimContext
    superseded: asyncio.Event = field(default_factory=asyncio.Event)
    pausing: bool = False  # in its debounce pause: a change to its document ends it


@dataclass
class _Lane:
    """What the scheduler keeps about one open document."""

    pending: _Pending | None = None  # the current request
    flight: _Flight | None = None  # the call in flight for it
    changed_at: float | None = None  # when its text last changed (the debouncer's clock)


class Debouncer:
    """The pause before an automatic request goes upstream.

    The typing rhythm is read from the document changes (every keystroke is a ``didChange``),
    not from the requests: a client that debounces itself (Neovim asks 200 ms after the last
    key) would make every gap between requests look like slow typing. ``debounceMs`` is the
    floor. While the user types steadily (at least three recent gaps between changes under a
    second), the quiet time to wait for grows toward the median gap, so that a request about to
    be overtaken by the next key is not sent; how far toward it depends on backend latency:
    with a slow backend (≥ 1 s) the whole gap, with an instant one half of it, since a fast
    answer may still arrive before the next key. ``debounceMaxMs`` caps it. The time already
    quiet since the document's last change counts toward it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._gaps: collections.deque[float] = collections.deque(maxlen=16)
        self._latency: float | None = None

    def observe_change(self, last: float | None) -> float:
        """A change to a document's text (a key, a paste, an accepted suggestion) that last
        changed at ``last``; returns the time of this change, for its next one."""
        now = self._clock()
        if last is not None and now - last < TYPING_GAP_S:
            self._gaps.append(now - last)
        return now

    def observe_latency(self, seconds: float) -> None:
        self._latency = seconds if self._latency is None else 0.8 * self._latency + 0.2 * seconds

    def delay(self, settings: Settings, last: float | None = None) -> float:
        """How long a request waits now before its call, for a document that last changed at
        ``last``."""
        floor = settings.debounce_ms / 1000
        ceiling = max(settings.debounce_max_ms / 1000, floor)
        if len(self._gaps) < 3:
            return floor
        latency = 0.5 if self._latency is None else self._latency
        weight = 0.5 + 0.5 * min(1.0, latency)
        quiet = min(max(statistics.median(self._gaps) * weight, floor), ceiling)
        since = 0.0 if last is None else max(0.0, self._clock() - last)
        return max(floor, quiet - since)


async def _pause(superseded: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less if ``superseded`` is set first."""
    with contextlib.suppress(asyncio.TimeoutError):  # TimeoutError on 3.11+
        await asyncio.wait_for(superseded.wait(), seconds)


class Scheduler:
    """Decides, per request, between memory, a shared call, a new call, or nothing."""

    def __init__(
        self,
        engine: CompletionEngine,
        documents: DocumentStore,
        on_flight: Callable[[str, asyncio.Task[Completion | None]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        pause: Callable[[asyncio.Event, float], Awaitable[None]] = _pause,
    ) -> None:
        self.engine = engine
        self.documents = documents
        self.memory = CompletionMemory(documents, clock)
        self.on_flight = on_flight  # told of every upstream call as it starts (progress)
        self.debouncer = Debouncer(clock)
        self._pause = pause
        self._lanes: Slot[_Lane] = Slot("scheduler", _Lane, self._closed)

    def _lane(self, uri: str) -> _Lane | None:
        tracked = self.documents.tracked(uri)
        return None if tracked is None else tracked.get(self._lanes)

    async def request(
        self, context: FimContext, settings: Settings, invoked: bool, request_id: str, need: int
    ) -> Outcome:
        """The completion for ``context``: from memory, a shared call or a new one."""
        lane = self._lane(context.uri)
        if lane is None:
            return Outcome(None, Source.CLOSED)
        pending = _Pending(context)
        older, lane.pending = lane.pending, pending
        key = answer_key(settings)
        try:
            hit = self.memory.lookup(context, settings)
            # Attach to a shared call before the older request is told it lost, so that the
            # call still has a waiter when that request lets go of it.
            shared = None if hit is not None else self._shareable(lane, context, key, settings)
            if older is not None:
                older.superseded.set()  # also when memory answers: it must not go upstream
            self._drop_orphan(lane, shared)
            if hit is not None:
                use = hit.origin if isinstance(hit.origin, CallUse) else None
                return Outcome(hit.text, hit.source, use=use)
            waited = 0.0
            if shared is not None:
                started = time.monotonic()
                outcome = await self._share(shared, pending, request_id)
                if outcome is not None:
                    return outcome
                waited = time.monotonic() - started  # on a call whose answer did not fit
            outcome = await self._call(lane, pending, settings, key, invoked, request_id, need)
            outcome.upstream_s += waited
            return outcome
        finally:
            if lane.pending is pending:
                lane.pending = None

    def _shareable(
        self, lane: _Lane, context: FimContext, key: Hashable, settings: Settings
    ) -> tuple[_Flight, str] | None:
        flight = lane.flight
        if not settings.coalesce or flight is None or flight.task.done() or flight.key != key:
            return None
        typed = typed_since(flight.context, context)
        return None if typed is None else (flight, typed)

    async def _share(
        self, shared: tuple[_Flight, str], pending: _Pending, request_id: str
    ) -> Outcome | None:
        """Wait for the shared call; None when its answer disagrees with what was typed."""
        flight, typed = shared
        started = time.monotonic()
        completion = await self._wait(flight, pending)
        waited = time.monotonic() - started
        if completion is _SUPERSEDED:
            return Outcome(None, Source.SUPERSEDED, upstream_s=waited)
        if completion is None:
            return Outcome(None, Source.EMPTY, upstream_s=waited)
        assert isinstance(completion, Completion)
        text = completion.text
        if text.startswith(typed) and len(text) > len(typed):
            return Outcome(text[len(typed) :], Source.COALESCED, upstream_s=waited, use=flight.use)
        logger.info("[%s] shared answer disagrees with what was typed; asking anew", request_id)
        return None

    async def _call(
        self,
        lane: _Lane,
        pending: _Pending,
        settings: Settings,
        key: Hashable,
        invoked: bool,
        request_id: str,
        need: int,
    ) -> Outcome:
        if self.engine.refuses():  # no key, or a refused one: nothing goes out till it changes
            return Outcome(None, Source.STOPPED)
        debounce = 0.0 if invoked else self.debouncer.delay(settings, lane.changed_at)
        if debounce > 0:
            started = time.monotonic()
            pending.pausing = True
            await self._pause(pending.superseded, debounce)
            pending.pausing = False
            debounce = time.monotonic() - started
        if pending.superseded.is_set():
            return Outcome(None, Source.SUPERSEDED, debounce_s=debounce)
        verdict = self.engine.governor.admit(invoked, need)
        if not verdict.allowed:
            logger.info("[%s] not sent: %s", request_id, verdict.reason)
            return Outcome(None, Source.LIMITED, debounce_s=debounce)
        flight = self._start(lane, pending.context, settings, key, request_id, need)
        started = time.monotonic()
        completion = await self._wait(flight, pending)
        waited = time.monotonic() - started
        if completion is _SUPERSEDED:
            return Outcome(None, Source.SUPERSEDED, debounce, waited)
        if completion is None:
            return Outcome(None, Source.EMPTY, debounce, waited)
        assert isinstance(completion, Completion)
        return Outcome(completion.text, Source.UPSTREAM, debounce, waited, flight.use)

    def _start(
        self,
        lane: _Lane,
        context: FimContext,
        settings: Settings,
        key: Hashable,
        request_id: str,
        need: int,
        speculative: bool = False,
    ) -> _Flight:
        """Start the upstream call for ``context``; it is the document's flight."""
        use = self.engine.stats.call_started(speculative)
        task = asyncio.create_task(self._upstream(context, settings, key, request_id, need, use))
        flight = _Flight(context, key, task, use, lane)
        task.add_done_callback(lambda t: self._landed(flight, t))
        lane.flight = flight
        if self.on_flight is not None:
            self.on_flight(context.uri, task)
        return flight

    async def _upstream(
        self,
        context: FimContext,
        settings: Settings,
        key: Hashable,
        request_id: str,
        need: int,
        use: CallUse,
    ) -> Completion | None:
        completion = await self.engine.complete(context, settings, request_id, need)
        if completion is not None:
            self.debouncer.observe_latency(completion.result.elapsed_s)
            self.memory.remember(context, settings, completion.text, use)
        else:
            self.engine.stats.call_lost(use, Source.EMPTY)
        return completion

    async def _wait(self, flight: _Flight, pending: _Pending) -> Completion | object | None:
        """The flight's answer, or ``_SUPERSEDED`` if a newer request came first.

        The last waiter to leave (superseded or cancelled) cancels the call.
        """
        flight.waiters += 1
        superseded = asyncio.ensure_future(pending.superseded.wait())
        cancelled = False
        try:
            await asyncio.wait({flight.task, superseded}, return_when=asyncio.FIRST_COMPLETED)
            if not flight.task.done():
                return _SUPERSEDED
            if flight.task.cancelled():
                return None
            return flight.task.result()
        except asyncio.CancelledError:
            cancelled = True  # the editor cancelled this request
            raise
        finally:
            superseded.cancel()
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                if cancelled:
                    flight.orphan = True  # on to memory; the next request may share it
                else:
                    self._abandon(flight, Source.SUPERSEDED)

    def _abandon(self, flight: _Flight, reason: Source) -> None:
        """Cancel a call nobody will use; it can no longer be shared."""
        if flight.lane.flight is flight:
            flight.lane.flight = None
        self.engine.stats.call_lost(flight.use, reason)
        flight.task.cancel()

    def _drop_orphan(self, lane: _Lane, shared: tuple[_Flight, str] | None) -> None:
        """A new request for the lane's document does not share its orphaned call: cancel it."""
        flight = lane.flight
        if flight is None or not flight.orphan or flight.waiters:
            return
        if shared is None or shared[0] is not flight:
            self._abandon(flight, Source.SUPERSEDED)

    def speculate(
        self, context: FimContext, settings: Settings, request_id: str, need: int
    ) -> bool:
        """Start the call the next request will almost surely want (after an accept), unless
        memory or a call in flight has it already or the budget has no room. Nobody waits for
        it: the next request shares it or finds it in memory, else cancels it."""
        lane, key = self._lane(context.uri), answer_key(settings)
        if lane is None:
            return False
        flight = lane.flight
        if flight is not None and not flight.task.done():
            if flight.waiters or typed_since(flight.context, context) is not None:
                return False
            self._abandon(flight, Source.SUPERSEDED)
        if self.memory.lookup(context, settings) is not None:
            return False
        if self.engine.stopped or not self.engine.governor.room_for_speculation(need):
            return False
        self._start(lane, context, settings, key, request_id, need, speculative=True).orphan = True
        return True

    def changed(self, uri: str) -> None:
        """``uri``'s text changed: learn the rhythm, and a request still in its pause is for a
        state the document has left, so it never goes upstream (the editor asks again)."""
        lane = self._lane(uri)
        if lane is None:
            return
        lane.changed_at = self.debouncer.observe_change(lane.changed_at)
        pending = lane.pending
        if pending is not None and pending.pausing:
            pending.superseded.set()

    def _landed(self, flight: _Flight, task: asyncio.Task[Completion | None]) -> None:
        if flight.lane.flight is flight:
            flight.lane.flight = None
        if not task.cancelled() and task.exception() is not None:
            logger.error("upstream call failed", exc_info=task.exception())

    def _closed(self, lane: _Lane) -> None:
        """Its document closed: its request answers now, and a call nobody waits for stops."""
        if lane.pending is not None:
            lane.pending.superseded.set()
        flight = lane.flight
        if flight is not None and flight.orphan and flight.waiters == 0:
            self._abandon(flight, Source.CLOSED)


_SUPERSEDED = object()
