"""`codestral-lsp complete FILE:LINE:COL`: the suggestion the server would show there, once.

The server's own steps, minus what needs an editor: its exclusion answer (``exclusion.refusal``),
the route (``Route.of``), the token-budgeted window (no other files: none are open), its request
(``engine.build_request``), one backend call (no cache, no debounce, no rate governor), its
shaping (``engine.shape_at``) and its advice on failures (``advice``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from codestral_lsp import advice
from codestral_lsp.backends import Route
from codestral_lsp.backends.client import FimClient, FimResult
from codestral_lsp.backends.errors import BackendError
from codestral_lsp.commands.doctor import hide_secrets_in_logs, load_settings
from codestral_lsp.documents import Cursor, Document
from codestral_lsp.engine import build_request, shape_at
from codestral_lsp.exclusion import Policy, decide, refusal
from codestral_lsp.gitignore import GitIgnores
from codestral_lsp.local import FimContext
from codestral_lsp.positions import UTF16, to_units
from codestral_lsp.settings import Settings
from codestral_lsp.shaping import Shaped
from codestral_lsp.tokens import TokenEstimator
from codestral_lsp.window import Assembler

logger = logging.getLogger(__name__)

OK, FAILED, BAD_USAGE, NOTHING = 0, 1, 2, 3  # exit codes, as `--help` tells them

# LSP language ids by file extension (the editor's id, which the server would have been sent).
LANGUAGES: Mapping[str, str] = {
    **dict.fromkeys(("py", "pyi", "pyw"), "python"),
    **dict.fromkeys(("ts", "mts", "cts"), "typescript"),
    "tsx": "typescriptreact",
    **dict.fromkeys(("js", "mjs", "cjs"), "javascript"),
    "jsx": "javascriptreact",
    "go": "go",
    "rs": "rust",
    **dict.fromkeys(("c", "h"), "c"),
    **dict.fromkeys(("cc", "cpp", "cxx", "hpp", "hh", "hxx"), "cpp"),
    "java": "java",
    "kt": "kotlin",
    "cs": "csharp",
    "lua": "lua",
    "rb": "ruby",
    "php": "php",
    "swift": "swift",
    "scala": "scala",
    "zig": "zig",
    **dict.fromkeys(("sh", "bash", "zsh"), "shellscript"),
    **dict.fromkeys(("md", "markdown"), "markdown"),
    "html": "html",
    "css": "css",
    "json": "json",
    "toml": "toml",
    **dict.fromkeys(("yaml", "yml"), "yaml"),
    "sql": "sql",
}


class UsageError(ValueError):
    """FILE:LINE:COL names no readable file or no place in it."""


@dataclass(frozen=True)
class Place:
    """Where to complete: the file as a document and the cursor in it."""

    path: Path
    doc: Document
    cursor: Cursor


def language_id(path: Path) -> str:
    return LANGUAGES.get(path.suffix.lower().lstrip("."), "plaintext")


def parse_target(target: str) -> tuple[Path, int, int]:
    """``FILE:LINE:COL`` (1-based); split from the right, so ``C:\\src\\a.py:3:5`` works."""
    parts = target.rsplit(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise UsageError(f"expected FILE:LINE:COL (e.g. app.py:12:5), got {target!r}")
    name, line, column = parts
    if not (line.isdecimal() and column.isdecimal()) or int(line) < 1 or int(column) < 1:
        raise UsageError(f"LINE and COL must be whole numbers from 1, got {line!r}:{column!r}")
    return Path(name), int(line), int(column)


def read_place(target: str) -> Place:
    """The file as a Document (UTF-8, line endings kept) and the cursor at LINE:COL."""
    path, line, column = parse_target(target)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    doc = Document(path.resolve().as_uri(), text, 1, language_id(path))
    if line > doc.line_count:
        # As editors count them: a final line break ends the last line, it starts none.
        shown = doc.line_count - (doc.line_count > 1 and doc.line(doc.line_count - 1) == "")
        lines = "1 line" if shown == 1 else f"{shown} lines"
        raise UsageError(f"{path} has {lines}; line {line} is past its end")
    length = len(doc.line(line - 1))
    if column > length + 1:
        raise UsageError(
            f"line {line} of {path} has {length} characters; COL may be 1 to {length + 1}"
        )
    return Place(path, doc, Cursor(line - 1, column - 1))


async def refused(place: Place, settings: Settings, root: str) -> str | None:
    """Why the server would send nothing for this file (excluded, too large), or None.

    The server's own answer, with ``root`` (the current directory) as the workspace root that
    ``exclude`` patterns are relative to.
    """
    decision = await decide(place.doc.uri, Policy.of(settings, (root,)), GitIgnores())
    found = refusal(decision, place.doc.length, settings.max_file_size)
    return None if found is None else found.why


class _Stop(Exception):
    """End the command with ``code``; its message has been written to stderr."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class _Job:
    settings: Settings
    place: Place
    route: Route


