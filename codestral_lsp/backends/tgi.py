"""Hugging Face text-generation-inference: ``POST {endpoint}/generate`` or ``/generate_stream``.

Body ``inputs`` (the FIM prompt written out by ``fimTemplate``, default ``"codestral"`` less
the BOS that TGI's tokenizer adds: TGI takes no suffix) and ``parameters{max_new_tokens,
temperature, top_p, stop, seed, details}``.
The answer ``{"generated_text", "details": {"finish_reason", "generated_tokens", "prefill"}}``
with the prompt's tokens in the ``x-prompt-tokens`` header; streamed as SSE without ``[DONE]``,
one event per token ``{"token": {"text", "special"}, "generated_text": null, "details": null}``,
the last with ``generated_text`` and ``details{finish_reason, generated_tokens, input_length}``.
Special tokens (``</s>``) are not text. Errors ``{"error", "error_type"}`` with 422
(validation), 424 (generation), 429 (overloaded), 503. Optional bearer key (Inference
Endpoints). Documented at https://huggingface.github.io/text-generation-inference/ (OpenAPI)
and https://huggingface.co/docs/text-generation-inference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from codestral_lsp.backends.errors import (
    BackendError,
    BackendUnavailable,
    RateLimitError,
    RequestRejected,
)
from codestral_lsp.backends.protocol import FimCall, Piece, Usage, Wire, counts, integer, text_of

BOS = "<s>"  # Codestral's, which TGI adds (it encodes inputs with add_special_tokens)
# TGI's finish reasons in ours: a stop sequence or the end-of-sequence token is a stop.
FINISH = {"length": "length", "eos_token": "stop", "stop_sequence": "stop"}


class TextGenerationInference(Wire):
    name = "tgi"
    done_marker = None
    endpoint_hint = "it should be the TGI server's base URL (default http://127.0.0.1:8080)"
    path = "/generate"

    def stream_url(self, url: str) -> str:
        return url + "_stream"

    def body(self, call: FimCall) -> dict[str, Any]:
        top_p = call.top_p if call.top_p is not None and 0 < call.top_p < 1 else None
        optional = {
            "max_new_tokens": call.max_tokens,
            "temperature": call.temperature or None,  # TGI refuses 0; unset is greedy
            "top_p": top_p,  # TGI takes only 0 < top_p < 1; 1 is the same as unset
            "stop": call.stops,
            "seed": call.seed,
        }
        parameters = {k: v for k, v in optional.items() if v is not None}
        template = call.fim_template or "codestral"
        inputs = replace(call, fim_template=template).written_out()
        if template == "codestral":  # TGI's tokenizer adds the BOS itself: not twice
            inputs = inputs.removeprefix(BOS)
        return {
            "inputs": inputs,
            "parameters": {**parameters, "details": True},
            "stream": call.stream,  # read by TGI's POST / only; the two routes ignore it
        }

    def max_tokens(self, body: Mapping[str, Any]) -> int | None:
        return integer(body.get("parameters") or {}, "max_new_tokens")

    def answer(self, data: Mapping[str, Any]) -> Piece:
        text = text_of(data, "generated_text", "generated_text")
        details = _details(data)
        prefill = details.get("prefill")
        generated = integer(details, "generated_tokens")
        usage = None
        if isinstance(prefill, list) and prefill and generated is not None:
            usage = Usage(len(prefill), generated)
        return Piece(text, FINISH.get(str(details.get("finish_reason")), "stop"), usage)

    def chunk(self, data: Mapping[str, Any]) -> Piece:
        token = data.get("token")
        if not isinstance(token, dict):
            token = {}
        text = token.get("text")
        text = text if isinstance(text, str) and token.get("special") is not True else ""
        details = _details(data)
        if not details:
            return Piece(text)
        reason = FINISH.get(str(details.get("finish_reason")), "stop")
        return Piece(text, reason, counts(details, "input_length", "generated_tokens"))

    def header_usage(self, headers: Mapping[str, str]) -> Usage | None:
        found = [headers.get(name, "") for name in ("x-prompt-tokens", "x-generated-tokens")]
        return Usage(int(found[0]), int(found[1])) if all(n.isdigit() for n in found) else None

    def health_url(self, url: str) -> str | None:
        return url.removesuffix("_stream").removesuffix("/generate") + "/health"

    def advice(self, exc: BackendError, model: str) -> str | None:
        if isinstance(exc, BackendUnavailable):
            return (
                "nothing answered: start TGI with a FIM model, e.g. `docker run --gpus all "
                "-p 8080:80 ghcr.io/huggingface/text-generation-inference --model-id "
                "mistralai/Codestral-22B-v0.1`, or fix the endpoint setting."
            )
        if isinstance(exc, RequestRejected) and exc.status == 422:
            return (
                "TGI refused the request's parameters (its limits are in GET /info: "
                "max_input_tokens, max_stop_sequences): lower maxTokens or the context budget."
            )
        if isinstance(exc, RateLimitError):
            return "TGI is overloaded (its queue is full): raise --max-concurrent-requests."
        return None


def _details(data: Mapping[str, Any]) -> Mapping[str, Any]:
    details = data.get("details")
    return details if isinstance(details, dict) else {}


WIRE = TextGenerationInference()
