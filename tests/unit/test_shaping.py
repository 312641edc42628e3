"""Tests for codestral_lsp.shaping, one table per step; whole-pipeline cases are the goldens."""

from __future__ import annotations

import pytest

from codestral_lsp.documents import Cursor, Document, split_lines
from codestral_lsp.local import surroundings
from codestral_lsp.shaping import (
    Options,
    Shaped,
    Surroundings,
    before_closers,
    fit_tail,
    fix_quirks,
    limit_lines,
    match_indent,
    shape,
    stop_at_suffix,
    stop_repetition,
    strip_trailing,
)

CURSOR = "█"


def around(view: str) -> Surroundings:
    """What the server sees at the ``█`` in ``view``."""
    at = view.index(CURSOR)
    before = split_lines(view[:at])
    document = Document("file:///step", view.replace(CURSOR, ""), 1)
    return surroundings(document, Cursor(len(before) - 1, len(before[-1])))


@pytest.mark.parametrize(
    ("view", "raw", "want"),
    [
        pytest.param("x = █\n", " 1", "1", id="stray space after a space, line end"),
        pytest.param("x = █\n", "  1", "  1", id="a run of blanks is alignment: kept"),
        pytest.param("?   █\n", " ^  ^", " ^  ^", id="after a run of blanks: kept"),
        pytest.param("x =█\n", " 1", " 1", id="no space before the cursor: kept"),
        pytest.param("f(x, █y)\n", " z", "z", id="mid-line too"),
        pytest.param("import os\n\n█", "\n\ndef main():", "def main():", id="newlines at EOF"),
        pytest.param("import os\n█\nimport re\n", "\nimport sys", "\nimport sys", id="not EOF"),
        pytest.param("import os█", "\nimport sys", "\nimport sys", id="EOF after code: kept"),
        pytest.param("import os\n█", "import sys", "import sys", id="nothing to fix"),
    ],
)
def test_fix_quirks(view: str, raw: str, want: str) -> None:
    assert fix_quirks(raw, around(view)) == want


@pytest.mark.parametrize(
    ("view", "raw", "options", "want"),
    [
        pytest.param("f(█, b)\n", "a\nprint(1)", Options(), "a", id="mid-line: one line"),
        pytest.param(
            "f(█, b)\n", "a\nprint(1)", Options("always"), "a", id="mid-line: one line (always)"
        ),
        pytest.param(
            "def f():\n    █\n",
            "x = 1\n    return x\n\n\ndef g():",
            Options(),
            "x = 1\n    return x",
            id="cut at a blank line",
        ),
        pytest.param(
            "def f():\n    █\n",
            "x = 1\n    return x\nprint(f())",
            Options(),
            "x = 1\n    return x",
            id="cut at a dedent",
        ),
        pytest.param(
            "def f():\n    █\n",
            "x = 1\n\n    return x",
            Options("always"),
            "x = 1\n\n    return x",
            id="always: past a blank line",
        ),
        pytest.param(
            "def f():\n    █\n",
            "a = 1\n    b = 2\n    c = 3",
            Options(max_lines=2),
            "a = 1\n    b = 2",
            id="at most max_lines",
        ),
        pytest.param(
            "def f():█\n",
            "\n    a = 1\n    b = 2\n    c = 3",
            Options(max_lines=2),
            "\n    a = 1\n    b = 2",
            id="a leading empty line is not counted",
        ),
        # Ambiguous: a line break then one line of content is still "one line" to the user
        # (one line of code as ghost text), so never keeps it.
        pytest.param(
            "def f():█\n",
            "\n    return 1\n    x",
            Options("never"),
            "\n    return 1",
            id="never: up to the first line with content",
        ),
        pytest.param(
            "foo(█)\n",
            "\n    a,\n    b,\n",
            Options(),
            "\n    a,\n    b,",
            id="closers after the cursor: a line end",
        ),
    ],
)
def test_limit_lines(view: str, raw: str, options: Options, want: str) -> None:
    assert limit_lines(raw, around(view), options) == want


