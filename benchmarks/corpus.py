"""The replay's material: real stdlib files with a region cut out, and the model the fake plays.

While a region is re-typed, the document is always ``text[:cursor] + text[end:]`` for the original
``text``: typing and accepting only ever insert the true text at the cursor. So one offset into the
original file describes the whole state, and the model can be played exactly: the prompt the server
sends ends at some such offset, and the best possible completion is the text that follows it.
"""

from __future__ import annotations

import bisect
import hashlib
import random
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
_TAIL_CHARS = 256  # how much of the prompt's end locates it in the original text
_SEARCH_WINDOW = 50_000  # how far before the typist's cursor a request's cursor may lie


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _candidates(root: Path) -> list[Path]:
    preferred = [root / name for name in PREFERRED]
    rest = sorted(p for p in root.glob("*.py") if p not in preferred)
    return [p for p in preferred if p.is_file()] + rest


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


def pick_samples(count: int, seed: int, min_lines: int = 20, max_lines: int = 60) -> list[Sample]:
    """``count`` files from the stdlib, each with a seeded region of min..max lines cut out."""
    samples: list[Sample] = []
    for path in _candidates(stdlib_root()):
        if len(samples) == count:
            break
        text = read_source(path)
        if text is None or text.count("\n") < max_lines + 20:
            continue
        name = path.relative_to(stdlib_root()).as_posix()
        rng = random.Random(f"{seed}:{name}")
        starts = (0, *(i + 1 for i, ch in enumerate(text) if ch == "\n"))
        lines = rng.randint(min_lines, max_lines)
        first = rng.randint(5, text.count("\n") - lines - 5)
        samples.append(Sample(name, text, starts[first], starts[first + lines], starts))
    if len(samples) < count:
        raise RuntimeError(f"only {len(samples)} usable stdlib files found under {stdlib_root()}")
    return samples


def _hash(*parts: object) -> int:
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


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

    def completion(self, body: dict[str, Any]) -> str:
        """The fake's `completion` callable: body -> the model's text."""
        self.calls += 1
        offset = self.locate(str(body.get("prompt") or ""))
        if offset is None:
            self.unmapped += 1
            return ""
        return self.continuation(offset)

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
