"""Tests for codestral_lsp.documents: line splitting, positions and incremental edits."""

from __future__ import annotations

import logging
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codestral_lsp import longlines
from codestral_lsp.documents import (
    Cursor,
    Document,
    DocumentError,
    DocumentStore,
    Slot,
    TextChange,
    split_lines,
)
from codestral_lsp.longlines import LongLine
from codestral_lsp.positions import Encoding

ENCODINGS: tuple[Encoding, ...] = ("utf-8", "utf-16", "utf-32")
URI = "file:///tmp/a.py"

PIECES = [
    "a",
    "b",
    "x = 1",
    " ",
    "\t",
    "\r\n",
    "\r",
    "\n",
    "\x0c",
    "\x0b",
    "\x85",
    "\u2028",
    "😀",
    "🚀",
    "中文",
    "é",
    "\ud800",
]
texts = st.lists(st.sampled_from(PIECES), max_size=16).map("".join)


def lines_of(document: Document) -> list[str]:
    return [document.line_with_ending(i) for i in range(document.line_count)]


# --- An independent reference: positions as absolute offsets into a plain string. ---


def width(char: str, encoding: Encoding) -> int:
    if encoding == "utf-8":
        return len(char.encode("utf-8", "surrogatepass"))
    if encoding == "utf-16":
        return 2 if ord(char) > 0xFFFF else 1
    return 1


def reference_lines(text: str) -> list[tuple[int, int]]:
    """(start, content end) of each line, scanning one character at a time."""
    spans: list[tuple[int, int]] = []
    start = i = 0
    while i < len(text):
        if text.startswith("\r\n", i):
            spans.append((start, i))
            i += 2
            start = i
        elif text[i] in "\r\n":
            spans.append((start, i))
            i += 1
            start = i
        else:
            i += 1
    spans.append((start, len(text)))
    return spans


def reference_offset(text: str, line: int, units: int, encoding: Encoding) -> int:
    spans = reference_lines(text)
    if line == len(spans):
        return len(text)
    start, end = spans[line]
    total = 0
    for offset in range(start, end):
        total += width(text[offset], encoding)
        if total > units:
            return offset
    return end


@st.composite
def positions(draw: st.DrawFn, text: str, encoding: Encoding) -> tuple[int, int]:
    spans = reference_lines(text)
    line = draw(st.integers(0, len(spans)))
    if line == len(spans):
        return line, 0
    start, end = spans[line]
    line_units = sum(width(char, encoding) for char in text[start:end])
    # Up to 2 units past the end: those clamp to the end.
    return line, draw(st.integers(0, line_units + 2))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), text=texts, encoding=st.sampled_from(ENCODINGS))
def test_incremental_edits_match_plain_string(
    data: st.DataObject, text: str, encoding: Encoding
) -> None:
    document = Document(URI, text, 1)
    for _ in range(data.draw(st.integers(1, 8))):
        a = data.draw(positions(text, encoding))
        b = data.draw(positions(text, encoding))
        start = reference_offset(text, *a, encoding)
        end = reference_offset(text, *b, encoding)
        if end < start:
            a, b, start, end = b, a, end, start
        insert = data.draw(texts)
        document.apply(TextChange((*a, *b), insert), encoding)
        text = text[:start] + insert + text[end:]
        assert document.text == text
        starts = [start for start, _ in reference_lines(text)]
        ends = [*starts[1:], len(text)]
        assert lines_of(document) == [text[s:e] for s, e in zip(starts, ends, strict=True)]


# --- Long lines, kept in pieces (thresholds made tiny so that most lines are long). ---

