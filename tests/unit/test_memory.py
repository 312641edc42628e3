"""Typed-through recognition, and the memory's lookups and expiry."""

from __future__ import annotations

import dataclasses

import pytest

from codestral_lsp.documents import Cursor, Document, DocumentStore
from codestral_lsp.local import FimContext, build
from codestral_lsp.memory import CompletionMemory, Hit, typed_since
from codestral_lsp.settings import Settings
from codestral_lsp.source import Source

CURSOR = "█"


def ctx(marked: str, version: int = 1, uri: str = "file:///a.py") -> FimContext:
    """The context at the cursor marker of ``marked``, built as the server builds it."""
    at = marked.index(CURSOR)
    text = marked.replace(CURSOR, "")
    before = text[:at]
    line = before.count("\n")
    index = len(before) - (before.rfind("\n") + 1)
    return build(Document(uri, text, version), Cursor(line, index))


@pytest.mark.parametrize(
    ("old", "new", "typed"),
    [
        ("x = █\n", "x = █\n", ""),
        ("x = █\n", "x = ab█\n", "ab"),
        ("x = █)\n", "x = ab█)\n", "ab"),
        ("x = █)\n", "x = ab█\n", None),  # suffix changed
        ("x = a█\n", "x = █\n", None),  # backspace
        ("x = █\n", "y = ab█\n", None),  # an edit before the cursor
        ("x = █\n", "x = 1\n█\n", "1\n"),  # Enter
        ("x = █\n", "x = 1\n    █\n", "1\n    "),  # Enter and indentation
        ("def f():\n    █\n", "def f():\n    a = 1\n    b = 2\n    █\n", "a = 1\n    b = 2\n    "),
        ("x = █\n", "x = 1\n\n█\n", "1\n\n"),  # an empty line in between
        ("a\nx = █\n", "x = ab█\n", None),  # different lines entirely
        ("x = 1█\n", "y = 1\n█\n", None),  # a new line, but the old line was edited too
        ("x = █\n", "█\nx = \n", None),  # the cursor moved up
    ],
)
def test_typed_since(old: str, new: str, typed: str | None) -> None:
    assert typed_since(ctx(old), ctx(new)) == typed


def test_typed_since_when_the_window_drops_lines_at_its_start() -> None:
    lines = "".join(f"line {i}\n" for i in range(2000))
    typed = "abcdefghijklmnopqrstuvwxyz"  # longer than a line: the window must drop one
    old, new = ctx(lines + "x = █\n"), ctx(lines + f"x = {typed}█\n")
    assert not new.prompt.startswith(old.prompt)
    assert typed_since(old, new) == typed


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def opened(*uris: str) -> DocumentStore:
    store = DocumentStore()
    for uri in uris:
        store.open(uri, "", 1, "python")
    return store


ON = Settings(cache_size=8, cache_ttl_seconds=60)


def test_memory_serves_the_same_state_and_the_rest_after_typing() -> None:
    clock = Clock()
    memory = CompletionMemory(opened("file:///a.py"), clock=clock)
    memory.remember(ctx("x = █\n"), ON, "compute(1)")
    assert memory.lookup(ctx("x = █\n", version=5), ON) == Hit("compute(1)", Source.CACHE)
    assert memory.lookup(ctx("x = comp█\n"), ON) == Hit("ute(1)", Source.TYPED)
    assert memory.lookup(ctx("x = compute(1)█\n"), ON) is None  # typed it all
    assert memory.lookup(ctx("x = cx█\n"), ON) is None  # left the suggestion
    assert memory.lookup(ctx("x = comp█\n"), dataclasses.replace(ON, model="other")) is None
    clock.now += 61
    assert memory.lookup(ctx("x = comp█\n"), ON) is None  # expired
    assert memory.lookup(ctx("x = █\n"), ON) is None


def test_memory_off_and_what_a_close_takes_with_it() -> None:
    off = CompletionMemory(opened("file:///a.py"))
    off.remember(ctx("x = █\n"), Settings(cache_size=0), "1")
    assert off.lookup(ctx("x = █\n"), ON) is None
    store = opened("file:///a.py", "file:///b.py")
    memory = CompletionMemory(store)
    memory.remember(ctx("x = █\n"), ON, "123")
    memory.remember(ctx("x = █\n", uri="file:///b.py"), ON, "456")
    store.close("file:///a.py")
    assert memory.lookup(ctx("x = █\n"), ON) is None  # closed: nothing served, nothing kept
    store.open("file:///a.py", "", 2, "python")
    assert memory.lookup(ctx("x = 1█\n"), ON) is None  # its typed-through entries went
    assert memory.lookup(ctx("x = █\n"), ON) is None  # and its exact ones
    assert memory.lookup(ctx("x = █\n", uri="file:///b.py"), ON) == Hit("456", Source.CACHE)
    assert len(memory) == 1


def test_memory_takes_a_new_size_from_the_settings_of_the_call() -> None:
    memory = CompletionMemory(opened("file:///a.py"))
    memory.remember(ctx("x = █\n"), ON, "123")
    memory.remember(ctx("y = █\n"), ON, "456")
    assert len(memory) == 2
    small = dataclasses.replace(ON, cache_size=1)
    memory.remember(ctx("z = █\n"), small, "789")
    assert len(memory) == 1  # a new size starts empty, and holds one
    assert memory.lookup(ctx("z = █\n"), small) == Hit("789", Source.CACHE)
    assert memory.lookup(ctx("x = █\n"), dataclasses.replace(ON, cache_size=0)) is None
