"""The request's context: the local window's budget and shape, the token budget, other files."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codestral_lsp import snippets
from codestral_lsp.documents import Cursor, Document
from codestral_lsp.local import FimContext, build, still_fits
from codestral_lsp.settings import Settings
from codestral_lsp.tokens import TokenEstimator
from codestral_lsp.window import Assembler, Budget, budget
from tests.fake_codestral import count_tokens

CURSOR = "█"
URI = "file:///w/main.py"


def at_cursor(marked: str, uri: str = URI, version: int = 1) -> tuple[Document, Cursor]:
    """The document and cursor an editor shows as ``marked`` (the cursor at ``█``)."""
    at = marked.index(CURSOR)
    text = marked.replace(CURSOR, "")
    before = text[:at]
    line = before.count("\n")
    index = len(before) - (before.rfind("\n") + 1)
    return Document(uri, text, version, "python"), Cursor(line, index)


def shown(fim: FimContext) -> str:
    """The window as an editor would show it: prompt, cursor, suffix."""
    return fim.prompt + CURSOR + fim.suffix


def starts_of(doc: Document) -> list[int]:
    """Offset of each line's start, then the document's end."""
    offsets = [0]
    for n in range(doc.line_count):
        offsets.append(offsets[-1] + len(doc.line_with_ending(n)))
    return offsets


# --- the local window, as the editor shows it ------------------------------------------------


@pytest.mark.parametrize(
    ("marked", "prompt_chars", "suffix_chars", "window", "first", "last"),
    [
        pytest.param("█", 10, 10, "█", 0, 0, id="empty document"),
        pytest.param(
            "█def f():\n    pass\n", 100, 100, "█def f():\n    pass\n", 0, 2, id="at the start"
        ),
        pytest.param("x = 1\ny = 2█", 100, 100, "x = 1\ny = 2█", 0, 1, id="at the end"),
        pytest.param(
            "alpha\nbeta\ngamma█", 12, 0, "beta\ngamma█", 1, 2, id="a line that does not fit"
        ),
        pytest.param(
            "first line\naaaa bbbb cccc█ dd\nlast\n",
            5,
            4,
            " cccc█ dd\n",
            1,
            1,
            id="head cut, nearest kept",
        ),
        pytest.param("top\nv = f(█alpha, beta)\nnext\n", 7, 5, "v = f(█alpha", 1, 1, id="tail cut"),
        pytest.param(
            "one\ntwo\nthree\nx = █\n",
            8,
            10,
            "two\nthree\nx = █\n",
            1,
            4,
            id="suffix at the end lends to the prompt",
        ),
        pytest.param(
            "x = █\none\ntwo\nthree\n",
            10,
            5,
            "x = █\none\ntwo\n",
            0,
            2,
            id="prompt at the start lends to the suffix",
        ),
        pytest.param("a\r\nb = █\r\nc\r\n", 4, 2, "b = █\r\n", 1, 1, id="crlf"),
        pytest.param("a\r\nb = █\r\nc\r\n", 99, 99, "a\r\nb = █\r\nc\r\n", 0, 3, id="crlf all"),
        pytest.param("é = '中😀█'", 3, 1, "'中😀█'", 0, 0, id="non-ascii cut by characters"),
    ],
)
def test_window(
    marked: str, prompt_chars: int, suffix_chars: int, window: str, first: int, last: int
) -> None:
    fim = build(*at_cursor(marked), prompt_chars, suffix_chars)
    assert (shown(fim), fim.first_line, fim.last_line) == (window, first, last)


def test_lending_to_a_cut_suffix_keeps_it_contiguous() -> None:
    doc, cursor = at_cursor("ab█cdefghij\nxyz\nmore\n")
    fim = build(doc, cursor, 10, 3)
    assert doc.text[2:].startswith(fim.suffix), shown(fim)
    assert len(fim.prompt) + len(fim.suffix) <= 13


# --- any document, any cursor, any budget -----------------------------------------------------

PIECES = "ab yz_():=.,é中😀\t"
short_lines = st.text(alphabet=PIECES, max_size=40)
long_lines = st.builds(
    lambda piece, n: (piece * n)[:n],
    st.text(alphabet=PIECES, min_size=1, max_size=8),
    st.integers(100, 3_000),
)
documents = st.builds(
    lambda lines, last: "".join(content + ending for content, ending in lines) + last,
    st.lists(
        st.tuples(
            st.one_of(short_lines, st.just(""), long_lines),
            st.sampled_from(["\n", "\n", "\r\n", "\r"]),
        ),
        max_size=30,
    ),
    st.one_of(st.just(""), short_lines),
)
budgets = st.integers(0, 4_000)


@st.composite
def windows(draw: st.DrawFn) -> tuple[Document, Cursor, int, int]:
    doc = Document(URI, draw(documents), 1, "python")
    line = draw(st.integers(0, doc.line_count - 1))
    index = draw(st.integers(0, len(doc.line(line))))
    return doc, Cursor(line, index), draw(budgets), draw(budgets)


@given(windows())
def test_the_budget_is_never_exceeded(case: tuple[Document, Cursor, int, int]) -> None:
    doc, cursor, prompt_chars, suffix_chars = case
    fim = build(doc, cursor, prompt_chars, suffix_chars)
    assert len(fim.prompt) + len(fim.suffix) <= prompt_chars + suffix_chars


@given(windows())
def test_the_window_is_contiguous_whole_lines(case: tuple[Document, Cursor, int, int]) -> None:
    doc, cursor, prompt_chars, suffix_chars = case
    fim = build(doc, cursor, prompt_chars, suffix_chars)
    text, starts = doc.text, starts_of(doc)
    at = starts[cursor.line] + cursor.index
    line = doc.line_with_ending(cursor.line)
    head, tail = line[: cursor.index], line[cursor.index :]
    assert text[:at].endswith(fim.prompt)
    assert text[at:].startswith(fim.suffix)
    start, end = at - len(fim.prompt), at + len(fim.suffix)
    if len(fim.prompt) < len(head):  # the head was cut: nothing but the head
        assert fim.first_line == cursor.line
    else:
        assert start == starts[fim.first_line]
    if len(fim.suffix) < len(tail):  # the tail was cut: nothing but the tail
        # (an empty last line right after it still counts as taken: it costs nothing)
        final = doc.line_count - 1
        empty_last = fim.last_line == final == cursor.line + 1 and not doc.line_with_ending(final)
        assert fim.last_line == cursor.line or empty_last
    else:
        assert end == starts[fim.last_line + 1]
    assert fim.first_line <= cursor.line <= fim.last_line


# --- still_fits -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "version", "fits"),
    [
        ("x = █\n", "x = █\n", 1, True),
        ("x = █\n", "x = █\n", 2, False),  # a new version
        ("x = █)\n", "x = █]\n", 1, False),  # the suffix changed
        ("a\nx = █\n", "b\nx = █\n", 1, True),  # only the cursor line is compared
        ("x = ab█\n", "x = █\n", 1, False),
        ("a\nb\nc = █", "c = █", 1, False),  # the cursor line is gone
    ],
)
def test_still_fits(before: str, after: str, version: int, fits: bool) -> None:
    fim = build(*at_cursor(before))
    doc, _ = at_cursor(after, version=version)
    assert still_fits(doc, fim) is fits


def test_still_fits_a_cut_head_and_no_document() -> None:
    line = "x = " + "a" * 50 + "█\n"
    fim = build(*at_cursor(line), 10, 10)
    assert still_fits(at_cursor(line)[0], fim)
    assert not still_fits(None, fim)


# --- the token budget -------------------------------------------------------------------------


class Fixed(TokenEstimator):
    """An estimator with a fixed ratio, so budgets are plain arithmetic."""

    def __init__(self, ratio: float = 3.0) -> None:
        super().__init__()
        self.fixed = ratio

    def ratio(self, language: str) -> float:
        return self.fixed


@pytest.mark.parametrize(
    ("settings", "scale", "expected"),
    [
        (Settings(context_tokens=1000), 1.0, Budget(1800, 600, 600, 1000)),
        (Settings(context_tokens=1000), 0.5, Budget(900, 300, 300, 500)),
        (Settings(context_tokens=1000), 0.0, Budget(0, 0, 0, 0)),
        (Settings(context_tokens=1000, extra_context_share=0), 1.0, Budget(2250, 750, 0, 1000)),
        (Settings(context_tokens=1000, suffix_share=0), 1.0, Budget(2400, 0, 600, 1000)),
        # capped by the model: 1024 - maxTokens 256 - 16 for the FIM tokens
        (Settings(context_tokens=4000, context_length=1024), 1.0, Budget(1356, 450, 450, 752)),
        (
            Settings(context_tokens=4000, context_length=1024, max_tokens=None),
            1.0,
            Budget(1818, 603, 603, 1008),
        ),
        (
            Settings(context_tokens=4000, context_length=100, max_tokens=200),
            1.0,
            Budget(0, 0, 0, 0),
        ),
    ],
)
def test_budget(settings: Settings, scale: float, expected: Budget) -> None:
    assert budget(settings, Fixed(), "python", scale) == expected


def test_budget_uses_the_languages_ratio() -> None:
    estimator = TokenEstimator()
    settings = Settings(context_tokens=1000, extra_context_share=0)
    python, unknown = budget(settings, estimator, "python", 1), budget(settings, estimator, "x", 1)
    assert python.tokens == unknown.tokens == 1000
    assert python.prompt == estimator.chars(750, "python") > unknown.prompt


def test_need_counts_every_part_and_max_tokens() -> None:
    assembler = Assembler(Fixed())
    settings = Settings(context_tokens=1000, max_tokens=100)
    assert assembler.budget_need("python", settings) == 1100
    fim = FimContext(URI, 1, "python", Cursor(0, 0), "p" * 300, "s" * 150, extra="e" * 150)
    assert assembler.need(fim, settings) == 200 + 1 + 100
    assert assembler.need(fim, Settings(max_tokens=None)) == 201


# --- other files ------------------------------------------------------------------------------

BILLING_URI = "file:///w/billing.py"
BILLING = """\
def invoice_total(lines, tax_rate):
    subtotal = sum(line.price * line.quantity for line in lines)
    return subtotal * (1 + tax_rate)
