"""Mistral's FIM API (Codestral, La Plateforme, Langdock): ``POST .../v1/fim/completions``.

Body ``model, prompt, suffix, max_tokens, min_tokens, temperature, top_p, stop, random_seed,
stream`` (only the fields that are set: the API rejects unknown ones). The answer has the chat
shape, ``choices[0].message.content`` (``delta.content`` when streamed, SSE ending ``[DONE]``),
``finish_reason`` and ``usage``. Documented at https://docs.mistral.ai/api/endpoint/fim.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from codestral_lsp.backends.errors import InvalidResponse
from codestral_lsp.backends.protocol import FimCall, Piece, Usage, Wire, counts, model_of


class MistralFim(Wire):
    name = "mistral_fim"
    endpoint_hint = "its path should end in /v1/fim/completions"

    def body(self, call: FimCall) -> dict[str, Any]:
        optional = {
            "temperature": call.temperature,
            "top_p": call.top_p,
            "max_tokens": call.max_tokens,
            "min_tokens": call.min_tokens,
            "stop": call.stop_field,
            "random_seed": call.seed,
        }
        body: dict[str, Any] = {
            "model": call.model,
            "prompt": call.extra + call.prompt,
            "suffix": call.suffix,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        body["stream"] = call.stream
        return body

    def answer(self, data: Mapping[str, Any]) -> Piece:
        choice = first_choice(data)
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if content is None and isinstance(choice.get("text"), str):
            content = choice["text"]  # OpenAI-style gateways
        if not isinstance(content, str):
            raise InvalidResponse("the answer has no choices[0].message.content string")
        return Piece(content, choice.get("finish_reason"), usage(data), model_of(data))

    def chunk(self, data: Mapping[str, Any]) -> Piece:
        choice = first_choice(data)
        delta = choice.get("delta") or choice.get("message") or {}
        content = delta.get("content") if isinstance(delta, dict) else None
        text = content if isinstance(content, str) else ""
        return Piece(text, choice.get("finish_reason"), usage(data), model_of(data))


def first_choice(data: Mapping[str, Any]) -> dict[str, Any]:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise InvalidResponse("the answer has no choices")
    return choices[0]


def usage(data: Mapping[str, Any]) -> Usage | None:
    """``usage.prompt_tokens`` and ``usage.completion_tokens`` (Mistral and OpenAI)."""
    found = data.get("usage")
    return counts(found, "prompt_tokens", "completion_tokens") if isinstance(found, dict) else None


WIRE = MistralFim()