INLINE = [piece for piece in PIECES if "\r" not in piece and "\n" not in piece]
long_texts = st.lists(st.sampled_from([*PIECES, *INLINE, *INLINE]), max_size=40).map("".join)
inline_texts = st.lists(st.sampled_from(INLINE), max_size=6).map("".join)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), text=long_texts, encoding=st.sampled_from(ENCODINGS))
def test_long_lines_in_pieces_match_plain_string(
    data: st.DataObject, text: str, encoding: Encoding
) -> None:
    with patch.object(longlines, "LONG", 3), patch.object(longlines, "PIECE", 2):
        document = Document(URI, text, 1)
        for _ in range(data.draw(st.integers(1, 12))):
            a = data.draw(positions(text, encoding))
            if data.draw(st.booleans()) and a[0] < len(reference_lines(text)):
                b = (a[0], data.draw(st.integers(0, 12)))  # typing: mostly within one line
            else:
                b = data.draw(positions(text, encoding))
            start = reference_offset(text, *a, encoding)
            end = reference_offset(text, *b, encoding)
            if end < start:
                a, b, start, end = b, a, end, start
            insert = data.draw(st.one_of(inline_texts, texts))
            document.apply(TextChange((*a, *b), insert), encoding)
            text = text[:start] + insert + text[end:]
            assert document.text == text
            assert document.length == len(text)
            spans = reference_lines(text)
            starts = [start for start, _ in spans]
            ends = [*starts[1:], len(text)]
            assert lines_of(document) == [text[s:e] for s, e in zip(starts, ends, strict=True)]
            assert [document.line(i) for i in range(len(spans))] == [text[s:e] for s, e in spans]
            line, units = data.draw(positions(text, encoding))
            if line == len(spans):
                expected = Cursor(line - 1, spans[-1][1] - spans[-1][0])
            else:
                expected = Cursor(
                    line, reference_offset(text, line, units, encoding) - starts[line]
                )
            assert document.resolve(line, units, encoding) == expected


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_typing_in_a_long_line_never_copies_the_line(
    encoding: Encoding, monkeypatch: pytest.MonkeyPatch
) -> None:
    """O(edit): a keystroke within a long line touches one piece, never the whole line."""
    head = "x = '" + "ab🙂é" * 25_000
    document = Document(URI, f"first\n{head}{head[5:]}'\nlast", 1)
    sizes = {"utf-8": len(head.encode()), "utf-16": len(head.encode("utf-16-le")) // 2}
    column = sizes.get(encoding, len(head))

    def copied(self: LongLine) -> str:
        raise AssertionError("the whole long line was copied")

    monkeypatch.setattr(LongLine, "content", property(copied))
    for text in "hello":
        document.apply(TextChange((1, column, 1, column), text), encoding)
        column += 1
    document.apply(TextChange((1, column - 2, 1, column), ""), encoding)  # two backspaces
    monkeypatch.undo()
    assert document.line(1) == f"{head}hel{head[5:]}'"
    assert document.length == len(document.text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [""]),
        ("a", ["a"]),
        ("a\n", ["a\n", ""]),
        ("a\r\nb\rc\n\rd", ["a\r\n", "b\r", "c\n", "\r", "d"]),
        ("\r\r\n\n", ["\r", "\r\n", "\n", ""]),
        ("x\r", ["x\r", ""]),
    ],
)
def test_split_lines_by_lsp_rules(text: str, expected: list[str]) -> None:
    assert split_lines(text) == expected


@given(text=long_texts)
def test_split_lines_matches_the_reference(text: str) -> None:
    starts = [start for start, _ in reference_lines(text)]
    ends = [*starts[1:], len(text)]
    assert split_lines(text) == [text[s:e] for s, e in zip(starts, ends, strict=True)]


# --- Tables. ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [""]),
        ("abc", ["abc"]),
        ("abc\n", ["abc\n", ""]),
        ("a\r\nb\rc\nd", ["a\r\n", "b\r", "c\n", "d"]),
        ("\r\r\n\n", ["\r", "\r\n", "\n", ""]),
        ("\n\r", ["\n", "\r", ""]),
        # Not line ends in LSP, though str.splitlines breaks on them.
        ("a\x0bb\x0cc\x1cd\x1ee\x85f\u2028g\u2029h", ["a\x0bb\x0cc\x1cd\x1ee\x85f\u2028g\u2029h"]),
    ],
)
def test_split(text: str, expected: list[str]) -> None:
    document = Document(URI, text, 1)
    assert lines_of(document) == expected
    assert document.line_count == len(expected)
    assert document.text == text
    assert [document.line(i) for i in range(document.line_count)] == [
        line.rstrip("\r\n") for line in expected
    ]


@pytest.mark.parametrize(
    ("text", "line", "character", "encoding", "expected"),
    [
        ("ab\ncd", 1, 1, "utf-16", Cursor(1, 1)),
        ("ab\ncd", 0, 99, "utf-16", Cursor(0, 2)),  # past the line end: the line end
        ("ab\r\ncd", 0, 3, "utf-8", Cursor(0, 2)),  # never inside the terminator
        ("ab\ncd", 2, 0, "utf-16", Cursor(1, 2)),  # (line_count, 0): end of document
        ("ab\n", 2, 0, "utf-8", Cursor(1, 0)),
        ("😀x", 0, 1, "utf-16", Cursor(0, 0)),  # inside a surrogate pair: rounds down
        ("😀x", 0, 2, "utf-16", Cursor(0, 1)),
        ("😀x", 0, 3, "utf-8", Cursor(0, 0)),  # inside a utf-8 sequence: rounds down
        ("😀x", 0, 4, "utf-8", Cursor(0, 1)),
        ("😀x", 0, 1, "utf-32", Cursor(0, 1)),
        ("\x0cab\ncd", 0, 2, "utf-16", Cursor(0, 2)),
    ],
)
def test_resolve(
    text: str, line: int, character: int, encoding: Encoding, expected: Cursor
) -> None:
    assert Document(URI, text, 1).resolve(line, character, encoding) == expected


