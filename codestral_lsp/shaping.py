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
import re
from dataclasses import dataclass

CLOSERS = frozenset(")]}\"'`;,")
_PAIRS = {")": "(", "]": "[", "}": "{"}
_QUOTES = frozenset("\"'`")
_OPENERS = ("{", "(", "[", ":")
# A line that goes on with the statement whose block just ended: Python's else/elif/except/
# finally, switch and match cases, and the brace languages' "} else {", "} catch (e) {".
_CONTINUATION = re.compile(
    r"^[)\]}]*\s*(?:else|elif|except|finally|catch|case|default)\b(?!\s*=|\.).*[:{]$"
)
_DO_WHILE = re.compile(r"^}\s*while\b.*;$")


@dataclass(frozen=True)
class Surroundings:
    """The text around the cursor that shaping looks at."""

    head: str  # before the cursor on its line
    tail: str  # after the cursor on its line, without the line end
    next_lines: tuple[str, ...] = ()  # the lines after the cursor's line, without line ends
    indent_unit: str = "    "  # "\t", a run of spaces, or "" when the document shows none
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
    text = stop_repetition(text, at)
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


def auto_closers(at: Surroundings) -> bool:
    """Whether the text after the cursor is closers an editor may have inserted.

    A quote there closes something only if the line before the cursor opened it (an odd
    count): a docstring's closing triple quote on its own line is text, not an auto-pair.
    """
    tail = at.tail.strip()
    if not closers_only(tail) or '"""' in tail or "'''" in tail:
        return False  # triple quotes end a docstring or block string: text, not an auto-pair
    return all(at.head.count(q) % 2 == 1 for q in _QUOTES if q in tail)


def at_line_end(at: Surroundings) -> bool:
    """Nothing but blanks or an editor's auto-inserted closers after the cursor."""
    return not at.tail.strip() or auto_closers(at)


# --- the steps -------------------------------------------------------------------------------


def fix_quirks(text: str, at: Surroundings) -> str:
    """Codestral's known habits: CRLF, a doubled space, a newline where the line is new."""
    text = text.replace("\r\n", "\n")
    if _single_space_end(at.head) and _single_space_start(text):
        text = text[1:]  # "x = " + " 1": one space too many (aligned runs of blanks are kept)
    blank_line = not at.head.strip()
    if blank_line and at_line_end(at) and at.at_end_of_file and text.startswith("\n"):
        text = text.lstrip("\n")
        if at.head and text.startswith(at.head):
            text = text[len(at.head) :]  # the model repeated the indentation already there
    return text


def _single_space_end(head: str) -> bool:
    return head.endswith(" ") and len(head) >= 2 and not head[-2].isspace()


def _single_space_start(text: str) -> bool:
    return text.startswith(" ") and len(text) >= 2 and not text[1].isspace()


def limit_lines(text: str, at: Surroundings, options: Options) -> str:
    """One line mid-line; at a line end up to ``max_lines``, cut at a natural end (auto)."""
    lines = text.split("\n")
    if not at_line_end(at):
        return lines[0]
    if options.multiline == "never":
        first = next((i for i, line in enumerate(lines) if line.strip()), 0)
        return "\n".join(lines[: first + 1])
    if options.multiline == "auto":
        # The document's line opened a block the suggestion fills (its first line closing
        # nothing): the suggestion ends where that block does.
        opens = at.head.rstrip().endswith(_OPENERS) and not _unmatched_closers(lines[0])
        lines = _natural_end(lines, _indent_width(at.head, at.indent_unit), opens)
    return "\n".join(_cap(lines, options.max_lines))


def _cap(lines: list[str], max_lines: int) -> list[str]:
    """At most ``max_lines`` lines with content (a leading empty line is not counted)."""
    skip = 1 if len(lines) > 1 and not lines[0].strip() else 0
    return lines[: max_lines + skip]


def _natural_end(lines: list[str], base: int, block_opened: bool) -> list[str]:
    """Stop at a blank line after content, or where the block the cursor is in ends.

    A line indented less than the cursor's line leaves the block (when the cursor's line opened
    a block, ``{``, ``(``, ``:``..., already a line indented as much as it), unless it is the
    block's own continuation or end: ``else:``, ``except E:``, ``} else {``, ``} catch (e) {``,
    ``case x:`` go on with their own body; closers (``}``, ``)``, ``});``) are kept, and after
    one only another continuation or closer may follow.
    """
    seen_content = bool(lines[0].strip())
    limit = base if block_opened else base - 1  # indented this much or less: the block ends
    closed = False  # the last line closed a block
    for i, line in enumerate(lines[1:], start=1):
        stripped = line.strip()
        if not stripped:
            if seen_content:
                return lines[:i]
            continue
        width = _indent_width(line, "    ")
        if width > limit and not closed:
            seen_content = True
            continue
        if _CONTINUATION.match(stripped):
            limit, closed = width, False
        elif stripped[0] in _PAIRS and (closers_only(stripped) or _DO_WHILE.match(stripped)):
            limit, closed = width, True
        else:
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
    if closers_only(a) or closers_only(b):
        # "}" closes whichever block its indentation says: compare it with its indentation.
        return a.rstrip().replace("\t", "    ") == b.rstrip().replace("\t", "    ")
    a, b = a.strip(), b.strip()
    if not a or not b:
        return False
    if a == b:
        return True
    if min(len(a), len(b)) < 12:
        return False
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= 0.9


