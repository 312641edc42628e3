"""Settings: precedence of sources, validation by field, the last good value, no key in repr."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

import pytest

from codestral_lsp.backends import endpoint_url
from codestral_lsp.settings import (
    FIELDS,
    FieldSpec,
    Settings,
    SettingsLayers,
    client_section,
    config_path,
    load_layers,
    markdown_table,
)

README = Path(__file__).resolve().parents[2] / "README.md"


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


# The README's table of settings: made from the declarations, and true to the code.

TABLE = re.compile(r"<!-- settings table: .*? -->\n(.*?)\n<!-- end of settings table -->", re.S)
ROW = re.compile(r"^\| `(\w+)` \| (.*?) \| .* \|$", re.M)


def readme_table() -> str:
    found = TABLE.search(README.read_text(encoding="utf-8"))
    assert found, "README.md: the settings table's marker comments are missing"
    return found.group(1)


def readme_rows() -> dict[str, str]:
    """Setting -> the Default cell, for each row of the README's table."""
    return dict(ROW.findall(readme_table()))


def test_the_readme_holds_the_table_made_from_the_code() -> None:
    assert readme_table() == markdown_table(), "run: python scripts/settings_table.py"


def test_the_readme_documents_each_setting_once_and_no_other() -> None:
    assert [key for key, _ in ROW.findall(readme_table())] == [f.key for f in FIELDS]


@pytest.mark.parametrize("spec", FIELDS, ids=lambda f: f.key)
def test_each_documented_default_is_the_real_one(spec: FieldSpec) -> None:
    """The README's default, read back as a user would type it, gives the dataclass default."""
    shown = readme_rows()[spec.key]
    real = getattr(Settings(), spec.attr)
    if shown.startswith("`"):
        layers = SettingsLayers({spec.key: json.loads(shown.strip("`"))}, "README")
        assert layers.rebuild() == []
        assert getattr(layers.current, spec.attr) == real
    else:  # "unset", "unset (model default)", "the provider's"
        assert real is None
        assert spec.parse(None) is None  # null in a layer unsets it again


def test_each_field_has_a_description_and_accepted_values() -> None:
    for f in fields(Settings):
        assert f.metadata["doc"].strip(), f.name
        assert f.metadata["kind"].accepts.strip(), f.name


@pytest.mark.parametrize(
    ("attr", "key"),
    [("api_key", "apiKey"), ("cache_ttl_seconds", "cacheTtlSeconds"), ("model", "model")],
)
def test_wire_names_are_the_camel_case_of_the_attributes(attr: str, key: str) -> None:
    [spec] = [f for f in FIELDS if f.attr == attr]
    assert spec.key == key
