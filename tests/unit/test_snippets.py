"""Snippets from other places: ranking, budget, the local window, recent edits, the deadline."""

from __future__ import annotations

import pytest

from codestral_lsp.documents import Cursor, Document
from codestral_lsp.local import FimContext, build
from codestral_lsp.snippets import (
    MAX_DOCUMENTS,
    MAX_INDEXED_LINES,
    Chunk,
    ChunkIndex,
    EditTrail,
    choose,
    display_path,
    files,
    identifiers,
    preamble,
)

CURSOR = "█"
URI = "file:///w/main.py"
MAIN = "lines = load_lines()\ntotal = invoice_total(lines, tax_rate█"

BILLING_URI, BILLING = (
    "file:///w/billing.py",
    """\
def invoice_total(lines, tax_rate):
    subtotal = sum(line.price for line in lines)
    return subtotal * (1 + tax_rate)
""",
)
COUNTS_URI, COUNTS = "file:///w/counts.py", "def count(lines):\n    return len(lines)\n"
WEATHER_URI, WEATHER = "file:///w/weather.py", "def forecast(city):\n    return city.sky\n"


def frozen() -> float:
    return 0.0


def local(
    marked: str, prompt_chars: int = 8_000, suffix_chars: int = 2_000
) -> tuple[Document, FimContext]:
    """The current document and its local window at the cursor marker."""
    at = marked.index(CURSOR)
    text = marked.replace(CURSOR, "")
    before = text[:at]
    cursor = Cursor(before.count("\n"), len(before) - (before.rfind("\n") + 1))
    doc = Document(URI, text, 1, "python")
    return doc, build(doc, cursor, prompt_chars, suffix_chars)


def open_docs(*pairs: tuple[str, str]) -> list[Document]:
    return [Document(uri, text, 1, "python") for uri, text in pairs]


def pick(
    marked: str,
    others: list[Document],
    budget: int = 10_000,
    trail: EditTrail | None = None,
    prompt_chars: int = 8_000,
) -> list[Chunk]:
    doc, fim = local(marked, prompt_chars)
    return choose(fim, doc, others, trail or EditTrail(), ChunkIndex(), budget, clock=frozen)


def cost(uri: str, text: str) -> int:
    """What a chunk costs in choose's budget: its text and its header."""
    return len(text) + len(display_path(uri)) + 8


# Charged once when anything is chosen: the closing "+++++ <current file>" line.
CLOSING = len(display_path(URI)) + 7


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("x = ab + abc", {"abc"}),
        ("def _fn(self, a_1, _x): return __x__", {"def", "_fn", "self", "a_1", "return", "__x__"}),
        ("9lives = value2 + ünïcode", {"lives", "value2", "code"}),
        ("", set()),
    ],
)
def test_identifiers(text: str, found: set[str]) -> None:
    assert identifiers(text) == found


def test_chunks_rank_by_shared_identifiers() -> None:
    others = open_docs((COUNTS_URI, COUNTS), (WEATHER_URI, WEATHER), (BILLING_URI, BILLING))
    assert [c.uri for c in pick(MAIN, others)] == [BILLING_URI, COUNTS_URI]


@pytest.mark.parametrize(
    ("budget", "chosen"),
    [
        (
            CLOSING + cost(BILLING_URI, BILLING) + cost(COUNTS_URI, COUNTS),
            [BILLING_URI, COUNTS_URI],
        ),
        (CLOSING + cost(BILLING_URI, BILLING), [BILLING_URI]),
        (CLOSING + cost(BILLING_URI, BILLING) - 1, [COUNTS_URI]),  # the best does not fit
        (CLOSING + cost(COUNTS_URI, COUNTS) - 1, []),
        (0, []),
        (-5, []),
    ],
)
def test_chunks_fit_the_budget(budget: int, chosen: list[str]) -> None:
    others = open_docs((BILLING_URI, BILLING), (COUNTS_URI, COUNTS))
    assert [c.uri for c in pick(MAIN, others, budget)] == chosen


def test_nothing_without_identifiers_near_the_cursor() -> None:
    assert pick("x = █", open_docs((BILLING_URI, BILLING))) == []


def test_nothing_the_window_already_holds() -> None:
    copy = open_docs(("file:///w/copy.py", "lines = load_lines()\n"))
    assert pick(MAIN, copy) == []


HELPER = "def invoice_total(lines, tax_rate):\n    return 0\n"
FILLER = "".join(f"unrelated_{i} = {i}\n" for i in range(200))


def test_edited_spots_of_the_current_document_outside_the_window() -> None:
    marked = HELPER + FILLER + MAIN
    last = marked.count("\n")
    trail = EditTrail()
    trail.record(URI, last)  # the cursor line: already in the window
    assert pick(marked, [], trail=trail, prompt_chars=300) == []
    trail.record(URI, 0)  # the helper, far above the window
    [chunk] = pick(marked, [], trail=trail, prompt_chars=300)
    assert (chunk.uri, chunk.start, chunk.end) == (URI, 0, 19)
    assert chunk.text.startswith(HELPER)