@pytest.mark.parametrize(
    ("view", "raw", "want"),
    [
        pytest.param(
            "def f():\n    █\n    return total\n",
            "return total",
            "",
            id="first line is the next line",
        ),
        pytest.param(
            "def f():\n    █\n\n    return total\n",
            "x = 1\n    return total\n",
            "x = 1",
            id="a later line is the next non-empty line",
        ),
        pytest.param(
            "def f():\n    █\n    return math.pi * r ** 2\n",
            "return math.pi * r**2",
            "",
            id="nearly equal",
        ),
        pytest.param(
            "def f():\n    █\n    x = 2\n",
            "y = 1\n    x = 1",
            "y = 1\n    x = 1",
            id="short lines must be equal",
        ),
        pytest.param(
            "def f():\n    █",
            "x = 1\n    return x",
            "x = 1\n    return x",
            id="nothing after the cursor",
        ),
        pytest.param(
            "x = compute(█)\ncompute()\n",
            "compute()",
            "compute()",
            id="head with code: the first line continues it",
        ),
    ],
)
def test_stop_at_suffix(view: str, raw: str, want: str) -> None:
    assert stop_at_suffix(raw, around(view)) == want


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        pytest.param("x += 1\nx += 1\nx += 1\nx += 1", "x += 1", id="a line three times"),
        pytest.param("y = 0\nx += 1\nx += 1", "y = 0\nx += 1\nx += 1", id="twice is fine"),
        pytest.param("}\n}\n}", "}\n}\n}", id="short lines repeat legitimately"),
        pytest.param(
            "print('a')\nprint('b')\nprint('a')\nprint('b')\nprint('a')",
            "print('a')\nprint('b')",
            id="a block twice",
        ),
        pytest.param("a = 1\nb = 2\na = 1\nb = 2", "a = 1\nb = 2\na = 1\nb = 2", id="tiny block"),
        pytest.param("one\ntwo\nthree", "one\ntwo\nthree", id="no repetition"),
    ],
)
def test_stop_repetition(raw: str, want: str) -> None:
    assert stop_repetition(raw, around("█")) == want


@pytest.mark.parametrize(
    ("view", "raw", "want"),
    [
        pytest.param(
            "func f() {\n\tx := 1\n\t█\n}\n",
            "if x {\n        y()\n    }",
            "if x {\n\t\ty()\n\t}",
            id="spaces to tabs",
        ),
        pytest.param(
            "func f() {\n\tx := 1\n\t█\n}\n",
            "s := []int{\n\t\t  1}",
            "s := []int{\n\t\t  1}",
            id="tabs then alignment: kept",
        ),
        pytest.param(
            "def f():\n  x = 1\n  █\n",
            "if x:\n\t\treturn x",
            "if x:\n    return x",
            id="tabs to the document's 2 spaces",
        ),
        pytest.param(
            "def f():\n    x = 1\n    █\n",
            "if x:\n        return x",
            "if x:\n        return x",
            id="spaces in a spaces document: kept",
        ),
        pytest.param("func f() {\n\tx := █\n}\n", "    1", "    1", id="one line: kept"),
    ],
)
def test_match_indent(view: str, raw: str, want: str) -> None:
    assert match_indent(raw, around(view)) == want


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        pytest.param("x = 1   ", "x = 1", id="end of the line"),
        pytest.param("a \t\n    b  \n\n\n", "a\n    b", id="every line, then empty lines"),
        pytest.param("\n    return 1 ", "\n    return 1", id="a leading newline stays"),
        pytest.param("x = 1\r\ny = 2\r\n", "x = 1\ny = 2", id="CRLF"),
    ],
)
def test_strip_trailing(raw: str, want: str) -> None:
    assert strip_trailing(raw) == want


