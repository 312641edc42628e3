"""Typed-through recognition, and the memory's lookups and expiry."""

from __future__ import annotations

import pytest

from codestral_lsp.documents import Cursor, Document
from codestral_lsp.local import FimContext, build
from codestral_lsp.memory import CompletionMemory, Hit, answer_key, typed_since
from codestral_lsp.settings import Settings

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


def test_memory_serves_the_same_state_and_the_rest_after_typing() -> None:
    clock = Clock()
    memory = CompletionMemory(8, ttl=60, clock=clock)
    key = answer_key(Settings())
    memory.remember(ctx("x = █\n"), key, "compute(1)")
    assert memory.lookup(ctx("x = █\n", version=5), key) == Hit("compute(1)", "cache")
    assert memory.lookup(ctx("x = comp█\n"), key) == Hit("ute(1)", "typed")
    assert memory.lookup(ctx("x = compute(1)█\n"), key) is None  # typed it all
    assert memory.lookup(ctx("x = cx█\n"), key) is None  # left the suggestion
    assert memory.lookup(ctx("x = comp█\n"), answer_key(Settings(model="other"))) is None
    clock.now += 61
    assert memory.lookup(ctx("x = comp█\n"), key) is None  # expired
    assert memory.lookup(ctx("x = █\n"), key) is None


def test_memory_off_and_forget() -> None:
    key = answer_key(Settings())
    off = CompletionMemory(0, ttl=60)
    off.remember(ctx("x = █\n"), key, "1")
    assert off.lookup(ctx("x = █\n"), key) is None
    memory = CompletionMemory(8, ttl=60)
    memory.remember(ctx("x = █\n"), key, "123")
    memory.forget("file:///a.py")
    assert memory.lookup(ctx("x = 1█\n"), key) is None  # typed-through entries gone
    assert memory.lookup(ctx("x = █\n"), key) is not None  # the exact cache is not per file
