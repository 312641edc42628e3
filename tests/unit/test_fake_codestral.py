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
    count_tokens,
    default_completion,
)

AUTH = {"Authorization": f"Bearer {DEFAULT_KEY}"}
BODY: dict[str, Any] = {"model": "codestral-latest", "prompt": "def add(a, b):", "suffix": "\n"}


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
