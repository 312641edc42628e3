"""The replay's material: real stdlib files with a region cut out, and the model the fake plays.

While a region is re-typed, the document is always ``text[:cursor] + text[end:]`` for the original
``text``: typing and accepting only ever insert the true text at the cursor. So one offset into the
original file describes the whole state, and the model can be played exactly: the prompt the server
sends ends at some such offset, and the best possible completion is the text that follows it.
"""

from __future__ import annotations

import ast
import bisect
import hashlib
import random
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fake_codestral import count_tokens

# Fixed, ordered choices so a seed always means the same files; the rest of the stdlib is the
# fallback when one is missing (or has CRLF endings or non-UTF-8 bytes).
PREFERRED = (
    "textwrap.py",
    "json/decoder.py",
    "shlex.py",
    "fnmatch.py",
    "string.py",
    "heapq.py",
    "calendar.py",
    "colorsys.py",
    "bisect.py",
    "difflib.py",
)
# Large files (>= LARGE_LINES lines): the default budget's window (some 150-200 lines) is full in
# them, so the prompt sizes they produce show how close requests come to the budget.
LARGE = ("difflib.py", "argparse.py", "inspect.py", "subprocess.py", "tarfile.py")
LARGE_LINES = 1_000
LARGE_FIRST_LINE = 300  # where a large sample's region starts, at the earliest: its prompt
# (some 150-200 lines at the default budget) never reaches line 0
_TAIL_CHARS = 256  # how much of the prompt's end locates it in the original text
_SEARCH_WINDOW = 50_000  # how far before the typist's cursor a request's cursor may lie


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _candidates(root: Path, preferred: tuple[str, ...]) -> list[Path]:
    first = [root / name for name in preferred]
    rest = sorted(p for p in root.glob("*.py") if p not in first)
    return [p for p in first if p.is_file()] + rest


def read_source(path: Path) -> str | None:
    """The file's text if it is UTF-8 with LF endings, else None."""
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return None if "\r" in text else text


@dataclass(frozen=True)
class Sample:
    """One original file and the region ``text[start:end]`` (whole lines) to be re-typed."""

    name: str
    text: str = field(repr=False)
    start: int
    end: int
    line_starts: tuple[int, ...] = field(repr=False)

    @property
    def region_lines(self) -> int:
        return self.text.count("\n", self.start, self.end)

    @property
    def uri(self) -> str:
        return f"file:///replay/{self.name}"

    def line_of(self, offset: int) -> int:
        """The original line holding ``offset``."""
        return bisect.bisect_right(self.line_starts, offset) - 1

    def with_region_removed(self) -> str:
        return self.text[: self.start] + self.text[self.end :]


def pick_samples(
    count: int,
    seed: int,
    min_lines: int = 20,
    max_lines: int = 60,
    *,
    large: int = 1,
    chars: int | None = None,
) -> list[Sample]:
    """``count`` stdlib files, each with a seeded region cut out, the last ``large`` of them from
    files of at least ``LARGE_LINES`` lines. A region is ``min_lines``..``max_lines`` whole
    lines, or, with ``chars``, the fewest whole lines holding at least that many characters (so
    that every sample asks for the same amount of typing)."""
    root = stdlib_root()
    large = min(large, count)
    found = _pick(_candidates(root, LARGE), large, LARGE_LINES, LARGE_FIRST_LINE, [])
    big = [_cut(*each, seed, min_lines, max_lines, chars, LARGE_FIRST_LINE) for each in found]
    taken = [s.name for s in big]
    small = _pick(_candidates(root, PREFERRED), count - large, max_lines + 20, 5, taken)
    samples = [_cut(*each, seed, min_lines, max_lines, chars, 5) for each in small] + big
    if len(samples) < count:
        raise RuntimeError(f"only {len(samples)} usable stdlib files found under {root}")
    return samples


def _pick(
    paths: list[Path], count: int, least: int, first: int, taken: list[str]
) -> list[tuple[str, str]]:
    """(name, text) of the first ``count`` usable files of ``least`` + ``first`` lines or more."""
    found: list[tuple[str, str]] = []
    for path in paths:
        if len(found) == count:
            break
        name = path.relative_to(stdlib_root()).as_posix()
        text = read_source(path)
        if name in taken or text is None or text.count("\n") < least + first:
            continue
        found.append((name, text))
    return found


def _cut(
    name: str,
    text: str,
    seed: int,
    min_lines: int,
    max_lines: int,
    chars: int | None,
    first_line: int,
) -> Sample:
    """The seeded region of one file."""
    rng = random.Random(f"{seed}:{name}")
    starts = (0, *(i + 1 for i, ch in enumerate(text) if ch == "\n"))
    total = text.count("\n")
    lines = rng.randint(min_lines, max_lines)
    first = rng.randint(first_line, total - max(lines, max_lines if chars else 0) - 5)
    if chars is not None:
        lines = 1
        while starts[first + lines] - starts[first] < chars and first + lines < total - 5:
            lines += 1
    return Sample(name, text, starts[first], starts[first + lines], starts)