"""
WEATHER_URI = "file:///w/weather.py"
WEATHER = "def forecast(city):\n    return fetch_weather(city).tomorrow\n"
MAIN = "lines = load_lines()\ntotal = invoice_total(lines, █"


@pytest.fixture(autouse=True)
def no_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Snippets are chosen until a wall-clock deadline: here the same answer on any machine."""
    monkeypatch.setattr(snippets, "DEADLINE_S", 60.0)


def docs(*pairs: tuple[str, str]) -> list[Document]:
    return [Document(uri, text, 1, "python") for uri, text in pairs]


def test_a_relevant_other_file_comes_before_the_prompt() -> None:
    doc, cursor = at_cursor(MAIN)
    others = docs((WEATHER_URI, WEATHER), (BILLING_URI, BILLING))
    fim = Assembler(TokenEstimator()).assemble(doc, cursor, Settings(), others, root="/w")
    assert fim.extra == f"+++++ billing.py\n{BILLING}+++++ main.py\n"
    assert "forecast" not in fim.extra  # shares no identifier with the code at the cursor
    assert fim.sent_prompt == fim.extra + "lines = load_lines()\ntotal = invoice_total(lines, "


def test_no_other_files_when_extra_context_is_off() -> None:
    doc, cursor = at_cursor(MAIN)
    settings = Settings(extra_context_share=0)
    fim = Assembler(TokenEstimator()).assemble(doc, cursor, settings, docs((BILLING_URI, BILLING)))
    assert fim.extra == ""


