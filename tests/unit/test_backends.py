"""Each wire format builds its API's request and reads its API's answers; the provider table
routes keys, URLs and limits. Answers go through the one client (httpx's MockTransport)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import httpx
import pytest

from codestral_lsp.backends import PROVIDERS, Route, endpoint_url, resolve_key
from codestral_lsp.backends.client import FimClient, FimResult, fim_call, fim_request
from codestral_lsp.backends.errors import (
    InvalidResponse,
    RateLimitError,
    RequestRejected,
    ServerError,
)
from codestral_lsp.backends.protocol import FimCall, Piece, Usage
from codestral_lsp.settings import RateLimit, Settings, SettingsLayers, rate_limit

ENV = {"CODESTRAL_API_KEY": "cdst-key-0123456789", "OPENAI_API_KEY": "sk-openai-0123456789"}
CALL = FimCall(
    "codestral", "def f(", "):\n", extra="# a.py\nx = 1\n", max_tokens=64, stop="\n\n", seed=3
)


def wire(provider: str) -> Any:
    return PROVIDERS[provider].wire


# --- requests


def test_mistral_body_is_the_fim_api_body() -> None:
    assert wire("codestral").body(CALL) == {
        "model": "codestral",
        "prompt": "# a.py\nx = 1\ndef f(",
        "suffix": "):\n",
        "max_tokens": 64,
        "stop": "\n\n",
        "random_seed": 3,
        "stream": True,
    }


def test_ollama_body_puts_the_sampling_in_options_and_keeps_raw_unset() -> None:
    body = wire("ollama").body(CALL)
    assert body == {
        "model": "codestral",
        "prompt": "# a.py\nx = 1\ndef f(",
        "suffix": "):\n",
        "stream": True,
        "keep_alive": "30m",
        "options": {"num_predict": 64, "stop": ["\n\n"], "seed": 3},
    }
    assert wire("ollama").max_tokens(body) == 64


def test_ollama_fim_template_sends_the_prompt_raw_without_suffix() -> None:
    body = wire("ollama").body(replace(CALL, fim_template="{prefix}<FILL>{suffix}"))
    assert body["prompt"] == "# a.py\nx = 1\ndef f(<FILL>):\n"
    assert body["raw"] is True
    assert "suffix" not in body


def test_llamacpp_body_sends_other_files_as_input_extra() -> None:
    body = wire("llamacpp").body(CALL)
    assert body == {
        "input_prefix": "def f(",
        "input_suffix": "):\n",
        "input_extra": [{"filename": "context", "text": "# a.py\nx = 1\n"}],
        "n_predict": 64,
        "stop": ["\n\n"],
        "seed": 3,
        "stream": True,
    }
    assert "input_extra" not in wire("llamacpp").body(replace(CALL, extra=""))
    assert wire("llamacpp").max_tokens(body) == 64


def test_llamacpp_body_sends_each_other_file_as_its_own_entry() -> None:
    files = (("lib/a.py", "x = 1\n"), ("lib/b.py", "def g():\n    pass\n"))
    call = replace(CALL, extra="+++++ lib/a.py\nx = 1\n...", extra_files=files)
    assert wire("llamacpp").body(call)["input_extra"] == [
        {"filename": "lib/a.py", "text": "x = 1\n"},
        {"filename": "lib/b.py", "text": "def g():\n    pass\n"},
    ]
    # The other APIs take the whole preamble before the prompt, as before.
    assert wire("codestral").body(call)["prompt"] == "+++++ lib/a.py\nx = 1\n...def f("


def test_openai_body_sends_suffix_and_asks_for_usage_in_the_stream() -> None:
    body = wire("openai").body(CALL)
    assert body["prompt"] == "# a.py\nx = 1\ndef f("
    assert body["suffix"] == "):\n"
    assert body["max_tokens"] == 64
    assert body["seed"] == 3
    assert body["stop"] == "\n\n"
    assert body["stream_options"] == {"include_usage": True}
    assert "stream_options" not in wire("openai").body(replace(CALL, stream=False))


@pytest.mark.parametrize(
    ("template", "prompt"),
    [
        # mistral-common's encode_fim: BOS, [SUFFIX], suffix, [PREFIX], prefix; no middle token
        ("codestral", "<s>[SUFFIX]):\n[PREFIX]# a.py\nx = 1\ndef f("),
        ("<PRE> {prefix} <SUF>{suffix} <MID>", "<PRE> # a.py\nx = 1\ndef f( <SUF>):\n <MID>"),
        ("{suffix}|{prefix}|{suffix}", "):\n|# a.py\nx = 1\ndef f(|):\n"),
    ],
)
def test_openai_fim_template_writes_the_prompt_out_and_sends_no_suffix(
    template: str, prompt: str
) -> None:
    body = wire("openai").body(replace(CALL, fim_template=template))
    assert body["prompt"] == prompt
    assert "suffix" not in body


def test_tgi_body_writes_the_fim_prompt_out_and_asks_for_details() -> None:
    body = wire("tgi").body(replace(CALL, temperature=0.2, top_p=0.9))
    assert body == {
        # no suffix field in TGI; no <s> either: TGI's tokenizer adds it
        "inputs": "[SUFFIX]):\n[PREFIX]# a.py\nx = 1\ndef f(",
        "parameters": {
            "max_new_tokens": 64,
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": ["\n\n"],
            "seed": 3,
            "details": True,
        },
        "stream": True,
    }
    assert wire("tgi").max_tokens(body) == 64
    custom = wire("tgi").body(replace(CALL, fim_template="<PRE>{prefix}<SUF>{suffix}<MID>"))
    assert custom["inputs"] == "<PRE># a.py\nx = 1\ndef f(<SUF>):\n<MID>"


@pytest.mark.parametrize(
    ("temperature", "top_p", "sent"),
    [(0.0, 1.0, {}), (0.0, 0.0, {}), (0.7, 0.5, {"temperature": 0.7, "top_p": 0.5})],
)
def test_tgi_gets_no_sampling_value_it_refuses(
    temperature: float, top_p: float, sent: dict[str, float]
) -> None:
    """TGI answers 422 to temperature 0 and to top_p outside (0, 1): unset says the same."""
    parameters = wire("tgi").body(replace(CALL, temperature=temperature, top_p=top_p))
    sampling = ("temperature", "top_p")
    assert {k: v for k, v in parameters["parameters"].items() if k in sampling} == sent


def test_braces_in_code_are_not_template_fields() -> None:
    call = FimCall("m", "d = {prefix}", "{suffix}", fim_template="codestral")
    assert call.written_out() == "<s>[SUFFIX]{suffix}[PREFIX]d = {prefix}"
    assert wire("ollama").body(call)["prompt"] == call.written_out()


def test_lone_surrogates_never_reach_a_body() -> None:
    call = FimCall("m", "a\ud800", "b\udfff", extra="\udbff", extra_files=(("\ud801", "\udc00"),))
    for row in PROVIDERS.values():
        json.dumps(row.wire.body(call)).encode("utf-8")  # would raise on a surrogate
    assert call.prompt == "a\ufffd"
    assert call.extra_files == (("\ufffd", "\ufffd"),)


# --- the provider table


@pytest.mark.parametrize(
    ("provider", "endpoint", "url"),
    [
        ("codestral", None, "https://codestral.mistral.ai/v1/fim/completions"),
        ("langdock", None, "https://api.langdock.com/mistral/eu/v1/fim/completions"),
        ("ollama", None, "http://127.0.0.1:11434/api/generate"),
        ("ollama", "http://gpu-box:11434/", "http://gpu-box:11434/api/generate"),
        ("llamacpp", None, "http://127.0.0.1:8080/infill"),
        ("llamacpp", "https://llm.corp/llama", "https://llm.corp/llama/infill"),
        ("openai", None, "http://127.0.0.1:8000/v1/completions"),
        ("openai", "http://vllm:8000/v1/completions", "http://vllm:8000/v1/completions"),
        ("tgi", None, "http://127.0.0.1:8080/generate"),
        (
            "tgi",
            "https://x.endpoints.huggingface.cloud/",
            "https://x.endpoints.huggingface.cloud/generate",
        ),
    ],
)
def test_endpoint_url(provider: str, endpoint: str | None, url: str) -> None:
    assert endpoint_url(provider, "eu", endpoint) == url


def test_a_provider_that_takes_no_key_gets_none_whatever_is_set() -> None:
    key, source = resolve_key("ollama", "an-api-key-setting", ENV)
    assert key is None
    assert "takes none" in source
    settings = Settings(provider="ollama", api_key="an-api-key-setting")
    request = fim_request(settings, Route.of(settings, ENV), "p", "")
    assert "Authorization" not in wire("ollama").auth_headers("anything")
    assert request.api_key is None


def test_a_key_goes_only_to_the_backend_it_belongs_to() -> None:
    assert resolve_key("llamacpp", None, ENV) == (None, "$LLAMA_API_KEY")
    assert resolve_key("openai", None, ENV) == ("sk-openai-0123456789", "$OPENAI_API_KEY")
    assert resolve_key("codestral", None, ENV) == ("cdst-key-0123456789", "$CODESTRAL_API_KEY")
    assert wire("llamacpp").auth_headers(None) == {}
    assert wire("llamacpp").auth_headers("k") == {"Authorization": "Bearer k"}
    assert wire("openai").auth_headers("k") == {"Authorization": "Bearer k"}


def test_tgi_streams_on_its_own_route_and_checks_health_beside_it() -> None:
    streams, whole_answer = Settings(provider="tgi"), Settings(provider="tgi", stream=False)
    streamed = fim_request(streams, Route.of(streams, {}), "p", "")
    whole = fim_request(whole_answer, Route.of(whole_answer, {}), "p", "")
    assert streamed.url == "http://127.0.0.1:8080/generate_stream"
    assert whole.url == "http://127.0.0.1:8080/generate"
    for url in (streamed.url, whole.url):
        assert wire("tgi").health_url(url) == "http://127.0.0.1:8080/health"


def test_tgi_takes_its_own_key_and_no_other() -> None:
    """HF_TOKEN (Inference Endpoints) or apiKey; never $CODESTRAL_API_KEY."""
    assert resolve_key("tgi", None, ENV) == (None, "$HF_TOKEN")
    settings = Settings(provider="tgi")
    assert fim_request(settings, Route.of(settings, ENV), "p", "").api_key is None
    assert resolve_key("tgi", None, {**ENV, "HF_TOKEN": "hf_abc0123456789"}) == (
        "hf_abc0123456789",
        "$HF_TOKEN",
    )
    assert resolve_key("tgi", "set", ENV) == ("set", "the apiKey setting")


def test_local_servers_get_no_rate_limit_by_default() -> None:
    for provider in PROVIDERS:
        langdock = RateLimit(rpm=500, tpm=60_000)
        assert rate_limit(Settings(provider=provider)) == (
            langdock if provider == "langdock" else RateLimit()
        )
    required = [p.name for p in PROVIDERS.values() if p.key_required]
    assert required == ["codestral", "mistral", "langdock"]


def test_the_model_defaults_to_the_providers_own() -> None:
    layers = SettingsLayers({}, "file")
    layers.set_layer("init", {"provider": "ollama"})
    assert layers.current.model == "codestral"
    assert layers.sources()["model"] == "default"
    layers.set_layer("change", {"model": "qwen2.5-coder:7b"})
    assert layers.current.model == "qwen2.5-coder:7b"
    layers.set_layer("init", {"provider": "codestral"})
    layers.set_layer("change", {})
    assert layers.current.model == "codestral-latest"


def test_the_request_follows_the_provider() -> None:
    settings = Settings(provider="llamacpp", max_tokens=12, stream=False)
    request = fim_request(settings, Route.of(settings, {}), "def f(", ")", "# b.py\n")
    assert request.url == "http://127.0.0.1:8080/infill"
    assert request.wire is wire("llamacpp")
    assert request.body["input_extra"] == [{"filename": "context", "text": "# b.py\n"}]
    assert request.text_limit == 12 * 32  # the bound follows n_predict
    assert fim_call(settings, "a", "b").max_tokens == 12


# --- answers, through the client


async def _complete(provider: str, response: httpx.Response, stream: bool) -> FimResult:
    settings = Settings(provider=provider, stream=stream, api_key="k-0123456789")
    request = fim_request(settings, Route.of(settings, {}), "def f(", "")
    seen: list[httpx.Request] = []

    def reply(sent: httpx.Request) -> httpx.Response:
        seen.append(sent)
        return response

    client = FimClient(httpx.MockTransport(reply))
    try:
        return await client.complete(request)
    finally:
        await client.aclose()


def _ndjson(*lines: dict[str, Any]) -> httpx.Response:
    text = "".join(json.dumps(line) + "\n" for line in lines)
    return httpx.Response(200, headers={"content-type": "application/x-ndjson"}, text=text)


def _sse(*events: object) -> httpx.Response:
    text = "".join(f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events)
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, text=text)


OLLAMA_LAST = {"model": "codestral", "response": "", "done": True, "done_reason": "length"}
OLLAMA_COUNTS = {"prompt_eval_count": 21, "eval_count": 4}
LLAMA_LAST = {"content": "", "stop": True, "stop_type": "eos", "tokens_evaluated": 30}
TGI_EOS = {"id": 2, "text": "</s>", "logprob": -0.1, "special": True}


def _tgi_token(text: str) -> dict[str, Any]:
    return {"id": 7, "text": text, "logprob": -0.2, "special": False}


@pytest.mark.parametrize(
    ("provider", "response", "stream", "expected"),
    [
        (
            "ollama",
            _ndjson(
                {"model": "codestral", "response": "ret", "done": False},
                {"model": "codestral", "response": "urn", "done": False},
                {**OLLAMA_LAST, **OLLAMA_COUNTS},
            ),
            True,
            Piece("return", "length", Usage(21, 4), "codestral"),
        ),
        (
            "ollama",
            httpx.Response(200, json={**OLLAMA_LAST, "response": "x", "done_reason": "stop"}),
            False,
            Piece("x", "stop", None, "codestral"),
        ),
        (
            "llamacpp",
            _sse(
                {"content": "a", "stop": False},
                {"content": "b", "stop": False},
                {**LLAMA_LAST, "tokens_predicted": 2, "model": "c.gguf"},
            ),
            True,
            Piece("ab", "stop", Usage(30, 2), "c.gguf"),
        ),
        (
            "llamacpp",
            httpx.Response(
                200,
                json={**LLAMA_LAST, "content": "z", "stop_type": "limit", "tokens_predicted": 1},
            ),
            False,
            Piece("z", "length", Usage(30, 1), None),
        ),
        (
            "openai",
            _sse(
                {"model": "m", "choices": [{"text": "q", "finish_reason": None}]},
                {"model": "m", "choices": [{"text": "r", "finish_reason": "stop"}]},
                {
                    "model": "m",
                    "choices": [],
                    "usage": {"prompt_tokens": 9, "completion_tokens": 2},
                },
                "[DONE]",
            ),
            True,
            Piece("qr", "stop", Usage(9, 2), "m"),
        ),
        (
            "openai",
            httpx.Response(200, json={"choices": [{"text": "t", "finish_reason": "length"}]}),
            False,
            Piece("t", "length", None, None),
        ),
        (
            "tgi",
            _sse(
                {"index": 0, "token": _tgi_token("ret"), "generated_text": None, "details": None},
                {"index": 1, "token": _tgi_token("urn"), "generated_text": None, "details": None},
                {
                    "index": 2,
                    "token": TGI_EOS,  # special: not text
                    "generated_text": "return",
                    "details": {
                        "finish_reason": "eos_token",
                        "generated_tokens": 3,
                        "input_length": 17,
                        "seed": None,
                    },
                },
            ),
            True,
            Piece("return", "stop", Usage(17, 3), None),
        ),
        (
            "tgi",
            _sse(
                {"index": 0, "token": _tgi_token("a"), "generated_text": None, "details": None},
                {
                    "index": 1,
                    "token": _tgi_token("b"),  # the last token comes with the details
                    "generated_text": "ab",
                    "details": {
                        "finish_reason": "length",
                        "generated_tokens": 2,
                        "input_length": 5,
                    },
                },
            ),
            True,
            Piece("ab", "length", Usage(5, 2), None),
        ),
        (
            "tgi",
            httpx.Response(
                200,
                headers={"x-prompt-tokens": "12", "x-generated-tokens": "2"},
                json={
                    "generated_text": "x + 1",
                    "details": {
                        "finish_reason": "stop_sequence",
                        "generated_tokens": 2,
                        "prefill": [],
                    },
                },
            ),
            False,
            Piece("x + 1", "stop", Usage(12, 2), None),
        ),
        (
            "tgi",
            httpx.Response(
                200,
                json={
                    "generated_text": "y",
                    "details": {
                        "finish_reason": "length",
                        "generated_tokens": 1,
                        "prefill": [{"id": 1, "text": "<s>", "logprob": None}] * 4,
                    },
                },
            ),
            False,
            Piece("y", "length", Usage(4, 1), None),
        ),
        (
            "tgi",
            httpx.Response(200, json={"generated_text": "z"}),  # details: false on the server
            False,
            Piece("z", "stop", None, None),
        ),
    ],
    ids=[
        "ollama-ndjson",
        "ollama-json",
        "llamacpp-sse",
        "llamacpp-json",
        "openai-sse",
        "openai-json",
        "tgi-sse-eos",
        "tgi-sse-length",
        "tgi-json-header-counts",
        "tgi-json-prefill",
        "tgi-json-no-details",
    ],
)
async def test_each_api_answer_is_read_with_its_token_counts(
    provider: str, response: httpx.Response, stream: bool, expected: Piece
) -> None:
    result = await _complete(provider, response, stream)
    got = Piece(result.text, result.finish_reason, result.usage, result.model)
    assert got == expected


@pytest.mark.parametrize(
    ("provider", "response", "error", "match"),
    [
        ("ollama", _ndjson({"response": "a", "done": False}), InvalidResponse, "ended before"),
        ("ollama", _ndjson({"error": "out of memory"}), ServerError, "out of memory"),
        ("llamacpp", _sse({"content": "a", "stop": False}), InvalidResponse, "ended before"),
        ("llamacpp", _sse({"error": {"code": 500, "message": "slot busy"}}), ServerError, "busy"),
        ("openai", _sse({"choices": [{"text": "a"}]}), InvalidResponse, "ended before"),
        (
            "tgi",
            _sse({"index": 0, "token": _tgi_token("a"), "generated_text": None, "details": None}),
            InvalidResponse,
            "ended before",
        ),
        (
            "tgi",
            _sse(
                {"error": "Request failed during generation: CUDA OOM", "error_type": "generation"}
            ),
            ServerError,
            "CUDA OOM",
        ),
        (
            "tgi",
            httpx.Response(
                422,
                json={
                    "error": "Input validation error: `inputs` must have less than 4096 tokens",
                    "error_type": "validation",
                },
            ),
            RequestRejected,
            "less than 4096 tokens",
        ),
        (
            "tgi",
            httpx.Response(429, json={"error": "Model is overloaded", "error_type": "overloaded"}),
            RateLimitError,
            "overloaded",
        ),
        (
            "tgi",
            httpx.Response(503, json={"error": "unhealthy", "error_type": "healthcheck"}),
            ServerError,
            "unhealthy",
        ),
        (
            "ollama",
            httpx.Response(404, json={"error": 'model "codestral" not found, try pulling it'}),
            RequestRejected,
            "not found",
        ),
    ],
)
async def test_each_api_failure_is_typed(
    provider: str, response: httpx.Response, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        await _complete(provider, response, stream=True)


async def test_ollama_text_is_cut_at_the_text_limit_and_reading_stops() -> None:
    lines = [{"response": "y" * 100, "done": False}] * 50  # never done
    settings = Settings(provider="ollama", max_tokens=10)
    request = fim_request(settings, Route.of(settings, {}), "p", "")
    client = FimClient(httpx.MockTransport(lambda r: _ndjson(*lines)))
    try:
        result = await client.complete(request)
    finally:
        await client.aclose()
    assert result.finish_reason == "length"
    assert len(result.text) == 10 * 32


async def test_no_authorization_header_without_a_key() -> None:
    seen: list[httpx.Request] = []

    def reply(sent: httpx.Request) -> httpx.Response:
        seen.append(sent)
        return httpx.Response(200, json={"content": "a", "stop": True})

    client = FimClient(httpx.MockTransport(reply))
    try:
        for key in (None, "kk"):
            settings = Settings(provider="llamacpp", stream=False, api_key=key)
            await client.complete(fim_request(settings, Route.of(settings, {}), "", ""))
    finally:
        await client.aclose()
    assert "authorization" not in seen[0].headers
    assert seen[1].headers["authorization"] == "Bearer kk"


async def test_tgi_sends_a_bearer_key_only_when_it_has_one() -> None:
    seen: list[httpx.Request] = []

    def reply(sent: httpx.Request) -> httpx.Response:
        seen.append(sent)
        return httpx.Response(200, json={"generated_text": "a", "details": {}})

    client = FimClient(httpx.MockTransport(reply))
    try:
        for key in (None, "hf_kk0123456789"):
            settings = Settings(provider="tgi", stream=False, api_key=key)
            await client.complete(fim_request(settings, Route.of(settings, ENV), "", ""))
    finally:
        await client.aclose()
    assert "authorization" not in seen[0].headers  # $CODESTRAL_API_KEY is set, and not sent
    assert seen[1].headers["authorization"] == "Bearer hf_kk0123456789"


def test_a_fim_template_without_its_fields_is_refused() -> None:
    layers = SettingsLayers({}, "file")
    [problem] = layers.set_layer("init", {"fimTemplate": "<PRE>{prefix}<MID>"})
    assert problem.key == "fimTemplate"
    assert "{prefix} and {suffix}" in problem.reason
    assert layers.current.fim_template is None


@pytest.mark.parametrize(
    ("provider", "region", "url"),
    [
        ("codestral", "eu", "https://codestral.mistral.ai/v1/fim/completions"),
        ("mistral", "eu", "https://api.mistral.ai/v1/fim/completions"),
        ("langdock", "eu", "https://api.langdock.com/mistral/eu/v1/fim/completions"),
        ("langdock", "us", "https://api.langdock.com/mistral/us/v1/fim/completions"),
    ],
)
def test_provider_urls(provider: str, region: str, url: str) -> None:
    assert endpoint_url(provider, region, None) == url
    assert endpoint_url(provider, region, "http://gw/v1/fim/completions") == (
        "http://gw/v1/fim/completions"
    )


@pytest.mark.parametrize(
    ("provider", "env", "expected"),
    [
        ("codestral", {"CODESTRAL_API_KEY": "k1"}, ("k1", "$CODESTRAL_API_KEY")),
        ("mistral", {"CODESTRAL_API_KEY": "k1"}, (None, "$MISTRAL_API_KEY")),
        ("mistral", {"MISTRAL_API_KEY": " k2 \n"}, ("k2", "$MISTRAL_API_KEY")),
        ("langdock", {"LANGDOCK_API_KEY": "k3"}, ("k3", "$LANGDOCK_API_KEY")),
    ],
)
def test_key_from_the_providers_variable(
    provider: str, env: dict[str, str], expected: tuple[str | None, str]
) -> None:
    assert resolve_key(provider, None, env) == expected
    assert resolve_key(provider, "direct", env) == ("direct", "the apiKey setting")
