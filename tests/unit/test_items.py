"""LSP items for a suggestion: inline items, menu items, their ranges in each encoding."""

from __future__ import annotations

import pytest
from lsprotocol import types  # noqa: TID251 - unit tests of the LSP edge (lsp/items.py)

from codestral_lsp.completer import Answer, Suggestion
from codestral_lsp.documents import Cursor, Document, split_lines
from codestral_lsp.local import surroundings
from codestral_lsp.lsp.items import (
    ACCEPTED,
    MenuCaps,
    escape_snippet,
    inline_item,
    inline_reply,
    menu_item,
    menu_label,
    menu_reply,
)
from codestral_lsp.positions import Encoding
from codestral_lsp.shaping import Shaped
from codestral_lsp.source import Source

CURSOR = "█"


def suggestion(marked: str, text: str, replace: int = 0) -> Suggestion:
    """``text`` suggested at the ``█`` of ``marked``, covering ``replace`` characters after it."""
    at = marked.index(CURSOR)
    before = split_lines(marked[:at])
    doc = Document("file:///w/main.py", marked.replace(CURSOR, ""), 1, "python")
    cursor = Cursor(len(before) - 1, len(before[-1]))
    return Suggestion("r1", doc, cursor, Shaped(text, replace), surroundings(doc, cursor))


def span(line: int, start: int, end: int) -> types.Range:
    return types.Range(types.Position(line, start), types.Position(line, end))


# --- inline items -----------------------------------------------------------------------------

# Columns counted by hand: é is 2 utf-8 bytes, 中 3; 😀 is 4 bytes and 2 utf-16 units.
RANGES = [
    ("x = █", "1", 0, {"utf-8": (4, 4), "utf-16": (4, 4), "utf-32": (4, 4)}),
    ("é = f(█)", "a)", 1, {"utf-8": (7, 8), "utf-16": (6, 7), "utf-32": (6, 7)}),
    ("😀 = f(█)", "a)", 1, {"utf-8": (9, 10), "utf-16": (7, 8), "utf-32": (6, 7)}),
    ("a\n中 = [█]\n", "1]", 1, {"utf-8": (7, 8), "utf-16": (5, 6), "utf-32": (5, 6)}),
    ('s = "😀█")', 'x")', 2, {"utf-8": (9, 11), "utf-16": (7, 9), "utf-32": (6, 8)}),
]


@pytest.mark.parametrize(
    ("marked", "text", "replace", "encoding", "columns"),
    [
        pytest.param(m, t, r, e, cols[e], id=f"{m!r}-{e}")
        for m, t, r, cols in RANGES
        for e in ("utf-8", "utf-16", "utf-32")
    ],
)
def test_inline_item_covers_the_cursor_to_the_replaced_closers(
    marked: str, text: str, replace: int, encoding: Encoding, columns: tuple[int, int]
) -> None:
    item = inline_item(suggestion(marked, text, replace), encoding, neovim=False)
    line = marked[: marked.index(CURSOR)].count("\n")
    assert item.insert_text == text
    assert item.range == span(line, *columns)


@pytest.mark.parametrize(
    ("marked", "text", "replace", "encoding", "insert", "columns"),
    [
        pytest.param("print(█) # x", "a)", 1, "utf-16", "a) # x", (6, 11), id="rest of line"),
        pytest.param("é(█)", "a)", 1, "utf-8", "a)", (3, 4), id="utf-8 columns"),
        pytest.param("😀(█) + 1", "a)", 1, "utf-16", "a) + 1", (3, 8), id="utf-16 columns"),
        pytest.param("x = █", "1", 0, "utf-32", "1", (4, 4), id="at the line end"),
    ],
)
def test_neovims_inline_item_runs_to_the_line_end_and_carries_the_rest(
    marked: str,
    text: str,
    replace: int,
    encoding: Encoding,
    insert: str,
    columns: tuple[int, int],
) -> None:
    item = inline_item(suggestion(marked, text, replace), encoding, neovim=True)
    assert (item.insert_text, item.range) == (insert, span(0, *columns))


@pytest.mark.parametrize("neovim", [False, True])
def test_accepting_an_item_reports_its_request_and_size(neovim: bool) -> None:
    inline = inline_item(suggestion("x = █", "compute(1)"), "utf-16", neovim)
    menu = menu_item(suggestion("x = █", "compute(1)"), "utf-16", MenuCaps(), neovim)
    for command in (inline.command, menu.command):
        assert command is not None
        assert command.command == ACCEPTED
        assert command.arguments == [{"id": "r1", "chars": 10}]


# --- menu items -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("marked", "text", "replace", "encoding", "new_text", "columns"),
    [
        pytest.param("ret█", "urn x", 0, "utf-16", "return x", (0, 3), id="from the word start"),
        pytest.param("é = ret█", "urn x", 0, "utf-8", "return x", (5, 8), id="utf-8 word start"),
        pytest.param("😀 = ret█", "urn x", 0, "utf-16", "return x", (5, 8), id="utf-16"),
        pytest.param("f(█)", "a, b)", 1, "utf-32", "a, b)", (2, 3), id="covers the closer"),
        pytest.param("x = █", "1", 0, "utf-8", "1", (4, 4), id="no word typed"),
    ],
)
def test_menu_item_edits_from_the_word_typed(
    marked: str,
    text: str,
    replace: int,
    encoding: Encoding,
    new_text: str,
    columns: tuple[int, int],
) -> None:
    item = menu_item(suggestion(marked, text, replace), encoding, MenuCaps())
    assert item.text_edit == types.TextEdit(span(0, *columns), new_text)
    assert item.filter_text == new_text  # starts with the word typed: the client keeps it
    assert item.label == new_text
    assert item.insert_text_format == types.InsertTextFormat.PlainText
    assert item.kind == types.CompletionItemKind.Text
    assert item.insert_text_mode == types.InsertTextMode.AsIs


