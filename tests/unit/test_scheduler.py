"""The scheduler's decisions, with a scripted engine, an injected clock and an injected pause.

Nothing here waits for real time: the engine's calls end when a test answers them, and the
debounce pause ends when the test releases it (or a newer request or a change ends it).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import cast

import pytest

from codestral_lsp.documents import Cursor, Document, DocumentStore
from codestral_lsp.engine import CompletionEngine
from codestral_lsp.local import FimContext, build
from codestral_lsp.scheduler import Debouncer, Outcome, Scheduler
from codestral_lsp.settings import Settings
from codestral_lsp.source import Source
from tests.unit.scripted import Clock, FakeEngine, Pauses, until

CURSOR = "█"
URI = "file:///w/a.py"
NOW = Settings(debounce_ms=0, debounce_max_ms=0)  # no pause
PAUSED = Settings(debounce_ms=50, debounce_max_ms=400)


@dataclasses.dataclass
class Rig:
    scheduler: Scheduler
    engine: FakeEngine
    store: DocumentStore
    clock: Clock
    pauses: Pauses

    def ask(
        self, context: FimContext, settings: Settings = NOW, invoked: bool = False
    ) -> asyncio.Task[Outcome]:
        work = self.scheduler.request(context, settings, invoked, "r", 100)
        return asyncio.ensure_future(work)


def ctx(marked: str, uri: str = URI) -> FimContext:
    """The context at the cursor marker of ``marked``, built as the server builds it."""
    at = marked.index(CURSOR)
    text = marked.replace(CURSOR, "")
    before = text[:at]
    cursor = Cursor(before.count("\n"), len(before) - (before.rfind("\n") + 1))
    return build(Document(uri, text, 1, "python"), cursor)


@pytest.fixture
def rig() -> Rig:
    store, clock, pauses = DocumentStore(), Clock(), Pauses()
    engine = FakeEngine()
    scheduler = Scheduler(cast(CompletionEngine, engine), store, clock=clock, pause=pauses)
    store.open(URI, "", 1, "python")
    return Rig(scheduler, engine, store, clock, pauses)


def waiters(rig: Rig) -> int:
    """How many requests wait for the document's call in flight."""
    tracked = rig.store.tracked(URI)
    assert tracked is not None
    flight = tracked.get(rig.scheduler._lanes).flight
    return -1 if flight is None else flight.waiters


# --- supersede ------------------------------------------------------------------------------


async def test_a_newer_request_supersedes_the_older_and_cancels_its_call(rig: Rig) -> None:
    first = rig.ask(ctx("x = █\n"))
    await until(lambda: rig.engine.calls, "the first call")
    second = rig.ask(ctx("x█\n"))  # a backspace: not the first state plus typing
    assert (await first).source is Source.SUPERSEDED
    await until(lambda: len(rig.engine.calls) == 2, "the second call")
    assert rig.engine.calls[0].cancelled  # nobody waits for it any more
    rig.engine.calls[1].reply("y = 1")
    outcome = await second
    assert (outcome.source, outcome.text) == (Source.UPSTREAM, "y = 1")
    assert rig.engine.stats.snapshot()["calls"] == {
        "started": 2,
        "shown": 0,
        "wasted": 2,
        "wastedBy": {"superseded": 1, "unclaimed": 1},
        "speculative": 0,
        "speculativeUnused": 0,
    }


async def test_a_request_superseded_in_its_pause_never_calls(rig: Rig) -> None:
    for _ in range(5):  # a typing rhythm, so that the pause is longer than the floor
        rig.scheduler.changed(URI)
        rig.clock.now += 0.3
    first = rig.ask(ctx("x = █\n"), PAUSED)
    await until(lambda: rig.pauses.asked, "the pause")
    second = rig.ask(ctx("x█\n"), PAUSED)
    assert (await first).source is Source.SUPERSEDED
    await until(lambda: len(rig.pauses.asked) == 2, "the second pause")
    rig.pauses.release()
    await until(lambda: rig.engine.calls, "the second call")
    assert [c.context.prompt for c in rig.engine.calls] == ["x"]
    rig.engine.calls[0].reply(" = 2")
    assert (await second).text == " = 2"