def test_an_edited_spot_in_the_window_is_not_repeated_but_one_outside_is() -> None:
    helper = "def invoice_total(lines, tax_rate):\n    return 0\n"
    filler = "".join(f"unrelated_{i} = {i}\n" for i in range(400))
    doc, cursor = at_cursor(helper + filler + MAIN)
    assembler = Assembler(TokenEstimator())
    settings = Settings(context_tokens=600, extra_context_share=0.5)
    assembler.trail.record(URI, doc.line_count - 1)  # the cursor line: in the window
    fim = assembler.assemble(doc, cursor, settings, [], root="/w")
    assert fim.extra == ""
    assembler.trail.record(URI, 0)  # the helper, far above the window
    fim = assembler.assemble(doc, cursor, settings, [], root="/w")
    assert fim.first_line > 20
    assert fim.extra.startswith("+++++ main.py\n" + helper)
    assert fim.extra.endswith("+++++ main.py\n")
    assert fim.extra.count("+++++ main.py\n") == 2


def relevant_others(count: int) -> list[Document]:
    return [
        Document(
            f"file:///w/pkg/module_{n}.py",
            "".join(f"t{n}_{i} = lines * tax_rate\n" for i in range(45)),
            1,
            "python",
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("tokens", [500, 2048, 6000])
def test_extra_stays_within_its_share(tokens: int) -> None:
    doc, cursor = at_cursor("".join(f"line_{i} = lines * tax_rate\n" for i in range(500)) + MAIN)
    assembler = Assembler(TokenEstimator())
    settings = Settings(context_tokens=tokens, extra_context_share=0.5)
    fim = assembler.assemble(doc, cursor, settings, relevant_others(12), root="/w")
    plan = budget(settings, assembler.estimator, "python", 1.0)
    unused = plan.prompt + plan.suffix - len(fim.prompt) - len(fim.suffix)
    assert fim.extra.count("+++++ ") >= 2
    assert len(fim.extra) <= plan.extra + unused


def test_extra_stays_within_its_share_when_a_snippet_just_fits() -> None:
    """Snippets of every size around the limit: the request never exceeds its budget."""
    doc, cursor = at_cursor("".join(f"line_{i} = 1\n" for i in range(500)) + MAIN)
    assembler, settings = Assembler(TokenEstimator()), Settings(context_tokens=300)
    plan = budget(settings, assembler.estimator, "python", 1.0)
    fitted = 0
    for size in range(plan.extra - 60, plan.extra + 20):
        other = "invoice_total = 1  # " + "x" * max(0, size - 21)
        fim = assembler.assemble(doc, cursor, settings, docs(("file:///w/o.py", other)))
        fitted += bool(fim.extra)
        assert len(fim.extra) + len(fim.prompt) + len(fim.suffix) <= (
            plan.extra + plan.prompt + plan.suffix
        ), size
    assert fitted  # some of them were sent


def _fresh() -> tuple[snippets.EditTrail, snippets.ChunkIndex]:
    return snippets.EditTrail(), snippets.ChunkIndex()


# --- as the backend counts it ------------------------------------------------------------------

STDLIB = Path(sysconfig.get_paths()["stdlib"])
FILES = ["argparse.py", "inspect.py", "json/decoder.py", "heapq.py", "statistics.py"]
SETTINGS = [
    Settings(context_tokens=512),
    Settings(),
    Settings(context_tokens=6000, extra_context_share=0.5),
]


@pytest.fixture(scope="module")
def stdlib() -> list[Document]:
    return [
        Document((STDLIB / name).as_uri(), (STDLIB / name).read_text("utf-8"), 1, "python")
        for name in FILES
    ]


def spots(doc: Document) -> list[Cursor]:
    lines = [doc.line_count * k // 6 for k in range(1, 6)]
    return [Cursor(n, len(doc.line(n)) // 2) for n in lines]


def calibrated(docs: list[Document]) -> TokenEstimator:
    """An estimator that saw a dozen answers' worth of this code counted by the fake."""
    estimator = TokenEstimator()
    for doc in docs:
        for part in (1, 2):
            sample = doc.text[len(doc.text) * part // 3 :][:4_000]
            estimator.observe("python", len(sample), count_tokens(sample))
    return estimator


def counted(fim: FimContext) -> int:
    return count_tokens(fim.extra + fim.prompt + fim.suffix)


def test_windows_as_counted_land_near_the_budget(stdlib: list[Document]) -> None:
    assembler = Assembler(calibrated(stdlib))
    landed: list[tuple[float, str]] = []
    for settings in SETTINGS:
        for doc in stdlib:
            others = [d for d in stdlib if d is not doc]
            for cursor in spots(doc):
                fim = assembler.assemble(doc, cursor, settings, others, root=str(STDLIB))
                share = counted(fim) / settings.context_tokens
                landed.append((share, f"{doc.uri}:{cursor.line} at {settings.context_tokens}"))
    low, high = min(landed), max(landed)
    said = f"counted {low[0]:.1%} ({low[1]}) to {high[0]:.1%} ({high[1]}) of contextTokens"
    assert high[0] <= 1.0, said
    assert low[0] >= 0.25, said  # the budget is used, not ignored


SPARSE = "    invoice_total_amount_value_for_this_line\n"  # 3.75 characters per counted token
DENSE = "    if a[i] > b[j]: c[k] = d[i] + e[j]\n"  # 1.1


def test_the_next_request_as_counted_is_within_the_budget() -> None:
    doc = Document(URI, SPARSE * 300, 1, "python")
    cursor = Cursor(150, len(SPARSE) - 1)
    other = Document("file:///w/o.py", SPARSE.strip() + " = 1\n" + DENSE * 15, 1, "python")
    assembler, settings = Assembler(TokenEstimator()), Settings(context_tokens=1000)
    sent = []
    for _ in range(2):  # an answer teaches the estimator, then the next request at the spot
        fim = assembler.assemble(doc, cursor, settings, [other])
        sent.append(counted(fim))
        chars = len(fim.extra) + len(fim.prompt) + len(fim.suffix)
        assembler.estimator.observe("python", chars, sent[-1])
    assert sent[1] <= settings.context_tokens, sent
