"""The FIM client's parsing of answers and errors, through httpx's MockTransport.

End-to-end tests cover the same paths over real HTTP against the fake server; these tables pin
the parsing rules one body at a time.
"""

from __future__ import annotations

import itertools
import json
import zlib
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from codestral_lsp.backends import PROVIDERS
from codestral_lsp.backends.client import (
    FimClient,
    FimRequest,
    FimResult,
    fim_call,
    retry_after,
)
from codestral_lsp.backends.errors import (
    AuthError,
    BackendError,
    InvalidResponse,
    RateLimitError,
    RequestRejected,
    ServerError,
)
from codestral_lsp.settings import Settings

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


# --- bounded answers: a streamed body (read from the transport as it comes), counted as it goes


class Flood(httpx.AsyncByteStream):
    """A body produced piece by piece; counts the raw bytes the client pulled."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self.pieces, self.sent = pieces, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            self.sent += len(piece)
            yield piece


def _streamed(flood: Flood, content_type: str, encoding: str | None = None) -> httpx.Response:
    headers = {"content-type": content_type, **({"content-encoding": encoding} if encoding else {})}
    return httpx.Response(200, headers=headers, stream=flood)


def _bounded_request(stream: bool, max_tokens: int | None) -> FimRequest:
    body = {"model": "m", "prompt": "a", "stream": stream}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return FimRequest("http://gw.test/v1/fim/completions", KEY, body, timeout_s=5)


async def _call_streamed(response: httpx.Response, request: FimRequest) -> FimResult:
    client = FimClient(httpx.MockTransport(lambda _: response))
    try:
        return await client.complete(request)
    finally:
        await client.aclose()


def _endless_events(content: str) -> Iterator[bytes]:
    event = f"{_chunk(content)}\n\n".encode()
    while True:
        yield event * 16


def _zeros_gzipped(total: int, wbits: int = 31) -> Iterator[bytes]:
    """``total`` zero bytes, compressed as they are made (a gzip bomb, never held whole)."""
    packer, block = zlib.compressobj(9, zlib.DEFLATED, wbits), bytes(1 << 20)
    for _ in range(total // len(block)):
        if out := packer.compress(block):
            yield out
    yield packer.flush()


@pytest.mark.parametrize("max_tokens", [16, 256, None])
async def test_an_endless_event_stream_is_cut_at_the_text_limit(max_tokens: int | None) -> None:
    request = _bounded_request(True, max_tokens)
    flood = Flood(_endless_events("x" * 100))
    result = await _call_streamed(_streamed(flood, "text/event-stream"), request)
    assert result.text == "x" * request.text_limit
    assert result.finish_reason == "length"
    assert request.text_limit == (max_tokens or 4096) * 32
    assert flood.sent <= request.byte_limit + 64 * 1024  # it stopped reading


async def test_an_endless_stream_without_text_ends_at_the_byte_limit() -> None:
    request = _bounded_request(True, 256)
    flood = Flood(_endless_events(""))
    with pytest.raises(InvalidResponse, match="larger than"):
        await _call_streamed(_streamed(flood, "text/event-stream"), request)
    assert flood.sent <= request.byte_limit + 64 * 1024


async def test_a_huge_json_answer_is_refused_without_reading_it_all() -> None:
    request = _bounded_request(False, 256)
    head, tail = b'{"choices": [{"message": {"content": "', b'"}, "finish_reason": "stop"}]}'
    flood = Flood(itertools.chain([head], itertools.repeat(b"y" * 65536, 800), [tail]))  # 50 MiB
    with pytest.raises(InvalidResponse, match="larger than"):
        await _call_streamed(_streamed(flood, "application/json"), request)
    assert flood.sent <= request.byte_limit + 64 * 1024


async def test_a_json_answer_over_the_text_limit_is_cut() -> None:
    request = _bounded_request(False, 16)
    body = {"choices": [{"message": {"content": "z" * 2000}, "finish_reason": "stop"}]}
    flood = Flood(iter([json.dumps(body).encode()]))
    result = await _call_streamed(_streamed(flood, "application/json"), request)
    assert (result.text, result.finish_reason) == ("z" * 16 * 32, "length")


@pytest.mark.parametrize("content_type", ["application/json", "text/event-stream"])
async def test_a_gzip_bomb_is_inflated_only_up_to_the_byte_limit(content_type: str) -> None:
    request = _bounded_request(content_type != "application/json", 256)
    flood = Flood(_zeros_gzipped(1 << 30))  # 1 GiB of zeros, about 1 MiB compressed
    with pytest.raises(InvalidResponse, match="larger than"):
        await _call_streamed(_streamed(flood, content_type, "gzip"), request)
    assert flood.sent < 64 * 1024  # a few compressed reads were enough to know


@pytest.mark.parametrize(
    ("encoding", "wbits"), [("gzip", 31), ("x-gzip", 31), ("deflate", 15), ("deflate", -15)]
)
async def test_compressed_answers_are_decoded(encoding: str, wbits: int) -> None:
    body = json.dumps({"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]})
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    packed = packer.compress(body.encode()) + packer.flush()
    pieces = [packed[i : i + 7] for i in range(0, len(packed), 7)]  # split mid-stream
    response = _streamed(Flood(iter(pieces)), "application/json", encoding)
    result = await _call_streamed(response, _bounded_request(False, 16))
    assert result.text == "ok"


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip"])
async def test_an_unknown_encoding_is_invalid(encoding: str) -> None:
    response = _streamed(Flood(iter([b"{}"])), "application/json", encoding)
    with pytest.raises(InvalidResponse, match="Content-Encoding"):
        await _call_streamed(response, _bounded_request(False, 16))


async def test_a_compressed_error_body_is_read_within_bounds() -> None:
    response = httpx.Response(
        500, headers={"content-encoding": "gzip"}, stream=Flood(_zeros_gzipped(1 << 30))
    )
    with pytest.raises(ServerError, match="HTTP 500"):
        await _call_streamed(response, _bounded_request(False, 16))


def request_body(settings: Settings, prompt: str, suffix: str) -> dict[str, object]:
    return PROVIDERS[settings.provider].wire.body(fim_call(settings, prompt, suffix))


def test_request_body_sends_only_set_fields() -> None:
    body = request_body(Settings(max_tokens=None), "p", "s")
    assert body == {"model": "codestral-latest", "prompt": "p", "suffix": "s", "stream": True}
    body = request_body(Settings(stop=("a", "b"), temperature=0.0, random_seed=0), "p", "")
    assert body["stop"] == ["a", "b"]
    assert body["temperature"] == 0.0
    assert body["random_seed"] == 0
