"""The FIM client's parsing of answers and errors, through httpx's MockTransport.

End-to-end tests cover the same paths over real HTTP against the fake server; these tables pin
the parsing rules one body at a time.
"""

from __future__ import annotations

import json

import httpx
import pytest

from codestral_lsp.backend import FimClient, FimRequest, retry_after
from codestral_lsp.errors import (
    AuthError,
    BackendError,
    InvalidResponse,
    RateLimitError,
    RequestRejected,
    ServerError,
)

KEY = "sk-unit-test-key-000111"


def _request(stream: bool) -> FimRequest:
    body = {"model": "codestral-latest", "prompt": "a", "suffix": "b", "stream": stream}
    return FimRequest("http://gw.test/v1/fim/completions", KEY, body, timeout_s=5)


async def _call(response: httpx.Response, stream: bool = False) -> object:
    client = FimClient(httpx.MockTransport(lambda request: response))
    try:
        return await client.complete(_request(stream))
    finally:
        await client.aclose()


def _sse(*events: str, sep: str = "\n") -> httpx.Response:
    text = "".join(f"{e}{sep}{sep}" for e in events)
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, text=text)


def _chunk(content: str | None, finish: str | None = None, usage: bool = False) -> str:
    data: dict[str, object] = {
        "id": "c",
        "model": "codestral-2508",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}],
    }
    if usage:
        data["usage"] = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    return "data: " + json.dumps(data)


async def test_json_answer() -> None:
    body = {
        "id": "x",
        "object": "chat.completion",
        "model": "codestral-2508",
        "usage": {"prompt_tokens": 16, "completion_tokens": 3, "total_tokens": 19},
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
    }
    result = await _call(
        httpx.Response(200, json=body, headers={"x-ratelimit-remaining-req-minute": "9"})
    )
    assert result.text == "hi"  # type: ignore[attr-defined]
    assert result.usage.prompt_tokens == 16  # type: ignore[attr-defined]
    assert result.rate_limits == {"x-ratelimit-remaining-req-minute": "9"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("sep", ["\n", "\r\n"])
async def test_sse_answer_with_comments_and_no_space_after_data(sep: str) -> None:
    events = [
        ": keep-alive",
        _chunk("re"),
        _chunk("turn").replace("data: ", "data:"),
        _chunk(" 1", "stop", usage=True),
        "data: [DONE]",
    ]
    result = await _call(_sse(*events, sep=sep), stream=True)
    assert result.text == "return 1"  # type: ignore[attr-defined]
    assert result.finish_reason == "stop"  # type: ignore[attr-defined]
    assert result.usage.completion_tokens == 2  # type: ignore[attr-defined]


async def test_sse_cut_before_the_end_is_invalid() -> None:
    with pytest.raises(InvalidResponse, match="ended before"):
        await _call(_sse(_chunk("par")), stream=True)


async def test_sse_error_object_midway() -> None:
    err = 'data: {"object": "error", "message": "model overloaded", "type": "x", "code": 1}'
    with pytest.raises(ServerError, match="model overloaded"):
        await _call(_sse(_chunk("a"), err), stream=True)


async def test_json_answer_when_stream_was_asked() -> None:
    """A gateway that ignores `stream` and answers JSON is still understood."""
    body = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
    result = await _call(httpx.Response(200, json=body), stream=True)
    assert result.text == "ok"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (401, {"message": "Unauthorized", "request_id": "r"}, AuthError, "Unauthorized"),
        (401, {"detail": "Unauthorized"}, AuthError, "Unauthorized"),
        (403, "Forbidden", AuthError, "Forbidden"),
        (
            422,
            {
                "detail": [
                    {
                        "loc": ["body", "n"],
                        "msg": "Extra inputs are not permitted",
                        "type": "extra_forbidden",
                    }
                ]
            },
            RequestRejected,
            "n: Extra inputs are not permitted (extra_forbidden)",
        ),
        (
            400,
            {
                "object": "error",
                "message": {"detail": [{"loc": ["body", "x"], "msg": "bad", "type": "t"}]},
            },
            RequestRejected,
            "x: bad (t)",
        ),
        (
            400,
            {
                "object": "error",
                "message": json.dumps({"detail": [{"loc": ["body", "y"], "msg": "bad"}]}),
            },
            RequestRejected,
            "y: bad",
        ),
        (429, {"message": "Requests rate limit exceeded"}, RateLimitError, "Requests rate limit"),
        (
            429,
            {
                "object": "error",
                "message": "Rate limit exceeded",
                "type": "rate_limited",
                "code": "1300",
            },
            RateLimitError,
            "Rate limit exceeded",
        ),
        (
            502,
            "<html><title>502 Bad Gateway</title><body><h1>502 Bad Gateway</h1></body></html>",
            ServerError,
            "502 Bad Gateway 502 Bad Gateway",
        ),
        (500, "", ServerError, "(empty body)"),
    ],
)
async def test_error_bodies(
    status: int, body: object, error: type[BackendError], text: str
) -> None:
    response = (
        httpx.Response(status, text=body)
        if isinstance(body, str)
        else httpx.Response(status, json=body)
    )
    with pytest.raises(error) as caught:
        await _call(response)
    assert text in str(caught.value)
    assert caught.value.status == status
    assert "gw.test" in str(caught.value)


async def test_error_bodies_never_echo_the_key() -> None:
    with pytest.raises(AuthError) as caught:
        await _call(httpx.Response(401, json={"message": f"bad key {KEY}"}))
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [{"choices": []}, {"choices": [{"message": {}}]}, [1, 2], {"nothing": 1}],
)
async def test_wrong_shapes_are_invalid(body: object) -> None:
    with pytest.raises(InvalidResponse):
        await _call(httpx.Response(200, json=body))


def test_retry_after_forms() -> None:
    assert retry_after(httpx.Headers({"retry-after": "3"})) == 3.0
    assert retry_after(httpx.Headers({"ratelimitbysize-reset": "12"})) == 12.0
    assert retry_after(httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after(httpx.Headers({})) is None