def test_a_chunk_overlapping_the_window_is_skipped() -> None:
    marked = HELPER + FILLER + MAIN
    doc, fim = local(marked, prompt_chars=300)
    trail = EditTrail()
    trail.record(URI, fim.first_line - 5)  # its chunk reaches into the window
    assert choose(fim, doc, [], trail, ChunkIndex(), 10_000, clock=frozen) == []


def test_recently_edited_spots_get_a_bonus() -> None:
    twins = open_docs(("file:///w/a.py", BILLING), ("file:///w/b.py", BILLING))
    one = CLOSING + cost("file:///w/a.py", BILLING)
    assert [c.uri for c in pick(MAIN, twins, one)] == ["file:///w/a.py"]
    trail = EditTrail()
    trail.record("file:///w/b.py", 1)
    assert [c.uri for c in pick(MAIN, twins, one, trail)] == ["file:///w/b.py"]


def test_a_recent_edit_outranks_a_closer_match() -> None:
    others = open_docs((BILLING_URI, BILLING), (COUNTS_URI, COUNTS))
    trail = EditTrail()
    trail.record(COUNTS_URI, 0)
    assert [c.uri for c in pick(MAIN, others, trail=trail)] == [COUNTS_URI, BILLING_URI]


def test_edits_in_closed_documents_or_past_their_end_are_ignored() -> None:
    trail = EditTrail()
    trail.record("file:///w/closed.py", 3)
    trail.record(BILLING_URI, 500)
    chosen = pick(MAIN, open_docs((BILLING_URI, BILLING)), trail=trail)
    assert [(c.uri, c.start) for c in chosen] == [(BILLING_URI, 0)]


def test_only_the_most_recent_documents_are_read() -> None:
    others = [
        Document(f"file:///w/m{n:02}.py", f"def helper_{n}(lines):\n    pass\n", 1, "python")
        for n in range(MAX_DOCUMENTS + 5)
    ]
    chosen = {c.uri for c in pick(MAIN, others, budget=100_000)}
    assert chosen == {d.uri for d in others[:MAX_DOCUMENTS]}


def test_chosen_chunks_do_not_overlap() -> None:
    text = "".join(f"lines_{i} = invoice_total(lines, tax_rate)\n" for i in range(35))
    chosen = pick(MAIN, open_docs((BILLING_URI, text)), budget=100_000)
    # The short last chunk ranks first (fewer identifiers, the same shared ones); of the rest,
    # only the first does not overlap it.
    assert [(c.start, c.end) for c in chosen] == [(30, 35), (0, 19)]


class Steps:
    """A clock that stands still for ``calls`` readings, then jumps far past any deadline."""

    def __init__(self, calls: int) -> None:
        self.calls, self.read = calls, 0

    def __call__(self) -> float:
        self.read += 1
        return 0.0 if self.read <= self.calls else 1.0


@pytest.mark.parametrize(
    ("readings", "chosen"),
    [
        (1, []),  # the deadline itself, then it has passed
        (2, [BILLING_URI]),  # one candidate scored
        (3, [BILLING_URI, COUNTS_URI]),
        (99, [BILLING_URI, COUNTS_URI]),
    ],
)
def test_choosing_stops_at_its_deadline_with_what_it_has(readings: int, chosen: list[str]) -> None:
    doc, fim = local(MAIN)
    others = open_docs((BILLING_URI, BILLING), (COUNTS_URI, COUNTS), (WEATHER_URI, WEATHER))
    clock = Steps(readings)
    found = choose(fim, doc, others, EditTrail(), ChunkIndex(), 10_000, clock=clock)
    assert [c.uri for c in found] == chosen
    assert clock.read == min(readings + 1, 1 + len(others))  # no reading after the deadline


# --- what is sent -------------------------------------------------------------------------


def chunk(uri: str, text: str) -> Chunk:
    return Chunk(uri, 0, text.count("\n"), text, identifiers(text))


def test_preamble_puts_the_best_nearest_the_cursor() -> None:
    best, next_best = chunk(BILLING_URI, BILLING), chunk(COUNTS_URI, "def count(lines): ...")
    assert preamble([best, next_best], URI, "/w") == (
        f"+++++ counts.py\ndef count(lines): ...\n+++++ billing.py\n{BILLING}+++++ main.py\n"
    )
    assert preamble([best], URI) == f"+++++ /w/billing.py\n{BILLING}+++++ /w/main.py\n"
    assert preamble([], URI, "/w") == ""


def test_files_are_the_preambles_snippets_one_by_one() -> None:
    best, next_best = chunk(BILLING_URI, BILLING), chunk(COUNTS_URI, "def count(lines): ...")
    assert files([best, next_best], "/w") == (
        ("counts.py", "def count(lines): ..."),
        ("billing.py", BILLING),
    )
    assert files([best]) == (("/w/billing.py", BILLING),)
    assert files([], "/w") == ()


