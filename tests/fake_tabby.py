"""A fake Tabby server (`POST /v1/completions`, `GET /v1/health`) for the peer benchmark.

Tabby's completion API (tabby-agent 1.5.0 speaks it): `{language, segments: {prefix, suffix,
filepath, git_url, declarations, relevant_snippets_from_changed_files, clipboard}, user}` in,
`{id, choices: [{index, text}]}` out, as one JSON reply. The model is the same callable as the
Codestral fake's, handed a FIM-like body `{prompt: prefix, suffix}`, so one oracle plays both;
the latency model, the records (`RecordedRequest`, `prompt_tokens` = prefix + suffix + snippet
tokens) and the waits are the Codestral fake's.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiohttp import web

from tests.fake_codestral import FakeCodestral, RecordedRequest, Reply, _send, count_tokens

TABBY_PATH = "/v1/completions"
HEALTH_PATH = "/v1/health"
# A version before 0.9 keeps tabby-agent from asking for /v1beta/server_setting.
HEALTH = {"model": "fake", "device": "cpu", "arch": "x86_64", "version": {"git_describe": "v0.8.3"}}


def sent_text(body: Any) -> list[str]:
    """Every piece of code a Tabby request carries: prefix, suffix, snippets, clipboard."""
    segments = body.get("segments") if isinstance(body, dict) else None
    if not isinstance(segments, dict):
        return []
    found = [str(segments.get("prefix") or ""), str(segments.get("suffix") or "")]
    for name in ("declarations", "relevant_snippets_from_changed_files"):
        found += [str(s.get("body") or "") for s in segments.get(name) or [] if isinstance(s, dict)]
    return [*found, str(segments.get("clipboard") or "")]


class FakeTabby(FakeCodestral):
    """`FakeCodestral` answering Tabby's routes; `url` is the endpoint tabby-agent is given."""

    @property
    def url(self) -> str:
        return self.base_url

    async def _respond(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if request.path == HEALTH_PATH:
            return await _send(request, rec, web.json_response(HEALTH))
        if request.path == "/v1/events":
            return await _send(request, rec, web.Response(text="ok"))
        if request.path != TABBY_PATH or request.method != "POST":
            return await _send(request, rec, web.json_response({"detail": "Not Found"}, status=404))
        body = rec.body if isinstance(rec.body, dict) else {}
        segments = body.get("segments") or {}
        if not isinstance(segments, dict) or not isinstance(segments.get("prefix"), str):
            return await _send(request, rec, web.json_response({"detail": "bad"}, status=422))
        rec.prompt_tokens = sum(count_tokens(text) for text in sent_text(body))
        fim = {"prompt": segments["prefix"], "suffix": segments.get("suffix") or ""}
        fim["_body"] = body  # lets the oracle link its answer to this record
        gen = self._generate(fim, Reply(), rec.prompt_tokens)
        rec.completion_tokens = len(gen.tokens)
        if delay := self._first_token_delay() + self.token_delay * len(gen.tokens):
            await asyncio.sleep(delay)
        choice = {"index": 0, "text": "".join(gen.tokens)}
        payload = {"id": f"cmpl-{uuid.uuid4().hex}", "created": int(time.time())}
        return await _send(request, rec, web.json_response({**payload, "choices": [choice]}))
