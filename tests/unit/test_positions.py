"""Tests for codestral_lsp.positions: code units <-> str indices in the three LSP encodings."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codestral_lsp.positions import Encoding, replace_lone_surrogates, to_index, to_units

ENCODINGS: tuple[Encoding, ...] = ("utf-8", "utf-16", "utf-32")

# Pieces lines are built from: ASCII, BMP (CJK, é), astral emoji, lone surrogates, and
# characters str.splitlines treats as line breaks but LSP does not.
PIECES = [
    "a",
    "Z",
    " ",
    "\t",
    "é",
    "中",
    "文",
    "😀",
    "🚀",
    "\x0c",
    "\x85",
    "\u2028",
    "\ud800",
    "\udc00",
]


def width(char: str, encoding: Encoding) -> int:
    """Code units of one code point, computed independently of the module."""
    if encoding == "utf-8":
        return len(char.encode("utf-8", "surrogatepass"))
    if encoding == "utf-16":
        return 2 if ord(char) > 0xFFFF else 1
    return 1


def reference_index(line: str, units: int, encoding: Encoding) -> int:
    total = 0
    for i, char in enumerate(line):
        total += width(char, encoding)
        if total > units:
            return i
    return len(line)


def reference_units(line: str, index: int, encoding: Encoding) -> int:
    return sum(width(char, encoding) for char in line[:index])


@pytest.mark.parametrize(
    ("line", "units", "encoding", "expected"),
    [
        # ASCII: units are indices; past the end clamps to the end.
        ("abc", 0, "utf-8", 0),
        ("abc", 2, "utf-16", 2),
        ("abc", 3, "utf-32", 3),
        ("abc", 99, "utf-8", 3),
        ("", 5, "utf-16", 0),
        # a😀b: the emoji is 2 utf-16 units, 4 utf-8 bytes, 1 utf-32 unit.
        ("a😀b", 1, "utf-16", 1),
        ("a😀b", 2, "utf-16", 1),  # between the surrogate halves: rounds down
        ("a😀b", 3, "utf-16", 2),
        ("a😀b", 4, "utf-16", 3),
        ("a😀b", 5, "utf-16", 3),
        ("a😀b", 2, "utf-8", 1),  # mid-sequence: rounds down
        ("a😀b", 4, "utf-8", 1),
        ("a😀b", 5, "utf-8", 2),
        ("a😀b", 6, "utf-8", 3),
        ("a😀b", 2, "utf-32", 2),
        # CJK: 3 utf-8 bytes, 1 utf-16 unit.
        ("中文", 1, "utf-8", 0),
        ("中文", 3, "utf-8", 1),
        ("中文", 5, "utf-8", 1),
        ("中文", 6, "utf-8", 2),
        ("中文", 1, "utf-16", 1),
        ("é!", 1, "utf-8", 0),
        ("é!", 2, "utf-8", 1),
        # Lone surrogates: 1 utf-16 unit, 3 utf-8 bytes (surrogatepass), never a crash.
        ("a\ud800b", 2, "utf-16", 2),
        ("a\ud800b", 3, "utf-16", 3),
        ("a\ud800b", 2, "utf-8", 1),
        ("a\ud800b", 4, "utf-8", 2),
        # Two lone halves in a row are two characters, not one emoji.
        ("\ud83d\ude00x", 1, "utf-16", 1),
        ("\ud83d\ude00x", 2, "utf-16", 2),
        ("\ud83d\ude00x", 3, "utf-8", 1),
        ("\ud83d\ude00x", 6, "utf-8", 2),
    ],
)
def test_to_index(line: str, units: int, encoding: Encoding, expected: int) -> None:
    assert to_index(line, units, encoding) == expected


@pytest.mark.parametrize(
    ("line", "index", "encoding", "expected"),
    [
        ("abc", 2, "utf-8", 2),
        ("abc", 9, "utf-16", 3),  # past the end clamps
        ("a😀b", 2, "utf-16", 3),
        ("a😀b", 2, "utf-8", 5),
        ("a😀b", 2, "utf-32", 2),
        ("a😀b", 3, "utf-16", 4),
        ("中文x", 2, "utf-8", 6),
        ("中文x", 2, "utf-16", 2),
        ("a\ud800b", 2, "utf-16", 2),
        ("a\ud800b", 2, "utf-8", 4),
        ("\ud83d\ude00", 2, "utf-16", 2),
    ],
)
def test_to_units(line: str, index: int, encoding: Encoding, expected: int) -> None:
    assert to_units(line, index, encoding) == expected


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_negative_raises(encoding: Encoding) -> None:
    with pytest.raises(ValueError, match="negative"):
        to_index("a😀", -1, encoding)
    with pytest.raises(ValueError, match="negative"):
        to_units("a😀", -1, encoding)


@settings(max_examples=300, deadline=None)
@given(
    line=st.lists(st.sampled_from(PIECES), max_size=12).map("".join),
    encoding=st.sampled_from(ENCODINGS),
)
def test_matches_reference(line: str, encoding: Encoding) -> None:
    total = reference_units(line, len(line), encoding)
    for units in range(total + 3):
        assert to_index(line, units, encoding) == reference_index(line, units, encoding)
    for index in range(len(line) + 2):
        units = to_units(line, index, encoding)
        assert units == reference_units(line, index, encoding)
        assert to_index(line, units, encoding) == min(index, len(line))


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("plain", "plain"),
        ("a\ud800b", "a\ufffdb"),
        ("\udfff\ud800", "\ufffd\ufffd"),  # two lone halves in the wrong order stay two
        ("😀", "😀"),  # a whole astral character is no lone surrogate
    ],
)
def test_lone_surrogates_are_replaced_one_for_one(text: str, want: str) -> None:
    assert replace_lone_surrogates(text) == want
    replace_lone_surrogates(text).encode("utf-8")  # strict: would raise on a surrogate
