"""A fake Mistral Codestral `POST /v1/fim/completions` server that records what it receives.

It also plays the local servers (`tests/fake_dialects.py`): Ollama's `POST /api/generate`,
llama.cpp's `POST /infill` and OpenAI's `POST /v1/completions`, on the same port.

Plays the contract of Mistral's FIM API (https://docs.mistral.ai/api/#tag/fim): bearer auth,
strict 422 validation, JSON and SSE replies with usage, `stop` and `max_tokens`; plus scripted
one-shot faults (`enqueue(Reply(...))`), an optional workspace rate limit shared by all its
clients (`WorkspaceLimit`), per-request connection records and event-driven waits. Runs in the
caller's event loop on 127.0.0.1.
CLI: `python tests/fake_codestral.py --port 0 [--key K] [--tpm N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import logging
import math
import re
import secrets
import ssl
import sys
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

try:
    from aiohttp import web
except ModuleNotFoundError as exc:  # run by hand after a plain `pip install .`
    if __name__ != "__main__":
        raise
    sys.exit(
        f"{exc}: the fake Codestral needs the test dependencies. From the repository: "
        "pip install '.[test]'  (or only: pip install aiohttp)"
    )

if __package__:
    from tests.fake_dialects import Dialect, LlamaCpp, Ollama, OpenAI, Refusal
else:  # run as a script: tests/ is on sys.path
    from fake_dialects import Dialect, LlamaCpp, Ollama, OpenAI, Refusal  # type: ignore[no-redef]

log = logging.getLogger("fake_codestral")

FIM_PATH = "/v1/fim/completions"
DEFAULT_KEY = "test-key-0123456789abcdef"
_TOKEN_RE = re.compile(r"\w{1,4}|[^\w\s]|\s+")
_KINDS = {  # kind -> (accepted types, pydantic error type, message)
    "str": ((str,), "string_type", "Input should be a valid string"),
    "num": ((int, float), "float_type", "Input should be a valid number"),
    "int": ((int,), "int_type", "Input should be a valid integer"),
    "bool": ((bool,), "bool_type", "Input should be a valid boolean"),
}
_REQUIRED = ("model", "prompt")
_FIELDS: dict[str, tuple[str, float | None, float | None]] = {  # -> (kind, minimum, maximum)
    "model": ("str", None, None),
    "prompt": ("str", None, None),
    "suffix": ("str", None, None),
    "temperature": ("num", 0, 1.5),
    "top_p": ("num", 0, 1),
    "max_tokens": ("int", 0, None),
    "min_tokens": ("int", 0, None),
    "stream": ("bool", None, None),
    "stop": ("str", None, None),  # or a list of them
    "random_seed": ("int", 0, None),
}
_EXTRA_N = {
    "type": "extra_forbidden",
    "loc": ["body", "n"],
    "msg": "Extra inputs are not permitted",
}


def _error_object(message: Any, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"object": "error", "message": message, "type": type_, "param": None, "code": code}


# Error bodies the hosted APIs and proxies in front of them send; html_502 is text.
ERROR_BODIES: dict[str, Any] = {
    "unauthorized_message": {"message": "Unauthorized", "request_id": "6f1c0e4b2a9d4e38"},
    "unauthorized_detail": {"detail": "Unauthorized"},
    "validation_422": {
        "detail": [{"type": "missing", "loc": ["body", "prompt"], "msg": "Field required"}]
    },
    "error_object_nested": _error_object({"detail": [_EXTRA_N]}, "invalid_request_error"),
    "error_object_string_message": _error_object(
        json.dumps({"detail": [_EXTRA_N]}), "invalid_request_error"
    ),
    "requests_rate_limit": {"message": "Requests rate limit exceeded"},
    "rate_limited_1300": _error_object("Rate limit exceeded", "rate_limited", "1300"),
    "html_502": "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
}


def tokenize(text: str) -> list[str]:
    """Tokenizer-like pieces (words in chunks of <= 4, punctuation, whitespace runs); they
    concatenate back to `text`."""
    return _TOKEN_RE.findall(text)


def count_tokens(text: str) -> int:
    """The fake's token count for `text` (about 3 characters per token on code)."""
    return len(tokenize(text))


