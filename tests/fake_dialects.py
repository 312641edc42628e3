"""The local servers' contracts the fake plays besides Codestral's: Ollama, llama.cpp, OpenAI.

Each dialect reads a request body into what to generate (prefix, suffix, stop, token limit),
validates it as its server does, and writes the generation as that server answers: one JSON
object, or a stream (NDJSON lines for Ollama; SSE for llama.cpp, without ``[DONE]``; SSE ending
``[DONE]`` for OpenAI). Shapes from each server's public documentation: Ollama's
(https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-completion), llama.cpp's
(https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md) and OpenAI's
(https://platform.openai.com/docs/api-reference/completions).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

Counts = tuple[int, int]  # prompt and completion tokens


@dataclass(frozen=True)
class Asked:
    """What a request asks the model for, in no API's terms."""

    model: str
    prompt: str  # what the model continues (the prefix, or a written-out FIM prompt)
    suffix: str
    stop: Any
    max_tokens: int | None
    stream: bool
    usage_event: bool = False  # OpenAI: stream_options.include_usage


@dataclass(frozen=True)
class Refusal:
    status: int
    body: Any


def _error(code: int, message: str, kind: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "type": kind}}


class Dialect:
    name = ""
    path = ""
    stream_type = "text/event-stream"
    keyed = True  # takes an optional bearer key

    def read(self, body: Any) -> Asked | Refusal:
        raise NotImplementedError

    def answer(self, asked: Asked, text: str, finish: str, usage: Counts) -> Any:
        raise NotImplementedError

    def events(self, asked: Asked, tokens: list[str], finish: str, usage: Counts) -> list[str]:
        """The stream's pieces as written, one per token, then the closing ones."""
        raise NotImplementedError

    def unauthorized(self) -> Any:
        return _error(401, "Invalid API Key", "authentication_error")


def _sse(data: Any) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"


class Ollama(Dialect):
    """``POST /api/generate``: stream by default, NDJSON; errors ``{"error": "..."}``."""

    name, path, stream_type, keyed = "ollama", "/api/generate", "application/x-ndjson", False

    def __init__(self, models: frozenset[str] = frozenset({"codestral"})) -> None:
        self.models = models

    def read(self, body: Any) -> Asked | Refusal:
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return Refusal(400, {"error": "model is required"})
        if body["model"] not in self.models:
            message = f'model "{body["model"]}" not found, try pulling it first'
            return Refusal(404, {"error": message})
        options = body.get("options") or {}
        suffix = "" if body.get("raw") else str(body.get("suffix") or "")
        return Asked(
            body["model"],
            str(body.get("prompt") or ""),
            suffix,
            options.get("stop"),
            options.get("num_predict"),
            body.get("stream", True) is not False,
        )

    def _final(self, asked: Asked, finish: str, usage: Counts) -> dict[str, Any]:
        return {
            **self._head(asked),
            "response": "",
            "done": True,
            "done_reason": finish,
            "total_duration": 1000,
            "prompt_eval_count": usage[0],
            "eval_count": usage[1],
        }

    def _head(self, asked: Asked) -> dict[str, Any]:
        return {"model": asked.model, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def answer(self, asked: Asked, text: str, finish: str, usage: Counts) -> Any:
        return {**self._final(asked, finish, usage), "response": text}

    def events(self, asked: Asked, tokens: list[str], finish: str, usage: Counts) -> list[str]:
        lines = [{**self._head(asked), "response": t, "done": False} for t in tokens]
        return [json.dumps(line) + "\n" for line in [*lines, self._final(asked, finish, usage)]]


class LlamaCpp(Dialect):
    """``POST /infill``: ``input_prefix``/``input_suffix`` required; SSE with no ``[DONE]``."""

    name, path = "llamacpp", "/infill"
    model = "codestral-22b-v0.1-Q4_K_M.gguf"

    def read(self, body: Any) -> Asked | Refusal:
        if not isinstance(body, dict):
            return Refusal(400, _error(400, "invalid JSON", "invalid_request_error"))
        for name in ("input_prefix", "input_suffix"):
            if not isinstance(body.get(name), str):
                message = f'"{name}" is required'
                return Refusal(400, _error(400, message, "invalid_request_error"))
        extra = body.get("input_extra") or []
        if not isinstance(extra, list) or not all(
            isinstance(e, dict)
            and isinstance(e.get("text"), str)
            and isinstance(e.get("filename", ""), str)
            for e in extra
        ):
            message = '\'input_extra\' must be an array of {"filename": string, "text": string}'
            return Refusal(400, _error(400, message, "invalid_request_error"))
        return Asked(
            self.model,
            body["input_prefix"],
            body["input_suffix"],
            body.get("stop"),
            body.get("n_predict"),
            bool(body.get("stream")),
        )

    def _final(self, finish: str, usage: Counts) -> dict[str, Any]:
        return {
            "content": "",
            "stop": True,
            "model": self.model,
            "tokens_evaluated": usage[0],
            "tokens_predicted": usage[1],
            "stop_type": "limit" if finish == "length" else "eos",
            "timings": {"predicted_n": usage[1]},
        }

    def answer(self, asked: Asked, text: str, finish: str, usage: Counts) -> Any:
        return {**self._final(finish, usage), "content": text}

    def events(self, asked: Asked, tokens: list[str], finish: str, usage: Counts) -> list[str]:
        pieces = [{"content": t, "stop": False, "id_slot": 0} for t in tokens]
        return [_sse(p) for p in [*pieces, self._final(finish, usage)]]


class OpenAI(Dialect):
    """``POST /v1/completions``; ``max_tokens`` defaults to 16; ``reject_suffix`` plays vLLM."""

    name, path = "openai", "/v1/completions"

    def __init__(self, reject_suffix: bool = False) -> None:
        self.reject_suffix = reject_suffix

    def read(self, body: Any) -> Asked | Refusal:
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            return Refusal(400, _error(400, "prompt is required", "BadRequestError"))
        if self.reject_suffix and body.get("suffix") is not None:
            message = "suffix is not currently supported"
            return Refusal(400, {"object": "error", "message": message, "code": 400})
        return Asked(
            str(body.get("model")),
            body["prompt"],
            str(body.get("suffix") or ""),
            body.get("stop"),
            body.get("max_tokens", 16),
            bool(body.get("stream")),
            bool((body.get("stream_options") or {}).get("include_usage")),
        )

    def _head(self, asked: Asked) -> dict[str, Any]:
        return {"id": "cmpl-fake", "object": "text_completion", "created": 0, "model": asked.model}

    def _usage(self, usage: Counts) -> dict[str, int]:
        return {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        }

    def answer(self, asked: Asked, text: str, finish: str, usage: Counts) -> Any:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        return {**self._head(asked), "choices": [choice], "usage": self._usage(usage)}

    def events(self, asked: Asked, tokens: list[str], finish: str, usage: Counts) -> list[str]:
        events = []
        for i, token in enumerate(tokens or [""]):
            last = i == max(len(tokens), 1) - 1
            choice = {"index": 0, "text": token, "logprobs": None, "finish_reason": None}
            choice["finish_reason"] = finish if last else None
            events.append(_sse({**self._head(asked), "choices": [choice]}))
        if asked.usage_event:
            events.append(_sse({**self._head(asked), "choices": [], "usage": self._usage(usage)}))
        return [*events, _sse("[DONE]")]
