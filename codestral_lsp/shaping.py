"""Shaping the model's text to fit the text around the cursor: pure steps applied in order.

raw text
  → fix_quirks        stray leading space, extra leading newline (Codestral's known habits)
  → limit_lines       mid-line: one line; at a line end: maxLines, cut at a natural end
  → stop_at_suffix    a line equal (or nearly) to the next line already there ends it
  → stop_repetition   the same line or block over and over
  → match_indent      tabs or spaces, as the document uses
  → strip_trailing    trailing whitespace
  → fit_tail          no repeat of what follows the cursor; closers covered by the range
→ Shaped(text, replace) or None when nothing worth showing is left
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

CLOSERS = frozenset(")]}\"'`;,")
_PAIRS = {")": "(", "]": "[", "}": "{"}
_QUOTES = frozenset("\"'`")


@dataclass(frozen=True)
class Surroundings:
    """The text around the cursor that shaping looks at."""

    head: str  # before the cursor on its line
    tail: str  # after the cursor on its line, without the line end
    next_lines: tuple[str, ...] = ()  # the lines after the cursor's line, without line ends
    indent_unit: str = "    "  # "\t" or a run of spaces: what the document indents with
    at_end_of_file: bool = False


@dataclass(frozen=True)
class Options:
    multiline: str = "auto"  # auto | always | never
    max_lines: int = 8


@dataclass(frozen=True)
class Shaped:
    """Text to insert at the cursor, replacing ``replace`` characters after it on its line."""

    text: str
    replace: int = 0


def shape(raw: str, at: Surroundings, options: Options) -> Shaped | None:
    """The suggestion to show for the model's ``raw`` text, or None."""
    text = fix_quirks(raw, at)
    text = limit_lines(text, at, options)
    text = stop_at_suffix(text, at)
    text = stop_repetition(text)
    text = match_indent(text, at)
    text = strip_trailing(text)
    shaped = fit_tail(text, at)
    if not shaped.text.strip() or shaped.text == at.tail[: shaped.replace]:
        return None
    return shaped


def closers_only(text: str) -> bool:
    """Whether ``text`` holds closing characters (and blanks) only."""
    stripped = text.strip()
    return bool(stripped) and all(c in CLOSERS or c in " \t" for c in stripped)


def at_line_end(at: Surroundings) -> bool:
    """Nothing but blanks or an editor's auto-inserted closers after the cursor."""
    return not at.tail.strip() or closers_only(at.tail)


# --- the steps -------------------------------------------------------------------------------


def fix_quirks(text: str, at: Surroundings) -> str:
    """Codestral's known habits: a doubled space, a newline where the line was already new."""
    if at.head.endswith((" ", "\t")) and text.startswith(" ") and not at.tail.strip():
        text = text[1:]
    blank_line = not at.head.strip()
    if blank_line and not at.tail.strip() and at.at_end_of_file and text.startswith("\n"):
        text = text.lstrip("\n")
    return text


def limit_lines(text: str, at: Surroundings, options: Options) -> str:
    """One line mid-line; at a line end up to ``max_lines``, cut at a natural end (auto)."""
    lines = text.split("\n")
    if not at_line_end(at):
        return lines[0]
    if options.multiline == "never":
        first = next((i for i, line in enumerate(lines) if line.strip()), 0)
        return "\n".join(lines[: first + 1])
    if options.multiline == "auto":
        lines = _natural_end(lines, _indent_width(at.head, at.indent_unit))
    return "\n".join(_cap(lines, options.max_lines))


def _cap(lines: list[str], max_lines: int) -> list[str]:
    """At most ``max_lines`` lines with content (a leading empty line is not counted)."""
    skip = 1 if len(lines) > 1 and not lines[0].strip() else 0
    return lines[: max_lines + skip]


def _natural_end(lines: list[str], base: int) -> list[str]:
    """Stop at a blank line after content, or at a line indented less than the cursor's."""
    seen_content = bool(lines[0].strip())
    for i, line in enumerate(lines[1:], start=1):
        if not line.strip():
            if seen_content:
                return lines[:i]
            continue
        if _indent_width(line, "    ") < base:
            return lines[:i]
        seen_content = True
    return lines


