"""`codestral-lsp doctor`: the settings as the server reads them, checked with one tiny FIM call.

Also the pieces both terminal commands share: settings layered as the server layers them (plus
the command line on top), and advice on each backend failure, naming the fix.
"""

from __future__ import annotations

import json
import logging
import textwrap
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TextIO

from codestral_lsp import __version__
from codestral_lsp.backends import PROVIDERS, endpoint_url, resolve_key
from codestral_lsp.backends.client import FimClient, FimResult, fim_request
from codestral_lsp.backends.errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    InvalidResponse,
    RateLimitError,
    RequestRejected,
)
from codestral_lsp.privacy import RedactingFilter
from codestral_lsp.settings import (
    FIELDS,
    Problem,
    RateLimit,
    Settings,
    config_path,
    key_problem,
    load_layers,
    secrets,
)

INIT_OPTIONS = "initializationOptions"  # the layer --settings fills, as the server names it
COMMAND_LINE = "command line"  # --endpoint, --model, --provider: the highest layer
PROBE_PROMPT = "def add(a, b):\n    return "
PROBE_MAX_TOKENS = 8
_Say = Callable[[str], None]  # prints one line
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")


@dataclass(frozen=True)
class Loaded:
    """Settings as the server would hold them, where each value came from, and what was wrong."""

    settings: Settings
    sources: dict[str, str]
    problems: list[Problem]

    @property
    def usage_problems(self) -> list[Problem]:
        """Problems with the command line's own overrides: bad usage, not a warning."""
        return [p for p in self.problems if p.source == COMMAND_LINE]


def load_settings(
    overrides: Mapping[str, object],
    settings_json: Mapping[str, object] | None,
    environ: Mapping[str, str],
) -> Loaded:
    """Defaults, the TOML file, ``--settings`` as initializationOptions, then the overrides."""
    layers, problems = load_layers(environ)
    if settings_json is not None:
        problems += layers.set_layer(INIT_OPTIONS, settings_json)
    if overrides:
        problems += layers.set_layer(COMMAND_LINE, overrides)
    # Each rebuild re-reports the lower layers' problems: say each one once.
    return Loaded(layers.current, layers.sources(), list(dict.fromkeys(problems)))


def hide_secrets_in_logs(settings: Settings, key: str | None) -> None:
    """Mask the key and header values in everything logged from now on (-v, -vv)."""
    redactor = RedactingFilter()
    redactor.secrets = tuple(secrets(settings, [key]))
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)


async def run_doctor(
    overrides: Mapping[str, object],
    settings_json: Mapping[str, object] | None,
    environ: Mapping[str, str],
    out: TextIO,
) -> int:
    """Print the settings and their sources, check the endpoint; 0 ok, 1 failed, 2 bad usage."""

    def say(line: str) -> None:
        out.write(line + "\n")

    loaded = load_settings(overrides, settings_json, environ)
    settings = loaded.settings
    key, key_source = resolve_key(settings.provider, settings.api_key, environ)
    hide_secrets_in_logs(settings, key)
    say(f"codestral-lsp {__version__} doctor")
    say("")
    _print_settings(say, loaded, key is not None, key_source, environ)
    if loaded.problems:
        say("")
        say("Warnings:")
        for problem in loaded.problems:
            say(f"  - setting '{problem.key}' from {problem.source} {problem.reason}")
    if loaded.usage_problems:
        say("")
        say("FAILED: a command-line option is not valid (see the warning above).")
        return 2
    url = endpoint_url(settings.provider, settings.region, settings.endpoint)
    say("")
    say(f"Endpoint: POST {url}")
    if key is None and PROVIDERS[settings.provider].key_required:
        say("")
        say(f"FAILED: no API key for provider '{settings.provider}'.")
        say(_wrap(f"Fix: {no_key_advice(settings)}"))
        return 1
    if key is not None and (bad_key := key_problem(key)):
        say("")
        say(_wrap(f"FAILED: the API key from {key_source} {bad_key}."))
        return 1
    return await _probe(say, settings, url, (key, key_source), environ)


