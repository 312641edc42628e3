"""Backend faults: every one is answered in time, the server lives on, and the next request works.

One table of faults, each run with `stream` true and false against a fresh server. The documented
answer to a fault is an empty `InlineCompletionList` ("nothing here"); partial text from a cut
stream is never shown. The one exception is a stream that never sends `[DONE]`: its last chunk
carries `finish_reason`, so the text is complete and is shown at once. TLS is checked with a
throwaway CA (trustme): untrusted by default, trusted through the `caBundle` setting.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.conftest import ServerFactory, inline, items, open_doc, send_inline
from tests.fake_codestral import ERROR_BODIES, FakeCodestral, Reply

URI = "file:///w/a.py"
TEXT = "fine"  # what the working backend completes
TIMEOUT_MS = 1500
MARGIN_S = 4.0  # "does not hang", not a benchmark: a loaded CI machine must pass too
OPTIONS = {"requestTimeoutMs": TIMEOUT_MS, "cacheSize": 0, "debounceMs": 0, "debounceMaxMs": 0}
UNRESOLVABLE = "http://codestral-lsp-test.invalid/v1/fim/completions"  # RFC 2606: never resolves


def _sse(*data: str) -> Reply:
    """A 200 event stream with these `data:` payloads, sent verbatim."""
    events = "".join(f"data: {d}\n\n" for d in data)
    return Reply(200, text=events, headers={"Content-Type": "text/event-stream"})


def _same(reply: Reply) -> Callable[[bool], Reply]:
    return lambda stream: reply


@dataclass(frozen=True)
class Fault:
    """One row: how the backend breaks, and what the server makes of it."""

    name: str
    kind: str | None  # the error kind `codestral.stats` counts; None: no error
    log: str  # a fragment of what the server logs about it
    reply: Callable[[bool], Reply] | None = None  # the fake's next reply, given `stream`
    endpoint: str | None = None  # or point the server at a broken endpoint: refused, dns, tls
    text: str = ""  # the answer to the faulty request
    cool_down_s: tuple[float, float] | None = None  # a 429: the cool-down's bounds right after


def _either(streamed: Reply, plain: Reply) -> Callable[[bool], Reply]:
    """One reply for `stream: true`, another for `stream: false`."""
    return lambda stream: streamed if stream else plain


def _status(status: int, body: Any, **headers: str) -> Callable[[bool], Reply]:
    if isinstance(body, str):
        return _same(Reply(status, text=body, headers=headers))
    return _same(Reply(status, body, headers=headers))


_CUT = "a b c d e f"
_OPEN = Reply(stream=True, omit_done=True, keep_open=True, completion="done anyway")
FAULTS = [
    Fault("connection refused", "unavailable", "cannot reach 127.0.0.1", endpoint="refused"),
    Fault("DNS failure", "unavailable", "cannot reach codestral-lsp-test.invalid", endpoint="dns"),
    Fault("TLS untrusted", "unavailable", "certificate verify failed", endpoint="tls"),
    Fault("400", "rejected", "HTTP 400", _status(400, {"message": "Invalid model: codestral-x"})),
    Fault("401", "auth", "(HTTP 401)", _status(401, ERROR_BODIES["unauthorized_message"])),
    Fault("403", "auth", "(HTTP 403)", _status(403, ERROR_BODIES["unauthorized_detail"])),
    Fault("404", "rejected", "HTTP 404", _status(404, {"detail": "Not Found"})),
    Fault("422", "rejected", "Field required", _status(422, ERROR_BODIES["validation_422"])),
    Fault(
        "429 Retry-After",
        "rate_limit",
        "rate limited: HTTP 429",
        _status(429, ERROR_BODIES["requests_rate_limit"], **{"Retry-After": "30"}),
        cool_down_s=(20, 30),  # the server's figure, not a guess
    ),
    Fault(
        "429 no Retry-After",
        "rate_limit",
        "rate limited: HTTP 429",
        _status(429, ERROR_BODIES["rate_limited_1300"]),
        cool_down_s=(0, 1.5),  # the first backoff step: 1 s with jitter
    ),
    Fault("500", "server", "HTTP 500", _status(500, ERROR_BODIES["error_object_string_message"])),
    Fault("502 HTML", "server", "502 Bad Gateway", _status(502, ERROR_BODIES["html_502"])),
    Fault("503", "server", "HTTP 503", _status(503, ERROR_BODIES["error_object_nested"])),
    Fault(
        "wrong JSON shape",
        "invalid_response",
        "no choices",
        _either(_sse('{"choices": "none"}', "[DONE]"), Reply(200, {"choices": "none"})),
    ),
    Fault(
        "not JSON",
        "invalid_response",
        "not JSON",
        _either(_sse("<html>hello</html>", "[DONE]"), Reply(200, text="<html>hello</html>")),
    ),
    Fault(
        "cut mid-way",
        "unavailable",  # httpx: the peer closed the connection before the end of the body
        "no completion",
        _either(Reply(cut_after_chunks=2, completion=_CUT), Reply(cut_after_bytes=40)),
    ),
    # With stream false: a gateway that streams anyway. The last chunk has finish_reason.
    Fault("no [DONE], left open", None, "finish=stop", _same(_OPEN), text="done anyway"),
    Fault("never answers", "timeout", "no answer within 1.5 s", _same(Reply(hang=True))),
    Fault(
        "drips a byte a second",
        "timeout",
        "no answer within 1.5 s",
        _same(Reply(drip_interval=1.0)),
    ),
]


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    """A throwaway CA and its certificate as a PEM file (what `caBundle` points at)."""
    ca = trustme.CA()
    pem = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    return ca, pem


@pytest.fixture
async def tls_fake(tls_ca: tuple[trustme.CA, Path]) -> AsyncIterator[FakeCodestral]:
    """A fake serving https on 127.0.0.1 with a certificate from `tls_ca`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca[0].issue_cert("127.0.0.1", "localhost").configure_cert(context)
    async with FakeCodestral(completion=TEXT, ssl_context=context) as fake:
        yield fake


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    return f"http://127.0.0.1:{port}/v1/fim/completions"


