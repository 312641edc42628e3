"""The request's context: the local window's budget, the token budget, other files."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from codestral_lsp import snippets
from codestral_lsp.documents import Cursor, Document
from codestral_lsp.local import FimContext
from codestral_lsp.settings import Settings
from codestral_lsp.tokens import TokenEstimator
from codestral_lsp.window import Assembler, Budget, budget
from tests.fake_codestral import count_tokens
from tests.unit.test_local import URI, at_cursor


def stopped() -> float:
    """A clock for the snippets' deadline that never moves: the same answer on any machine."""
    return 0.0


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
    assembler = Assembler(Fixed(), clock=stopped)
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


def docs(*pairs: tuple[str, str]) -> list[Document]:
    return [Document(uri, text, 1, "python") for uri, text in pairs]


def test_a_relevant_other_file_comes_before_the_prompt() -> None:
    doc, cursor = at_cursor(MAIN)
    others = docs((WEATHER_URI, WEATHER), (BILLING_URI, BILLING))
    fim = Assembler(TokenEstimator(), clock=stopped).assemble(
        doc, cursor, Settings(), others, root="/w"
    )
    assert fim.extra == f"+++++ billing.py\n{BILLING}+++++ main.py\n"
    assert "forecast" not in fim.extra  # shares no identifier with the code at the cursor
    assert fim.sent_prompt == fim.extra + "lines = load_lines()\ntotal = invoice_total(lines, "


def test_other_files_also_come_one_by_one_with_their_paths() -> None:
    doc, cursor = at_cursor(MAIN)
    tax_uri, tax = "file:///w/lib/tax.py", "def tax_rate(lines):\n    return 0.2\n"
    others = docs((BILLING_URI, BILLING), (tax_uri, tax), (WEATHER_URI, WEATHER))
    fim = Assembler(TokenEstimator()).assemble(doc, cursor, Settings(), others, root="/w")
    assert sorted(fim.extra_files) == [("billing.py", BILLING), ("lib/tax.py", tax)]
    # In the preamble's order (the best nearest the cursor), each text as in the preamble.
    assert fim.extra == "".join(f"+++++ {p}\n{t}" for p, t in fim.extra_files) + "+++++ main.py\n"
    absolute = Assembler(TokenEstimator()).assemble(doc, cursor, Settings(), others)
    assert sorted(p for p, _ in absolute.extra_files) == ["/w/billing.py", "/w/lib/tax.py"]


def test_no_other_files_when_extra_context_is_off() -> None:
    doc, cursor = at_cursor(MAIN)
    settings = Settings(extra_context_share=0)
    fim = Assembler(TokenEstimator(), clock=stopped).assemble(
        doc, cursor, settings, docs((BILLING_URI, BILLING))
    )
    assert fim.extra == ""
    assert fim.extra_files == ()


def test_an_edited_spot_in_the_window_is_not_repeated_but_one_outside_is() -> None:
    helper = "def invoice_total(lines, tax_rate):\n    return 0\n"
    filler = "".join(f"unrelated_{i} = {i}\n" for i in range(400))
    doc, cursor = at_cursor(helper + filler + MAIN)
    assembler = Assembler(TokenEstimator(), clock=stopped)
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
    assembler = Assembler(TokenEstimator(), clock=stopped)
    settings = Settings(context_tokens=tokens, extra_context_share=0.5)
    fim = assembler.assemble(doc, cursor, settings, relevant_others(12), root="/w")
    plan = budget(settings, assembler.estimator, "python", 1.0)
    unused = plan.prompt + plan.suffix - len(fim.prompt) - len(fim.suffix)
    assert fim.extra.count("+++++ ") >= 2
    assert len(fim.extra) <= plan.extra + unused


def test_extra_stays_within_its_share_when_a_snippet_just_fits() -> None:
    """Snippets of every size around the limit: the request never exceeds its budget."""
    doc, cursor = at_cursor("".join(f"line_{i} = 1\n" for i in range(500)) + MAIN)
    assembler, settings = Assembler(TokenEstimator(), clock=stopped), Settings(context_tokens=300)
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
    assembler = Assembler(calibrated(stdlib), clock=stopped)
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
    assembler, settings = Assembler(TokenEstimator(), clock=stopped), Settings(context_tokens=1000)
    sent = []
    for _ in range(2):  # an answer teaches the estimator, then the next request at the spot
        fim = assembler.assemble(doc, cursor, settings, [other])
        sent.append(counted(fim))
        chars = len(fim.extra) + len(fim.prompt) + len(fim.suffix)
        assembler.estimator.observe("python", chars, sent[-1])
    assert sent[1] <= settings.context_tokens, sent
