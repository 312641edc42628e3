"""Menu labels: the text a client would insert if it inserted the label (Emacs 28's C-M-i)."""

from __future__ import annotations

import pytest

from codestral_lsp.lsp.items import menu_label


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
