"""Long lines kept as pieces: typing costs O(edit + log line), a column lookup O(piece + log line).

A line of a few megabytes (minified code, a data blob) is stored as pieces of about ``PIECE``
characters. Running totals of each piece's size (characters, and utf-8 / utf-16 code units once
a client uses that encoding) live in Fenwick trees, so finding the piece that holds a column and
updating the totals after an edit cost O(log pieces). Pieces hold whole characters (Python
strings), so no character is split between two pieces; a lone surrogate counts like U+FFFD, as
in ``positions``. Rebuilding the trees (a piece split or emptied) is O(pieces), once per about
``PIECE`` characters typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from codestral_lsp.positions import Encoding, to_index, to_units

# Lines longer than this many characters are stored in pieces (a module attribute, read at each
# call, so tests can make it small).
LONG: int = 16_384
# Characters per piece when a line is cut into pieces; a piece grows to twice this at most.
PIECE: int = 4_096

_CHARS: Final = "chars"


class _Fenwick:
    """Prefix sums over a list of counts, updated and searched in O(log n)."""

    def __init__(self, counts: Sequence[int]) -> None:
        self._tree = [0, *counts]
        size = len(self._tree)
        for i in range(1, size):  # O(n) build
            parent = i + (i & -i)
            if parent < size:
                self._tree[parent] += self._tree[i]
        self.total = sum(counts)

    def add(self, i: int, delta: int) -> None:
        """Add ``delta`` to count ``i`` (0-based)."""
        self.total += delta
        i += 1
        while i < len(self._tree):
            self._tree[i] += delta
            i += i & -i

    def find(self, target: int) -> tuple[int, int]:
        """(j, rest): the first count j whose running sum passes ``target``, and ``target``
        minus the sum of the counts before j. j is n when ``target`` >= total."""
        position, rest = 0, target
        step = 1 << (len(self._tree).bit_length() - 1)
        while step:
            nxt = position + step
            if nxt < len(self._tree) and self._tree[nxt] <= rest:
                position, rest = nxt, rest - self._tree[nxt]
            step >>= 1
        return position, rest

    def prefix(self, j: int) -> int:
        """The sum of counts 0..j-1."""
        total = 0
        while j > 0:
            total += self._tree[j]
            j -= j & -j
        return total


def _size(piece: str, kind: str) -> int:
    if kind == _CHARS:
        return len(piece)
    return to_units(piece, len(piece), kind)  # type: ignore[arg-type]


class LongLine:
    """One line's content in pieces, and its terminator (none, \\n, \\r\\n or \\r)."""

    __slots__ = ("_pieces", "_trees", "ending")

    def __init__(self, content: str, ending: str) -> None:
        self.ending = ending
        self._pieces = [content[i : i + PIECE] for i in range(0, len(content), PIECE)] or [""]
        self._trees: dict[str, _Fenwick] = {}

    def __len__(self) -> int:
        """Characters of content (without the terminator)."""
        return self._tree(_CHARS).total

    @property
    def content(self) -> str:
        """The content as one string (O(line))."""
        return "".join(self._pieces)

    def _tree(self, kind: str) -> _Fenwick:
        tree = self._trees.get(kind)
        if tree is None:
            tree = self._trees[kind] = _Fenwick([_size(p, kind) for p in self._pieces])
        return tree

    def _locate(self, index: int) -> tuple[int, int]:
        """(piece, offset in it) of content index ``index`` (0 <= index <= len); an index
        between two pieces is the start of the later one."""
        j, rest = self._tree(_CHARS).find(index)
        if j == len(self._pieces):  # the very end
            return j - 1, len(self._pieces[-1])
        return j, rest

    def _locate_end(self, index: int) -> tuple[int, int]:
        """Like ``_locate``, but an index between two pieces is the end of the earlier one
        (so deleting the last characters of a piece stays within that piece)."""
        if index == 0:
            return 0, 0
        j, rest = self._locate(index - 1)
        return j, rest + 1

    def to_index(self, units: int, encoding: Encoding) -> int:
        """A column in ``encoding`` code units as a content index (``positions.to_index``)."""
        kind = _CHARS if encoding == "utf-32" else encoding
        j, rest = self._tree(kind).find(units)
        if j == len(self._pieces):
            return len(self)
        # A character is at least one code unit: the column lies within ``rest`` characters.
        piece = self._pieces[j][:rest]
        return self._tree(_CHARS).prefix(j) + to_index(piece, rest, encoding)

    def replace(self, start: int, end: int, text: str) -> None:
        """Replace content ``start..end`` (indices, start <= end <= len) by ``text``, which
        holds no line break."""
        first, offset = self._locate(start)
        last, end_offset = (first, offset) if end == start else self._locate_end(end)
        old = self._pieces[first : last + 1]
        new = old[0][:offset] + text + old[-1][end_offset:]
        if first != last or not new or len(new) > 2 * PIECE:
            cut = [new[i : i + PIECE] for i in range(0, len(new), PIECE)]
            self._pieces[first : last + 1] = cut
            if not self._pieces:
                self._pieces.append("")
            self._trees.clear()  # rebuilt on next use: O(pieces), rarely
            return
        self._pieces[first] = new
        removed = old[0][offset:end_offset]
        for kind, tree in self._trees.items():
            tree.add(first, _size(text, kind) - _size(removed, kind))  # O(edit)
