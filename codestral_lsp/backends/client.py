"""The backend client: one long-lived httpx.AsyncClient for every API, typed errors.

The wire format (``backends.protocol.Wire``) builds each request and parses each answer, event
or line; this client sends it and reads the answer (JSON, SSE or NDJSON) the same way for all.

Answers are read within bounds, whatever the backend sends: the body is decoded (gzip, deflate)
here, in steps of at most 64 KiB, and reading stops past a byte budget; the text stops at a
character budget. Both follow from ``max_tokens`` (see ``FimRequest.text_limit``), and one
deadline, ``timeout_s``, covers the whole call.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import functools
import json
import logging
import re
import ssl
import time
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from codestral_lsp import __version__, lazy
from codestral_lsp.backends import Route
from codestral_lsp.backends.errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    InvalidResponse,
    RateLimitError,
    RequestRejected,
    ServerError,
)
from codestral_lsp.backends.mistral_fim import WIRE as MISTRAL_FIM
from codestral_lsp.backends.protocol import FimCall, Piece, Usage, Wire
from codestral_lsp.privacy import redact
from codestral_lsp.settings import Settings

if TYPE_CHECKING:
    import email.utils

    import httpx
    import httpx_sse
else:  # imported when the first request is sent: not needed to start (issue 13)
    httpx = lazy.module("httpx")
    httpx_sse = lazy.module("httpx_sse")
    lazy.module("email.utils")

logger = logging.getLogger(__name__)

_RATE_HEADER = re.compile(r"^(x-ratelimit-|ratelimitbysize-)", re.IGNORECASE)
_MAX_ERROR_BODY = 64 * 1024
_DRAIN_S = 0.25
# Calls cancelled while connecting can leave connections stuck in httpcore's pool
# (encode/httpcore#1093): past this many, a fresh pool replaces the old one.
_POOL_LIMIT = 16
# Bounds on an answer. A token is rarely over 16 characters: 32 is generous. Without maxTokens
# (or above this figure) an answer is read as if it had asked for this many tokens.
_CHARS_PER_TOKEN = 32
_TOKENS_READ = 4096
# Body bytes per token: an SSE event carries ~200 bytes of JSON around each token, and JSON
# escapes a character in up to 6 bytes; plus room for the envelope.
_BYTES_PER_TOKEN = 1024
_BYTES_BASE = 64 * 1024
# Decompressed bytes produced per step, so a compressed body never blocks the loop for long.
_STEP = 64 * 1024
_ENCODINGS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


@dataclass(frozen=True)
class FimRequest:
    """One call, fully resolved: where to send it, with which key (None: no Authorization
    header), the JSON body, and the wire format that built it and reads its answer."""

    url: str
    api_key: str | None = field(repr=False)
    body: Mapping[str, Any]
    headers: tuple[tuple[str, str], ...] = ()
    timeout_s: float = 10.0
    wire: Wire = MISTRAL_FIM

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def _tokens_read(self) -> int:
        wanted = self.wire.max_tokens(self.body)
        return min(wanted, _TOKENS_READ) if isinstance(wanted, int) else _TOKENS_READ

    @property
    def text_limit(self) -> int:
        """Most characters of text an answer may bring; more is cut (finish_reason "length")."""
        return self._tokens_read * _CHARS_PER_TOKEN

    @property
    def byte_limit(self) -> int:
        """Most bytes of body (after decompression) read; past it the answer is invalid."""
        return _BYTES_BASE + self._tokens_read * _BYTES_PER_TOKEN


@dataclass(frozen=True)
class FimResult:
    """The model's answer to one call."""

    text: str
    finish_reason: str | None
    usage: Usage | None
    model: str | None
    rate_limits: Mapping[str, str]  # x-ratelimit-* / ratelimitbysize-* headers, lowercased
    elapsed_s: float