async def _prepare(
    target: str,
    overrides: Mapping[str, object],
    settings_json: Mapping[str, object] | None,
    environ: Mapping[str, str],
    err: TextIO,
) -> _Job:
    """Settings, the place, and the key; each problem said on ``err`` (raises _Stop)."""
    loaded = load_settings(overrides, settings_json, environ)
    settings = loaded.settings
    for problem in loaded.problems:
        err.write(f"{problem}\n")
    if loaded.usage_problems:
        raise _Stop(BAD_USAGE)
    try:
        place = read_place(target)
    except UsageError as exc:
        err.write(f"codestral-lsp complete: {exc}\n")
        raise _Stop(BAD_USAGE) from None
    if (why := await refused(place, settings, os.getcwd())) is not None:
        err.write(
            f"codestral-lsp complete: nothing sent: it {why}; the server would not complete\n"
        )
        raise _Stop(NOTHING)
    route = Route.of(settings, environ)
    hide_secrets_in_logs(settings, route.key)
    if (blocked := advice.unusable(route)) is not None:
        fix = f": {advice.no_key(route)}" if route.missing_key else ""
        err.write(f"codestral-lsp complete: {blocked}{fix}\n")
        raise _Stop(FAILED)
    return _Job(settings, place, route)


async def run_complete(
    target: str,
    as_json: bool,
    overrides: Mapping[str, object],
    settings_json: Mapping[str, object] | None,
    environ: Mapping[str, str],
    out: TextIO,
    err: TextIO | None = None,
) -> int:
    """Print the suggestion at ``target`` (or JSON with ``as_json``); returns the exit code."""
    started = time.monotonic()
    err = err or sys.stderr
    try:
        job = await _prepare(target, overrides, settings_json, environ, err)
    except _Stop as stop:
        return stop.code
    settings, place = job.settings, job.place
    timings: dict[str, float] = {}
    before = time.monotonic()
    fim = Assembler(TokenEstimator()).assemble(place.doc, place.cursor, settings, [])
    timings["context"] = time.monotonic() - before
    try:
        result = await _call(fim, job, timings)
    except BackendError as exc:
        err.write(f"codestral-lsp complete: {exc}\n")
        err.write(f"Fix: {advice.fix(exc, settings, job.route, environ)}\n")
        return FAILED
    before = time.monotonic()
    shaped, _ = shape_at(result.text, place.doc, place.cursor, settings)
    timings["shaping"] = time.monotonic() - before
    timings["total"] = time.monotonic() - started
    logger.info("timings %s", {k: round(v * 1000, 3) for k, v in timings.items()})
    if as_json:
        report = _report(place, fim, settings, result, shaped, timings)
        out.write(json.dumps(report, ensure_ascii=False) + "\n")
    elif shaped is not None:
        out.write(shaped.text + "\n")
    if shaped is None:
        err.write(
            f"codestral-lsp complete: nothing to show here (the model said {result.text!r})\n"
        )
        return NOTHING
    return OK


async def _call(fim: FimContext, job: _Job, timings: dict[str, float]) -> FimResult:
    """The server's request for ``fim``, sent once."""
    settings = job.settings
    request = build_request(fim, settings, job.route)
    client = FimClient(ca_bundle=settings.ca_bundle)
    before = time.monotonic()
    try:
        result = await client.complete(request)
    finally:
        timings["upstream"] = time.monotonic() - before
        await client.aclose()
    logger.debug("completion %r", result.text)
    return result


def _report(
    place: Place,
    fim: FimContext,
    settings: Settings,
    result: FimResult,
    shaped: Shaped | None,
    timings: Mapping[str, float],
) -> dict[str, Any]:
    """The full item for ``--json``: positions 0-based in UTF-16 code units, as LSP sends them."""
    line = place.doc.line(place.cursor.line)
    start = place.cursor.index
    end = start + (shaped.replace if shaped else 0)
    usage = result.usage
    return {
        "text": shaped.text if shaped else None,
        "range": {
            "start": {"line": place.cursor.line, "character": to_units(line, start, UTF16)},
            "end": {"line": place.cursor.line, "character": to_units(line, end, UTF16)},
        },
        "position_encoding": "utf-16",
        "replace": shaped.replace if shaped else 0,
        "raw": result.text,
        "prompt_chars": len(fim.sent_prompt),
        "suffix_chars": len(fim.suffix),
        "timings_ms": {k: round(timings[k] * 1000, 3) for k in _TIMINGS if k in timings},
        "usage": None
        if usage is None
        else {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens},
        "model": result.model or settings.model,
        "finish_reason": result.finish_reason,
    }


_TIMINGS = ("context", "upstream", "shaping", "total")
