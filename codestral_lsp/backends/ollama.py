"""Ollama: ``POST {endpoint}/api/generate``, streamed as NDJSON lines.

Body ``model, prompt, suffix, stream, keep_alive, options{num_predict, temperature, top_p, stop,
seed}`` (``raw`` unset: with it Ollama ignores the suffix; set only with ``fimTemplate``, for a
model whose Ollama template cannot insert: the FIM prompt is then written out). Each line
brings ``response``; the last has ``done: true``, ``done_reason``, ``prompt_eval_count`` and
``eval_count``. Errors are ``{"error": "..."}``, an unknown model 404. Documented at
https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-completion.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from codestral_lsp.backends.errors import BackendError, BackendUnavailable, RequestRejected
from codestral_lsp.backends.protocol import (
    FimCall,
    Piece,
    Wire,
    counts,
    integer,
    model_of,
    text_of,
)

# How long Ollama keeps the model loaded after a call: longer than its 5-minute default, so a
# pause in typing does not cost a reload of the weights.
KEEP_ALIVE = "30m"


class Ollama(Wire):
    name = "ollama"
    stream_type = "application/x-ndjson"
    done_marker = None
    endpoint_hint = "it should be the Ollama server's base URL (default http://127.0.0.1:11434)"
    path = "/api/generate"

    def body(self, call: FimCall) -> dict[str, Any]:
        options = {
            "num_predict": call.max_tokens,
            "temperature": call.temperature,
            "top_p": call.top_p,
            "stop": call.stops,
            "seed": call.seed,
        }
        if call.fim_template:
            fim: dict[str, Any] = {"prompt": call.written_out(), "raw": True}
        else:
            fim = {"prompt": call.extra + call.prompt, "suffix": call.suffix}
        return {
            "model": call.model,
            **fim,
            "stream": call.stream,
            "keep_alive": KEEP_ALIVE,
            "options": {k: v for k, v in options.items() if v is not None},
        }

    def max_tokens(self, body: Mapping[str, Any]) -> int | None:
        options = body.get("options")
        return integer(options, "num_predict") if isinstance(options, dict) else None

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {}  # Ollama takes no key; a proxy in front of it gets its own via `headers`

    def answer(self, data: Mapping[str, Any]) -> Piece:
        piece = self.chunk(data)
        return piece if piece.finish else Piece(piece.text, "stop", piece.usage, piece.model)

    def chunk(self, data: Mapping[str, Any]) -> Piece:
        text = text_of(data, "response", "response")
        if data.get("done") is not True:
            return Piece(text, model=model_of(data))
        reason = data.get("done_reason")
        counted = counts(data, "prompt_eval_count", "eval_count")
        return Piece(text, reason if isinstance(reason, str) else "stop", counted, model_of(data))

    def health_url(self, url: str) -> str | None:
        return url.removesuffix("/api/generate") + "/api/version"

    def advice(self, exc: BackendError, model: str) -> str | None:
        message = str(exc).lower()
        if isinstance(exc, RequestRejected) and exc.status == 404 and "not found" in message:
            return f"Ollama has no model '{model}': run `ollama pull {model}`, or set model."
        if isinstance(exc, RequestRejected) and "does not support insert" in message:
            return (
                f"Ollama's template for '{model}' cannot fill in the middle: use a FIM model "
                "such as codestral, or set fimTemplate to the model's FIM prompt."
            )
        if isinstance(exc, BackendUnavailable):
            return "nothing answered: start Ollama (`ollama serve`) or fix the endpoint setting."
        return None


WIRE = Ollama()
