"""Answers without bounds from the backend: the server reads a bounded part, answers in time, and
its memory stays flat. A 50 MB JSON completion, a 500 MB and an endless event stream, and a
1 GiB gzip bomb (made as it is sent, never whole in memory) against the real server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from lsprotocol import types

from tests.e2e.conftest import ServerFactory, inline, items, open_doc
from tests.e2e.test_faults import stats
from tests.e2e.test_large_documents import memory_of
from tests.fake_codestral import FakeCodestral, Reply, event_flood, gzip_bomb, huge_json

URI = "file:///w/a.py"
MB = 1 << 20
TIMEOUT_MS = 5000
MARGIN_S = 4.0  # "answers in time", not a benchmark: a loaded machine must pass too
MAX_TOKENS = 256
TEXT_BOUND = MAX_TOKENS * 32  # characters: the server's generous chars-per-token bound
PEAK_RSS = 300 * MB  # generous: the server itself takes well under 100 MB
OPTIONS = {
    "requestTimeoutMs": TIMEOUT_MS,
    "maxTokens": MAX_TOKENS,
    "cacheSize": 0,
    "debounceMs": 0,
    "debounceMaxMs": 0,
}
SSE = {"Content-Type": "text/event-stream"}
GZIP = {"Content-Encoding": "gzip"}


@dataclass(frozen=True)
class Flood:
    name: str
    reply: Reply
    cut: bool  # True: the text is cut at the bound and shown; False: no answer (invalid)


FLOODS = [
    Flood("50 MB JSON completion", Reply(body=huge_json(50 * MB)), cut=False),
    Flood("500 MB event stream", Reply(body=event_flood(500 * MB), headers=SSE), cut=True),
    Flood("endless event stream", Reply(body=event_flood(None), headers=SSE), cut=True),
    Flood("1 GiB gzip bomb, JSON", Reply(body=gzip_bomb(1024 * MB), headers=GZIP), cut=False),
    Flood(
        "1 GiB gzip bomb, events",
        Reply(body=gzip_bomb(1024 * MB), headers={**GZIP, **SSE}),
        cut=False,
    ),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("flood", FLOODS, ids=[f.name for f in FLOODS])
async def test_an_unbounded_answer_is_read_within_bounds(
    start_server: ServerFactory,
    fake_codestral: FakeCodestral,
    flood: Flood,
    capfd: pytest.CaptureFixture[str],
) -> None:
    fake_codestral.completion = "fine"
    fake_codestral.enqueue(flood.reply)
    async with start_server(init_options=OPTIONS) as client:
        open_doc(client, URI, "x = ")
        # In time: the whole call is under requestTimeoutMs, and the loop never stalls.
        result = await asyncio.wait_for(inline(client, URI, 0, 4), TIMEOUT_MS / 1000 + MARGIN_S)
        assert isinstance(result, types.InlineCompletionList)
        texts = [str(item.insert_text) for item in items(result)]
        if flood.cut:
            [text] = texts
            assert 0 < len(text) <= TEXT_BOUND
            assert set(text) == {"y"}
        else:
            assert texts == []
            assert (await stats(client))["errors"] == {"invalid_response": 1}
        _, peak = memory_of(client)
        # The server let go of the body it no longer reads, and still works.
        await fake_codestral.wait_until(lambda fake: fake.requests[0].ended_at is not None)
        assert not fake_codestral.requests[0].finished
        assert [str(i.insert_text) for i in items(await inline(client, URI, 0, 4))] == ["fine"]
    with capfd.disabled():
        print(f"\n{flood.name}: server peak RSS {peak / MB:.0f} MiB")  # noqa: T201 (a measurement)
    assert peak < PEAK_RSS, f"server peak RSS {peak / MB:.0f} MiB"
