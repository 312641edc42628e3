"""The completer's outcomes: what each request ends as, and whether the editor gets text, an
empty list or null. A scripted engine answers; nothing waits for real time."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import cast

import pytest

from codestral_lsp.completer import Answer, BadRequest, Completer
from codestral_lsp.documents import DocumentStore, TextChange
from codestral_lsp.engine import CompletionEngine
from codestral_lsp.governor import Governor
from codestral_lsp.scheduler import Scheduler
from codestral_lsp.settings import Settings
from codestral_lsp.source import Source
from codestral_lsp.tokens import TokenEstimator
from codestral_lsp.window import Assembler
from tests.unit.scripted import Clock, FakeEngine, Pauses, until

URI = "untitled:add.py"  # no file behind it: allowed at once, no git asked
TEXT = "def add(a, b):\n    return \n"
AT = (1, 11)  # after "return "
NOW = Settings(debounce_ms=0, debounce_max_ms=0)


@dataclasses.dataclass
class Rig:
    completer: Completer
    engine: FakeEngine
    store: DocumentStore

    def open(self, uri: str = URI, text: str = TEXT, settings: Settings = NOW) -> None:
        self.store.open(uri, text, 1, "python")
        self.completer.opened(uri, settings)

    def ask(
        self, uri: str = URI, at: tuple[int, int] = AT, settings: Settings = NOW
    ) -> asyncio.Task[Answer]:
        work = self.completer.suggest(uri, at[0], at[1], "utf-16", settings, invoked=False)
        return asyncio.ensure_future(work)

    def type(self, text: str, at: tuple[int, int], settings: Settings = NOW) -> None:
        """A didChange inserting ``text`` at ``at``."""
        doc = self.store.get(URI)
        assert doc is not None
        change = TextChange((*at, *at), text)
        self.completer.assembler.edit(self.store, URI, doc.version + 1, [change], "utf-16")
        self.completer.changed(URI, [change], "utf-16", settings)


@pytest.fixture
def rig() -> Rig:
    store, engine = DocumentStore(), FakeEngine()
    scheduler = Scheduler(cast(CompletionEngine, engine), store, clock=Clock(), pause=Pauses())
    assembler = Assembler(TokenEstimator(), store)
    completer = Completer(store, scheduler, assembler, Governor(), engine.stats)
    return Rig(completer, engine, store)


async def test_an_answer_is_shaped_to_fit_the_document_and_counted(rig: Rig) -> None:
    rig.open()
    pending = rig.ask()
    await until(lambda: rig.engine.calls, "the call")
    assert rig.engine.calls[0].context.prompt == "def add(a, b):\n    return "
    rig.engine.calls[0].reply("a + b\n\n\n")
    answer = await pending
    assert answer.source is Source.UPSTREAM
    assert answer.suggestion is not None
    assert answer.suggestion.shaped.text == "a + b"
    assert not answer.nothing_here
    assert rig.engine.stats.outcomes == {"upstream": 1}
    assert rig.engine.stats.calls_shown == 1


async def test_an_answer_for_a_state_the_document_left_is_stale(rig: Rig) -> None:
    rig.open()
    pending = rig.ask()
    await until(lambda: rig.engine.calls, "the call")
    rig.type("x", AT)  # typed while the call was out, and not what it suggests
    rig.engine.calls[0].reply("a + b")
    answer = await pending
    assert (answer.source, answer.suggestion) == (Source.STALE, None)
    assert not answer.nothing_here  # null: the editor asks again for its new state
    assert rig.engine.stats.losses["stale"] == 1


async def test_an_answer_typed_through_while_it_was_out_still_fits(rig: Rig) -> None:
    rig.open()
    pending = rig.ask()
    await until(lambda: rig.engine.calls, "the call")
    rig.engine.calls[0].reply("a + b")
    assert (await pending).source is Source.UPSTREAM
    rig.type("a", AT)
    answer = await rig.ask(at=(1, 12))
    assert answer.source is Source.TYPED
    assert answer.suggestion is not None
    assert answer.suggestion.shaped.text == " + b"


async def test_an_answer_that_shaping_removes_is_nothing_here(rig: Rig) -> None:
    rig.open()
    pending = rig.ask()
    await until(lambda: rig.engine.calls, "the call")
    rig.engine.calls[0].reply("   \n")
    answer = await pending
    assert answer.source is Source.SHAPED_AWAY
    assert answer.nothing_here  # an empty list: hide what is shown
    assert rig.engine.stats.losses["shaped-away"] == 1


async def test_excluded_and_too_large_documents_are_refused_before_any_call(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.open("file:///w/.env", "KEY=\n")
    excluded = await rig.ask("file:///w/.env", (0, 4))
    assert excluded.source is Source.EXCLUDED
    assert excluded.nothing_here
    small = dataclasses.replace(NOW, max_file_size=10)
    rig.open(settings=small)
    with caplog.at_level(logging.WARNING):
        answers = [await rig.ask(settings=small) for _ in range(2)]
    assert [a.source for a in answers] == [Source.TOO_LARGE] * 2
    assert all(a.nothing_here for a in answers)
    assert len([m for m in caplog.messages if "maxFileSize" in m]) == 1  # said once
    assert rig.engine.calls == []


async def test_a_newer_request_makes_the_older_one_null(rig: Rig) -> None:
    rig.open()
    first = rig.ask()
    await until(lambda: rig.engine.calls, "the first call")
    second = rig.ask(at=(0, 0))
    assert (await first).source is Source.SUPERSEDED
    await until(lambda: len(rig.engine.calls) == 2, "the second call")
    rig.engine.calls[1].reply("import math")
    assert (await second).source is Source.UPSTREAM
    assert rig.engine.stats.outcomes == {"superseded": 1, "upstream": 1}


async def test_closed_and_unknown_documents_and_bad_positions(rig: Rig) -> None:
    rig.open()
    pending = rig.ask()
    await until(lambda: rig.engine.calls, "the call")
    rig.store.close(URI)
    assert (await pending).source is Source.SUPERSEDED
    assert (await rig.ask()).source is Source.CLOSED  # closed just before it came: null
    with pytest.raises(BadRequest, match="not open"):
        await rig.ask("untitled:other.py")
    rig.open()
    with pytest.raises(BadRequest, match="bad position"):
        await rig.ask(at=(9, 0))
    rig.store.close(URI)
    assert rig.store.held() == {"documents": 0, "states": 0}


async def test_accepting_a_suggestion_starts_the_next_call_when_speculating(rig: Rig) -> None:
    on = dataclasses.replace(NOW, speculate=True)
    rig.open(settings=on)
    pending = rig.ask(settings=on)
    await until(lambda: rig.engine.calls, "the call")
    rig.engine.calls[0].reply("a + b")
    assert (await pending).source is Source.UPSTREAM
    rig.type("a + b", AT, on)  # the editor inserted the whole suggestion
    await until(lambda: len(rig.engine.calls) == 2, "the speculative call")
    assert rig.engine.calls[1].context.prompt.endswith("return a + b")
    assert rig.engine.stats.speculative_started == 1
    rig.engine.calls[1].reply("\n")
    await until(lambda: rig.engine.calls[1].answer.done(), "the answer")
