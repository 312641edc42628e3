"""The local window around the cursor (codestral_lsp.local): its shape for a budget, as the
editor shows it, for any document, cursor and budget; and whether an answer still fits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codestral_lsp.documents import Cursor, Document
from codestral_lsp.local import FimContext, build, still_fits

CURSOR = "█"
URI = "file:///w/main.py"


def at_cursor(marked: str, uri: str = URI, version: int = 1) -> tuple[Document, Cursor]:
    """The document and cursor an editor shows as ``marked`` (the cursor at ``█``)."""
    at = marked.index(CURSOR)
    text = marked.replace(CURSOR, "")
    before = text[:at]
    line = before.count("\n")
    index = len(before) - (before.rfind("\n") + 1)
    return Document(uri, text, version, "python"), Cursor(line, index)


def shown(fim: FimContext) -> str:
    """The window as an editor would show it: prompt, cursor, suffix."""
    return fim.prompt + CURSOR + fim.suffix


def starts_of(doc: Document) -> list[int]:
    """Offset of each line's start, then the document's end."""
    offsets = [0]
    for n in range(doc.line_count):
        offsets.append(offsets[-1] + len(doc.line_with_ending(n)))
    return offsets


# --- the local window, as the editor shows it ------------------------------------------------


@pytest.mark.parametrize(
    ("marked", "prompt_chars", "suffix_chars", "window", "first", "last"),
    [
        pytest.param("█", 10, 10, "█", 0, 0, id="empty document"),
        pytest.param(
            "█def f():\n    pass\n", 100, 100, "█def f():\n    pass\n", 0, 2, id="at the start"
        ),
        pytest.param("x = 1\ny = 2█", 100, 100, "x = 1\ny = 2█", 0, 1, id="at the end"),
        pytest.param(
            "alpha\nbeta\ngamma█", 12, 0, "beta\ngamma█", 1, 2, id="a line that does not fit"
        ),
        pytest.param(
            "first line\naaaa bbbb cccc█ dd\nlast\n",
            5,
            4,
            " cccc█ dd\n",
            1,
            1,
            id="head cut, nearest kept",
        ),
        pytest.param("top\nv = f(█alpha, beta)\nnext\n", 7, 5, "v = f(█alpha", 1, 1, id="tail cut"),
        pytest.param(
            "one\ntwo\nthree\nx = █\n",
            8,
            10,
            "two\nthree\nx = █\n",
            1,
            4,
            id="suffix at the end lends to the prompt",
        ),
        pytest.param(
            "x = █\none\ntwo\nthree\n",
            10,
            5,
            "x = █\none\ntwo\n",
            0,
            2,
            id="prompt at the start lends to the suffix",
        ),
        pytest.param("a\r\nb = █\r\nc\r\n", 4, 2, "b = █\r\n", 1, 1, id="crlf"),
        pytest.param("a\r\nb = █\r\nc\r\n", 99, 99, "a\r\nb = █\r\nc\r\n", 0, 3, id="crlf all"),
        pytest.param("é = '中😀█'", 3, 1, "'中😀█'", 0, 0, id="non-ascii cut by characters"),
    ],
)
def test_window(
    marked: str, prompt_chars: int, suffix_chars: int, window: str, first: int, last: int
) -> None:
    fim = build(*at_cursor(marked), prompt_chars, suffix_chars)
    assert (shown(fim), fim.first_line, fim.last_line) == (window, first, last)


def test_lending_to_a_cut_suffix_keeps_it_contiguous() -> None:
    doc, cursor = at_cursor("ab█cdefghij\nxyz\nmore\n")
    fim = build(doc, cursor, 10, 3)
    assert doc.text[2:].startswith(fim.suffix), shown(fim)
    assert len(fim.prompt) + len(fim.suffix) <= 13


# --- any document, any cursor, any budget -----------------------------------------------------

PIECES = "ab yz_():=.,é中😀\t"
short_lines = st.text(alphabet=PIECES, max_size=40)
long_lines = st.builds(
    lambda piece, n: (piece * n)[:n],
    st.text(alphabet=PIECES, min_size=1, max_size=8),
    st.integers(100, 3_000),
)
documents = st.builds(
    lambda lines, last: "".join(content + ending for content, ending in lines) + last,
    st.lists(
        st.tuples(
            st.one_of(short_lines, st.just(""), long_lines),
            st.sampled_from(["\n", "\n", "\r\n", "\r"]),
        ),
        max_size=30,
    ),
    st.one_of(st.just(""), short_lines),
)
budgets = st.integers(0, 4_000)


@st.composite
def windows(draw: st.DrawFn) -> tuple[Document, Cursor, int, int]:
    doc = Document(URI, draw(documents), 1, "python")
    line = draw(st.integers(0, doc.line_count - 1))
    index = draw(st.integers(0, len(doc.line(line))))
    return doc, Cursor(line, index), draw(budgets), draw(budgets)


@given(windows())
def test_the_budget_is_never_exceeded(case: tuple[Document, Cursor, int, int]) -> None:
    doc, cursor, prompt_chars, suffix_chars = case
    fim = build(doc, cursor, prompt_chars, suffix_chars)
    assert len(fim.prompt) + len(fim.suffix) <= prompt_chars + suffix_chars


@given(windows())
def test_the_window_is_contiguous_whole_lines(case: tuple[Document, Cursor, int, int]) -> None:
    doc, cursor, prompt_chars, suffix_chars = case
    fim = build(doc, cursor, prompt_chars, suffix_chars)
    text, starts = doc.text, starts_of(doc)
    at = starts[cursor.line] + cursor.index
    line = doc.line_with_ending(cursor.line)
    head, tail = line[: cursor.index], line[cursor.index :]
    assert text[:at].endswith(fim.prompt)
    assert text[at:].startswith(fim.suffix)
    start, end = at - len(fim.prompt), at + len(fim.suffix)
    if len(fim.prompt) < len(head):  # the head was cut: nothing but the head
        assert fim.first_line == cursor.line
    else:
        assert start == starts[fim.first_line]
    if len(fim.suffix) < len(tail):  # the tail was cut: nothing but the tail
        # (an empty last line right after it still counts as taken: it costs nothing)
        final = doc.line_count - 1
        empty_last = fim.last_line == final == cursor.line + 1 and not doc.line_with_ending(final)
        assert fim.last_line == cursor.line or empty_last
    else:
        assert end == starts[fim.last_line + 1]
    assert fim.first_line <= cursor.line <= fim.last_line


# --- still_fits -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "version", "fits"),
    [
        ("x = █\n", "x = █\n", 1, True),
        ("x = █\n", "x = █\n", 2, False),  # a new version
        ("x = █)\n", "x = █]\n", 1, False),  # the suffix changed
        ("a\nx = █\n", "b\nx = █\n", 1, True),  # only the cursor line is compared
        ("x = ab█\n", "x = █\n", 1, False),
        ("a\nb\nc = █", "c = █", 1, False),  # the cursor line is gone
    ],
)
def test_still_fits(before: str, after: str, version: int, fits: bool) -> None:
    fim = build(*at_cursor(before))
    doc, _ = at_cursor(after, version=version)
    assert still_fits(doc, fim) is fits


def test_still_fits_a_cut_head_and_no_document() -> None:
    line = "x = " + "a" * 50 + "█\n"
    fim = build(*at_cursor(line), 10, 10)
    assert still_fits(at_cursor(line)[0], fim)
    assert not still_fits(None, fim)
