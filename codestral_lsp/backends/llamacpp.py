"""llama.cpp's server: ``POST {endpoint}/infill``, streamed as SSE without ``[DONE]``.

Body ``input_prefix, input_suffix, input_extra[{filename, text}] (one entry per snippet of
another file), n_predict, temperature, top_p, stop, seed, stream``; the answer ``{"content",
"stop", "stop_type", "tokens_evaluated", "tokens_predicted", "model"}``, each streamed event
``{"content", "stop": false}`` and a last one with ``stop: true``. Optional bearer key
(``llama-server --api-key``). Documented at
https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md.
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

# The file name of other-file context that comes as one text, not as snippets with their paths.
EXTRA_NAME = "context"


class LlamaCpp(Wire):
    name = "llamacpp"
    done_marker = None
    endpoint_hint = "it should be the llama.cpp server's base URL (default http://127.0.0.1:8080)"
    path = "/infill"

    def body(self, call: FimCall) -> dict[str, Any]:
        optional = {
            "n_predict": call.max_tokens,
            "temperature": call.temperature,
            "top_p": call.top_p,
            "stop": call.stops,
            "seed": call.seed,
        }
        body: dict[str, Any] = {"input_prefix": call.prompt, "input_suffix": call.suffix}
        # One entry per snippet with its own path: llama.cpp writes each with the model's file
        # separator (FIM_SEP) and its name, so no "+++++ path" headers go in the text.
        files = call.extra_files or (((EXTRA_NAME, call.extra),) if call.extra else ())
        if files:
            body["input_extra"] = [{"filename": name, "text": text} for name, text in files]
        body.update({k: v for k, v in optional.items() if v is not None})
        body["stream"] = call.stream
        return body

    def max_tokens(self, body: Mapping[str, Any]) -> int | None:
        return integer(body, "n_predict")

    def answer(self, data: Mapping[str, Any]) -> Piece:
        piece = self.chunk(data)
        return piece if piece.finish else Piece(piece.text, "stop", piece.usage, piece.model)

    def chunk(self, data: Mapping[str, Any]) -> Piece:
        text = text_of(data, "content", "content")
        if data.get("stop") is not True:
            return Piece(text)
        finish = "length" if data.get("stop_type") == "limit" else "stop"
        counted = counts(data, "tokens_evaluated", "tokens_predicted")
        return Piece(text, finish, counted, model_of(data))

    def health_url(self, url: str) -> str | None:
        return url.removesuffix("/infill") + "/health"

    def advice(self, exc: BackendError, model: str) -> str | None:
        if isinstance(exc, BackendUnavailable):
            return (
                "nothing answered: start llama.cpp's server with a FIM model, e.g. "
                "`llama-server -m codestral.gguf --port 8080`, or fix the endpoint setting."
            )
        if isinstance(exc, RequestRejected) and exc.status in (400, 501):
            return "the model loaded in llama-server has no FIM tokens: load a FIM model."
        return None


WIRE = LlamaCpp()
