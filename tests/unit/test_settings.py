"""Settings: precedence of sources, validation by field, the last good value, no key in repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from codestral_lsp.backends import endpoint_url, resolve_key
from codestral_lsp.backends.client import request_body
from codestral_lsp.settings import (
    FIELDS,
    Settings,
    SettingsLayers,
    client_section,
    config_path,
    load_layers,
)


def test_defaults() -> None:
    s = Settings()
    assert (s.provider, s.model, s.stream, s.max_tokens) == (
        "codestral",
        "codestral-latest",
        True,
        256,
    )
    assert endpoint_url(s.provider, s.region, s.endpoint) == (
        "https://codestral.mistral.ai/v1/fim/completions"
    )


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


def test_precedence_file_then_init_options_then_did_change() -> None:
    layers = SettingsLayers({"model": "from-file", "temperature": 0.1}, "file")
    layers.rebuild()
    assert layers.current.model == "from-file"
    layers.set_layer("init", {"model": "from-init"})
    assert (layers.current.model, layers.current.temperature) == ("from-init", 0.1)
    layers.set_layer("change", {"model": "from-change", "max_tokens": 32})
    assert (layers.current.model, layers.current.max_tokens) == ("from-change", 32)
    layers.set_layer("change", {})  # a later change that drops the key falls back to init
    assert layers.current.model == "from-init"


def test_sources_name_the_layer_whose_value_is_in_force() -> None:
    layers = SettingsLayers({"model": "from-file", "max_tokens": 64}, "file")
    layers.rebuild()
    layers.set_layer("init", {"model": "from-init", "temperature": 0.2})
    layers.set_layer("change", {"temperature": "hot", "apiKey": "secret-value"})
    sources = layers.sources()
    assert sources["model"] == "init"
    assert sources["maxTokens"] == "file"  # snake_case in the layer, camelCase here
    assert sources["temperature"] == "init"  # "hot" was rejected: init's 0.2 stays
    assert sources["apiKey"] == "change"
    assert sources["provider"] == "default"
    assert set(sources) == {f.key for f in FIELDS}
    layers.set_layer("change", {})
    assert layers.sources()["apiKey"] == "default"


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("temperature", "hot", "must be a number"),
        ("temperature", 2.0, "from 0 to 1.5"),
        ("topP", -0.1, "from 0 to 1"),
        ("maxTokens", 1.5, "whole number"),
        ("maxTokens", 0, "at least 1"),
        ("randomSeed", True, "whole number"),
        ("provider", "anthropic", "one of codestral, mistral, langdock, ollama, llamacpp, openai"),
        ("endpoint", "ftp://x", "http:// or https:// URL"),
        ("stop", [1, 2], "string or a list of strings"),
        ("headers", {"X": 1}, "header names to string values"),
        ("stream", "yes", "true or false"),
        ("requestTimeoutMs", 5, "at least 100"),
        ("model", "", "non-empty string"),
    ],
)
def test_a_bad_value_names_the_field_and_keeps_the_last_good_one(
    key: str, value: object, reason: str
) -> None:
    layers = SettingsLayers({}, "file")
    layers.set_layer("init", {"model": "good-model", "temperature": 0.3, "maxTokens": 99})
    before = layers.current
    problems = layers.set_layer("change", {key: value})
    [problem] = problems
    assert problem.key == key
    assert reason in problem.reason
    assert "change" in str(problem)
    assert layers.current == before


def test_secret_values_are_not_echoed_in_problems() -> None:
    layers = SettingsLayers({}, "file")
    [problem] = layers.set_layer("init", {"apiKey": 12345678})
    assert "12345678" not in str(problem)


def test_unknown_keys_are_reported_and_snake_case_is_accepted() -> None:
    layers = SettingsLayers({}, "file")
    problems = layers.set_layer("init", {"max_tokens": 10, "colour": "red"})
    assert layers.current.max_tokens == 10
    assert [p.key for p in problems] == ["colour"]


def test_repr_hides_the_key() -> None:
    s = Settings(api_key="sk-secret-value-123")
    assert "sk-secret-value-123" not in repr(s)
    assert "api_key=<set>" in repr(s)


def test_client_section() -> None:
    assert client_section({"codestral": {"model": "m"}, "other": 1}) == {"model": "m"}
    assert client_section({"model": "m"}) == {"model": "m"}
    assert client_section(None) == {}
    assert client_section({"codestral": "nonsense"}) == {}


def test_toml_file_from_xdg_and_explicit_path(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "codestral-lsp").mkdir(parents=True)
    (xdg / "codestral-lsp" / "config.toml").write_text('model = "m1"\n[headers]\nX-A = "b"\n')
    layers, problems = load_layers({"XDG_CONFIG_HOME": str(xdg)})
    assert problems == []
    assert layers.current.model == "m1"
    assert layers.current.headers == (("X-A", "b"),)

    explicit = tmp_path / "other.toml"
    explicit.write_text('[codestral]\nprovider = "langdock"\nregion = "eu"\n')
    env = {"XDG_CONFIG_HOME": str(xdg), "CODESTRAL_LSP_CONFIG": str(explicit)}
    assert config_path(env) == explicit
    layers, problems = load_layers(env)
    assert layers.current.provider == "langdock"


def test_toml_problems_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("model = \n")
    _, problems = load_layers({"CODESTRAL_LSP_CONFIG": str(bad)})
    assert "could not be read" in str(problems[0])
    _, problems = load_layers({"CODESTRAL_LSP_CONFIG": str(tmp_path / "missing.toml")})
    assert "does not exist" in str(problems[0])
    _, problems = load_layers({"XDG_CONFIG_HOME": str(tmp_path / "none")})
    assert problems == []  # the default file is optional


def test_request_body_sends_only_set_fields() -> None:
    body = request_body(Settings(max_tokens=None), "p", "s")
    assert body == {"model": "codestral-latest", "prompt": "p", "suffix": "s", "stream": True}
    body = request_body(Settings(stop=("a", "b"), temperature=0.0, random_seed=0), "p", "")
    assert body["stop"] == ["a", "b"]
    assert body["temperature"] == 0.0
    assert body["random_seed"] == 0
