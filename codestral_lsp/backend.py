"""The FIM backend client: one long-lived httpx.AsyncClient, JSON and SSE answers, typed errors."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import re
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent, SSEError

from codestral_lsp import __version__
from codestral_lsp.errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    InvalidResponse,
    RateLimitError,
    RequestRejected,
    ServerError,
)
from codestral_lsp.privacy import redact
from codestral_lsp.settings import Settings

logger = logging.getLogger(__name__)

_RATE_HEADER = re.compile(r"^(x-ratelimit-|ratelimitbysize-)", re.IGNORECASE)
_MAX_ERROR_BODY = 64 * 1024
_DRAIN_S = 0.25
# Calls cancelled while connecting can leave connections stuck in httpcore's pool
# (encode/httpcore#1093): past this many, a fresh pool replaces the old one.
_POOL_LIMIT = 16
# A lone surrogate (a utf-16 client may send one) cannot be encoded as UTF-8 for the request.
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class FimRequest:
    """One call, fully resolved: where to send it, with which key, and the JSON body."""

    url: str
    api_key: str = field(repr=False)
    body: Mapping[str, Any]
    headers: tuple[tuple[str, str], ...] = ()
    timeout_s: float = 10.0

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class FimResult:
    """The model's answer to one call."""

    text: str
    finish_reason: str | None
    usage: Usage | None
    model: str | None
    rate_limits: Mapping[str, str]  # x-ratelimit-* / ratelimitbysize-* headers, lowercased
    elapsed_s: float


def request_body(settings: Settings, prompt: str, suffix: str) -> dict[str, Any]:
    """The API's JSON body; only fields that are set (the API rejects unknown ones)."""
    optional = {
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "max_tokens": settings.max_tokens,
        "min_tokens": settings.min_tokens,
        "stop": list(settings.stop) if isinstance(settings.stop, tuple) else settings.stop,
        "random_seed": settings.random_seed,
    }
    prompt, suffix = _SURROGATE.sub("\ufffd", prompt), _SURROGATE.sub("\ufffd", suffix)
    body: dict[str, Any] = {"model": settings.model, "prompt": prompt, "suffix": suffix}
    body.update({k: v for k, v in optional.items() if v is not None})
    body["stream"] = settings.stream
    return body