async def stats(client: LanguageClient) -> dict[str, Any]:
    params = types.ExecuteCommandParams(command="codestral.stats")
    result = await client.workspace_execute_command_async(params)
    assert isinstance(result, dict)
    return result


def server_log(client: LanguageClient) -> str:
    log: Path = client.log_file  # type: ignore[attr-defined]
    return log.read_text(encoding="utf-8")


def texts(result: object) -> list[str]:
    return [str(item.insert_text) for item in items(result)]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_fault_is_answered_in_time_and_the_next_request_works(
    start_server: ServerFactory,
    fake_codestral: FakeCodestral,
    tls_fake: FakeCodestral,
    fault: Fault,
    stream: bool,
) -> None:
    fake_codestral.completion = TEXT
    endpoints = {"refused": closed_port_url(), "dns": UNRESOLVABLE, "tls": tls_fake.url}
    options = {**OPTIONS, "stream": stream}
    if fault.endpoint is not None:
        options["endpoint"] = endpoints[fault.endpoint]
    if fault.reply is not None:
        fake_codestral.enqueue(fault.reply(stream))
    async with start_server(init_options=options) as client:
        open_doc(client, URI, "x = ")
        started = time.monotonic()
        deadline = TIMEOUT_MS / 1000 + MARGIN_S
        first = await asyncio.wait_for(inline(client, URI, 0, 4), deadline)  # fail, not hang
        elapsed = time.monotonic() - started
        assert isinstance(first, types.InlineCompletionList)  # an answer, not null or an error
        assert texts(first) == ([fault.text] if fault.text else [])
        after = await stats(client)  # the server is still up, and counted the fault right
        assert after["errors"] == ({fault.kind: 1} if fault.kind else {})

        if fault.endpoint is not None:  # the fault clears: back to the working backend
            settings = {"codestral": {"endpoint": fake_codestral.url}}
            client.workspace_did_change_configuration(
                types.DidChangeConfigurationParams(settings=settings)
            )
        elif fault.kind == "auth":  # calls stop till the settings change: the user sets a key
            settings = {"codestral": {"apiKey": fake_codestral.api_key}}
            client.workspace_did_change_configuration(
                types.DidChangeConfigurationParams(settings=settings)
            )
        if fault.cool_down_s is not None:
            low, high = fault.cool_down_s
            assert low <= after["limiter"]["coolDownSeconds"] <= high
            if low > 5:  # surely still cooling down: automatic requests wait without a call
                assert texts(await inline(client, URI, 0, 4)) == []
                assert len(fake_codestral.requests) == 1
            # One the user asked for goes out at once.
            second = await send_inline(client, URI, 0, 4, invoked=True)
        else:
            second = await inline(client, URI, 0, 4)
        assert texts(second) == [TEXT]
        said = [m.message for m in client.messages]

    assert fault.log in server_log(client)
    last = fake_codestral.requests[-1]
    assert (last.status, last.finished, last.body["stream"]) == (200, True, stream)
    if fault.kind == "auth":  # the user must act: told once, without the key
        [message] = said
        assert f"HTTP {fault.name}" in message
        assert fake_codestral.api_key not in message
    else:
        assert said == []
    if fault.name == "no [DONE], left open":
        assert elapsed < TIMEOUT_MS / 1000  # taken at finish_reason, not cut at the deadline
    if fault.reply is not None and fault.kind in ("timeout", None):
        # The server let go of the connection it no longer reads from.
        await fake_codestral.wait_until(lambda fake: fake.requests[0].aborted)


@pytest.mark.parametrize("later", [False, True], ids=["at start", "after a failure"])
async def test_tls_backend_verified_with_a_custom_ca(
    start_server: ServerFactory,
    tls_fake: FakeCodestral,
    tls_ca: tuple[trustme.CA, Path],
    later: bool,
) -> None:
    """Verified against the system store by default (so the throwaway CA fails), and against
    `caBundle` once it is set, from the start or by a configuration change."""
    ca_bundle = {"caBundle": str(tls_ca[1])}
    options = {"endpoint": tls_fake.url, "cacheSize": 0, **({} if later else ca_bundle)}
    async with start_server(init_options=options) as client:
        open_doc(client, URI, "x = ")
        if later:
            assert texts(await inline(client, URI, 0, 4)) == []
            assert "certificate verify failed" in server_log(client)
            assert tls_fake.requests == []  # the handshake failed: nothing was sent
            client.workspace_did_change_configuration(
                types.DidChangeConfigurationParams(settings={"codestral": ca_bundle})
            )
        assert texts(await inline(client, URI, 0, 4)) == [TEXT]
        said = [m.message for m in client.messages]
    assert [r.status for r in tls_fake.requests] == [200]
    assert said == []  # caBundle is a known, valid setting