@pytest.mark.parametrize(
    ("line", "character"),
    [(-1, 0), (0, -1), (3, 0), (2, 1), (5, 5)],
)
def test_resolve_rejects(line: int, character: int) -> None:
    with pytest.raises(DocumentError):
        Document(URI, "ab\ncd", 1).resolve(line, character, "utf-16")


@pytest.mark.parametrize(
    ("text", "change", "encoding", "expected", "line_count"),
    [
        ("ab\ncd", (0, 1, 0, 1), "utf-16", "aXb\ncd", 2),
        ("ab\ncd", (0, 99, 0, 99), "utf-16", "abX\ncd", 2),  # clamps to the line end
        ("ab\ncd", (2, 0, 2, 0), "utf-16", "ab\ncdX", 2),  # (line_count, 0)
        ("ab\ncd", (0, 1, 1, 1), "utf-16", "aXd", 1),
        ("a😀b", (0, 1, 0, 3), "utf-16", "aXb", 1),
        ("a😀b", (0, 2, 0, 3), "utf-16", "aXb", 1),  # start inside the pair rounds down
        ("a😀b", (0, 1, 0, 5), "utf-8", "aXb", 1),
        ("a😀b", (0, 3, 0, 5), "utf-8", "aXb", 1),  # start mid-sequence rounds down
        ("a😀b", (0, 1, 0, 2), "utf-32", "aXb", 1),
        ("中文\n中", (0, 3, 1, 3), "utf-8", "中X", 1),
        ("a\x0cb\nc", (1, 0, 1, 0), "utf-16", "a\x0cb\nXc", 2),
        ("a\u2028b\x85c\nd", (0, 5, 1, 0), "utf-16", "a\u2028b\x85cXd", 1),
        ("a\ud800b", (0, 1, 0, 2), "utf-16", "aXb", 1),  # lone surrogate
    ],
)
def test_apply(
    text: str,
    change: tuple[int, int, int, int],
    encoding: Encoding,
    expected: str,
    line_count: int,
) -> None:
    document = Document(URI, text, 1)
    document.apply(TextChange(change, "X"), encoding)
    assert document.text == expected
    assert document.line_count == line_count


@pytest.mark.parametrize(
    ("text", "change", "insert", "expected"),
    [
        # Deleting what separated a bare "\r" from a "\n" joins them into one ending.
        ("a\rb\nc", (1, 0, 1, 1), "", ["a\r\n", "c"]),
        ("a\rb\n\nd", (1, 0, 2, 0), "", ["a\r\n", "d"]),
        # Inserting "\n" right after a bare "\r".
        ("a\rb", (1, 0, 1, 0), "\n", ["a\r\n", "b"]),
        ("a\rb", (1, 0, 1, 0), "\nx\r", ["a\r\n", "x\r", "b"]),
        # Inserting "\r" before a "\n".
        ("a\nb", (0, 1, 0, 1), "\r", ["a\r\n", "b"]),
        ("a\nb", (0, 1, 0, 1), "\r\r", ["a\r", "\r\n", "b"]),
        # Splitting a "\r\n" is impossible: positions never land between its halves.
        ("a\r\nb", (0, 5, 0, 5), "\n", ["a\n", "\r\n", "b"]),
        # Text keeps its own (mixed) line endings.
        ("a\r\nb\rc\nd", (1, 0, 2, 0), "", ["a\r\n", "c\n", "d"]),
        ("a\r\nb", (0, 1, 1, 0), "\r", ["a\r", "b"]),
        ("ab", (0, 1, 0, 1), "\n", ["a\n", "b"]),
        ("ab\n", (1, 0, 1, 0), "c\r", ["ab\n", "c\r", ""]),
        ("", (0, 0, 0, 0), "\r\n", ["\r\n", ""]),
        ("a\nb", (0, 0, 1, 1), "", [""]),
    ],
)
def test_line_endings(
    text: str, change: tuple[int, int, int, int], insert: str, expected: list[str]
) -> None:
    document = Document(URI, text, 1)
    document.apply(TextChange(change, insert), "utf-16")
    assert lines_of(document) == expected