class FimClient:
    """Calls a FIM endpoint. One instance (one connection pool) lives as long as the server."""

    def __init__(
        self, transport: httpx.AsyncBaseTransport | None = None, ca_bundle: str | None = None
    ) -> None:
        self._transport = transport
        self._retired: set[httpx.AsyncClient] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self.ca_bundle: str | None = None
        self._client = self._new_client(None)
        if ca_bundle:
            try:
                self._client, self.ca_bundle = self._new_client(ca_bundle), ca_bundle
            except (OSError, ssl.SSLError) as exc:
                logger.error("caBundle %s could not be loaded: %s", ca_bundle, exc)

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
        old, self._client, self.ca_bundle = self._client, fresh, ca_bundle
        await old.aclose()

    @property
    def open_connections(self) -> int:
        """Connections in the pool (for stats: a leak shows as growth)."""
        pool = getattr(self._client._transport, "_pool", None)  # httpx internals: best effort
        return len(getattr(pool, "connections", ()))

    async def aclose(self) -> None:
        for task in self._closing:
            task.cancel()
        await asyncio.gather(*self._closing, return_exceptions=True)
        await asyncio.gather(*(old.aclose() for old in self._retired), return_exceptions=True)
        await self._client.aclose()

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

    async def complete(self, request: FimRequest) -> FimResult:
        """Send one FIM request; raise a BackendError subclass on any failure."""
        started = time.monotonic()
        try:
            return await asyncio.wait_for(self._send(request, started), request.timeout_s)
        except asyncio.TimeoutError as exc:
            raise BackendTimeout(f"no answer within {request.timeout_s:g} s") from exc
        except httpx.TimeoutException as exc:
            raise BackendTimeout(f"timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            detail = redact(str(exc) or type(exc).__name__, [request.api_key])
            raise BackendUnavailable(f"cannot reach {_host(request.url)}: {detail}") from exc
        finally:
            self._recycle_if_leaking(request.timeout_s + 1)

    async def _send(self, request: FimRequest, started: float) -> FimResult:
        headers = {
            "Authorization": f"Bearer {request.api_key}",
            "Accept": "text/event-stream" if request.stream else "application/json",
            **dict(request.headers),
        }
        async with self._client.stream(
            "POST", request.url, json=request.body, headers=headers, timeout=request.timeout_s
        ) as response:
            limits = {k.lower(): v for k, v in response.headers.items() if _RATE_HEADER.match(k)}
            if response.status_code >= 300:
                raw = await _read_capped(response)
                raise _status_error(response, raw, request.api_key, limits)
            if "text/event-stream" in response.headers.get("content-type", ""):
                text, finish, usage, model = await _read_events(response)
            else:
                text, finish, usage, model = _parse_json_body(await response.aread())
        return FimResult(text, finish, usage, model, limits, time.monotonic() - started)


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _MAX_ERROR_BODY:
            break
    return b"".join(chunks)[:_MAX_ERROR_BODY]


async def _read_events(
    response: httpx.Response,
) -> tuple[str, str | None, Usage | None, str | None]:
    parts: list[str] = []
    finish: str | None = None
    usage: Usage | None = None
    model: str | None = None
    done = False
    events = EventSource(response).aiter_sse()
    async for event in events:
        if event.data.strip() == "[DONE]":
            done = True
            break
        if not event.data.strip():
            continue
        chunk = _json_object(event.data.encode())
        choice = _first_choice(chunk)
        delta = choice.get("delta") or choice.get("message") or {}
        content = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(content, str):
            parts.append(content)
        finish = choice.get("finish_reason") or finish
        usage = _usage(chunk) or usage
        model = chunk.get("model") if isinstance(chunk.get("model"), str) else model
        if finish is not None:
            break  # the answer is complete; [DONE] adds nothing (and may never come)
    if not done and finish is None:
        raise InvalidResponse("the event stream ended before the completion finished")
    await _drain(events)
    return "".join(parts), finish, usage, model


async def _drain(events: AsyncIterator[ServerSentEvent]) -> None:
    """Read what follows the answer ([DONE], the body's end) for a moment, so the connection
    goes back to the pool instead of being closed (a new TLS handshake per completion)."""

    async def rest() -> None:
        async for _ in events:
            pass

    with contextlib.suppress(asyncio.TimeoutError, httpx.HTTPError, SSEError):
        await asyncio.wait_for(rest(), _DRAIN_S)


def _parse_json_body(raw: bytes) -> tuple[str, str | None, Usage | None, str | None]:
    data = _json_object(raw)
    choice = _first_choice(data)
    message = choice.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if content is None and isinstance(choice.get("text"), str):
        content = choice["text"]  # OpenAI-style gateways
    if not isinstance(content, str):
        raise InvalidResponse("the answer has no choices[0].message.content string")
    model = data.get("model")
    return (
        content,
        choice.get("finish_reason"),
        _usage(data),
        model if isinstance(model, str) else None,
    )


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidResponse(f"the answer is not JSON: {_snippet(raw)}") from exc
    if not isinstance(data, dict):
        raise InvalidResponse("the answer is JSON but not an object")
    if data.get("object") == "error":
        raise ServerError(f"the backend reported an error: {_error_text(data)}")
    return data


def _first_choice(data: Mapping[str, Any]) -> dict[str, Any]:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise InvalidResponse("the answer has no choices")
    return choices[0]


def _usage(data: Mapping[str, Any]) -> Usage | None:
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int):
        return Usage(prompt, completion)
    return None


def _status_error(
    response: httpx.Response, raw: bytes, api_key: str, limits: dict[str, str]
) -> BackendError:
    status = response.status_code
    detail = redact(_error_text_from_body(raw), [api_key])
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
    """The human part of the error bodies seen in the wild (see FACTS.md)."""
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