def _print_settings(
    say: _Say, loaded: Loaded, has_key: bool, key_source: str, environ: Mapping[str, str]
) -> None:
    path = config_path(environ)
    found = "found" if path.is_file() else "not found"
    say(f"Settings file: {path} ({found})")
    say("Settings (highest source wins: command line, --settings, settings file, default):")
    width = max(len(f.key) for f in FIELDS)
    for spec in FIELDS:
        source = loaded.sources[spec.key]
        if spec.key == "apiKey":
            where = f"{key_source} in {source}" if loaded.settings.api_key else key_source
            shown = f"set (from {where})" if has_key else f"not set (no {key_source})"
            if PROVIDERS[loaded.settings.provider].key_env is None:
                shown = key_source
        else:
            value = _shown(getattr(loaded.settings, spec.attr), spec.key)
            shown = f"{value:<20}  " + ("(default)" if source == "default" else f"(from {source})")
        say(f"  {spec.key:<{width}}  {shown}")


def _shown(value: object, key: str) -> str:
    """A setting's value as JSON-like text; header values never shown."""
    if key == "headers" and isinstance(value, tuple):
        return json.dumps({name: "<hidden>" for name, _ in value})
    if isinstance(value, RateLimit):
        limit = {"rpm": value.rpm, "tpm": value.tpm, "windowSeconds": value.window_seconds}
        return json.dumps(limit)
    if value is None:
        return "unset"
    return json.dumps(list(value) if isinstance(value, tuple) else value, ensure_ascii=False)


async def _probe(
    say: _Say,
    settings: Settings,
    url: str,
    key: tuple[str | None, str],
    environ: Mapping[str, str],
) -> int:
    """One tiny FIM request with the user's settings, non-streaming; report what came back."""
    wanted = max(PROBE_MAX_TOKENS, settings.min_tokens or 0)
    probe = replace(settings, max_tokens=wanted, stream=False)
    request = fim_request(probe, key[0], PROBE_PROMPT, "")
    say(f"Checking with one tiny FIM request (model {settings.model}, max_tokens {wanted}) ...")
    client = FimClient(ca_bundle=settings.ca_bundle)
    started = time.monotonic()
    try:
        if settings.ca_bundle and client.ca_bundle != settings.ca_bundle:
            say(f"  warning: caBundle {settings.ca_bundle} could not be loaded; default CAs used")
        if (health := request.wire.health_url(url)) is not None:  # is the server up at all
            status = await client.health(health, request.timeout_s)
            say(f"  health       GET {health}: HTTP {status}")
        result = await client.complete(request)
    except BackendError as exc:
        say(f"  failed after {(time.monotonic() - started) * 1000:.0f} ms")
        if exc.rate_limits:
            _print_rate_limits(say, exc.rate_limits)
        say("")
        say(_wrap(f"FAILED: {exc}"))
        say(_wrap(f"Fix: {advice(exc, settings, key[1], url, environ)}"))
        return 1
    finally:
        await client.aclose()
    _print_result(say, result)
    say("")
    say("OK: the endpoint answered; the server will work with these settings.")
    return 0


def _print_result(say: _Say, result: FimResult) -> None:
    say(f"  latency      {result.elapsed_s * 1000:.0f} ms")
    say(f"  model        {result.model or '(not reported)'}")
    say(f"  completion   {result.text!r} (finish_reason {result.finish_reason})")
    if result.usage is None:
        say("  usage        (not reported)")
    else:
        usage = result.usage
        total = usage.prompt_tokens + usage.completion_tokens
        say(
            f"  usage        prompt {usage.prompt_tokens} + completion "
            f"{usage.completion_tokens} = {total} tokens"
        )
    _print_rate_limits(say, result.rate_limits)


def _print_rate_limits(say: _Say, limits: Mapping[str, str]) -> None:
    if not limits:
        say("  rate limits  (no rate-limit headers in the answer)")
        return
    say("  rate limits")
    for name in sorted(limits):
        say(f"    {name}: {limits[name]}")


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=96, subsequent_indent="     ", break_on_hyphens=False)


def no_key_advice(settings: Settings) -> str:
    provider = PROVIDERS[settings.provider]
    others = ", ".join(f"{p.name}: {p.key_env}" for p in PROVIDERS.values() if p is not provider)
    return (
        f"set {provider.key_env} to {provider.key_hint}, or the apiKey setting; "
        f"or choose the provider your key belongs to with --provider ({others})."
    )


