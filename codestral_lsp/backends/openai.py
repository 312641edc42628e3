"""OpenAI-compatible text completions (vLLM, LM Studio, LiteLLM): ``POST {endpoint}``.

``endpoint`` is the whole ``/v1/completions`` URL. Body ``model, prompt, suffix, max_tokens,
temperature, top_p, stop, seed, stream``; the answer ``choices[0].text``, ``finish_reason`` and
``usage``, streamed as SSE ending ``[DONE]`` (usage asked for with ``stream_options``). Servers
that reject ``suffix`` (vLLM) get the FIM prompt written out by ``fimTemplate``. Documented at
https://platform.openai.com/docs/api-reference/completions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from codestral_lsp.backends.errors import (
    BackendError,
    BackendUnavailable,
    InvalidResponse,
    RequestRejected,
)
from codestral_lsp.backends.mistral_fim import first_choice, usage
from codestral_lsp.backends.protocol import FimCall, Piece, Wire, model_of


class OpenAICompletions(Wire):
    name = "openai"
    reads_to_end = True  # usage comes in its own event after the finish
    endpoint_hint = "it should be the server's whole completions URL (ending in /v1/completions)"

    def body(self, call: FimCall) -> dict[str, Any]:
        if call.fim_template:
            fim: dict[str, Any] = {"prompt": call.written_out()}
        else:
            fim = {"prompt": call.extra + call.prompt, "suffix": call.suffix}
        optional = {
            "max_tokens": call.max_tokens,
            "temperature": call.temperature,
            "top_p": call.top_p,
            "stop": call.stop_field,
            "seed": call.seed,
        }
        body: dict[str, Any] = {"model": call.model, **fim}
        body.update({k: v for k, v in optional.items() if v is not None})
        body["stream"] = call.stream
        if call.stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def answer(self, data: Mapping[str, Any]) -> Piece:
        choice = first_choice(data)
        text = choice.get("text")
        if not isinstance(text, str):
            raise InvalidResponse("the answer has no choices[0].text string")
        return Piece(text, choice.get("finish_reason"), usage(data), model_of(data))

    def chunk(self, data: Mapping[str, Any]) -> Piece:
        if data.get("choices") == []:  # the usage-only event before [DONE]
            return Piece(usage=usage(data), model=model_of(data))
        choice = first_choice(data)
        text = choice.get("text")
        return Piece(
            text if isinstance(text, str) else "",
            choice.get("finish_reason"),
            usage(data),
            model_of(data),
        )

    def advice(self, exc: BackendError, model: str) -> str | None:
        if isinstance(exc, RequestRejected) and "suffix" in str(exc).lower():
            return (
                "the server does not take a suffix (vLLM does not): set fimTemplate to "
                '"codestral" for Codestral, or to the model\'s own {prefix}/{suffix} template.'
            )
        if isinstance(exc, BackendUnavailable):
            return "nothing answered: start the server (e.g. `vllm serve`) or fix the endpoint."
        return None


WIRE = OpenAICompletions()