MULTI = "def f():\n    █"
MULTI_TEXT = "a = '$x'\n    return a"


@pytest.mark.parametrize(
    ("caps", "neovim", "new_text", "snippet", "label", "detail"),
    [
        (MenuCaps(), False, MULTI_TEXT, False, MULTI_TEXT, None),
        (MenuCaps(snippets=True), False, "a = '\\$x'\n    return a", True, MULTI_TEXT, None),
        (MenuCaps(label_details=True), False, MULTI_TEXT, False, "a = '$x'", " …"),
        (MenuCaps(), True, MULTI_TEXT, False, "a = '$x'", None),
    ],
)
def test_a_multi_line_menu_item(
    caps: MenuCaps, neovim: bool, new_text: str, snippet: bool, label: str, detail: str | None
) -> None:
    item = menu_item(suggestion(MULTI, MULTI_TEXT), "utf-16", caps, neovim)
    assert item.text_edit is not None
    assert item.text_edit.new_text == new_text
    assert item.kind == types.CompletionItemKind.Snippet
    formats = types.InsertTextFormat
    assert item.insert_text_format == (formats.Snippet if snippet else formats.PlainText)
    assert item.label == label
    assert item.filter_text == "a = '$x'"
    if caps.label_details:  # "…": more lines than the label shows
        details = types.CompletionItemLabelDetails(detail=detail, description="Codestral")
        assert item.label_details == details
    else:
        assert item.label_details is None


@pytest.mark.parametrize(
    ("marked", "text", "replace", "neovim", "new_text", "columns"),
    [
        pytest.param("f(█)", "a, b)", 1, False, "a, b)", (2, 3), id="covers the closer"),
        pytest.param("f(█)", "a, b)", 1, True, "a, b", (2, 2), id="neovim: stops before it"),
        pytest.param("f(g(█))", "x))", 2, True, "x", (4, 4), id="neovim: two closers"),
        pytest.param("f(█)", "a$1)", 1, True, "a\\$1", (2, 2), id="neovim: always a snippet"),
    ],
)
def test_neovims_menu_item_leaves_the_closers_after_the_cursor(
    marked: str,
    text: str,
    replace: int,
    neovim: bool,
    new_text: str,
    columns: tuple[int, int],
) -> None:
    caps = MenuCaps(snippets=True)
    item = menu_item(suggestion(marked, text, replace), "utf-16", caps, neovim)
    assert item.text_edit == types.TextEdit(span(0, *columns), new_text)
    snippet = types.InsertTextFormat.Snippet if neovim else types.InsertTextFormat.PlainText
    assert item.insert_text_format == snippet


def test_menu_documentation_is_markdown_when_the_client_reads_it() -> None:
    marked = suggestion("x = █", "f(1)")
    plain = menu_item(marked, "utf-16", MenuCaps())
    fenced = menu_item(marked, "utf-16", MenuCaps(markdown=True))
    assert plain.documentation == "f(1)"
    assert fenced.documentation == types.MarkupContent(
        types.MarkupKind.Markdown, "```python\nf(1)\n```"
    )


def completion_caps(item: types.ClientCompletionItemOptions | None) -> object:
    completion = types.CompletionClientCapabilities(completion_item=item)
    return types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(completion=completion)
    )


@pytest.mark.parametrize(
    ("capabilities", "caps"),
    [
        (types.ClientCapabilities(), MenuCaps()),
        (completion_caps(None), MenuCaps()),
        (
            completion_caps(
                types.ClientCompletionItemOptions(
                    snippet_support=True,
                    documentation_format=[types.MarkupKind.PlainText, types.MarkupKind.Markdown],
                    label_details_support=True,
                )
            ),
            MenuCaps(snippets=True, markdown=True, label_details=True),
        ),
        (
            completion_caps(
                types.ClientCompletionItemOptions(documentation_format=[types.MarkupKind.PlainText])
            ),
            MenuCaps(),
        ),
    ],
)
def test_menu_caps_from_the_clients_capabilities(
    capabilities: types.ClientCapabilities, caps: MenuCaps
) -> None:
    assert MenuCaps.of(capabilities) == caps


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("plain", "plain"),
        ("cost = $5", "cost = \\$5"),
        ("${1:x}", "\\${1:x\\}"),
        ("a\\b", "a\\\\b"),
        ("\\$", "\\\\\\$"),  # the backslash first, then the dollar
    ],
)
def test_escape_snippet(text: str, escaped: str) -> None:
    assert escape_snippet(text) == escaped


# --- menu labels: the text a client would insert if it inserted the label (Emacs 28's C-M-i)


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