@pytest.mark.parametrize(
    ("view", "raw", "want"),
    [
        pytest.param("x = █\n", "1", Shaped("1"), id="nothing after the cursor"),
        pytest.param("print(█)\n", "x", Shaped("x)", 1), id="closer left to the suffix"),
        pytest.param("print(█)\n", "x)", Shaped("x)", 1), id="closer repeated"),
        pytest.param("print(█)\n", "g(x)", Shaped("g(x))", 1), id="own closer kept"),
        pytest.param("print(█)\n", "g(x))", Shaped("g(x))", 1), id="own closer and repeated"),
        pytest.param('print("█")\n', 'hi")', Shaped('hi")', 2), id="quote and paren"),
        pytest.param('print("█")\n', 'hi"', Shaped('hi")', 2), id="quote only"),
        pytest.param("f(█);\n", "x);", Shaped("x);", 2), id="semicolon"),
        pytest.param("print(█)  \n", "x", Shaped("x)", 1), id="blanks after the closers"),
        pytest.param(
            "    foo(█)\n",
            "\n        a,\n        b,",
            Shaped("\n        a,\n        b,\n    )", 1),
            id="multi-line: closers on their own line",
        ),
        pytest.param(
            "    foo(█)\n",
            "\n        a,\n    )",
            Shaped("\n        a,\n    )", 1),
            id="multi-line: closed by the text",
        ),
        pytest.param("f(█, b)\n", "a, b)", Shaped("a"), id="mid-line: repeated tail dropped"),
        pytest.param("x = f(█) + 1\n", "a)", Shaped("a"), id="mid-line: repeated closer dropped"),
        pytest.param("x = f(█) + 1\n", "g(a)", Shaped("g(a)"), id="mid-line: own closer kept"),
        pytest.param("{ █ }\n", "a: 1", Shaped("a: 1 }", 2), id="blank before closers: kept"),
        pytest.param("{ █ }\n", "a: 1 }", Shaped("a: 1 }", 2), id="blank before closers: given"),
        pytest.param(
            '    """Sum the values.\n    █"""\n',
            "Return the total.",
            Shaped("Return the total."),
            id="a docstring's closing quotes are text, not auto-pairs",
        ),
        pytest.param('s = """ab█"""\n', 'c"""', Shaped("c"), id="triple quotes repeated: dropped"),
    ],
)
def test_fit_tail(view: str, raw: str, want: Shaped) -> None:
    assert fit_tail(raw, around(view)) == want


@pytest.mark.parametrize(
    ("view", "raw"),
    [
        pytest.param("x = █\n", "", id="empty"),
        pytest.param("x = █\n", " \n\t\n", id="whitespace only"),
        pytest.param("print(█)\n", ")", id="only the closers already there"),
        # Mid-line the model moved to a new line: conservative, nothing rather than a guess.
        pytest.param("f(█, b)\n", "\nx = 1", id="mid-line, first line empty"),
        pytest.param("def f():\n    █\n    return 1\n", "return 1", id="the next line again"),
    ],
)
def test_shape_nothing_to_show(view: str, raw: str) -> None:
    assert shape(raw, around(view), Options()) is None


def test_shape_runs_the_steps_in_order() -> None:
    raw = "\nimport sys\nimport sys\nimport sys\n\ndef main():\n\tpass"
    # the quirk (a leading newline at EOF), the cut at a blank line, then the repetition
    assert shape(raw, around("import os\n█"), Options()) == Shaped("import sys")


def test_shape_sees_repetition_through_trailing_blanks() -> None:
    raw = "import sys\nimport sys  \nimport sys\nimport sys"
    assert shape(raw, around("import os\n█"), Options()) == Shaped("import sys")


@pytest.mark.parametrize(
    ("view", "shaped", "want"),
    [
        pytest.param("f(█)", Shaped("a, b)", 1), "a, b", id="stops before the closer it covers"),
        pytest.param("f(█)", Shaped("a, b"), "a, b", id="covers none: unchanged"),
        pytest.param("f(g(█))", Shaped("x))", 2), "x", id="two closers: before the first"),
        pytest.param("f(█)", Shaped("g(a))", 1), "g(a)", id="its own pair is kept"),
        pytest.param('print("█")', Shaped('hi")', 2), "hi", id="a quote"),
        pytest.param("xs = [█]", Shaped("1, 2 ]", 1), "1, 2", id="blanks before the cut go"),
        pytest.param("f(█ )", Shaped("a", 1), "a", id="covers only a blank: unchanged"),
        pytest.param("f(█)", Shaped("x", 1), "x", id="text without the closer: unchanged"),
    ],
)
def test_before_closers(view: str, shaped: Shaped, want: str) -> None:
    assert before_closers(shaped, around(view)) == want