def fim_call(
    settings: Settings,
    prompt: str,
    suffix: str,
    extra: str = "",
    files: Sequence[tuple[str, str]] = (),
) -> FimCall:
    """The neutral request for ``prompt``/``suffix`` (and other files' ``extra``, whole and
    as ``files``)."""
    return FimCall(
        model=settings.model,
        prompt=prompt,
        suffix=suffix,
        extra=extra,
        extra_files=tuple(files),
        max_tokens=settings.max_tokens,
        min_tokens=settings.min_tokens,
        temperature=settings.temperature,
        top_p=settings.top_p,
        stop=settings.stop,
        seed=settings.random_seed,
        stream=settings.stream,
        fim_template=settings.fim_template,
    )


def fim_request(
    settings: Settings,
    route: Route,
    prompt: str,
    suffix: str,
    extra: str = "",
    files: Sequence[tuple[str, str]] = (),
) -> FimRequest:
    """The whole request: URL, key and wire from ``route``; body, headers, deadline from
    ``settings``. A streamed call goes to the wire's streaming route, if it has its own."""
    return FimRequest(
        url=route.wire.stream_url(route.url) if settings.stream else route.url,
        api_key=route.key,
        body=route.wire.body(fim_call(settings, prompt, suffix, extra, files)),
        headers=settings.headers,
        timeout_s=settings.request_timeout_ms / 1000,
        wire=route.wire,
    )


