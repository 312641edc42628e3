"""`codestral-lsp doctor`: the settings as the server reads them, checked with one tiny FIM call.

Also the piece both terminal commands share: settings layered as the server layers them (plus
the command line on top). The route (``Route.of``) and the advice on each problem (``advice``)
are the server's own.
"""

from __future__ import annotations

import json
import logging
import textwrap
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TextIO

from codestral_lsp import __version__, advice
from codestral_lsp.backends import Route
from codestral_lsp.backends.client import FimClient, FimResult, fim_request
from codestral_lsp.backends.errors import BackendError
from codestral_lsp.privacy import RedactingFilter
from codestral_lsp.settings import (
    FIELDS,
    Problem,
    RateLimit,
    Settings,
    config_path,
    load_layers,
    secrets,
)

INIT_OPTIONS = "initializationOptions"  # the layer --settings fills, as the server names it
COMMAND_LINE = "command line"  # --endpoint, --model, --provider: the highest layer
PROBE_PROMPT = "def add(a, b):\n    return "
PROBE_MAX_TOKENS = 8
_Say = Callable[[str], None]  # prints one line


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
    route = Route.of(settings, environ)
    hide_secrets_in_logs(settings, route.key)
    say(f"codestral-lsp {__version__} doctor")
    say("")
    _print_settings(say, loaded, route, environ)
    if loaded.problems:
        say("")
        say("Warnings:")
        for problem in loaded.problems:
            say(f"  - setting '{problem.key}' from {problem.source} {problem.reason}")
    if loaded.usage_problems:
        say("")
        say("FAILED: a command-line option is not valid (see the warning above).")
        return 2
    say("")
    say(f"Endpoint: POST {route.url}")
    if (blocked := advice.unusable(route)) is not None:
        say("")
        say(_wrap(f"FAILED: {blocked}."))
        if route.missing_key:
            say(_wrap(f"Fix: {advice.no_key(route)}"))
        return 1
    return await _probe(say, settings, route, environ)


def _print_settings(say: _Say, loaded: Loaded, route: Route, environ: Mapping[str, str]) -> None:
    path = config_path(environ)
    found = "found" if path.is_file() else "not found"
    say(f"Settings file: {path} ({found})")
    say("Settings (highest source wins: command line, --settings, settings file, default):")
    width = max(len(f.key) for f in FIELDS)
    for spec in FIELDS:
        source = loaded.sources[spec.key]
        if spec.key == "apiKey":
            key_source = route.key_source
            where = f"{key_source} in {source}" if loaded.settings.api_key else key_source
            shown = f"set (from {where})" if route.key else f"not set (no {key_source})"
            if route.provider.key_env is None:
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
    route: Route,
    environ: Mapping[str, str],
) -> int:
    """One tiny FIM request with the user's settings, non-streaming; report what came back."""
    wanted = max(PROBE_MAX_TOKENS, settings.min_tokens or 0)
    probe = replace(settings, max_tokens=wanted, stream=False)
    request = fim_request(probe, route, PROBE_PROMPT, "")
    say(f"Checking with one tiny FIM request (model {settings.model}, max_tokens {wanted}) ...")
    client = FimClient(ca_bundle=settings.ca_bundle)
    started = time.monotonic()
    try:
        if settings.ca_bundle and client.ca_bundle != settings.ca_bundle:
            say(f"  warning: caBundle {settings.ca_bundle} could not be loaded; default CAs used")
        if (health := request.wire.health_url(route.url)) is not None:  # is the server up at all
            status = await client.health(health, request.timeout_s)
            say(f"  health       GET {health}: HTTP {status}")
        result = await client.complete(request)
    except BackendError as exc:
        say(f"  failed after {(time.monotonic() - started) * 1000:.0f} ms")
        if exc.rate_limits:
            _print_rate_limits(say, exc.rate_limits)
        say("")
        say(_wrap(f"FAILED: {exc}"))
        say(_wrap(f"Fix: {advice.fix(exc, settings, route, environ)}"))
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
