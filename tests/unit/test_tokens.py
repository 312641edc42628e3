"""Token estimates: the priors, what is learnt from answers, and characters <-> tokens."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codestral_lsp.tokens import (
    DEFAULT_RATIO,
    MARGIN,
    MAX_RATIO,
    MIN_RATIO,
    PRIOR,
    TokenEstimator,
)

# Characters per token measured with the 2405 tokenizer (the module's docstring): the priors sit
# under these means and no lower than the 5th percentiles (>= 2.5).
MEASURED_MEANS = {"python": 3.65, "typescript": 3.13, "go": 2.90}


@pytest.mark.parametrize("language", sorted(PRIOR))
def test_prior_per_language(language: str) -> None:
    assert TokenEstimator().ratio(language) == PRIOR[language]
    assert MIN_RATIO <= PRIOR[language] <= MAX_RATIO


@pytest.mark.parametrize(("language", "mean"), sorted(MEASURED_MEANS.items()))
def test_priors_sit_under_the_measured_means(language: str, mean: float) -> None:
    assert 2.5 <= PRIOR[language] < mean


@pytest.mark.parametrize("language", ["", "cobol", "Python"])  # LSP ids are lower case
def test_unknown_languages_get_the_default(language: str) -> None:
    assert TokenEstimator().ratio(language) == DEFAULT_RATIO
    assert min(PRIOR.values()) >= DEFAULT_RATIO


@pytest.mark.parametrize(
    ("chars", "tokens"),
    [
        (199, 50),  # too small to say anything
        (0, 0),
        (1_000, 0),  # no count
        (1_000, -5),
        (1_000, 700),  # 1.43 characters per token: an odd text or a bad count
        (1_000, 150),  # 6.7
    ],
)
def test_observe_ignores_tiny_or_absurd_samples(chars: int, tokens: int) -> None:
    estimator = TokenEstimator()
    estimator.observe("python", chars, tokens)
    assert estimator.ratio("python") == PRIOR["python"]
    assert estimator.snapshot() == {}


@pytest.mark.parametrize(("chars", "tokens"), [(200, 50), (1_500, 1_000), (6_000, 1_000)])
def test_observe_takes_the_edges(chars: int, tokens: int) -> None:
    estimator = TokenEstimator()
    estimator.observe("python", chars, tokens)
    assert estimator.ratio("python") == pytest.approx(chars / tokens * MARGIN)


def test_the_ratio_is_the_lowest_recent_one_less_two_percent() -> None:
    estimator = TokenEstimator()
    for ratio in (3.5, 2.8, 3.9, 3.1):
        estimator.observe("python", int(ratio * 1_000), 1_000)
    assert estimator.ratio("python") == pytest.approx(2.8 * 0.98)
    assert estimator.snapshot() == {"python": round(2.8 * 0.98, 3)}
    assert estimator.ratio("go") == PRIOR["go"]  # each language learns on its own


def test_old_observations_are_forgotten() -> None:
    estimator = TokenEstimator()
    estimator.observe("python", 2_000, 1_000)
    for _ in range(11):
        estimator.observe("python", 3_000, 1_000)
    assert estimator.ratio("python") == pytest.approx(2.0 * 0.98)  # still among the last 12
    estimator.observe("python", 3_000, 1_000)
    assert estimator.ratio("python") == pytest.approx(3.0 * 0.98)


def test_learning_can_raise_the_ratio_above_the_prior() -> None:
    estimator = TokenEstimator()
    estimator.observe("python", 4_000, 1_000)
    assert estimator.ratio("python") == pytest.approx(3.92)


@pytest.mark.parametrize(
    ("chars", "language", "tokens"),
    [(0, "python", 1), (300, "python", 101), (299, "python", 100), (250, "cobol", 101)],
)
def test_tokens_round_up(chars: int, language: str, tokens: int) -> None:
    assert TokenEstimator().tokens(chars, language) == tokens


@pytest.mark.parametrize(("tokens", "chars"), [(0, 0), (-10, 0), (100, 300), (7, 21)])
def test_chars(tokens: int, chars: int) -> None:
    assert TokenEstimator().chars(tokens, "python") == chars


languages = st.sampled_from([*PRIOR, "cobol"])


@st.composite
def estimators(draw: st.DrawFn) -> TokenEstimator:
    estimator = TokenEstimator()
    for language, chars, tokens in draw(
        st.lists(st.tuples(languages, st.integers(0, 50_000), st.integers(-5, 20_000)))
    ):
        estimator.observe(language, chars, tokens)
    return estimator


@given(estimators(), languages, st.integers(0, 200_000))
def test_tokens_and_chars_round_trip(estimator: TokenEstimator, language: str, tokens: int) -> None:
    assert tokens <= estimator.tokens(estimator.chars(tokens, language), language) <= tokens + 1


@given(estimators(), languages, st.integers(0, 1_000_000))
def test_the_characters_of_the_estimated_tokens_cover_the_text(
    estimator: TokenEstimator, language: str, chars: int
) -> None:
    back = estimator.chars(estimator.tokens(chars, language), language)
    assert chars - 1 <= back <= chars + estimator.ratio(language) + 1