class FimClient:
    """Calls a FIM endpoint. One instance (one connection pool) lives as long as the server."""

    def __init__(
        self, transport: httpx.AsyncBaseTransport | None = None, ca_bundle: str | None = None
    ) -> None:
        self._transport = transport
        self._retired: set[httpx.AsyncClient] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self.ca_bundle: str | None = None
        self._pool: httpx.AsyncClient | None = None  # made on first use: not needed to start
        if ca_bundle:
            try:
                self._client, self.ca_bundle = self._new_client(ca_bundle), ca_bundle
            except (OSError, ssl.SSLError) as exc:
                logger.error("caBundle %s could not be loaded: %s", ca_bundle, exc)

    @property
    def _client(self) -> httpx.AsyncClient:
        if self._pool is None:
            self._pool = self._new_client(self.ca_bundle)
        return self._pool

    @_client.setter
    def _client(self, client: httpx.AsyncClient) -> None:
        self._pool = client

    def _new_client(self, ca_bundle: str | None) -> httpx.AsyncClient:
        # Certificates are always verified: against ``ca_bundle`` when set, else the defaults
        # (certifi, or SSL_CERT_FILE / SSL_CERT_DIR). Proxies come from the usual variables.
        verify: ssl.SSLContext | bool = True
        if ca_bundle:
            verify = ssl.create_default_context(cafile=ca_bundle)
        return httpx.AsyncClient(
            transport=self._transport,
            verify=verify,
            headers={"User-Agent": f"codestral-lsp/{__version__}"},
            limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=120),
            follow_redirects=False,
        )

    async def use_ca_bundle(self, ca_bundle: str | None) -> None:
        """Trust ``ca_bundle`` (a PEM file) from now on; a new pool replaces the old one."""
        if ca_bundle == self.ca_bundle:
            return
        try:
            fresh = self._new_client(ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            logger.error("caBundle %s could not be loaded: %s", ca_bundle, exc)
            return
        old, self._pool, self.ca_bundle = self._pool, fresh, ca_bundle
        if old is not None:
            await old.aclose()

    @property
    def open_connections(self) -> int:
        """Connections in the pool (for stats: a leak shows as growth)."""
        if self._pool is None:
            return 0
        pool = getattr(self._pool._transport, "_pool", None)  # httpx internals: best effort
        return len(getattr(pool, "connections", ()))

    async def aclose(self) -> None:
        for task in self._closing:
            task.cancel()
        await asyncio.gather(*self._closing, return_exceptions=True)
        await asyncio.gather(*(old.aclose() for old in self._retired), return_exceptions=True)
        if self._pool is not None:
            await self._pool.aclose()

    def _recycle_if_leaking(self, grace_s: float) -> None:
        """Replace a pool that has grown past its limit; the old one closes after ``grace_s``,
        when the calls still using it are over (each is bounded by its timeout)."""
        if self.open_connections <= _POOL_LIMIT:
            return
        logger.info("replacing the connection pool (%d connections)", self.open_connections)
        old, self._client = self._client, self._new_client(self.ca_bundle)
        self._retired.add(old)
        task = asyncio.get_running_loop().create_task(self._close_later(old, grace_s))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_later(self, old: httpx.AsyncClient, grace_s: float) -> None:
        await asyncio.sleep(grace_s)  # a deadline, not a wait for an event
        self._retired.discard(old)
        await old.aclose()

    async def health(self, url: str, timeout_s: float) -> int:
        """The status of a GET of ``url`` (a server's health check; no key, body unread)."""
        _ = self._client  # made before the clock starts, as for a call
        try:
            return await asyncio.wait_for(self._status(url, timeout_s), timeout_s)
        except (asyncio.TimeoutError, httpx.TimeoutException) as exc:
            raise BackendTimeout(f"no answer within {timeout_s:g} s") from exc
        except httpx.TransportError as exc:
            detail = str(exc) or type(exc).__name__
            raise BackendUnavailable(f"cannot reach {_host(url)}: {detail}") from exc

    async def _status(self, url: str, timeout_s: float) -> int:
        async with self._client.stream("GET", url, timeout=timeout_s) as response:
            return response.status_code

    async def complete(self, request: FimRequest) -> FimResult:
        """Send one FIM request; raise a BackendError subclass on any failure."""
        _ = self._client  # the first call makes the pool (and imports httpx) before its clock
        started = time.monotonic()
        try:
            return await asyncio.wait_for(self._send(request, started), request.timeout_s)
        except asyncio.TimeoutError as exc:
            raise BackendTimeout(f"no answer within {request.timeout_s:g} s") from exc
        except httpx.TimeoutException as exc:
            raise BackendTimeout(f"timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            detail = redact(str(exc) or type(exc).__name__, _keys(request))
            raise BackendUnavailable(f"cannot reach {_host(request.url)}: {detail}") from exc
        finally:
            self._recycle_if_leaking(request.timeout_s + 1)

    async def _send(self, request: FimRequest, started: float) -> FimResult:
        wire = request.wire
        headers = {
            **wire.auth_headers(request.api_key),
            "Accept": wire.stream_type if request.stream else "application/json",
            "Accept-Encoding": ", ".join(_ENCODINGS),
            **dict(request.headers),
        }
        async with self._client.stream(
            "POST", request.url, json=request.body, headers=headers, timeout=request.timeout_s
        ) as response:
            limits = {k.lower(): v for k, v in response.headers.items() if _RATE_HEADER.match(k)}
            if response.status_code >= 300:
                raw = await _read_capped(response)
                raise _status_error(response, raw, _keys(request), limits)
            body = _bounded(response, request.byte_limit)
            kind = response.headers.get("content-type", "")
            if "text/event-stream" in kind:
                read = await _read_stream(_events(body), wire, request.text_limit)
            elif "ndjson" in kind:
                read = await _read_stream(_lines(body), wire, request.text_limit)
            else:
                read = wire.answer(_json_object(await body.aread()))
                if len(read.text) > request.text_limit:
                    read = Piece(read.text[: request.text_limit], "length", read.usage, read.model)
            usage = read.usage or wire.header_usage(response.headers)
        elapsed = time.monotonic() - started
        return FimResult(read.text, read.finish, usage, read.model, limits, elapsed)


def _keys(request: FimRequest) -> list[str]:
    return [request.api_key] if request.api_key else []


class _BoundedBody:
    """A response's body, decompressed in steps of ``_STEP`` bytes, ending in InvalidResponse
    past ``limit`` bytes (httpx would inflate a whole network read at once, unbounded).

    An ``httpx.AsyncByteStream`` as ``_stream_type`` makes it (httpx is imported on first use).
    """

    def __init__(self, response: httpx.Response, limit: int) -> None:
        self._response, self._limit = response, limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        decoder, chunks = self._source()
        size = 0
        async for raw in chunks:
            for piece in decoder.feed(raw):
                size += len(piece)
                if size > self._limit:
                    raise InvalidResponse(f"the answer is larger than {self._limit} bytes")
                yield piece
        for piece in decoder.flush():
            if size + len(piece) > self._limit:
                raise InvalidResponse(f"the answer is larger than {self._limit} bytes")
            yield piece

    def _source(self) -> tuple[_Inflater | _Identity, AsyncIterator[bytes]]:
        response = self._response
        if response.is_stream_consumed:  # read and decoded already (a mock transport)
            return _Identity(), _pieces(response.content)
        return _decoder(response.headers.get("content-encoding", "")), response.aiter_raw()

    async def aclose(self) -> None:
        await self._response.aclose()


async def _pieces(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), _STEP):
        yield data[start : start + _STEP]


@functools.cache
def _stream_type() -> Callable[[httpx.Response, int], httpx.AsyncByteStream]:
    """``_BoundedBody`` as the ``httpx.AsyncByteStream`` httpx wants, made once httpx is in."""
    made = type("BoundedBody", (_BoundedBody, httpx.AsyncByteStream), {})
    return cast("Callable[[httpx.Response, int], httpx.AsyncByteStream]", made)


def _bounded(response: httpx.Response, limit: int) -> httpx.Response:
    """``response`` with its body read through ``_BoundedBody`` (already decoded)."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k != "content-encoding"]
    return httpx.Response(
        response.status_code,
        headers=headers,
        stream=_stream_type()(response, limit),
        request=response.request,
    )


class _Inflater:
    """Decodes a gzip or deflate body in pieces of at most ``_STEP`` bytes."""

    def __init__(self, encoding: str) -> None:
        self._inflate = zlib.decompressobj(_ENCODINGS[encoding])
        self._maybe_raw = encoding == "deflate"  # "deflate" is zlib-wrapped, or raw in the wild

    def feed(self, raw: bytes) -> Iterator[bytes]:
        while raw and not self._inflate.eof:
            try:
                out = self._inflate.decompress(raw, _STEP)
            except zlib.error as exc:
                if not self._maybe_raw:
                    raise InvalidResponse(f"the answer's body does not decode: {exc}") from exc
                self._inflate, self._maybe_raw = zlib.decompressobj(-zlib.MAX_WBITS), False
                continue
            self._maybe_raw = False
            raw = self._inflate.unconsumed_tail
            if out:
                yield out

    def flush(self) -> Iterator[bytes]:
        """What zlib still holds once all input is in (a few bytes at most)."""
        try:
            out = self._inflate.flush()
        except zlib.error as exc:
            raise InvalidResponse(f"the answer's body does not decode: {exc}") from exc
        if out:
            yield out


class _Identity:
    def feed(self, raw: bytes) -> Iterator[bytes]:
        if raw:
            yield raw

    def flush(self) -> Iterator[bytes]:
        return iter(())


def _decoder(encoding: str) -> _Inflater | _Identity:
    """The decoder for a body with this Content-Encoding; InvalidResponse for others."""
    names = [name.strip().lower() for name in encoding.split(",") if name.strip()]
    names = [name for name in names if name != "identity"]
    if not names:
        return _Identity()
    if len(names) > 1 or names[0] not in _ENCODINGS:
        raise InvalidResponse(f"the answer has an unsupported Content-Encoding: {encoding[:40]}")
    return _Inflater(names[0])


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in _bounded(response, 2 * _MAX_ERROR_BODY).aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= _MAX_ERROR_BODY:
                break
    except InvalidResponse:  # an undecodable error body: what came is enough to describe it
        pass
    return b"".join(chunks)[:_MAX_ERROR_BODY]


async def _events(response: httpx.Response) -> AsyncGenerator[str, None]:
    """The data of each server-sent event."""
    async with contextlib.aclosing(httpx_sse.EventSource(response).aiter_sse()) as events:
        async for event in events:
            yield event.data


async def _lines(response: httpx.Response) -> AsyncGenerator[str, None]:
    """Each line of an NDJSON body."""
    async for line in response.aiter_lines():  # closed with the response
        yield line


async def _read_stream(data: AsyncGenerator[str, None], wire: Wire, limit: int) -> Piece:
    """The text of a stream (events or lines); past ``limit`` characters it is cut and
    reading stops."""
    parts: list[str] = []
    size = 0
    finish: str | None = None
    usage: Usage | None = None
    model: str | None = None
    done = False
    async with contextlib.aclosing(data):
        async for item in data:
            if wire.done_marker is not None and item.strip() == wire.done_marker:
                done = True
                break
            if not item.strip():
                continue
            piece = wire.chunk(_json_object(item.encode()))
            parts.append(piece.text)
            size += len(piece.text)
            finish = piece.finish or finish
            usage, model = piece.usage or usage, piece.model or model
            if size > limit:
                # no drain: leaving the stream closes it, and ends generation
                return Piece("".join(parts)[:limit], "length", usage, model)
            if finish is not None and not wire.reads_to_end:
                break  # the answer is complete; what follows adds nothing (and may never come)
        if not done and finish is None:
            raise InvalidResponse("the stream ended before the completion finished")
        await _drain(data)
    return Piece("".join(parts), finish, usage, model)


async def _drain(items: AsyncIterator[str]) -> None:
    """Read what follows the answer ([DONE], the body's end) for a moment, so the connection
    goes back to the pool instead of being closed (a new TLS handshake per completion)."""

    async def rest() -> None:
        async for _ in items:
            pass

    with contextlib.suppress(
        asyncio.TimeoutError, httpx.HTTPError, httpx_sse.SSEError, InvalidResponse
    ):
        await asyncio.wait_for(rest(), _DRAIN_S)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidResponse(f"the answer is not JSON: {_snippet(raw)}") from exc
    if not isinstance(data, dict):
        raise InvalidResponse("the answer is JSON but not an object")
    if data.get("object") == "error" or data.get("error"):  # Mistral's; Ollama's, llama.cpp's
        raise ServerError(f"the backend reported an error: {_error_text(data)}")
    return data


def _status_error(
    response: httpx.Response, raw: bytes, keys: list[str], limits: dict[str, str]
) -> BackendError:
    status = response.status_code
    detail = redact(_error_text_from_body(raw), keys)
    message = f"HTTP {status} from {_host(str(response.request.url))}: {detail}"
    if status in (401, 403):
        return AuthError(message, status=status)
    if status == 429:
        wait = retry_after(response.headers)
        return RateLimitError(message, retry_after=wait, rate_limits=limits)
    kind = ServerError if status >= 500 else RequestRejected
    return kind(message, status=status, rate_limits=limits)


def _error_text_from_body(raw: bytes) -> str:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _snippet(raw)
    return _error_text(data)


def _error_text(data: object, depth: int = 0) -> str:
    """The human part of an error body: Mistral's ``message`` (text, an object, or JSON in a
    string; https://docs.mistral.ai/api/#tag/fim), ``detail`` (text, or a 422's list of
    ``{loc, msg, type}``), Ollama's and llama.cpp's ``error``; proxies' HTML as plain text."""
    if depth > 6:
        return _snippet(json.dumps(data).encode())
    if isinstance(data, str):
        try:
            return _error_text(json.loads(data), depth + 1)
        except json.JSONDecodeError:
            return data[:300]
    if isinstance(data, list):
        return "; ".join(_error_text(item, depth + 1) for item in data[:5])
    if isinstance(data, dict):
        if "msg" in data:
            loc = ".".join(str(p) for p in data.get("loc", []) if p != "body")
            kind = data.get("type")
            return f"{loc + ': ' if loc else ''}{data['msg']}{f' ({kind})' if kind else ''}"
        for key in ("message", "detail", "error"):
            if key in data:
                return _error_text(data[key], depth + 1)
    return _snippet(json.dumps(data).encode())


def _snippet(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    text = re.sub(r"<[^>]+>", " ", text)  # proxies answer with HTML pages
    text = re.sub(r"\s+", " ", text).strip()
    return (text[:200] + "...") if len(text) > 200 else (text or "(empty body)")


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``ratelimitbysize-reset``."""
    value = headers.get("retry-after") or headers.get("ratelimitbysize-reset")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _host(url: str) -> str:
    return httpx.URL(url).host or url
