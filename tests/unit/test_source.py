"""An answer's source: what the editor gets without a suggestion, and the names stats use."""

from __future__ import annotations

import json
import logging

import pytest

from codestral_lsp.completer import Answer
from codestral_lsp.source import Reply, Source
from codestral_lsp.stats import Stats

NOTHING_HERE = {"empty", "limited", "stopped", "excluded", "too-large", "shaped-away"}
LOST = {"superseded", "stale", "cancelled", "closed"}


@pytest.mark.parametrize("source", list(Source))
def test_each_source_says_null_or_empty_list(source: Source) -> None:
    answer = Answer("c1", source)
    if source.value in NOTHING_HERE:
        assert source.reply is Reply.NOTHING
        assert answer.nothing_here
    else:
        assert source.reply is Reply.LOST
        assert not answer.nothing_here


def test_every_reason_without_a_suggestion_is_named() -> None:
    served = {"upstream", "coalesced", "cache", "typed"}
    assert {s.value for s in Source} == served | NOTHING_HERE | LOST


def test_stats_keys_and_log_lines_keep_the_plain_names(caplog: pytest.LogCaptureFixture) -> None:
    stats = Stats()
    stats.outcome(Source.TOO_LARGE)
    stats.outcome(Source.TOO_LARGE)
    stats.call_lost(stats.call_started(), Source.SHAPED_AWAY)
    snapshot = stats.snapshot()
    assert snapshot["requests"] == {"too-large": 2}
    assert json.loads(json.dumps(snapshot))["calls"]["wastedBy"] == {"shaped-away": 1}
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("done source=%s", Source.SHAPED_AWAY)
    assert caplog.messages == ["done source=shaped-away"]
    assert f"{Source.CACHE:>6}" == " cache"
    assert Source("too-large") is Source.TOO_LARGE
