"""Menu labels: the text a client would insert if it inserted the label (Emacs 28's C-M-i)."""

from __future__ import annotations

import pytest

from codestral_lsp.completer import Answer
from codestral_lsp.lsp.items import MenuCaps, inline_reply, menu_label, menu_reply
from codestral_lsp.source import Source


@pytest.mark.parametrize(
    ("text", "one_line", "label"),
    [
        ("return total", True, "return total"),
        ("return total", False, "return total"),
        ("x = f(a)\nprint(x)", True, "x = f(a)"),
        ("x = f(a)\nprint(x)", False, "x = f(a)\nprint(x)"),
        # Starts on the next line: one-line clients see the first line with text.
        ("\n    total = a + b\n    return total", True, "total = a + b"),
        ("\n    total = a + b\n    return total", False, "\n    total = a + b\n    return total"),
        ("\n\n", True, ""),
        ("ret", True, "ret"),
    ],
)
def test_menu_label(text: str, one_line: bool, label: str) -> None:
    assert menu_label(text, one_line) == label


LOST = [s for s in Source if not s.nothing_here]
NOTHING = [s for s in Source if s.nothing_here]


@pytest.mark.parametrize("source", NOTHING)
def test_nothing_here_is_an_empty_list(source: Source) -> None:
    answer = Answer("c1", source)
    for neovim in (False, True):
        inline = inline_reply(answer, "utf-16", neovim)
        assert inline is not None
        assert inline.items == []
    menu = menu_reply(answer, "utf-16", MenuCaps(), neovim=False)
    assert menu is not None
    assert menu.items == []


@pytest.mark.parametrize("source", LOST)
def test_a_request_that_lost_is_null_except_for_neovim(source: Source) -> None:
    answer = Answer("c1", source)
    assert inline_reply(answer, "utf-16", neovim=False) is None
    neovim = inline_reply(answer, "utf-16", neovim=True)  # it would keep a stale item on null
    assert neovim is not None
    assert neovim.items == []
    assert menu_reply(answer, "utf-16", MenuCaps(), neovim=False) is None