@pytest.mark.parametrize(
    ("uri", "root", "shown"),
    [
        ("file:///w/src/a.py", "/w", "src/a.py"),
        ("file:///w/src/a.py", "/w/", "src/a.py"),
        ("file:///w/src/a.py", None, "/w/src/a.py"),
        ("file:///work/a.py", "/w", "/work/a.py"),  # a sibling sharing the root's prefix
        ("file:///elsewhere/a.py", "/w", "/elsewhere/a.py"),
        ("file:///w/my%20dir/a%2Bb.py", "/w", "my dir/a+b.py"),
        ("file:///w/%C3%A9t%C3%A9.py", "/w", "été.py"),
        ("untitled:Untitled-1", "/w", "untitled:Untitled-1"),
        (
            "vscode-notebook-cell:/w/nb.ipynb#W0sZmlsZQ",
            "/w",
            "vscode-notebook-cell:/w/nb.ipynb#W0sZmlsZQ",
        ),
    ],
)
def test_display_path(uri: str, root: str | None, shown: str) -> None:
    assert display_path(uri, root) == shown


# --- recent edits -------------------------------------------------------------------------


def test_edit_trail_merges_nearby_edits_newest_first() -> None:
    trail = EditTrail()
    trail.record("a", 10)
    trail.record("a", 12)  # nearby: the same spot, moved
    assert trail.spots() == [("a", 12)]
    trail.record("a", 16)
    trail.record("b", 16)
    trail.record("a", 15)  # near an older spot, but not the newest: a new one
    assert trail.spots() == [("a", 15), ("b", 16), ("a", 16), ("a", 12)]
    trail.forget("a")
    assert trail.spots() == [("b", 16)]


def test_edit_trail_keeps_the_newest() -> None:
    trail = EditTrail(size=3)
    for line in range(0, 100, 10):
        trail.record("a", line)
    assert trail.spots() == [("a", 90), ("a", 80), ("a", 70)]
    trail.forget("b")
    trail.record("a", 200)
    assert trail.spots() == [("a", 200), ("a", 90), ("a", 80)]


# --- the chunk index ----------------------------------------------------------------------


def numbered(count: int, version: int = 1, word: str = "line") -> Document:
    return Document("file:///w/n.py", "\n".join(f"{word}_{i}" for i in range(count)), version)


def test_chunks_overlap_by_half() -> None:
    found = ChunkIndex().chunks(numbered(25))
    assert [(c.start, c.end) for c in found] == [(0, 19), (10, 24), (20, 24)]
    assert found[0].text == "".join(f"line_{i}\n" for i in range(20))
    assert found[2].identifiers == {f"line_{i}" for i in range(20, 25)}


def test_chunks_are_built_once_per_version() -> None:
    index = ChunkIndex()
    first = index.chunks(numbered(25))
    assert index.chunks(numbered(25)) is first
    assert index.chunks(numbered(25, word="other")) is first  # same version: not read again
    changed = index.chunks(numbered(25, version=2, word="other"))
    assert changed is not first
    assert changed[0].text.startswith("other_0\n")
    index.forget("file:///w/n.py")
    assert index.chunks(numbered(25, version=2)) is not changed


def test_the_index_holds_only_the_most_recently_used_documents() -> None:
    index = ChunkIndex()
    docs = [Document(f"file:///w/m{i}.py", f"name_{i} = 1\n", 1) for i in range(5 * MAX_DOCUMENTS)]
    for doc in docs:
        index.chunks(doc)
    assert len(index) == MAX_DOCUMENTS
    newest = index.chunks(docs[-1])
    assert index.chunks(docs[-1]) is newest  # still cached


def test_only_the_first_lines_of_a_long_document_are_indexed() -> None:
    found = ChunkIndex().chunks(numbered(MAX_INDEXED_LINES + 1_000))
    assert max(c.end for c in found) == MAX_INDEXED_LINES - 1


def test_an_empty_document_gives_nothing() -> None:
    doc, fim = local(MAIN)
    empty = Document("file:///w/empty.py", "", 1)
    assert [c.text for c in ChunkIndex().chunks(empty)] == [""]
    assert choose(fim, doc, [empty], EditTrail(), ChunkIndex(), 1_000, clock=frozen) == []


class Ticking:
    """A clock that moves ``step`` seconds at each reading."""

    def __init__(self, step: float) -> None:
        self.step, self.now = step, 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.mark.parametrize(
    ("step", "deadline_s", "chosen"),
    [
        (0.001, 0.0015, [BILLING_URI]),  # one candidate scored in time
        (0.001, 0.0025, [BILLING_URI, COUNTS_URI]),
        (0.01, None, []),  # the default is a few milliseconds: one 10 ms step passes it
    ],
)
def test_the_deadline_is_counted_on_the_clock_given(
    step: float, deadline_s: float | None, chosen: list[str]
) -> None:
    doc, fim = local(MAIN)
    others = open_docs((BILLING_URI, BILLING), (COUNTS_URI, COUNTS), (WEATHER_URI, WEATHER))
    limit = {} if deadline_s is None else {"deadline_s": deadline_s}
    found = choose(fim, doc, others, EditTrail(), ChunkIndex(), 10_000, Ticking(step), **limit)
    assert [c.uri for c in found] == chosen
