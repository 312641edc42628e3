"""The engine: the request it builds, the route it holds, the stop after a refused or missing
key, and what each call costs. The backend is an httpx MockTransport: no network, no sleeps."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import httpx
import pytest

from codestral_lsp.backends import Route
from codestral_lsp.backends.client import FimClient
from codestral_lsp.documents import Cursor, Document
from codestral_lsp.engine import CompletionEngine, build_request, shape_at
from codestral_lsp.governor import Governor
from codestral_lsp.local import FimContext, build
from codestral_lsp.notices import Notice, Notices
from codestral_lsp.settings import Settings
from codestral_lsp.shaping import Shaped
from codestral_lsp.stats import Stats
from codestral_lsp.tokens import MARGIN, TokenEstimator

CURSOR = "█"
KEY = "cdst-key-0123456789"
ENV = {"CODESTRAL_API_KEY": KEY}
SETTINGS = Settings(stream=False, redact_secrets=False)
OK_BODY = {
    "model": "codestral-latest",
    "choices": [{"index": 0, "message": {"content": "a + b"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 11, "completion_tokens": 3},
}
OLLAMA, GATEWAY = "http://127.0.0.1:11434", "http://gw:9/v1/fim/completions"
SPACE = "contains a space: copy the key again"


def ctx(marked: str, language: str = "python") -> FimContext:
    at = marked.index(CURSOR)
    text = marked.replace(CURSOR, "")
    before = text[:at]
    cursor = Cursor(before.count("\n"), len(before) - (before.rfind("\n") + 1))
    return build(Document("file:///a.py", text, 1, language), cursor)


class Backend:
    """A MockTransport that answers with ``replies`` in turn (the last one again) and counts."""

    def __init__(self, *replies: httpx.Response, gate: asyncio.Event | None = None) -> None:
        self.replies, self.gate = list(replies), gate
        self.seen: list[httpx.Request] = []
        self.reached = asyncio.Event()  # a request reached the backend

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        self.reached.set()
        if self.gate is not None:
            await self.gate.wait()
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


class Shown(list[str]):
    """What the user was shown (window/showMessage)."""


def engine_for(
    backend: Backend, settings: Settings = SETTINGS, environ: dict[str, str] | None = None
) -> tuple[CompletionEngine, Shown, Governor, Stats]:
    shown = Shown()
    governor, stats = Governor(), Stats()
    engine = CompletionEngine(
        FimClient(httpx.MockTransport(backend)),
        Route.of(settings, ENV if environ is None else environ),
        Notices(shown.append),
        governor,
        TokenEstimator(),
        stats,
    )
    engine.configure(settings, engine.route)
    return engine, shown, governor, stats


async def ask(
    engine: CompletionEngine, settings: Settings = SETTINGS, marked: str = "def f(a, b):\n    █\n"
) -> str | None:
    completion = await engine.complete(ctx(marked), settings, "c1", 100)
    return None if completion is None else completion.text


# --- the request ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "environ", "url", "authorization"),
    [
        (Settings(), ENV, "https://codestral.mistral.ai/v1/fim/completions", f"Bearer {KEY}"),
        (Settings(provider="mistral"), ENV, "https://api.mistral.ai/v1/fim/completions", None),
        (Settings(api_key="k-from-the-setting"), ENV, None, "Bearer k-from-the-setting"),
        (Settings(provider="ollama", api_key="k-set"), ENV, f"{OLLAMA}/api/generate", None),
        (Settings(endpoint=f"{GATEWAY}"), ENV, GATEWAY, f"Bearer {KEY}"),
    ],
)  # fmt: skip
def test_the_request_goes_where_the_route_says_with_its_key(
    settings: Settings, environ: dict[str, str], url: str | None, authorization: str | None
) -> None:
    route = Route.of(settings, environ)
    request = build_request(ctx("x = █\n"), settings, route)
    assert request.url == route.url
    if url is not None:
        assert request.url == url
    assert request.api_key == (authorization.removeprefix("Bearer ") if authorization else None)
    assert request.wire is route.wire


def test_the_request_sends_the_masked_text_and_the_settings_fields() -> None:
    settings = Settings(redact_secrets=True, max_tokens=64, temperature=0.2)
    secret = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    context = ctx(f'token = "{secret}"\nx = █\n')
    request = build_request(context, settings, Route.of(settings, ENV))
    assert secret not in str(request.body)
    assert request.body["prompt"].endswith("x = ")
    assert (request.body["max_tokens"], request.body["temperature"]) == (64, 0.2)
    unmasked = dataclasses.replace(settings, redact_secrets=False)
    assert secret in build_request(context, unmasked, Route.of(unmasked, ENV)).body["prompt"]


# --- the route -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "environ", "key", "source", "missing", "problem"),
    [
        (Settings(), ENV, KEY, "$CODESTRAL_API_KEY", False, None),
        (Settings(), {}, None, "$CODESTRAL_API_KEY", True, None),
        (Settings(provider="langdock"), ENV, None, "$LANGDOCK_API_KEY", True, None),
        (Settings(api_key="direct-0123"), {}, "direct-0123", "the apiKey setting", False, None),
        (Settings(), {"CODESTRAL_API_KEY": "a b"}, "a b", "$CODESTRAL_API_KEY", False, SPACE),
        (Settings(provider="ollama"), ENV, None, "no key (ollama takes none)", False, None),
        (Settings(provider="llamacpp"), ENV, None, "$LLAMA_API_KEY", False, None),
    ],
)  # fmt: skip
def test_the_route_resolves_the_key_once_and_says_what_is_wrong(
    settings: Settings,
    environ: dict[str, str],
    key: str | None,
    source: str,
    missing: bool,
    problem: str | None,
) -> None:
    route = Route.of(settings, environ)
    assert (route.key, route.key_source, route.missing_key, route.key_problem) == (
        key,
        source,
        missing,
        problem,
    )
    assert route.usable == (not missing and problem is None)
    if key is not None:
        assert key not in repr(route)


# --- stopping after a refused or missing key ----------------------------------------------------


async def test_a_refused_key_stops_the_calls_until_the_settings_change() -> None:
    backend = Backend(
        httpx.Response(401, json={"message": "Unauthorized"}), httpx.Response(200, json=OK_BODY)
    )
    engine, shown, _, stats = engine_for(backend)
    assert await ask(engine) is None
    assert await ask(engine) is None
    assert await ask(engine) is None
    assert len(backend.seen) == 1  # one 401, then no call
    assert "HTTP 401" in str(engine.stopped)
    [message] = shown
    assert "refused the API key from $CODESTRAL_API_KEY" in message
    assert KEY not in message
    engine.configure(SETTINGS, Route.of(SETTINGS, ENV))  # the same settings again: no change
    assert await ask(engine) is None
    assert len(backend.seen) == 1
    changed = dataclasses.replace(SETTINGS, api_key="a-new-key-0123")
    engine.configure(changed, Route.of(changed, ENV))
    assert engine.stopped is None
    assert await ask(engine, changed) == "a + b"
    assert backend.seen[-1].headers["authorization"] == "Bearer a-new-key-0123"
    assert stats.snapshot()["errors"] == {"auth": 1}


async def test_no_key_is_said_once_and_nothing_goes_out() -> None:
    backend = Backend(httpx.Response(200, json=OK_BODY))
    engine, shown, _, _ = engine_for(backend, environ={})
    assert engine.refuses()
    for _ in range(3):
        assert await ask(engine) is None
    assert backend.seen == []
    [message] = shown
    assert "no API key for provider 'codestral'. Fix: set CODESTRAL_API_KEY to" in message
    assert engine.stopped == "no API key for provider 'codestral'"


async def test_a_refusal_for_the_old_route_does_not_stop_the_new_one() -> None:
    gate = asyncio.Event()
    backend = Backend(httpx.Response(401, json={"message": "Unauthorized"}), gate=gate)
    engine, shown, _, _ = engine_for(backend)
    call = asyncio.ensure_future(ask(engine))
    await backend.reached.wait()
    changed = dataclasses.replace(SETTINGS, api_key="a-new-key-0123")
    engine.configure(changed, Route.of(changed, ENV))
    gate.set()
    assert await call is None
    assert engine.stopped is None
    assert shown == []


async def test_a_rate_limit_cools_down_without_stopping_or_telling_the_user() -> None:
    backend = Backend(
        httpx.Response(
            429, json={"message": "Requests rate limit exceeded"}, headers={"retry-after": "7"}
        )
    )
    engine, shown, governor, _ = engine_for(backend)
    assert await ask(engine) is None
    assert engine.stopped is None
    assert shown == []
    assert governor.snapshot()["coolDownSeconds"] == 7.0


# --- accounting ---------------------------------------------------------------------------------


async def test_a_call_is_accounted_to_the_governor_the_estimator_and_the_stats() -> None:
    body = {**OK_BODY, "usage": {"prompt_tokens": 160, "completion_tokens": 3}}
    limits = {"x-ratelimit-remaining-req-minute": "9"}
    engine, _, governor, stats = engine_for(Backend(httpx.Response(200, json=body, headers=limits)))
    marked = "def f(a, b):\n    return a + b\n\n" * 20 + "x = █\n"  # 625 characters sent
    assert await ask(engine, marked=marked) == "a + b"
    numbers: dict[str, Any] = stats.snapshot()
    assert (numbers["promptTokens"], numbers["completionTokens"]) == (160, 3)
    assert numbers["models"]["codestral-latest"]["calls"] == 1
    limiter: dict[str, Any] = governor.snapshot()
    assert limiter["tokensToday"] == 163
    assert limiter["requestsLeft"] == 9
    assert engine.estimator.snapshot() == {"python": round(625 / 160 * MARGIN, 3)}


async def test_a_blank_answer_is_no_completion_but_is_paid_for() -> None:
    blank = {
        **OK_BODY,
        "choices": [{"index": 0, "message": {"content": " \n"}, "finish_reason": "stop"}],
    }
    engine, _, governor, _ = engine_for(Backend(httpx.Response(200, json=blank)))
    assert await ask(engine) is None
    assert governor.snapshot()["tokensToday"] == 14


# --- shaping, and the notices' rules -------------------------------------------------------------


def test_shape_at_is_the_servers_shaping_at_the_cursor() -> None:
    doc = Document("file:///a.py", "def add(a, b):\n    return \n", 1)
    shaped, around = shape_at(
        "a + b\n\n\nprint(1)", doc, Cursor(1, 11), Settings(multiline="never")
    )
    assert shaped == Shaped("a + b", 0)
    assert (around.head, around.tail) == ("    return ", "")


def test_notices_are_logged_once_and_shown_only_when_actionable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shown: list[str] = []
    notices = Notices(shown.append)
    with caplog.at_level(logging.INFO, logger="codestral_lsp.notices"):
        for _ in range(3):
            notices(Notice("route", "no key", logging.ERROR, actionable=True))
            notices(Notice("holding", "holding back", logging.WARNING))
        notices.clear("route")
        notices(Notice("route", "no key", logging.ERROR, actionable=True))
    assert shown == ["no key", "no key"]
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, "no key"),
        (logging.WARNING, "holding back"),
        (logging.ERROR, "no key"),
    ]