def stop_repetition(text: str, at: Surroundings) -> str:
    """Cut runaway repetition: a line three times in a row, or a block of lines twice."""
    lines = text.split("\n")
    # Compare lines as they will stand: the first after the head, trailing blanks aside.
    seen = [(at.head + lines[0]).rstrip(), *(line.rstrip() for line in lines[1:])]
    for i in range(len(seen)):
        line = seen[i]
        if len(line.strip()) >= 4 and seen[i + 1 : i + 3] == [line, line]:
            return "\n".join(lines[: i + 1])
        for size in range(2, (len(seen) - i) // 2 + 1):
            block = seen[i : i + size]
            if len("".join(block).strip()) >= 20 and seen[i + size : i + 2 * size] == block:
                return "\n".join(lines[: i + size])
    return text


def match_indent(text: str, at: Surroundings) -> str:
    """Indent the suggestion's lines with the document's unit (tabs or spaces).

    The first line is indentation only when the cursor's line is blank so far. With no unit
    known (nothing indented nearby), the model's indentation is left as it is.
    """
    unit = at.indent_unit
    if not unit:
        return text
    lines = text.split("\n")
    first = 0 if not at.head.strip() else 1
    return "\n".join(lines[:first] + [_reindent(line, unit) for line in lines[first:]])


def _reindent(line: str, unit: str) -> str:
    indent = _indent_of(line)
    if unit == "\t" and " " in indent:
        width = _indent_width(indent, "    ")
        return "\t" * (width // 4) + " " * (width % 4) + line[len(indent) :]
    if unit != "\t" and "\t" in indent:
        return indent.replace("\t", unit) + line[len(indent) :]
    return line


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

    Only closers after the cursor (an editor's auto-pairs): the item covers them and its text
    keeps each of them once, whether the model wrote them or not. Other text after the cursor:
    an end of the suggestion that repeats it is dropped.
    """
    tail = at.tail.rstrip()
    if not tail:
        return Shaped(text)
    if auto_closers(at):
        missing = _missing_closers(text, tail)
        if missing and missing == tail.lstrip() and "\n" in text:
            missing = f"\n{_indent_of(at.head)}{missing}"  # closers of a block get a line
        return Shaped(text + missing, replace=len(tail))
    if text == tail or text == tail.lstrip():
        return Shaped("")
    for end in (tail, tail.lstrip()):
        if text.endswith(end):
            return Shaped(text[: -len(end)].rstrip())
    return Shaped(_drop_repeated_closers(text, tail.lstrip()))


def _drop_repeated_closers(text: str, tail: str) -> str:
    """Drop closers the text ends with that it never opened, when the tail starts with them."""
    unmatched = _unmatched_closers(text)
    for size in range(min(len(tail), len(unmatched)), 0, -1):
        piece = tail[:size]
        if text.endswith(piece) and unmatched[-size:] == list(piece):
            return text[:-size]
    return text


def _missing_closers(text: str, tail: str) -> str:
    """The part of ``tail`` (closers) that ``text`` does not already provide, in order.

    The text provides a bracket it closes without opening it, a quote it leaves odd, and a
    ``;`` or ``,`` it ends with. Blanks are kept before a closer that is still missing.
    """
    provided = _unmatched_closers(text)
    ending = text.rstrip()[-1:]
    missing: list[str] = []
    blanks = ""
    for char in tail:
        if char in " \t":
            blanks += char
            continue
        if provided and provided[0] == char:
            provided.pop(0)
        elif char in ";," and ending == char and not missing:
            ending = ""  # the text ends the statement after closing what it had to
        else:
            missing.append(blanks + char)
        blanks = ""
    return "".join(missing)


def before_closers(shaped: Shaped, at: Surroundings) -> str:
    """The suggestion for a client that can only insert at the cursor, not replace closers.

    The closers after the cursor stay where they are, so the text stops where it would close
    the first of them (showing less rather than doubling a closer).
    """
    core = at.tail[: shaped.replace].strip()
    if not core:
        return shaped.text
    for position, char in _unmatched_positions(shaped.text):
        if char == core[0]:
            return shaped.text[:position].rstrip()
    return shaped.text


def _unmatched_closers(text: str) -> list[str]:
    """Closing brackets in ``text`` without an opener there, and quotes it leaves odd, in order."""
    return [char for _, char in _unmatched_positions(text)]


def _unmatched_positions(text: str) -> list[tuple[int, str]]:
    """Like ``_unmatched_closers``, with each closer's position."""
    stack: list[str] = []
    found: list[tuple[int, str]] = []
    quotes: dict[str, list[int]] = {q: [] for q in _QUOTES}
    escaped = False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _QUOTES:
            quotes[char].append(i)
        elif char in "([{":
            stack.append(char)
        elif char in _PAIRS:
            if stack and stack[-1] == _PAIRS[char]:
                stack.pop()
            else:
                found.append((i, char))
    found.extend((places[-1], q) for q, places in quotes.items() if len(places) % 2)
    return sorted(found)