async def test_a_change_during_the_pause_ends_the_request_before_any_call(rig: Rig) -> None:
    pending = rig.ask(ctx("x = █\n"), PAUSED)
    await until(lambda: rig.pauses.asked, "the pause")
    rig.scheduler.changed(URI)  # the text moved on: the editor asks again
    assert (await pending).source is Source.SUPERSEDED
    assert rig.engine.calls == []


# --- debounce (the injected clock) ------------------------------------------------------------


async def test_the_pause_follows_the_typing_rhythm_and_invoked_requests_skip_it(
    rig: Rig,
) -> None:
    first = rig.ask(ctx("x = █\n"), PAUSED)
    await until(lambda: rig.pauses.asked, "the pause")
    assert rig.pauses.asked == [0.05]  # no rhythm seen yet: the floor
    rig.pauses.release()
    await until(lambda: rig.engine.calls, "the call")
    rig.engine.calls[0].reply("1")
    await first
    for _ in range(5):
        rig.scheduler.changed(URI)
        rig.clock.now += 0.3  # a key every 300 ms
    rig.clock.now -= 0.3  # asked right after the last key
    second = rig.ask(ctx("y = █\n"), PAUSED)
    await until(lambda: len(rig.pauses.asked) == 2, "the second pause")
    # Median gap 0.3 s, weighted by the backend's latency (0.2 s seen): 0.3 * 0.6.
    assert rig.pauses.asked[1] == pytest.approx(0.18)
    await until(lambda: len(rig.engine.calls) == 2, "the second call")
    rig.engine.calls[1].reply("2")
    await second
    invoked = rig.ask(ctx("z = █\n"), PAUSED, invoked=True)
    await until(lambda: len(rig.engine.calls) == 3, "the invoked call")
    assert len(rig.pauses.asked) == 2  # no pause for it
    rig.engine.calls[2].reply("3")
    assert (await invoked).source is Source.UPSTREAM


# --- coalesce ---------------------------------------------------------------------------------


async def test_typing_through_a_call_in_flight_shares_it(rig: Rig) -> None:
    first = rig.ask(ctx("x = █\n"))
    await until(lambda: rig.engine.calls, "the call")
    second = rig.ask(ctx("x = com█\n"))
    assert (await first).source is Source.SUPERSEDED
    assert not rig.engine.calls[0].cancelled  # the second request waits for it
    rig.engine.calls[0].reply("compute(1)")
    outcome = await second
    assert (outcome.source, outcome.text) == (Source.COALESCED, "pute(1)")
    assert len(rig.engine.calls) == 1


async def test_a_shared_answer_that_disagrees_with_the_typing_asks_anew(rig: Rig) -> None:
    first = rig.ask(ctx("x = █\n"))
    await until(lambda: rig.engine.calls, "the call")
    second = rig.ask(ctx("x = zz█\n"))
    await first
    rig.engine.calls[0].reply("compute(1)")
    await until(lambda: len(rig.engine.calls) == 2, "a call of its own")
    rig.engine.calls[1].reply("top")
    assert (await second).text == "top"


async def test_no_sharing_when_coalesce_is_off(rig: Rig) -> None:
    off = dataclasses.replace(NOW, coalesce=False)
    first = rig.ask(ctx("x = █\n"), off)
    await until(lambda: rig.engine.calls, "the call")
    second = rig.ask(ctx("x = com█\n"), off)
    await first
    await until(lambda: len(rig.engine.calls) == 2, "a call of its own")
    rig.engine.calls[1].reply("pute(2)")
    assert (await second).source is Source.UPSTREAM


# --- memory -----------------------------------------------------------------------------------


async def test_memory_serves_the_same_state_and_typing_through_without_a_call(rig: Rig) -> None:
    first = rig.ask(ctx("x = █\n"))
    await until(lambda: rig.engine.calls, "the call")
    rig.engine.calls[0].reply("compute(1)")
    assert (await first).source is Source.UPSTREAM
    again = await rig.ask(ctx("x = █\n"))
    assert (again.source, again.text) == (Source.CACHE, "compute(1)")
    typed = await rig.ask(ctx("x = comp█\n"))
    assert (typed.source, typed.text) == (Source.TYPED, "ute(1)")
    assert typed.use is not None  # the call it came from, for the wasted-calls count
    assert len(rig.engine.calls) == 1