def test_full_replace() -> None:
    document = Document(URI, "old\ntext", 1)
    document.apply(TextChange(None, "new\r\nwhole\rtext"), "utf-8")
    assert lines_of(document) == ["new\r\n", "whole\r", "text"]


@pytest.mark.parametrize(
    "change",
    [(3, 0, 3, 0), (0, 0, 5, 0), (1, 0, 0, 0), (0, 2, 0, 1), (-1, 0, 0, 0), (2, 1, 2, 1)],
)
def test_invalid_range_leaves_document_unchanged(change: tuple[int, int, int, int]) -> None:
    document = Document(URI, "ab\ncd", 1)
    with pytest.raises(DocumentError):
        document.apply(TextChange(change, "X"), "utf-16")
    assert lines_of(document) == ["ab\n", "cd"]


def test_line_index_out_of_range() -> None:
    document = Document(URI, "ab", 1)
    with pytest.raises(IndexError):
        document.line(1)
    with pytest.raises(IndexError):
        document.line(-1)


# --- The store. ---


def test_store_open_get_close() -> None:
    store = DocumentStore()
    assert len(store) == 0
    first = store.open(URI, "a", 1, "python")
    assert URI in store
    assert store.get(URI) is first
    second = store.open(URI, "b", 4, "python")  # re-open replaces
    assert store.get(URI) is second
    assert (second.text, second.version, second.language_id) == ("b", 4, "python")
    assert len(store) == 1
    assert store.close(URI) is True
    assert store.close(URI) is False
    assert URI not in store
    assert store.get(URI) is None


def test_store_change_applies_in_order() -> None:
    store = DocumentStore()
    store.open(URI, "ab\ncd", 1, "python")
    changes = [TextChange((0, 2, 0, 2), "\n"), TextChange((1, 0, 1, 0), "X")]
    document = store.change(URI, 2, changes, "utf-16")
    assert document is not None
    assert document.text == "ab\nX\ncd"
    assert document.version == 2


def test_store_change_unknown_uri_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    store = DocumentStore()
    with caplog.at_level(logging.WARNING, logger="codestral_lsp.documents"):
        assert store.change(URI, 2, [TextChange(None, "x")], "utf-8") is None
    assert URI in caplog.text
    assert len(store) == 0


def test_store_change_skips_invalid_range(caplog: pytest.LogCaptureFixture) -> None:
    store = DocumentStore()
    store.open(URI, "ab\ncd", 1, "python")
    changes = [
        TextChange((0, 0, 0, 0), "1"),
        TextChange((7, 0, 7, 1), "bad"),
        TextChange((1, 0, 1, 0), "2"),
    ]
    with caplog.at_level(logging.WARNING, logger="codestral_lsp.documents"):
        document = store.change(URI, 3, changes, "utf-16")
    assert document is not None
    assert document.text == "1ab\n2cd"
    assert document.version == 3
    assert URI in caplog.text
    assert "(7, 0, 7, 1)" in caplog.text


def test_the_store_owns_what_each_stage_keeps_and_drops_it_at_close() -> None:
    store = DocumentStore()
    closed: list[list[str]] = []
    forgotten: list[str] = []
    notes: Slot[list[str]] = Slot("notes", list, closed.append)
    plain: Slot[dict[str, int]] = Slot("plain", dict)
    store.also_forget(forgotten.append)
    for n in range(50):
        store.open(f"file:///m{n}.py", "x\n", 1, "python")
        tracked = store.tracked(f"file:///m{n}.py")
        assert tracked is not None
        tracked.get(notes).append(f"m{n}")
        tracked.get(plain)["n"] = n
    assert store.held() == {"documents": 50, "states": 100}
    first = store.tracked("file:///m0.py")
    assert first is not None
    assert first.get(notes) is first.get(notes)  # made once
    assert first.kept() == ["notes", "plain"]
    store.open("file:///m0.py", "y\n", 2, "python")  # re-opened: the old text's state goes
    assert closed == [["m0"]]
    assert forgotten == ["file:///m0.py"]
    for n in range(50):
        assert store.close(f"file:///m{n}.py")
    assert store.held() == {"documents": 0, "states": 0}
    assert len(closed) == 50  # the re-opened m0 had nothing in ``notes`` yet: not kept
    assert forgotten.count("file:///m0.py") == 2
    assert len(forgotten) == 51
    assert not store.close("file:///m0.py")
    first.get(notes).append("late")  # a closed record keeps nothing made after its close
    assert first.peek(notes) is None
