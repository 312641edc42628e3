"""Micro-benchmarks of the per-keystroke and per-request paths on a 20,000-line document, and
of a keystroke in one long line (1, 5 and 20 MB).

Timed in-process with perf_counter_ns, one call per sample, after a warm-up; median and p95 in µs.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.corpus import read_source, stdlib_root
from codestral_lsp import local
from codestral_lsp.documents import Cursor, Document, DocumentStore, TextChange
from codestral_lsp.positions import Encoding, to_units
from codestral_lsp.settings import Settings
from codestral_lsp.tokens import TokenEstimator
from codestral_lsp.window import Assembler

LINES = 20_000
URI = "file:///bench/big.py"
SMALL = ", 2k lines"
NON_ASCII = "    label = 'Größe 日本語 🙂'  # ünïcödé comment on a long line of code\n"


@dataclass(frozen=True)
class Timing:
    name: str
    median_us: float
    p95_us: float
    samples: int


def big_document(lines: int = LINES) -> str:
    """Stdlib sources concatenated to exactly ``lines`` lines; the middle line is non-ASCII."""
    parts: list[str] = []
    count = 0
    for path in sorted(stdlib_root().glob("*.py")):
        text = read_source(path)
        if text is None:
            continue
        parts.append(text if text.endswith("\n") else text + "\n")
        count += text.count("\n")
        if count >= lines:
            break
    chosen = "".join(parts).split("\n")[:lines]
    chosen[lines // 2 + 1] = NON_ASCII.rstrip("\n")
    return "\n".join(chosen)


def measure(name: str, op: Callable[[int], object], samples: int) -> Timing:
    """Time ``op(i)`` for i in range(samples), after a warm-up of a tenth as many."""
    for i in range(max(10, samples // 10)):
        op(i)
    gc.collect()
    times = []
    clock = time.perf_counter_ns
    for i in range(samples):
        started = clock()
        op(i)
        times.append(clock() - started)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * len(times)))]
    return Timing(name, statistics.median(times) / 1000, p95 / 1000, samples)


def _keystrokes(line: int, text: str, encoding: Encoding) -> tuple[TextChange, TextChange]:
    """Insert "x" in the middle of ``line`` (content ``text``), and the change that deletes it."""
    column = to_units(text, len(text) // 2, encoding)
    insert = TextChange((line, column, line, column), "x")
    delete = TextChange((line, column, line, column + 1), "")
    return insert, delete


def bench_apply(text: str, line: int, encoding: Encoding, samples: int, label: str) -> Timing:
    doc = Document(URI, text, 1, "python")
    changes = _keystrokes(line, doc.line(line), encoding)

    def op(i: int) -> None:
        doc.apply(changes[i % 2], encoding)

    return measure(f"Document.apply, {encoding}, {label}", op, samples - samples % 2)


def bench_store(text: str, line: int, encoding: Encoding, samples: int) -> Timing:
    store = DocumentStore()
    doc = store.open(URI, text, 1, "python")
    changes = _keystrokes(line, doc.line(line), encoding)

    def op(i: int) -> None:
        store.change(URI, i + 2, [changes[i % 2]], encoding)

    return measure(f"DocumentStore.change (didChange), {encoding}", op, samples - samples % 2)


def bench_build(text: str, line: int, samples: int) -> Timing:
    doc = Document(URI, text, 1, "python")
    length = len(doc.line(line).encode("utf-8"))

    def op(_: int) -> None:
        local.build(doc, doc.resolve(line, length // 2, "utf-8"))

    return measure("resolve + local.build (prompt, suffix)", op, samples)


LONG_LINES = (1_000_000, 5_000_000, 20_000_000)  # characters in the one long line
LONG_PREFIX = "DocumentStore.change, long line"


def long_line_document(size: int) -> str:
    """A short line, one line of ``size`` characters (minified-code-like, some non-ASCII),
    and a short line."""
    unit = "var a=[1,2,'é日🙂'];function f(x){return x*2}"
    return "// head\n" + (unit * (size // len(unit) + 1))[:size] + "\n// tail\n"


def bench_long_line(size: int, encoding: Encoding, samples: int) -> Timing:
    """One keystroke ("x" typed, then deleted) in the middle of a ``size``-character line."""
    store = DocumentStore()
    doc = store.open(URI, long_line_document(size), 1, "javascript")
    changes = _keystrokes(1, doc.line(1), encoding)

    def op(i: int) -> None:
        store.change(URI, i + 2, [changes[i % 2]], encoding)

    name = f"{LONG_PREFIX} {size // 1_000_000} MB, {encoding}"
    return measure(name, op, samples - samples % 2)


def run_long_lines(samples: int = 2_000) -> list[Timing]:
    return [
        bench_long_line(size, encoding, samples)
        for size in LONG_LINES
        for encoding in ("utf-8", "utf-16", "utf-32")
    ]


def with_secrets(text: str) -> str:
    """``text`` with a private-key block and a few planted tokens a quarter of the way in."""
    lines = text.split("\n")
    at = len(lines) // 4
    key = [
        'KEY = """-----BEGIN RSA PRIVATE KEY-----',
        *(["A" * 64] * 25),
        '-----END RSA PRIVATE KEY-----"""',
    ]
    planted = ['DB_PASSWORD = "hunter2hunter2"', 'GITHUB = "ghp_' + "x1" * 18 + '"']
    return "\n".join([*lines[:at], *key, *planted, *lines[at:]])


