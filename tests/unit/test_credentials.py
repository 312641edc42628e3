"""Credentials in settings: what is refused, where the key may go, what the log filter masks."""

from __future__ import annotations

import logging

import pytest

from codestral_lsp.privacy import MASK, RedactingFilter
from codestral_lsp.settings import SettingsLayers, destination, secrets_in, url_credentials

GOOD = "https://gateway.example/v1/fim/completions"
CHANGE = "workspace/didChangeConfiguration"


@pytest.mark.parametrize(
    ("url", "found"),
    [
        (GOOD, []),
        ("https://gateway.example/v1/fim/completions?api-version=2024-01", []),
        ("https://u:pw-123@gateway.example/v1", ["u", "pw-123"]),
        ("https://token-only@gateway.example/v1", ["token-only"]),
        ("https://h/v1?api-key=abc", ["abc"]),
        ("https://h/v1?X-Amz-Signature=abc&x=1", ["abc"]),
        ("https://h/v1?access_token=abc", ["abc"]),
        ("https://h/v1?code=abc", ["abc"]),
        ("https://h/v1#token=abc", ["abc"]),
        ("https://h/v1?apikey", ["apikey"]),  # a name without a value: itself, to be safe
    ],
)
def test_url_credentials(url: str, found: list[str]) -> None:
    assert url_credentials(url) == found


def pinned(first: dict[str, object]) -> SettingsLayers:
    layers = SettingsLayers({}, "file")
    assert layers.set_layer("initializationOptions", first) == []
    layers.pin_destination()
    return layers


def test_before_the_first_completion_any_endpoint_may_be_set() -> None:
    """eglot sends all settings as a didChangeConfiguration right after initialize."""
    layers = SettingsLayers({}, "file")
    assert layers.set_layer(CHANGE, {"endpoint": GOOD}) == []
    assert layers.current.endpoint == GOOD


def test_after_it_another_host_is_refused_and_the_last_good_endpoint_stays() -> None:
    layers = pinned({"endpoint": GOOD})
    [problem] = layers.set_layer(CHANGE, {"endpoint": "http://evil.example:8080/x", "model": "m"})
    assert problem.key == "endpoint"
    assert "evil.example:8080" in problem.reason
    assert "gateway.example" in problem.reason
    assert layers.current.endpoint == GOOD
    assert layers.current.model == "m"  # the rest of the change applies
    assert layers.sources()["endpoint"] == "initializationOptions"


@pytest.mark.parametrize(
    "change",
    [
        {"endpoint": "https://gateway.example/v2/fim/completions"},  # same host, another path
        {"endpoint": "https://GATEWAY.example:443/v1/fim/completions"},  # same origin, spelt so
        {"endpoint": None, "provider": "mistral"},  # a provider's own URL
        {"endpoint": "", "provider": "langdock", "region": "us"},
        {"endpoint": "http://other.example/x", "apiKey": "its-own-key"},  # its own key
    ],
)
def test_what_a_later_change_may_do(change: dict[str, object]) -> None:
    layers = pinned({"endpoint": GOOD})
    assert layers.set_layer(CHANGE, change) == []


def test_the_scheme_and_port_count_too() -> None:
    for url in ("http://gateway.example/v1/fim/completions", "https://gateway.example:8443/v1"):
        layers = pinned({"endpoint": GOOD})
        [problem] = layers.set_layer(CHANGE, {"endpoint": url})
        assert problem.key == "endpoint"


def test_headers_set_elsewhere_need_the_change_to_bring_its_own() -> None:
    layers = pinned({"endpoint": GOOD, "headers": {"X-Gateway": "gateway-secret"}})
    other = "http://other.example/x"
    [problem] = layers.set_layer(CHANGE, {"endpoint": other, "apiKey": "its-own-key"})
    assert problem.key == "endpoint"
    assert layers.current.endpoint == GOOD
    assert layers.set_layer(CHANGE, {"endpoint": other, "apiKey": "own-key", "headers": {}}) == []
    assert destination(layers.current) == other
    assert layers.current.headers == ()


def test_a_pin_is_where_the_key_went_first() -> None:
    layers = pinned({})
    assert layers.set_layer(CHANGE, {"endpoint": GOOD}) != []  # not the provider's URL
    assert layers.set_layer(CHANGE, {"provider": "mistral"}) == []


def test_secrets_in_raw_settings() -> None:
    raw = {
        "apiKey": " sk-key\n",
        "headers": {"X-A": "header-value", "X-B": 3},
        "endpoint": "https://u:pass-word@h/v1?token=tok-123",
    }
    assert set(secrets_in(raw)) == {
        " sk-key\n",
        "sk-key",
        "header-value",
        "u",
        "pass-word",
        "tok-123",
    }
    assert secrets_in(None) == []
    assert secrets_in({"endpoint": "http://[::1/x"}) == ["http://[::1/x"]  # unparsable: all


def record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("pygls.x", logging.INFO, __file__, 1, msg, args, None)


@pytest.mark.parametrize(
    "message",
    [
        "Language server initialized InitializeParams(initialization_options={'apiKey': 'k-1'})",
        '{"initializationOptions": {"apiKey": "k-1", "model": "m"}}',
        "not a JSON-RPC 2.0 message: {'params': {'initializationOptions': {'apiKey': 'k-1",  # cut
        "apiKey=k-1 and more",
        "POST https://user:k-1@host/v1",
    ],
)
def test_the_filter_masks_an_api_key_it_does_not_know(message: str) -> None:
    redactor = RedactingFilter()
    rec = record("%s", message)
    assert redactor.filter(rec)
    assert "k-1" not in rec.getMessage()
    assert MASK in rec.getMessage()


def test_the_filter_masks_escaped_spellings_of_a_known_secret() -> None:
    redactor = RedactingFilter()
    redactor.secrets = ("first\nsecond-half",)
    rec = record("repr %r json %s", "first\nsecond-half", '"first\\nsecond-half"')
    redactor.filter(rec)
    assert "second-half" not in rec.getMessage()