def pick_functions(count: int, seed: int, min_lines: int = 20, max_lines: int = 30) -> list[Sample]:
    """``count`` functions (or methods) of ``min_lines``..``max_lines`` lines, one per stdlib
    file in the preferred order, each chosen by ``seed`` among its file's; the region is the
    function's whole lines, ``def`` line included (decorators not)."""
    root = stdlib_root()
    samples: list[Sample] = []
    for path in _candidates(root, PREFERRED):
        if len(samples) == count:
            break
        text = read_source(path)
        if text is None:
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        spans = sorted(
            (node.lineno, node.end_lineno)
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno is not None
            and min_lines <= node.end_lineno - node.lineno + 1 <= max_lines
        )
        if not spans:
            continue
        name = path.relative_to(root).as_posix()
        first, last = random.Random(f"{seed}:{name}").choice(spans)
        starts = (0, *(i + 1 for i, ch in enumerate(text) if ch == "\n"))
        samples.append(Sample(name, text, starts[first - 1], starts[last], starts))
    if len(samples) < count:
        raise RuntimeError(f"only {len(samples)} stdlib functions found under {root}")
    return samples


def _hash(*parts: object) -> int:
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True)
class PromptSize:
    """One request's prompt + suffix as the fake counts them, and whether the budget cut it."""

    tokens: int
    full: bool  # the window reached neither the document's start nor its end


class Oracle:
    """Plays the model for the fake backend: the file's true continuation at the request's cursor.

    Each cursor offset gets a fixed answer (a hash of seed, file and offset decides), so both
    configurations see the same "model": the rest of the line plus 0-2 more lines, or, for
    ``wrong_rate`` of the offsets, another line of the file (plausible, but not what comes next).
    """

    def __init__(self, seed: int, wrong_rate: float = 0.2) -> None:
        self.seed = seed
        self.wrong_rate = wrong_rate
        self.sample: Sample | None = None
        self.cursor = 0  # the typist's cursor: no request can be for a later offset
        self.calls = 0
        self.unmapped = 0
        self.wrong_texts: set[str] = set()
        self.prompts: list[PromptSize] = []
        # id(request body) -> (file, offset, answer): which answer each call got, and where
        self.answers: dict[int, tuple[str, int, str]] = {}

    def completion(self, body: dict[str, Any]) -> str:
        """The fake's `completion` callable: body -> the model's text."""
        self.calls += 1
        prompt, suffix = str(body.get("prompt") or ""), str(body.get("suffix") or "")
        offset = self.locate(prompt)
        if offset is None:
            self.unmapped += 1
            return ""
        self.prompts.append(self.size(prompt, suffix, offset))
        text = self.continuation(offset)
        assert self.sample is not None
        self.answers[id(body.get("_body", body))] = (self.sample.name, offset, text)
        return text

    def size(self, prompt: str, suffix: str, offset: int) -> PromptSize:
        """The request's size; its window is full unless it holds the whole document, which
        was ``text[:offset] + text[end:]`` when the request was built."""
        sample = self.sample
        assert sample is not None
        whole = prompt.endswith(sample.text[:offset]) and suffix == sample.text[sample.end :]
        return PromptSize(count_tokens(prompt) + count_tokens(suffix), not whole)

    def locate(self, prompt: str) -> int | None:
        """The original offset the prompt ends at: its tail's last match before the cursor."""
        sample = self.sample
        tail = prompt[-_TAIL_CHARS:]
        if sample is None or not tail:
            return None
        low = max(0, self.cursor - _SEARCH_WINDOW)
        found = sample.text.rfind(tail, low, self.cursor)
        return None if found < 0 else found + len(tail)

    def continuation(self, offset: int) -> str:
        sample = self.sample
        assert sample is not None
        truth = sample.text[offset : sample.end]
        if not truth.strip():
            return ""
        draw = _hash(self.seed, sample.name, offset)
        if (draw % 1000) < self.wrong_rate * 1000:
            wrong = self._wrong(sample, offset, draw)
            self.wrong_texts.add(wrong)
            return wrong
        segments = truth.split("\n")
        count = 1 + (0, 0, 0, 0, 0, 1, 1, 1, 2, 2)[(draw >> 16) % 10]
        if not segments[0].strip():
            count += 1  # at a line end: the next line is the suggestion
        return "\n".join(segments[:count])

    @staticmethod
    def _wrong(sample: Sample, offset: int, draw: int) -> str:
        """Another line of the same file, a few lines on: code-like but not what follows."""
        line = sample.line_of(offset) + 3 + (draw >> 32) % 7
        line = min(line, len(sample.line_starts) - 2)
        start, stop = sample.line_starts[line], sample.line_starts[line + 1] - 1
        return sample.text[start:stop].strip() or "pass"