def default_completion(body: dict[str, Any]) -> str:
    """`return 42`, on the prompt's last line if it is blank, else on a new (indented) line."""
    last = str(body.get("prompt", "")).rsplit("\n", 1)[-1]
    if not last.strip():
        return "return 42"
    indent = last[: len(last) - len(last.lstrip())] + ("    " if last.rstrip()[-1] == ":" else "")
    return f"\n{indent}return 42"


@dataclass
class WindowUse:
    """What one window of a `WorkspaceLimit` let through and turned away."""

    requests: int = 0
    tokens: int = 0
    rejected: int = 0


class WorkspaceLimit:
    """A workspace's allowance per window, shared by every client of one fake; Langdock's is
    500 requests and 60,000 tokens a minute per workspace and model
    (https://docs.langdock.com/en/developer/overview/api-introduction).

    Windows are fixed, `window_s` long, the first starting at the first request the limit sees,
    or with `sliding=True` one window that ends now (what was charged in the last `window_s`).
    A request is counted when it arrives and is admitted; it is turned away (429, counted in
    neither figure) when the window already admitted `rpm` requests or when its prompt would take
    the window's tokens past `tpm`. Tokens are charged in two steps: the prompt (prompt + suffix
    by `count_tokens`) on admission, and the completion tokens actually delivered when the
    response ends (also when the client left mid-stream; a JSON reply's in full), into the window
    current at that moment. So a window may end a little over `tpm`; the remaining figures in the
    headers never go below 0. The headers keep their real names (`...-minute`) whatever
    `window_s` is; `retry_after=True` adds `Retry-After` (seconds to the window's end, or until
    enough leaves a sliding one) to a 429. `windows` numbers fixed spans of `window_s` from the
    first request either way, for reports.
    """

    def __init__(
        self,
        rpm: int = 500,
        tpm: int = 60_000,
        window_s: float = 60.0,
        *,
        retry_after: bool = False,
        sliding: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rpm, self.tpm, self.window_s = rpm, tpm, window_s
        self.retry_after, self.sliding, self.clock = retry_after, sliding, clock
        self.windows: dict[int, WindowUse] = {}  # window number -> its use
        self.start: float | None = None  # clock() at the first request
        self._charges: collections.deque[tuple[float, int, int]] = collections.deque()

    def window_of(self, at: float) -> int:
        """The number of the window holding clock time `at` (0 before the first request)."""
        return 0 if self.start is None else max(0, int((at - self.start) // self.window_s))

    def _current(self) -> WindowUse:
        now = self.clock()
        if self.start is None:
            self.start = now
        return self.windows.setdefault(self.window_of(now), WindowUse())

    def _in_window(self) -> tuple[int, int]:
        """Requests and tokens the limit counts now."""
        if not self.sliding:
            use = self._current()
            return use.requests, use.tokens
        now = self.clock()
        while self._charges and self._charges[0][0] <= now - self.window_s:
            self._charges.popleft()
        return sum(c[2] for c in self._charges), sum(c[1] for c in self._charges)

    def _charge(self, tokens: int, requests: int) -> None:
        use = self._current()
        use.requests += requests
        use.tokens += tokens
        if self.sliding:
            self._charges.append((self.clock(), tokens, requests))

    def admit(self, prompt_tokens: int) -> bool:
        """Count a request and charge its prompt, or refuse it (nothing is counted)."""
        requests, tokens = self._in_window()
        if requests >= self.rpm or tokens + prompt_tokens > self.tpm:
            self._current().rejected += 1
            return False
        self._charge(prompt_tokens, 1)
        return True

    def charge(self, tokens: int) -> None:
        """Charge completion tokens to the current window."""
        self._charge(tokens, 0)

    def headers(self, query_cost: int, refused: bool = False) -> dict[str, str]:
        """The `x-ratelimit-*` headers as they stand now; `Retry-After` on a refusal if asked."""
        requests, tokens = self._in_window()
        found = {
            "x-ratelimit-limit-req-minute": str(self.rpm),
            "x-ratelimit-remaining-req-minute": str(max(0, self.rpm - requests)),
            "x-ratelimit-limit-tokens-minute": str(self.tpm),
            "x-ratelimit-remaining-tokens-minute": str(max(0, self.tpm - tokens)),
            "x-ratelimit-tokens-query-cost": str(query_cost),
        }
        if refused and self.retry_after:
            found["Retry-After"] = str(max(1, math.ceil(self._frees_in())))
        return found

    def _frees_in(self) -> float:
        now = self.clock()
        if self.sliding:
            return self._charges[0][0] + self.window_s - now if self._charges else 0.0
        assert self.start is not None
        return self.start + (self.window_of(now) + 1) * self.window_s - now


@dataclass
class Reply:
    """One scripted reply. A non-200 `status`, `json` or `text` answers verbatim, with no auth or
    validation; otherwise the normal completion path runs with the overrides below."""

    status: int = 200
    json: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    completion: str | None = None
    stream: bool | None = None  # None: as the request asks
    first_byte_delay: float = 0.0
    chunk_delay: float | None = None  # None: the fake's `token_delay`
    cut_after_chunks: int | None = None  # close the connection after this many `data:` events
    # (the first is an empty role chunk, then one per token, then [DONE])
    omit_done: bool = False
    hang: bool = False  # never answer (until the client leaves or the fake stops)
    gate: asyncio.Event | None = None  # answer only once the test sets this event
    drip_interval: float | None = None  # send the headers, then the body one byte per interval
    cut_after_bytes: int | None = None  # a JSON reply: close the connection after these bytes
    keep_open: bool = False  # a stream: after the last event, hold the connection open
    # A 200 whose body is made as it is sent (huge or endless: `huge_json`, `event_flood`,
    # `gzip_bomb`), verbatim like `json`/`text`; `headers` give its Content-Type and -Encoding.
    body: Callable[[], Iterator[bytes]] | None = None


@dataclass
class RecordedRequest:
    """What the fake received, and how the exchange ended."""

    method: str
    path: str
    headers: dict[str, str] = field(repr=False)  # lowercased names
    raw: bytes = field(repr=False)
    body: Any  # parsed JSON, None if not JSON
    received_at: float  # time.monotonic()
    status: int | None = None
    finished: bool = False  # the whole response was handed to the socket
    aborted: bool = False  # the client went away first
    ended_at: float | None = None
    rate_limited: bool = False  # refused with 429 by the fake's `WorkspaceLimit`
    prompt_tokens: int | None = None  # prompt + suffix by `count_tokens`, of a valid FIM request
    completion_tokens: int = 0  # tokens delivered (a JSON reply's all, a stream's until it ended)
    limit_headers: dict[str, str] = field(default_factory=dict, repr=False)  # x-ratelimit-* sent
    window: int | None = None  # the number of the limit's window it arrived in
    completion_tokens_planned: int = 0  # tokens the generation has (a stream may stop sooner)


@dataclass
class _Generation:
    tokens: list[str]
    finish_reason: str
    usage: dict[str, int]


class FakeCodestral:
    """The fake server; `async with FakeCodestral() as fake:` or `start()` / `stop()`."""

    def __init__(
        self,
        api_key: str = DEFAULT_KEY,
        completion: str | Callable[[dict[str, Any]], str] = default_completion,
        *,
        port: int = 0,
        first_token_delay: float | Callable[[], float] = 0.0,
        token_delay: float = 0.0,
        crlf: bool = False,
        keepalive_comments: bool = False,
        space_after_data: bool = True,
        limit: WorkspaceLimit | None = None,
        ssl_context: ssl.SSLContext | None = None,
        local_key: str | None = None,
        reject_suffix: bool = False,
    ) -> None:
        self.api_key, self.completion = api_key, completion
        self.local_key = local_key  # the bearer key llama.cpp and OpenAI want (None: none)
        self.dialects: dict[str, Dialect] = {
            d.path: d for d in (Ollama(), LlamaCpp(), OpenAI(reject_suffix))
        }
        self.limit = limit
        self.ssl_context = ssl_context  # serve https with this context
        self.first_token_delay, self.token_delay = first_token_delay, token_delay
        self.crlf, self.keepalive_comments = crlf, keepalive_comments
        self.space_after_data = space_after_data
        self.requests: list[RecordedRequest] = []
        self._port = port
        self._queue: collections.deque[Reply] = collections.deque()
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._stopping = False

    def __repr__(self) -> str:
        return f"FakeCodestral({self.base_url!r}, requests={len(self.requests)})"

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        return self.base_url + FIM_PATH

    async def start(self) -> FakeCodestral:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self._port, ssl_context=self.ssl_context)
        await site.start()
        self._runner, self._port = runner, runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeCodestral:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def enqueue(self, *replies: Reply) -> None:
        """Script the replies to the next FIM requests, in order, one each."""
        self._queue.extend(replies)

    async def wait_until(
        self, predicate: Callable[[FakeCodestral], bool], timeout: float = 10
    ) -> None:
        """Wait until `predicate(self)` holds; re-checked on every request, finish and abort."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self)), timeout)
            except asyncio.TimeoutError:
                states = [(r.path, r.status, r.finished, r.aborted) for r in self.requests]
                msg = f"fake Codestral: condition not met in {timeout}s; requests {states}"
                raise TimeoutError(msg) from None

    async def wait_for_requests(self, n: int, timeout: float = 10) -> list[RecordedRequest]:
        """Wait until at least `n` requests have arrived; return all of them."""
        await self.wait_until(lambda fake: len(fake.requests) >= n, timeout)
        return list(self.requests)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        rec = RecordedRequest(request.method, request.path, headers, raw, body, time.monotonic())
        self.requests.append(rec)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        await self._notify()
        try:
            return await self._respond(request, rec)
        except asyncio.CancelledError:
            rec.aborted = not self._stopping and not rec.finished
            raise
        finally:
            self._tasks.discard(task)
            if self.limit is not None and rec.prompt_tokens is not None and not rec.rate_limited:
                self.limit.charge(rec.completion_tokens)
            rec.ended_at = time.monotonic()
            log.info("%s %s -> %s aborted=%s", rec.method, rec.path, rec.status, rec.aborted)
            await self._notify()

    async def _respond(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        health = {"/api/version": {"version": "0.12.0"}, "/health": {"status": "ok"}}
        if request.method == "GET" and request.path in health:
            return await _send(request, rec, web.json_response(health[request.path]))
        dialect = self.dialects.get(request.path)
        if dialect is None and not request.path.endswith(FIM_PATH):
            return await _send(request, rec, web.json_response({"detail": "Not Found"}, status=404))
        if request.method != "POST":
            body = {"detail": "Method Not Allowed"}
            return await _send(request, rec, web.json_response(body, status=405))
        reply = self._queue.popleft() if self._queue else Reply()
        if reply.first_byte_delay:
            await asyncio.sleep(reply.first_byte_delay)
        if reply.gate is not None:
            await reply.gate.wait()
        if reply.hang:
            await asyncio.Event().wait()  # ended by cancellation: disconnect or stop()
        if reply.status != 200 or reply.json is not None or reply.text is not None:
            return await _send(request, rec, _canned(reply))
        if reply.body is not None:
            return await _send_flood(request, rec, reply.headers, reply.body())
        if dialect is not None:
            return await self._local(request, rec, reply, dialect)
        auth = request.headers.get("Authorization", "").encode()
        if not secrets.compare_digest(auth, f"Bearer {self.api_key}".encode()):
            body = {"message": "Unauthorized", "request_id": uuid.uuid4().hex}
            return await _send(request, rec, web.json_response(body, status=401))
        if errors := _validate(rec.body, rec.raw):
            return await _send(request, rec, web.json_response({"detail": errors}, status=422))
        if refused := self._over_limit(rec):
            return await _send(request, rec, refused)
        gen = self._generate(rec.body, reply, rec.prompt_tokens or 0)
        meta = {"id": f"cmpl-{uuid.uuid4().hex}", "created": int(time.time())}
        meta["model"] = rec.body["model"]
        if rec.body.get("stream") if reply.stream is None else reply.stream:
            events = self._sse_events(gen, meta)
            rec.completion_tokens_planned = len(gen.tokens)
            return await self._stream(request, rec, reply, events, "text/event-stream", 1)
        rec.completion_tokens = len(gen.tokens)
        if delay := self._first_token_delay() + self._chunk_delay(reply) * len(gen.tokens):
            await asyncio.sleep(delay)
        message = {"role": "assistant", "content": "".join(gen.tokens), "prefix": False}
        choice = {"index": 0, "message": message, "finish_reason": gen.finish_reason}
        payload = {**meta, "object": "chat.completion", "usage": gen.usage, "choices": [choice]}
        headers = {**rec.limit_headers, **reply.headers}
        if reply.drip_interval is not None or reply.cut_after_bytes is not None:
            data = json.dumps(payload).encode()
            return await _send_bytes(request, rec, reply, data, "application/json")
        return await _send(request, rec, web.json_response(payload, headers=headers))

    async def _local(
        self, request: web.Request, rec: RecordedRequest, reply: Reply, dialect: Dialect
    ) -> web.StreamResponse:
        """A local server's answer: its auth, validation, JSON or stream, as it writes them."""
        if request.method != "POST":
            body = {"error": "Method Not Allowed"}
            return await _send(request, rec, web.json_response(body, status=405))
        if dialect.keyed and self.local_key is not None:
            auth = request.headers.get("Authorization", "").encode()
            if not secrets.compare_digest(auth, f"Bearer {self.local_key}".encode()):
                refused = web.json_response(dialect.unauthorized(), status=401)
                return await _send(request, rec, refused)
        asked = dialect.read(rec.body)
        if isinstance(asked, Refusal):
            return await _send(request, rec, web.json_response(asked.body, status=asked.status))
        rec.prompt_tokens = count_tokens(asked.prompt) + count_tokens(asked.suffix)
        as_fim = {"prompt": asked.prompt, "stop": asked.stop, "max_tokens": asked.max_tokens}
        gen = self._generate(as_fim, reply, rec.prompt_tokens)
        usage = (rec.prompt_tokens, len(gen.tokens))
        if asked.stream if reply.stream is None else reply.stream:
            events = dialect.events(asked, gen.tokens, gen.finish_reason, usage)
            rec.completion_tokens_planned = len(gen.tokens)
            return await self._stream(request, rec, reply, events, dialect.stream_type, 0)
        rec.completion_tokens = len(gen.tokens)
        if delay := self._first_token_delay() + self._chunk_delay(reply) * len(gen.tokens):
            await asyncio.sleep(delay)
        payload = dialect.answer(asked, "".join(gen.tokens), gen.finish_reason, usage)
        if reply.drip_interval is not None or reply.cut_after_bytes is not None:
            data = json.dumps(payload).encode()
            return await _send_bytes(request, rec, reply, data, "application/json")
        return await _send(request, rec, web.json_response(payload, headers=reply.headers))

    def _over_limit(self, rec: RecordedRequest) -> web.Response | None:
        """Count a valid request against the workspace limit: None if admitted, else the 429."""
        body = rec.body
        prompt = count_tokens(body["prompt"]) + count_tokens(body.get("suffix") or "")
        rec.prompt_tokens = prompt
        if self.limit is None:
            return None
        rec.window = self.limit.window_of(self.limit.clock())
        if self.limit.admit(prompt):
            rec.limit_headers = self.limit.headers(prompt)
            return None
        rec.rate_limited = True
        rec.limit_headers = self.limit.headers(0, refused=True)
        refusal = ERROR_BODIES["requests_rate_limit"]
        return web.json_response(refusal, status=429, headers=rec.limit_headers)

    def _generate(self, body: dict[str, Any], reply: Reply, prompt: int) -> _Generation:
        text = reply.completion
        if text is None:
            text = self.completion if isinstance(self.completion, str) else self.completion(body)
        stops = body.get("stop") or []
        cuts = [text.find(s) for s in ([stops] if isinstance(stops, str) else stops)]
        text = text[: min([i for i in cuts if i >= 0], default=len(text))]
        tokens, finish = tokenize(text), "stop"
        if body.get("max_tokens") is not None and len(tokens) > body["max_tokens"]:
            tokens, finish = tokens[: body["max_tokens"]], "length"
        usage = {"prompt_tokens": prompt, "completion_tokens": len(tokens)}
        return _Generation(tokens, finish, {**usage, "total_tokens": prompt + len(tokens)})

    async def _stream(
        self,
        request: web.Request,
        rec: RecordedRequest,
        reply: Reply,
        events: list[str],
        content_type: str,
        first: int,
    ) -> web.StreamResponse:
        """Write the events one by one, with the delays, cut and omissions `reply` asks for;
        events `first` to the last but `first`-after are one token each."""
        if reply.drip_interval is not None:
            data = "".join(events).encode()
            return await _send_bytes(request, rec, reply, data, content_type)
        headers = {"Cache-Control": "no-cache", **rec.limit_headers, **reply.headers}
        resp = web.StreamResponse(headers=headers)
        resp.content_type = content_type
        rec.status = resp.status
        try:
            await resp.prepare(request)
        except ConnectionError:  # the client left before the headers went out
            rec.aborted = True
            return resp
        delays = [0.0] * first + [self._first_token_delay()]
        delays += [self._chunk_delay(reply)] * len(events)
        tokens = rec.completion_tokens_planned
        for i, event in enumerate(events[:-1] if reply.omit_done else events):
            if i == reply.cut_after_chunks:
                if request.transport is not None:
                    request.transport.close()
                return resp
            if delays[i]:
                await asyncio.sleep(delays[i])
            try:
                await resp.write(event.encode())
            except ConnectionError:
                rec.aborted = True
                return resp
            if first <= i < first + tokens:  # one event per token
                rec.completion_tokens += 1
        if reply.keep_open:
            await asyncio.Event().wait()  # ended by cancellation: disconnect or stop()
        return await _send(request, rec, resp)

    def _sse_events(self, gen: _Generation, meta: dict[str, Any]) -> list[str]:
        """A role chunk, one chunk per token (the last with finish_reason and usage), [DONE]."""
        nl, sp = ("\r\n" if self.crlf else "\n"), (" " if self.space_after_data else "")
        comment = f": keep-alive{nl}{nl}" if self.keepalive_comments else ""
        deltas = [{"role": "assistant", "content": ""}] + [
            {"content": t} for t in gen.tokens or [""]
        ]
        events = []
        for i, delta in enumerate(deltas):
            last = i == len(deltas) - 1
            choice = {
                "index": 0,
                "delta": delta,
                "finish_reason": gen.finish_reason if last else None,
            }
            chunk = {**meta, "object": "chat.completion.chunk", "choices": [choice]}
            chunk |= {"usage": gen.usage} if last else {}
            events.append(f"{comment}data:{sp}{json.dumps(chunk)}{nl}{nl}")
        return [*events, f"data:{sp}[DONE]{nl}{nl}"]

    def _first_token_delay(self) -> float:
        delay = self.first_token_delay
        return delay() if callable(delay) else delay

    def _chunk_delay(self, reply: Reply) -> float:
        return self.token_delay if reply.chunk_delay is None else reply.chunk_delay


async def _send(
    request: web.Request, rec: RecordedRequest, resp: web.StreamResponse
) -> web.StreamResponse:
    """Send `resp` to the end, so that `finished` means the bytes reached the socket."""
    rec.status = resp.status
    try:
        await resp.prepare(request)
        await resp.write_eof()
    except ConnectionError:
        rec.aborted = True
    else:
        rec.finished = True
    return resp


async def _send_bytes(
    request: web.Request, rec: RecordedRequest, reply: Reply, data: bytes, content_type: str
) -> web.StreamResponse:
    """Announce all of `data` (Content-Length), then send it one byte per `drip_interval`, or
    at once; with `cut_after_bytes`, close the connection after that many bytes."""
    resp = web.StreamResponse(headers={"Content-Type": content_type, **reply.headers})
    resp.content_length = len(data)
    rec.status = resp.status
    cut = len(data) if reply.cut_after_bytes is None else reply.cut_after_bytes
    try:
        await resp.prepare(request)
        if reply.drip_interval is None:
            await resp.write(data[:cut])
        else:
            for i in range(cut):
                await resp.write(data[i : i + 1])
                await asyncio.sleep(reply.drip_interval)
    except ConnectionError:
        rec.aborted = True
        return resp
    if cut < len(data):
        if request.transport is not None:
            request.transport.close()
        return resp
    return await _send(request, rec, resp)


async def _send_flood(
    request: web.Request, rec: RecordedRequest, headers: dict[str, str], body: Iterator[bytes]
) -> web.StreamResponse:
    """Send `body` piece by piece (no Content-Length) until it ends or the client leaves;
    `rec.completion_tokens` counts the bytes that went out."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json", **headers})
    rec.status = resp.status
    try:
        await resp.prepare(request)
        for piece in body:
            await resp.write(piece)
            rec.completion_tokens += len(piece)
    except ConnectionError:
        rec.aborted = True
        return resp
    return await _send(request, rec, resp)


def huge_json(size: int) -> Callable[[], Iterator[bytes]]:
    """A FIM JSON answer whose completion is one line of `size` bytes."""
    head = b'{"id": "cmpl-huge", "object": "chat.completion", "model": "codestral-latest", '
    head += b'"choices": [{"index": 0, "message": {"role": "assistant", "content": "'
    tail = b'"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}'

    def pieces() -> Iterator[bytes]:
        yield head
        block = b"y" * 1024
        for _ in range(size // len(block)):
            yield block
        yield tail

    return pieces


def event_flood(size: int | None, content: str = "y" * 512) -> Callable[[], Iterator[bytes]]:
    """An SSE answer of `size` bytes of events that each bring `content` (None: endless),
    then `[DONE]`."""
    chunk = {"index": 0, "delta": {"content": content}, "finish_reason": None}
    event = f"data: {json.dumps({'object': 'chat.completion.chunk', 'choices': [chunk]})}\n\n"
    block = event.encode() * 16

    def pieces() -> Iterator[bytes]:
        sent = 0
        while size is None or sent < size:
            yield block
            sent += len(block)
        yield b"data: [DONE]\n\n"

    return pieces


def gzip_bomb(size: int) -> Callable[[], Iterator[bytes]]:
    """`size` zero bytes, gzip-compressed as they are sent (about 1,000 to 1): send it with
    `Content-Encoding: gzip`. The whole never exists in memory, on either side."""

    def pieces() -> Iterator[bytes]:
        packer, block = zlib.compressobj(9, zlib.DEFLATED, 31), bytes(1 << 20)
        for _ in range(size // len(block)):
            if out := packer.compress(block):
                yield out
        yield packer.flush()

    return pieces


def _canned(reply: Reply) -> web.Response:
    if reply.text is None:
        return web.json_response(reply.json, status=reply.status, headers=reply.headers)
    kind = "text/html" if reply.text.lstrip().startswith("<") else "text/plain"
    headers = {"Content-Type": kind, **reply.headers}
    return web.Response(status=reply.status, body=reply.text.encode(), headers=headers)


def _validate(body: Any, raw: bytes) -> list[dict[str, Any]]:
    """Pydantic-style 422 `detail` items for a FIM request body; empty when valid."""
    if body is None and raw.strip() != b"null":
        return [{"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error"}]
    if not isinstance(body, dict):
        msg = "Input should be a valid dictionary or object to extract fields from"
        return [{"type": "model_attributes_type", "loc": ["body"], "msg": msg, "input": body}]
    errors = [
        {**_EXTRA_N, "loc": ["body", k], "input": v} for k, v in body.items() if k not in _FIELDS
    ]
    for name, (kind, lo, hi) in _FIELDS.items():
        value, loc = body.get(name), ["body", name]
        if name not in body or (value is None and name not in _REQUIRED):
            if name in _REQUIRED:
                errors.append(
                    {"type": "missing", "loc": loc, "msg": "Field required", "input": body}
                )
            continue
        types, error_type, msg = _KINDS[kind]
        values = value if name == "stop" and isinstance(value, list) else [value]
        if not all(
            isinstance(v, types) and (kind == "bool") == isinstance(v, bool) for v in values
        ):
            errors.append({"type": error_type, "loc": loc, "msg": msg, "input": value})
        elif lo is not None and value < lo:
            msg = f"Input should be greater than or equal to {lo}"
            errors.append({"type": "greater_than_equal", "loc": loc, "msg": msg, "input": value})
        elif hi is not None and value > hi:
            msg = f"Input should be less than or equal to {hi}"
            errors.append({"type": "less_than_equal", "loc": loc, "msg": msg, "input": value})
    return errors


async def _serve(port: int, key: str, limit: WorkspaceLimit | None) -> None:
    async with FakeCodestral(api_key=key, port=port, limit=limit) as fake:
        sys.stdout.write(fake.url + "\n")
        sys.stdout.flush()
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", default=DEFAULT_KEY, help="the bearer key to accept")
    parser.add_argument("--tpm", type=int, help="workspace limit: tokens per window")
    parser.add_argument("--rpm", type=int, default=500, help="requests per window (with --tpm)")
    parser.add_argument("--window", type=float, default=60.0, help="window seconds (with --tpm)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    limit = None if args.tpm is None else WorkspaceLimit(args.rpm, args.tpm, args.window)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.key, limit))


if __name__ == "__main__":
    main()