def advice(
    exc: BackendError, settings: Settings, key_source: str, url: str, environ: Mapping[str, str]
) -> str:
    """What to do about ``exc``: which setting or variable, which provider."""
    if (own := PROVIDERS[settings.provider].wire.advice(exc, settings.model)) is not None:
        return own
    if isinstance(exc, AuthError):
        return _auth_advice(settings, key_source, exc)
    if isinstance(exc, RateLimitError):
        return _rate_limit_advice(settings, exc)
    if isinstance(exc, BackendUnavailable):
        return _unreachable_advice(str(exc), environ)
    if isinstance(exc, BackendTimeout):
        return (
            f"no complete answer within requestTimeoutMs ({settings.request_timeout_ms} ms): "
            "check the network or proxy, or raise requestTimeoutMs."
        )
    if isinstance(exc, RequestRejected):
        return _rejected_advice(settings, exc, url)
    if isinstance(exc, InvalidResponse):
        hint = PROVIDERS[settings.provider].wire.endpoint_hint
        return (
            f"{url} answered, but not as a FIM API does: the endpoint setting should hold "
            f"{hint}; fix it, or unset it to use the provider's."
        )
    return "the backend or a proxy in front of it failed; try again later."


def _auth_advice(settings: Settings, key_source: str, exc: AuthError) -> str:
    provider = PROVIDERS[settings.provider]
    where = f"the endpoint {settings.endpoint}" if settings.endpoint else provider.name
    text = (
        f"{where} refused the key from {key_source} (HTTP {exc.status}). Keys belong to one "
        "provider: a Codestral key (console.mistral.ai, Codestral section) works on "
        "codestral.mistral.ai only, a La Plateforme key on api.mistral.ai only; a Codestral key "
        "gets 401 on api.mistral.ai and the reverse. "
    )
    if settings.provider == "codestral":
        text += "If yours is a La Plateforme key, use --provider mistral (key in MISTRAL_API_KEY)."
    elif settings.provider == "mistral":
        text += "If yours is a Codestral key, use --provider codestral (key in CODESTRAL_API_KEY)."
    else:
        text += f"Langdock wants {provider.key_hint}; check it and the region ({settings.region})."
    text += f" Otherwise set {provider.key_env} to {provider.key_hint}."
    if settings.endpoint:
        text += " A gateway may want its own header: set it in the headers setting."
    return text


def _rate_limit_advice(settings: Settings, exc: RateLimitError) -> str:
    wait = (
        f"the server asks to retry after {exc.retry_after:.0f} s"
        if exc.retry_after is not None
        else "the server gave no Retry-After"
    )
    shared = (
        " Langdock's limit is per workspace, shared by every key and user in it."
        if settings.provider == "langdock"
        else ""
    )
    return (
        f"rate limited (HTTP 429): {wait}. Wait or lower usage: fewer editors on this key, a "
        f"smaller contextTokens (now {settings.context_tokens}), or the rateLimit and "
        f"maxTokensPerDay settings.{shared}"
    )


def _unreachable_advice(message: str, environ: Mapping[str, str]) -> str:
    proxies = [name for name in _PROXY_VARIABLES if environ.get(name)]
    text = "nothing answered: check the URL (the endpoint, provider and region settings) and "
    text += "the network. "
    if proxies:
        text += f"Requests go through the proxy in {proxies[0]}: check it, or list the host in "
        text += "NO_PROXY. "
    else:
        text += "Behind a proxy? Set HTTPS_PROXY (and NO_PROXY for hosts reached directly). "
    if "certificate" in message.lower() or "ssl" in message.lower():
        text += "TLS failed: if a corporate proxy inspects TLS, point the caBundle setting "
        text += "(or SSL_CERT_FILE) at its CA certificate (PEM)."
    else:
        text += "If TLS fails behind a corporate proxy, set caBundle (or SSL_CERT_FILE)."
    return text


def _rejected_advice(settings: Settings, exc: RequestRejected, url: str) -> str:
    if exc.status in (404, 405):
        hint = PROVIDERS[settings.provider].wire.endpoint_hint
        return (
            f"{url} is not a FIM endpoint (HTTP {exc.status}): {hint}; fix the endpoint "
            "setting, or unset it to use the provider's."
        )
    return (
        f"the request was rejected (HTTP {exc.status}): check the model name (now "
        f"'{settings.model}'; e.g. --model codestral-latest) and the API fields you set "
        "(temperature, topP, maxTokens, minTokens, stop, randomSeed)."
    )