def bench_edit(text: str, line: int, samples: int, label: str = "") -> Timing:
    """The server's didChange: the store's splice plus the secret index and the edit trail."""
    store = DocumentStore()
    assembler = Assembler(TokenEstimator(), store)  # as the server wires it
    doc = store.open(URI, text, 1, "python")
    assembler.opened(doc)
    changes = _keystrokes(line, doc.line(line), "utf-16")

    def op(i: int) -> None:
        assembler.edit(store, URI, i + 2, [changes[i % 2]], "utf-16")

    return measure(f"Assembler.edit (didChange + secret index){label}", op, samples - samples % 2)


def bench_assemble(text: str, line: int, samples: int, redact: bool, label: str = "") -> Timing:
    """A request's window (no other files), typing one character between requests."""
    store = DocumentStore()
    assembler = Assembler(TokenEstimator(), store)  # as the server wires it
    doc = store.open(URI, text, 1, "python")
    assembler.opened(doc)
    settings = Settings(redact_secrets=redact, extra_context_share=0.0)
    column = len(doc.line(line)) // 2

    def op(i: int) -> None:
        change = TextChange((line, column, line, column), "x")
        assembler.edit(store, URI, i + 2, [change], "utf-32")
        assembler.assemble(doc, Cursor(line, column + 1), settings, [])

    how = "redacted" if redact else "not redacted"
    return measure(f"didChange + assemble, {how} (2k tokens){label}", op, samples)


def run(samples: int = 20_000) -> list[Timing]:
    text = big_document()
    middle = LINES // 2
    lines = text.split("\n")
    ascii_line = next(
        i for i in range(middle - 20, LINES) if len(lines[i]) > 20 and lines[i].isascii()
    )
    found = [
        bench_apply(text, ascii_line, "utf-8", samples, "ASCII line"),
        bench_apply(text, ascii_line, "utf-16", samples, "ASCII line"),
        bench_apply(text, middle + 1, "utf-8", samples, "non-ASCII line"),
        bench_apply(text, middle + 1, "utf-16", samples, "non-ASCII line"),
        bench_store(text, ascii_line, "utf-8", samples),
        bench_store(text, ascii_line, "utf-16", samples),
        bench_build(text, ascii_line, max(200, samples // 10)),
    ]
    # Secrets: the same edits and requests on this document and on a 2k-line one.
    secret = with_secrets(text)
    # The 2k-line document is the 2,000 lines around the same edited line.
    small_line = LINES // 20
    small = "\n".join(lines[ascii_line - small_line : ascii_line + small_line])
    small = with_secrets(small)
    small_line += len(with_secrets("").split("\n")) - 1  # the key block sits before it
    few = max(200, samples // 10)
    found += [
        bench_edit(secret, ascii_line, samples),
        bench_edit(small, small_line, samples, SMALL),
        bench_assemble(secret, ascii_line, few, redact=False),
        bench_assemble(secret, ascii_line, few, redact=True),
        bench_assemble(small, small_line, few, redact=True, label=SMALL),
    ]
    return found + run_long_lines(max(200, samples // 10))


def format_table(timings: list[Timing]) -> str:
    width = max(len(t.name) for t in timings)
    lines = [
        f"Micro-benchmarks, {LINES:,}-line document (µs per call)",
        "",
        f"{'':<{width}}  {'median':>9}  {'p95':>9}  {'n':>7}",
    ]
    lines += [
        f"{t.name:<{width}}  {t.median_us:>9.2f}  {t.p95_us:>9.2f}  {t.samples:>7}" for t in timings
    ]
    return "\n".join(lines)


def checks(timings: list[Timing]) -> list[tuple[str, bool | None, str]]:
    keystroke = [t for t in timings if t.name.startswith("DocumentStore.change (")]
    worst = max(t.median_us for t in keystroke)
    found = [("didChange keystroke median <= 50 µs (20k lines)", worst <= 50, f"{worst:.2f} µs")]
    long = {t.name: t.median_us for t in timings if t.name.startswith(LONG_PREFIX)}
    if long:  # O(edit): a keystroke in a 20 MB line costs about what it costs in a 1 MB line
        ratio = max(
            long[f"{LONG_PREFIX} 20 MB, {enc}"] / long[f"{LONG_PREFIX} 1 MB, {enc}"]
            for enc in ("utf-8", "utf-16", "utf-32")
        )
        found.append(("long-line keystroke, 20 MB / 1 MB line <= 3", ratio <= 3, f"{ratio:.2f}x"))
    named = {t.name: t for t in timings}
    for name, what in [
        ("Assembler.edit (didChange + secret index)", "didChange with the secret index"),
        ("didChange + assemble, redacted (2k tokens)", "a redacted request's window"),
    ]:
        big, small = named.get(name), named.get(name + SMALL)
        if big and small:
            ratio = big.median_us / small.median_us
            found.append((f"{what}: 20k lines / 2k lines <= 2", ratio <= 2, f"{ratio:.2f}x"))
    return found


if __name__ == "__main__":
    from benchmarks.run import main

    raise SystemExit(main(["--only", "micro"]))
