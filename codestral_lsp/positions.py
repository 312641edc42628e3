"""Column conversion between LSP position-encoding code units and Python str indices."""

from __future__ import annotations

import re
from typing import Final, Literal

Encoding = Literal["utf-8", "utf-16", "utf-32"]

UTF8: Final[Encoding] = "utf-8"
UTF16: Final[Encoding] = "utf-16"
UTF32: Final[Encoding] = "utf-32"

# A lone surrogate (a utf-16 client may send one escaped in JSON). Each one is replaced by
# U+FFFD before encoding: same length, same utf-16 units (1) and utf-8 bytes (3), and two
# adjacent lone halves can no longer decode back into one astral character.
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def replace_lone_surrogates(text: str) -> str:
    """Return ``text`` with lone surrogates replaced, so strict codecs accept it."""
    if _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub("\ufffd", text)


def _check(value: int, what: str) -> None:
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")


def to_index(line: str, units: int, encoding: Encoding) -> int:
    """Convert a column in ``encoding`` code units to an index into ``line``.

    ``line`` is one line's content without its terminator. A column past the end means
    the end of the line (LSP spec); one inside a character rounds down to its start.
    """
    _check(units, "character")
    if encoding == UTF32 or line.isascii():
        return min(units, len(line))
    clean = replace_lone_surrogates(line)
    if encoding == UTF8:
        data = clean.encode("utf-8")
        if units >= len(data):
            return len(line)
        # "ignore" drops only the truncated sequence at the cut: rounding down.
        return len(data[:units].decode("utf-8", "ignore"))
    data = clean.encode("utf-16-le")
    if units * 2 >= len(data):
        return len(line)
    # "ignore" drops a high surrogate cut from its low half: rounding down.
    return len(data[: units * 2].decode("utf-16-le", "ignore"))


def to_units(line: str, index: int, encoding: Encoding) -> int:
    """Convert an index into ``line`` to a column in ``encoding`` code units.

    An index past the end of ``line`` is clamped to its end.
    """
    _check(index, "index")
    head = line[:index]
    if encoding == UTF32 or head.isascii():
        return len(head)
    if encoding == UTF8:
        return len(replace_lone_surrogates(head).encode("utf-8"))
    return len(replace_lone_surrogates(head).encode("utf-16-le")) // 2
