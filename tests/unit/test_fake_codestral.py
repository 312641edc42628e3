"""The fake Codestral server plays the FIM contract that the e2e tests rely on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.fake_codestral import (
    DEFAULT_KEY,
    ERROR_BODIES,
    FakeCodestral,
    Reply,
    WorkspaceLimit,
    count_tokens,
    default_completion,
)

AUTH = {"Authorization": f"Bearer {DEFAULT_KEY}"}
BODY: dict[str, Any] = {"model": "codestral-latest", "prompt": "def add(a, b):", "suffix": "\n"}
PROMPT_TOKENS = count_tokens(BODY["prompt"]) + count_tokens(BODY["suffix"])
COMPLETION_TOKENS = count_tokens(default_completion(BODY))


async def post(fake: FakeCodestral, body: Any, headers: dict[str, str] = AUTH) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(fake.url, json=body, headers=headers)


async def stream_events(fake: FakeCodestral, body: dict[str, Any]) -> list[str]:
    async with (
        httpx.AsyncClient() as client,
        aconnect_sse(
            client, "POST", fake.url, json={**body, "stream": True}, headers=AUTH
        ) as source,
    ):
        assert source.response.headers["content-type"].startswith("text/event-stream")
        return [event.data async for event in source.aiter_sse()]


async def test_json_reply_has_the_mistral_shape(fake_codestral: FakeCodestral) -> None:
    response = await post(fake_codestral, BODY)

    assert response.status_code == 200
    reply = response.json()
    assert reply["object"] == "chat.completion"
    assert reply["model"] == "codestral-latest"
    assert reply["id"]
    assert isinstance(reply["created"], int)
    content = default_completion(BODY)
    assert content == "\n    return 42"
    assert reply["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": content, "prefix": False},
            "finish_reason": "stop",
        }
    ]
    prompt_tokens = count_tokens(BODY["prompt"]) + count_tokens(BODY["suffix"])
    assert reply["usage"] == {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": count_tokens(content),
        "total_tokens": prompt_tokens + count_tokens(content),
    }
    (request,) = fake_codestral.requests
    assert (request.method, request.path, request.body) == ("POST", "/v1/fim/completions", BODY)
    assert request.headers["authorization"] == AUTH["Authorization"]
    assert request.finished
    assert not request.aborted


async def test_stream_sends_chunks_then_usage_then_done(fake_codestral: FakeCodestral) -> None:
    fake_codestral.completion = "    return a + b\n"

    events = await stream_events(fake_codestral, BODY)

    assert events[-1] == "[DONE]"
    chunks = [json.loads(data) for data in events[:-1]]
    assert len(chunks) > 3
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    deltas = [chunk["choices"][0]["delta"].get("content", "") for chunk in chunks]
    assert "".join(deltas) == "    return a + b\n"
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks[-2:]] == [None, "stop"]
    assert "usage" not in chunks[-2]
    assert chunks[-1]["usage"]["completion_tokens"] == count_tokens("    return a + b\n")


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": DEFAULT_KEY}]
)
async def test_missing_or_wrong_key_is_401(
    fake_codestral: FakeCodestral, headers: dict[str, str]
) -> None:
    response = await post(fake_codestral, BODY, headers)

    assert response.status_code == 401
    assert response.json()["message"] == "Unauthorized"
    assert response.json()["request_id"]


@pytest.mark.parametrize(
    ("body", "loc", "error_type"),
    [
        ({**BODY, "n": 2}, ["body", "n"], "extra_forbidden"),
        ({"model": "codestral-latest"}, ["body", "prompt"], "missing"),
        ({**BODY, "temperature": "hot"}, ["body", "temperature"], "float_type"),
        ({**BODY, "max_tokens": 1.5}, ["body", "max_tokens"], "int_type"),
        ({**BODY, "stop": [1]}, ["body", "stop"], "string_type"),
        ({**BODY, "top_p": 2}, ["body", "top_p"], "less_than_equal"),
    ],
)
async def test_invalid_body_is_422(
    fake_codestral: FakeCodestral, body: dict[str, Any], loc: list[str], error_type: str
) -> None:
    response = await post(fake_codestral, body)

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert (error["loc"], error["type"]) == (loc, error_type)


async def test_non_json_body_is_422(fake_codestral: FakeCodestral) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(fake_codestral.url, content=b"{nope", headers=AUTH)

    assert response.status_code == 422
    assert fake_codestral.requests[0].body is None


@pytest.mark.parametrize(
    ("options", "content", "finish_reason"),
    [
        ({"stop": "\n\n"}, "one\ntwo", "stop"),
        ({"stop": ["zzz", "two"]}, "one\n", "stop"),
        ({"max_tokens": 3}, "one\ntwo", "length"),
        ({"max_tokens": 0}, "", "length"),
        ({"stop": "\n", "max_tokens": 1}, "one", "stop"),
    ],
)
async def test_stop_and_max_tokens_are_honoured(
    fake_codestral: FakeCodestral, options: dict[str, Any], content: str, finish_reason: str
) -> None:
    fake_codestral.completion = "one\ntwo\n\nthree"

    reply = (await post(fake_codestral, {**BODY, **options})).json()

    assert reply["choices"][0]["message"]["content"] == content
    assert reply["choices"][0]["finish_reason"] == finish_reason
    assert reply["usage"]["completion_tokens"] == count_tokens(content)


async def test_enqueued_replies_are_used_once_in_order(fake_codestral: FakeCodestral) -> None:
    body_429 = ERROR_BODIES["rate_limited_1300"]
    fake_codestral.enqueue(
        Reply(status=429, json=body_429, headers={"Retry-After": "2"}),
        Reply(status=502, text=ERROR_BODIES["html_502"]),
        Reply(completion="scripted"),
    )

    first, second, third, fourth = [await post(fake_codestral, BODY) for _ in range(4)]

    assert (first.status_code, first.json(), first.headers["retry-after"]) == (429, body_429, "2")
    assert second.status_code == 502
    assert second.headers["content-type"].startswith("text/html")
    assert "502 Bad Gateway" in second.text
    assert third.json()["choices"][0]["message"]["content"] == "scripted"
    assert fourth.json()["choices"][0]["message"]["content"] == default_completion(BODY)


async def test_cut_stream_closes_the_connection_mid_body(fake_codestral: FakeCodestral) -> None:
    fake_codestral.enqueue(Reply(cut_after_chunks=2))
    received: list[str] = []

    with pytest.raises(httpx.RemoteProtocolError):
        async with (
            httpx.AsyncClient() as client,
            aconnect_sse(
                client, "POST", fake_codestral.url, json={**BODY, "stream": True}, headers=AUTH
            ) as source,
        ):
            received.extend([event.data async for event in source.aiter_sse()])

    await fake_codestral.wait_until(lambda fake: fake.requests[0].ended_at is not None)
    assert not fake_codestral.requests[0].finished


async def test_omit_done_ends_the_stream_without_done(fake_codestral: FakeCodestral) -> None:
    fake_codestral.enqueue(Reply(omit_done=True))

    events = await stream_events(fake_codestral, BODY)

    assert events
    assert "[DONE]" not in events
    assert json.loads(events[-1])["choices"][0]["finish_reason"] == "stop"


async def test_client_leaving_a_hanging_request_is_recorded_as_aborted(
    fake_codestral: FakeCodestral,
) -> None:
    fake_codestral.enqueue(Reply(hang=True))
    call = asyncio.create_task(post(fake_codestral, BODY))
    await fake_codestral.wait_for_requests(1)

    call.cancel()

    await fake_codestral.wait_until(lambda fake: fake.requests[0].aborted)
    assert not fake_codestral.requests[0].finished
    with pytest.raises(asyncio.CancelledError):
        await call


async def test_client_closing_a_stream_midway_is_recorded_as_aborted(
    fake_codestral: FakeCodestral,
) -> None:
    fake_codestral.enqueue(Reply(chunk_delay=3600))

    async with (
        httpx.AsyncClient() as client,
        aconnect_sse(
            client, "POST", fake_codestral.url, json={**BODY, "stream": True}, headers=AUTH
        ) as source,
    ):
        first = await anext(source.aiter_sse())
        assert json.loads(first.data)["choices"][0]["delta"]["role"] == "assistant"

    await fake_codestral.wait_until(lambda fake: fake.requests[0].aborted)
    assert not fake_codestral.requests[0].finished


async def test_crlf_comments_and_no_space_parse_with_httpx_sse() -> None:
    async with FakeCodestral(
        completion="x = 1", crlf=True, keepalive_comments=True, space_after_data=False
    ) as fake:
        events = await stream_events(fake, BODY)

    assert events[-1] == "[DONE]"
    deltas = [json.loads(data)["choices"][0]["delta"]["content"] for data in events[:-1]]
    assert "".join(deltas) == "x = 1"


async def test_proxy_paths_are_served_and_others_are_404(fake_codestral: FakeCodestral) -> None:
    async with httpx.AsyncClient(base_url=fake_codestral.base_url, headers=AUTH) as client:
        proxied = await client.post("/mistral/eu/v1/fim/completions", json=BODY)
        elsewhere = await client.post("/v1/chat/completions", json=BODY)

    assert proxied.status_code == 200
    assert elsewhere.status_code == 404


async def test_wait_for_requests_times_out_with_a_message(fake_codestral: FakeCodestral) -> None:
    with pytest.raises(TimeoutError, match="condition not met"):
        await fake_codestral.wait_for_requests(1, timeout=0.05)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limited(rpm: int = 10, tpm: int = 1000, **options: Any) -> tuple[FakeCodestral, Clock]:
    clock = Clock()
    limit = WorkspaceLimit(rpm, tpm, window_s=60.0, clock=clock, **options)
    return FakeCodestral(limit=limit), clock


def limit_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("x-ratelimit-")}


@pytest.mark.parametrize("stream", [False, True])
async def test_every_answer_carries_the_workspace_figures(stream: bool) -> None:
    fake, _ = limited()
    async with fake:
        first = await post(fake, {**BODY, "stream": stream})
        second = await post(fake, {**BODY, "stream": stream})  # another client, same workspace

    spent = PROMPT_TOKENS + COMPLETION_TOKENS
    assert (first.status_code, second.status_code) == (200, 200)
    assert limit_headers(first) == {
        "x-ratelimit-limit-req-minute": "10",
        "x-ratelimit-remaining-req-minute": "9",
        "x-ratelimit-limit-tokens-minute": "1000",
        "x-ratelimit-remaining-tokens-minute": str(1000 - PROMPT_TOKENS),
        "x-ratelimit-tokens-query-cost": str(PROMPT_TOKENS),
    }
    assert limit_headers(second)["x-ratelimit-remaining-req-minute"] == "8"
    remaining = limit_headers(second)["x-ratelimit-remaining-tokens-minute"]
    assert remaining == str(1000 - spent - PROMPT_TOKENS)
    assert [(r.prompt_tokens, r.completion_tokens) for r in fake.requests] == [
        (PROMPT_TOKENS, COMPLETION_TOKENS)
    ] * 2
    assert fake.limit is not None
    assert fake.limit.windows[0].tokens == 2 * spent


async def test_a_prompt_past_the_token_limit_is_429_and_not_charged() -> None:
    fake, _ = limited(tpm=PROMPT_TOKENS + COMPLETION_TOKENS + PROMPT_TOKENS - 1)
    async with fake:
        served = await post(fake, BODY)
        refused = await post(fake, BODY)

    assert served.status_code == 200
    assert refused.status_code == 429
    assert refused.json() == {"message": "Requests rate limit exceeded"}
    assert "retry-after" not in refused.headers
    assert limit_headers(refused)["x-ratelimit-remaining-tokens-minute"] == str(PROMPT_TOKENS - 1)
    assert limit_headers(refused)["x-ratelimit-remaining-req-minute"] == "9"
    assert limit_headers(refused)["x-ratelimit-tokens-query-cost"] == "0"
    assert [r.rate_limited for r in fake.requests] == [False, True]
    assert fake.requests[1].prompt_tokens == PROMPT_TOKENS  # counted, not charged
    assert fake.limit is not None
    assert (fake.limit.windows[0].requests, fake.limit.windows[0].rejected) == (1, 1)


async def test_the_request_limit_refuses_the_request_after_the_last() -> None:
    fake, _ = limited(rpm=2)
    async with fake:
        statuses = [(await post(fake, BODY)).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert [r.rate_limited for r in fake.requests] == [False, False, True]


async def test_a_new_window_starts_afresh() -> None:
    fake, clock = limited(rpm=1)
    async with fake:
        await post(fake, BODY)
        clock.now += 59.9
        refused = await post(fake, BODY)
        clock.now += 0.1
        served = await post(fake, BODY)

    assert (refused.status_code, served.status_code) == (429, 200)
    assert limit_headers(served)["x-ratelimit-remaining-req-minute"] == "0"
    remaining = limit_headers(served)["x-ratelimit-remaining-tokens-minute"]
    assert remaining == str(1000 - PROMPT_TOKENS)
    assert fake.limit is not None
    assert sorted(fake.limit.windows) == [0, 1]
    assert [r.window for r in fake.requests] == [0, 0, 1]


async def test_retry_after_says_when_the_window_ends_if_asked() -> None:
    fake, clock = limited(rpm=1, retry_after=True)
    async with fake:
        await post(fake, BODY)
        clock.now += 14.5
        refused = await post(fake, BODY)

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "46"


async def test_a_sliding_window_frees_what_was_spent_a_window_ago() -> None:
    fake, clock = limited(rpm=2, sliding=True, retry_after=True)
    async with fake:
        await post(fake, BODY)
        clock.now += 30
        await post(fake, BODY)
        clock.now += 20
        refused = await post(fake, BODY)  # both still in the last 60 s
        clock.now += 10  # the first is a window old
        served = await post(fake, BODY)

    assert (refused.status_code, served.status_code) == (429, 200)
    assert refused.headers["retry-after"] == "10"
    assert limit_headers(served)["x-ratelimit-remaining-req-minute"] == "0"
    spent = PROMPT_TOKENS + COMPLETION_TOKENS
    remaining = limit_headers(served)["x-ratelimit-remaining-tokens-minute"]
    assert remaining == str(1000 - spent - PROMPT_TOKENS)  # the second, and this prompt


async def test_a_cut_stream_is_charged_the_tokens_it_delivered() -> None:
    fake, _ = limited()
    fake.completion = "alpha beta gamma delta"
    fake.enqueue(Reply(cut_after_chunks=3))  # the role chunk, then two tokens
    async with fake:
        with pytest.raises(httpx.RemoteProtocolError):
            await stream_events(fake, BODY)
        await fake.wait_until(lambda f: f.requests[0].ended_at is not None)

    assert fake.requests[0].completion_tokens == 2
    assert fake.limit is not None
    assert fake.limit.windows[0].tokens == PROMPT_TOKENS + 2


async def test_without_a_limit_there_are_no_limit_headers(fake_codestral: FakeCodestral) -> None:
    response = await post(fake_codestral, BODY)

    assert not limit_headers(response)
    assert fake_codestral.requests[0].prompt_tokens == PROMPT_TOKENS