# --- cancel -----------------------------------------------------------------------------------


async def test_a_cancelled_request_leaves_its_call_to_memory(rig: Rig) -> None:
    first = rig.ask(ctx("x = █\n"))
    await until(lambda: rig.engine.calls, "the call")
    first.cancel()  # the editor cancelled it ($/cancelRequest)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert not rig.engine.calls[0].cancelled
    rig.engine.calls[0].reply("compute(1)")
    await until(lambda: rig.engine.calls[0].answer.done(), "the answer")
    again = await rig.ask(ctx("x = █\n"))
    assert (again.source, again.text) == (Source.CACHE, "compute(1)")


async def test_an_orphaned_call_the_next_request_cannot_use_is_cancelled(rig: Rig) -> None:
    first = rig.ask(ctx("x = █\n"))
    await until(lambda: rig.engine.calls, "the call")
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    second = rig.ask(ctx("y█\n"))
    await until(lambda: len(rig.engine.calls) == 2, "the second call")
    assert rig.engine.calls[0].cancelled
    rig.engine.calls[1].reply("es")
    assert (await second).text == "es"


async def test_an_orphaned_call_the_next_request_can_use_is_shared(rig: Rig) -> None:
    first = rig.ask(ctx("x = █\n"))
    await until(lambda: rig.engine.calls, "the call")
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    second = rig.ask(ctx("x = c█\n"))
    await until(lambda: waiters(rig) == 1, "the second request to wait for the call")
    rig.engine.calls[0].reply("compute(1)")
    outcome = await second
    assert (outcome.source, outcome.text) == (Source.COALESCED, "ompute(1)")


# --- limits, empty answers, closing ------------------------------------------------------------


async def test_a_request_the_governor_holds_back_is_limited(rig: Rig) -> None:
    rig.engine.governor.allow = False
    outcome = await rig.ask(ctx("x = █\n"))
    assert (outcome.source, outcome.text) == (Source.LIMITED, None)
    assert rig.engine.calls == []


async def test_while_calls_are_stopped_a_request_is_answered_at_once_without_one(
    rig: Rig,
) -> None:
    rig.engine.stopped = "no API key for provider 'codestral'"
    outcome = await rig.ask(ctx("x = █\n"), PAUSED)  # not even the pause
    assert (outcome.source, outcome.text, outcome.debounce_s) == (Source.STOPPED, None, 0.0)
    assert outcome.source.nothing_here  # an empty list
    assert not rig.scheduler.speculate(ctx("x = █\n"), NOW, "s1", 100)
    assert rig.engine.calls == []
    rig.engine.stopped = None  # the settings changed
    pending = rig.ask(ctx("x = █\n"))
    await until(lambda: rig.engine.calls, "the call")
    rig.engine.calls[0].reply("1")
    assert (await pending).source is Source.UPSTREAM


async def test_no_text_from_the_call_is_empty(rig: Rig) -> None:
    pending = rig.ask(ctx("x = █\n"))
    await until(lambda: rig.engine.calls, "the call")
    rig.engine.calls[0].reply(None)
    assert (await pending).source is Source.EMPTY


async def test_closing_the_document_answers_its_request_and_drops_its_call(rig: Rig) -> None:
    first = rig.ask(ctx("x = █\n"))
    await until(lambda: rig.engine.calls, "the call")
    rig.store.close(URI)
    assert (await first).source is Source.SUPERSEDED
    await until(lambda: rig.engine.calls[0].cancelled, "the call to be cancelled")
    assert (await rig.ask(ctx("x = █\n"))).source is Source.CLOSED
    assert rig.store.held() == {"documents": 0, "states": 0}
    assert len(rig.scheduler.memory) == 0


