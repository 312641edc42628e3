"""Typed-through recognition, the memory's lookups and expiry, and the adaptive debounce."""

from __future__ import annotations

import pytest

from codestral_lsp.documents import Cursor, Document
from codestral_lsp.local import FimContext, build
from codestral_lsp.memory import CompletionMemory, Hit, answer_key, typed_since
from codestral_lsp.scheduler import Debouncer
from codestral_lsp.settings import Settings

CURSOR = "█"
URL = "https://codestral.mistral.ai/v1/fim/completions"


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
    key = answer_key(Settings(), URL)
    memory.remember(ctx("x = █\n"), key, "compute(1)")
    assert memory.lookup(ctx("x = █\n", version=5), key) == Hit("compute(1)", "cache")
    assert memory.lookup(ctx("x = comp█\n"), key) == Hit("ute(1)", "typed")
    assert memory.lookup(ctx("x = compute(1)█\n"), key) is None  # typed it all
    assert memory.lookup(ctx("x = cx█\n"), key) is None  # left the suggestion
    assert memory.lookup(ctx("x = comp█\n"), answer_key(Settings(model="other"), URL)) is None
    clock.now += 61
    assert memory.lookup(ctx("x = comp█\n"), key) is None  # expired
    assert memory.lookup(ctx("x = █\n"), key) is None


def test_memory_off_and_forget() -> None:
    key = answer_key(Settings(), URL)
    off = CompletionMemory(0, ttl=60)
    off.remember(ctx("x = █\n"), key, "1")
    assert off.lookup(ctx("x = █\n"), key) is None
    memory = CompletionMemory(8, ttl=60)
    memory.remember(ctx("x = █\n"), key, "123")
    memory.forget("file:///a.py")
    assert memory.lookup(ctx("x = 1█\n"), key) is None  # typed-through entries gone
    assert memory.lookup(ctx("x = █\n"), key) is not None  # the exact cache is not per file


def test_debounce_floor_until_a_typing_rhythm_is_seen() -> None:
    clock = Clock()
    debouncer = Debouncer(clock)
    settings = Settings(debounce_ms=50, debounce_max_ms=400)
    assert debouncer.delay(settings) == 0.05
    for _ in range(5):
        debouncer.observe_change("u")
        clock.now += 0.3
    clock.now -= 0.3  # asked right after the last key
    # Median gap 0.3 s; no latency seen yet counts as 0.5 s: weight 0.75.
    assert debouncer.delay(settings, "u") == pytest.approx(0.225)
    for _ in range(30):
        debouncer.observe_latency(2.0)  # a slow backend: wait the whole gap
    assert debouncer.delay(settings, "u") == pytest.approx(0.3, rel=0.01)
    assert debouncer.delay(Settings(debounce_ms=50, debounce_max_ms=100), "u") == 0.1
    assert debouncer.delay(Settings(debounce_ms=0, debounce_max_ms=0), "u") == 0


def test_debounce_ignores_pauses() -> None:
    clock = Clock()
    debouncer = Debouncer(clock)
    for _ in range(5):
        debouncer.observe_change("u")
        clock.now += 5.0  # reading, not typing
    assert debouncer.delay(Settings(debounce_ms=50, debounce_max_ms=400)) == 0.05


def test_debounce_counts_the_quiet_time_since_the_last_key() -> None:
    """A client that waits itself (Neovim: 200 ms after the last key) gets only the floor
    when it has already waited longer than the rhythm asks for; the keys set the rhythm."""
    clock = Clock()
    debouncer = Debouncer(clock)
    settings = Settings(debounce_ms=20, debounce_max_ms=300)
    for _ in range(6):  # steady typing, a key every 150 ms
        debouncer.observe_change("u")
        clock.now += 0.15
    for _ in range(30):
        debouncer.observe_latency(1.0)  # the whole gap: 150 ms of quiet wanted
    clock.now += 0.2 - 0.15  # the request comes 200 ms after the last key
    assert debouncer.delay(settings, "u") == 0.02
    clock.now -= 0.1  # had it come 100 ms after the last key: 50 ms more
    assert debouncer.delay(settings, "u") == pytest.approx(0.05)
    assert debouncer.delay(settings, "other") == pytest.approx(0.15)  # no key seen there


def test_debounce_rhythm_comes_from_keys_not_requests() -> None:
    """Requests 200 ms apart with a key every 100 ms in between: the rhythm is 100 ms."""
    clock = Clock()
    debouncer = Debouncer(clock)
    for _ in range(8):
        debouncer.observe_change("u")
        clock.now += 0.1
    for _ in range(30):
        debouncer.observe_latency(1.0)
    assert debouncer.delay(Settings(debounce_ms=0, debounce_max_ms=300), "x") == pytest.approx(0.1)