def stop_at_suffix(text: str, at: Surroundings) -> str:
    """End the suggestion where it starts repeating the next non-empty line of the document."""
    following = next((line for line in at.next_lines if line.strip()), None)
    if following is None:
        return text
    lines = text.split("\n")
    if not at.head.strip() and _same_line(at.head + lines[0], following):
        return ""
    for i, line in enumerate(lines[1:], start=1):
        if _same_line(line, following):
            return "\n".join(lines[:i])
    return text


def _same_line(a: str, b: str) -> bool:
    a, b = a.strip(), b.strip()
    if not a or not b:
        return False
    if a == b:
        return True
    if min(len(a), len(b)) < 12:
        return False
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= 0.9


def stop_repetition(text: str) -> str:
    """Cut runaway repetition: a line three times in a row, or a block of lines twice."""
    lines = text.split("\n")
    for i in range(len(lines)):
        line = lines[i]
        if len(line.strip()) >= 4 and lines[i + 1 : i + 3] == [line, line]:
            return "\n".join(lines[: i + 1])
        for size in range(2, (len(lines) - i) // 2 + 1):
            block = lines[i : i + size]
            if len("".join(block).strip()) >= 20 and lines[i + size : i + 2 * size] == block:
                return "\n".join(lines[: i + size])
    return text


def match_indent(text: str, at: Surroundings) -> str:
    """Indent the suggestion's new lines with the document's unit (tabs or spaces)."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    unit = at.indent_unit
    fixed = [lines[0]]
    for line in lines[1:]:
        original = indent = _indent_of(line)
        if unit == "\t" and " " in indent:
            width = _indent_width(indent, "    ")
            indent = "\t" * (width // 4) + " " * (width % 4)
        elif unit != "\t" and "\t" in indent:
            indent = indent.replace("\t", unit)
        fixed.append(indent + line[len(original) :])
    return "\n".join(fixed)


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _indent_width(line: str, unit: str) -> int:
    indent = _indent_of(line)
    tab = len(unit) if unit != "\t" else 4
    return sum(tab if c == "\t" else 1 for c in indent)


def strip_trailing(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip("\n")


def fit_tail(text: str, at: Surroundings) -> Shaped:
    """Fit the suggestion to what follows the cursor on its line.

    Only closers after the cursor (an editor's auto-pairs): the item covers them and keeps
    them, so accepting leaves each closer once. Other text after the cursor: an end of the
    suggestion that repeats its start is dropped.
    """
    tail = at.tail.rstrip()
    if not tail:
        return Shaped(text)
    if closers_only(tail):
        core = tail.lstrip()
        if core != tail:
            return Shaped(_drop_overlap(text, tail))
        given = _overlap(text, core)
        if given == 0 and "\n" in text:  # closers of a multi-line suggestion get a line
            return Shaped(f"{text}\n{_indent_of(at.head)}{core}", len(core))
        return Shaped(text + core[given:], replace=len(core))
    return Shaped(_drop_overlap(text, tail.lstrip()))


def _drop_overlap(text: str, tail: str) -> str:
    if text.endswith(tail) and len(tail) < len(text):
        return text[: -len(tail)]
    given = _overlap(text, tail)
    return text[: len(text) - given] if given else text


def _overlap(text: str, following: str) -> int:
    """How many of the closers at the start of ``following`` the text already ends with.

    Only closers the text itself leaves open count (an unmatched ``)``, an odd quote), so
    ``g(x)`` before ``)`` keeps both parentheses.
    """
    unmatched = _unmatched_closers(text)
    best = 0
    for size in range(1, len(following) + 1):
        piece = following[:size]
        if piece[-1] not in CLOSERS:
            break
        if not text.endswith(piece):
            continue
        start = len(text) - size
        paired = (k for k, c in enumerate(piece) if c in _PAIRS or c in _QUOTES)
        if all(start + k in unmatched for k in paired):
            best = size
    return best


def _unmatched_closers(text: str) -> set[int]:
    """Positions of closing brackets without an opener in ``text``, and of odd quotes."""
    stack: list[str] = []
    unmatched: set[int] = set()
    for i, char in enumerate(text):
        if char in "([{":
            stack.append(char)
        elif char in _PAIRS:
            if stack and stack[-1] == _PAIRS[char]:
                stack.pop()
            else:
                unmatched.add(i)
    for quote in _QUOTES:
        positions = [i for i, c in enumerate(text) if c == quote]
        if len(positions) % 2:
            unmatched.add(positions[-1])
    return unmatched