async def test_an_orphan_is_cancelled_when_its_document_closes(rig: Rig) -> None:
    first = rig.ask(ctx("x = █\n"))
    await until(lambda: rig.engine.calls, "the call")
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    rig.store.close(URI)
    await until(lambda: rig.engine.calls[0].cancelled, "the orphan to be cancelled")
    assert rig.engine.stats.losses["closed"] == 1


# --- speculation --------------------------------------------------------------------------------


async def test_a_speculative_call_is_shared_by_the_request_that_follows(rig: Rig) -> None:
    assert rig.scheduler.speculate(ctx("x = █\n"), NOW, "s1", 100)
    await until(lambda: rig.engine.calls, "the speculative call")
    assert not rig.scheduler.speculate(ctx("x = █\n"), NOW, "s2", 100)  # already in flight
    pending = rig.ask(ctx("x = co█\n"))
    await until(lambda: waiters(rig) == 1, "the request to wait for the call")
    rig.engine.calls[0].reply("compute(1)")
    outcome = await pending
    assert (outcome.source, outcome.text) == (Source.COALESCED, "mpute(1)")
    assert rig.engine.stats.speculative_started == 1


# --- the adaptive debounce: the pause from the typing rhythm ----------------------------------


def test_debounce_floor_until_a_typing_rhythm_is_seen() -> None:
    clock = Clock()
    debouncer = Debouncer(clock)
    last: float | None = None
    settings = Settings(debounce_ms=50, debounce_max_ms=400)
    assert debouncer.delay(settings) == 0.05
    for _ in range(5):
        last = debouncer.observe_change(last)
        clock.now += 0.3
    clock.now -= 0.3  # asked right after the last key
    # Median gap 0.3 s; no latency seen yet counts as 0.5 s: weight 0.75.
    assert debouncer.delay(settings, last) == pytest.approx(0.225)
    for _ in range(30):
        debouncer.observe_latency(2.0)  # a slow backend: wait the whole gap
    assert debouncer.delay(settings, last) == pytest.approx(0.3, rel=0.01)
    assert debouncer.delay(Settings(debounce_ms=50, debounce_max_ms=100), last) == 0.1
    assert debouncer.delay(Settings(debounce_ms=0, debounce_max_ms=0), last) == 0


def test_debounce_ignores_pauses() -> None:
    clock = Clock()
    debouncer = Debouncer(clock)
    last: float | None = None
    for _ in range(5):
        last = debouncer.observe_change(last)
        clock.now += 5.0  # reading, not typing
    assert debouncer.delay(Settings(debounce_ms=50, debounce_max_ms=400)) == 0.05


def test_debounce_counts_the_quiet_time_since_the_last_key() -> None:
    """A client that waits itself (Neovim: 200 ms after the last key) gets only the floor
    when it has already waited longer than the rhythm asks for; the keys set the rhythm."""
    clock = Clock()
    debouncer = Debouncer(clock)
    last: float | None = None
    settings = Settings(debounce_ms=20, debounce_max_ms=300)
    for _ in range(6):  # steady typing, a key every 150 ms
        last = debouncer.observe_change(last)
        clock.now += 0.15
    for _ in range(30):
        debouncer.observe_latency(1.0)  # the whole gap: 150 ms of quiet wanted
    clock.now += 0.2 - 0.15  # the request comes 200 ms after the last key
    assert debouncer.delay(settings, last) == 0.02
    clock.now -= 0.1  # had it come 100 ms after the last key: 50 ms more
    assert debouncer.delay(settings, last) == pytest.approx(0.05)
    assert debouncer.delay(settings, None) == pytest.approx(0.15)  # no key seen there


def test_debounce_rhythm_comes_from_keys_not_requests() -> None:
    """Requests 200 ms apart with a key every 100 ms in between: the rhythm is 100 ms."""
    clock = Clock()
    debouncer = Debouncer(clock)
    last: float | None = None
    for _ in range(8):
        last = debouncer.observe_change(last)
        clock.now += 0.1
    for _ in range(30):
        debouncer.observe_latency(1.0)
    assert debouncer.delay(Settings(debounce_ms=0, debounce_max_ms=300), None) == pytest.approx(0.1)
