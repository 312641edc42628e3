"""Settings: one frozen, validated object built from defaults, a TOML file and the editor's options.

Precedence, lowest first: defaults; the TOML file (``$CODESTRAL_LSP_CONFIG`` or
``$XDG_CONFIG_HOME/codestral-lsp/config.toml``); ``initializationOptions``; the latest
``workspace/didChangeConfiguration``. Keys are camelCase on the wire (snake_case is accepted too).
A bad value is reported by field and reason, and the last good value of that field stays in force.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from codestral_lsp.backends import PROVIDERS, endpoint_url
from codestral_lsp.exclusion import check_patterns

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateLimit:
    """Requests and tokens allowed per window (None: no limit of that kind)."""

    rpm: int | None = None
    tpm: int | None = None
    window_seconds: float = 60.0


@dataclass(frozen=True)
class Settings:
    """Everything a user can set. Field docs are the README's, keep them in step."""

    provider: str = "codestral"
    """`codestral`, `mistral`, `langdock`, `ollama`, `llamacpp` or `openai`: the API, its
    default URL, the key's variable and the default limits (``backends.PROVIDERS``)."""
    endpoint: str | None = None
    """Overrides the provider's URL: the whole FIM URL (codestral, mistral, langdock, openai),
    or the server's base URL (ollama, llamacpp)."""
    region: str = "eu"
    """Langdock region in its URL."""
    api_key: str | None = field(default=None, repr=False)
    """The key; when unset it is read from the provider's environment variable."""
    model: str = "codestral-latest"
    """Sent as ``model``; when unset, the provider's default (``codestral`` for ollama)."""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = 256
    """Upper bound on generated tokens: keeps cost and latency of one suggestion bounded."""
    min_tokens: int | None = None
    stop: str | tuple[str, ...] | None = None
    random_seed: int | None = None
    stream: bool = True
    """Server-sent events (the answer is read as it is generated) or one JSON body."""
    fim_template: str | None = None
    """ollama and openai: write the FIM prompt out instead of sending ``suffix``: ``codestral``,
    or a string with ``{prefix}`` and ``{suffix}``."""
    headers: tuple[tuple[str, str], ...] = ()
    """Extra HTTP headers for gateways; shown as a table/object in settings."""
    request_timeout_ms: int = 10_000
    """Deadline for one whole FIM call; the editor gets an empty answer after it."""
    debounce_ms: int = 75
    """Least pause before an automatic request goes upstream (0 with debounceMaxMs 0: none)."""
    debounce_max_ms: int = 300
    """Longest pause the adaptive debounce may choose while the user types steadily."""
    cache_size: int = 256
    """Completions kept in memory (exact and typed-through reuse); 0 turns both off."""
    cache_ttl_seconds: float = 300.0
    """How long a remembered completion may be served again."""
    coalesce: bool = True
    """Let a request typed on top of an in-flight one share its upstream call."""
    speculate: bool = False
    """After a whole suggestion is accepted, ask for the next one at once (budget permitting)."""
    context_tokens: int = 2048
    """Budget for prompt + suffix + extra context, in (estimated) tokens; see the README."""
    suffix_share: float = 0.25
    """Part of the local window's budget given to the text after the cursor."""
    extra_context_share: float = 0.2
    """Part of the budget for snippets of other files and recent edits; 0 turns them off."""
    context_length: int = 256_000
    """The model's context length: prompt tokens + maxTokens never exceed it."""
    rate_limit: RateLimit | None = None
    """Client-side limits; None: the provider's (Langdock 500 rpm / 60,000 tpm, others off)."""
    max_tokens_per_day: int | None = None
    """Stop automatic requests once this many tokens were used today."""
    exclude: tuple[str, ...] = ()
    """gitignore-style patterns (from the workspace root): files never completed nor read."""
    exclude_defaults: bool = True
    """Also exclude the usual secret files (``.env``, keys, credentials, ...)."""
    multiline: str = "auto"
    """At a line end: ``auto`` (up to maxLines, cut at a natural end), ``always``, ``never``."""
    max_lines: int = 8
    """Most lines a suggestion may have."""
    completion_fallback: str = "auto"
    """Serve textDocument/completion: ``auto`` (when the client lacks inline completion)."""
    max_file_size: int = 2_000_000
    """Documents longer than this (characters) get no completions."""
    redact_secrets: bool = True
    """Replace text that looks like a secret (keys, tokens, passwords) before sending."""
    respect_gitignore: bool = True
    """Files ignored by git are excluded too."""
    ca_bundle: str | None = None
    """PEM file of CA certificates to trust (a corporate CA); certificates are always verified."""

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if f.name not in ("api_key", "headers")
        )
        shown += f", headers={[name for name, _ in self.headers]!r}"
        key = "set" if self.api_key else "unset"
        return f"Settings({shown}, api_key=<{key}>)"


# --- validators: each takes the raw JSON/TOML value and returns the parsed one or raises ValueError


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _choice(*choices: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return str(value)

    return parse


def _number(low: float, high: float | None, *, optional: bool = True) -> Callable[[object], Any]:
    def parse(value: object) -> float | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("must be a number")
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise ValueError(f"must be {bound}")
        return float(value)

    return parse


def _integer(low: int, *, optional: bool = True) -> Callable[[object], Any]:
    def parse(value: object) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be a whole number")
        if value < low:
            raise ValueError(f"must be at least {low}")
        return value

    return parse


def _text(*, optional: bool, pattern: str | None = None) -> Callable[[object], Any]:
    def parse(value: object) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        if pattern and not re.fullmatch(pattern, value):
            raise ValueError(f"must match {pattern}")
        return value.strip()

    return parse


class _Unshown(ValueError):
    """A refusal whose value may hold a secret: the message never quotes the value."""


# Query or fragment parameters that carry a credential (?api-key=, ?token=, ?sig=, ?code=).
_CREDENTIAL_NAME = re.compile(
    r"(?i)key|token|secret|sig|passw|pwd|auth|credential|session|bearer|^code$"
)


def _url(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.match(r"https?://[^/\s]+", value):
        raise ValueError("must be an http:// or https:// URL")
    if re.search(r"[\x00-\x20\x7f]", value):
        raise _Unshown("must not contain spaces, line breaks or control characters")
    if url_credentials(value):
        raise _Unshown(
            "must not carry credentials (user:password@, or a ?key=/?token=/?sig=-like "
            "parameter): put the key in apiKey, a gateway's credential in headers"
        )
    try:
        urlsplit(value).port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("has a bad port") from None
    return value


def url_credentials(url: str) -> list[str]:
    """The credentials in ``url``: user and password, and values of key/token-like parameters."""
    parts = urlsplit(url)
    found = [x for x in (parts.username, parts.password) if x] if "@" in parts.netloc else []
    if "@" in parts.netloc and not found:
        found.append(parts.netloc.rpartition("@")[0] or "@")
    for section in (parts.query, parts.fragment):
        pairs = parse_qsl(section, keep_blank_values=True)
        found += [v or n for n, v in pairs if _CREDENTIAL_NAME.search(n)]
    return found


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot go in an ``Authorization`` header, or None. Never quotes the key."""
    if re.search(r"[\x00-\x1f\x7f]", key):
        return "contains a line break or another control character: copy the key again"
    if not key.isascii():
        return "contains non-ASCII characters, which an HTTP header cannot carry: copy it again"
    if re.search(r"\s", key):
        return "contains a space: copy the key again"
    return None


def _api_key(value: object) -> str | None:
    key: str | None = _text(optional=True)(value)
    if key is not None and (problem := key_problem(key)):
        raise ValueError(problem)
    return key


def _stop(value: object) -> str | tuple[str, ...] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise ValueError("must be a string or a list of strings")


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP field name (RFC 7230)
_FIELD_VALUE = re.compile(r"[\x20-\x7e\t]*")  # printable ASCII: no line breaks, no controls


def _headers(value: object) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError("must be an object of header names to string values")
    for name, text in value.items():
        if not _TOKEN.fullmatch(name):
            raise ValueError(
                "has a name that is not an HTTP header name (RFC 7230: letters, digits and "
                "!#$%&'*+-.^_`|~ only)"
            )
        if not _FIELD_VALUE.fullmatch(text):
            raise ValueError(
                f"header {name}: the value must be printable ASCII, without line breaks or "
                "control characters"
            )
    return tuple(value.items())


def _rate_limit(value: object) -> RateLimit | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("must be an object with rpm, tpm and windowSeconds")
    unknown = set(value) - {"rpm", "tpm", "windowSeconds"}
    if unknown:
        raise ValueError(f"has unknown keys {sorted(unknown)}")
    try:
        rpm = _integer(1)(value.get("rpm"))
        tpm = _integer(1)(value.get("tpm"))
        window = _number(1, None, optional=False)(value.get("windowSeconds", 60))
    except ValueError as exc:
        raise ValueError(f"rpm/tpm/windowSeconds {exc}") from None
    return RateLimit(rpm, tpm, window)


def _globs(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        check_patterns(value)
        return tuple(value)
    raise ValueError("must be a list of gitignore-style patterns")


def _pem_file(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("must be the path of a PEM file")
    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(f"names no readable file ({path})")
    return str(path)


def _fim_template(value: object) -> str | None:
    if value is None or value == "" or value == "codestral":
        return value or None
    if not isinstance(value, str) or "{prefix}" not in value or "{suffix}" not in value:
        raise ValueError('must be "codestral" or a string with {prefix} and {suffix}')
    return value


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


@dataclass(frozen=True)
class _Field:
    key: str  # camelCase wire name
    attr: str  # Settings attribute
    parse: Callable[[object], Any]
    secret: bool = False


FIELDS: tuple[_Field, ...] = (
    _Field("provider", "provider", _choice(*PROVIDERS)),
    _Field("endpoint", "endpoint", _url),
    _Field("region", "region", _text(optional=False, pattern=r"[A-Za-z0-9-]+")),
    _Field("apiKey", "api_key", _api_key, secret=True),
    _Field("model", "model", _text(optional=False)),
    _Field("temperature", "temperature", _number(0, 1.5)),
    _Field("topP", "top_p", _number(0, 1)),
    _Field("maxTokens", "max_tokens", _integer(1)),
    _Field("minTokens", "min_tokens", _integer(0)),
    _Field("stop", "stop", _stop),
    _Field("randomSeed", "random_seed", _integer(0)),
    _Field("stream", "stream", _boolean),
    _Field("fimTemplate", "fim_template", _fim_template),
    _Field("headers", "headers", _headers, secret=True),
    _Field("requestTimeoutMs", "request_timeout_ms", _integer(100, optional=False)),
    _Field("debounceMs", "debounce_ms", _integer(0, optional=False)),
    _Field("debounceMaxMs", "debounce_max_ms", _integer(0, optional=False)),
    _Field("cacheSize", "cache_size", _integer(0, optional=False)),
    _Field("cacheTtlSeconds", "cache_ttl_seconds", _number(0, None, optional=False)),
    _Field("coalesce", "coalesce", _boolean),
    _Field("speculate", "speculate", _boolean),
    _Field("contextTokens", "context_tokens", _integer(64, optional=False)),
    _Field("suffixShare", "suffix_share", _number(0, 0.9, optional=False)),
    _Field("extraContextShare", "extra_context_share", _number(0, 0.8, optional=False)),
    _Field("contextLength", "context_length", _integer(1024, optional=False)),
    _Field("rateLimit", "rate_limit", _rate_limit),
    _Field("maxTokensPerDay", "max_tokens_per_day", _integer(1)),
    _Field("exclude", "exclude", _globs),
    _Field("excludeDefaults", "exclude_defaults", _boolean),
    _Field("multiline", "multiline", _choice("auto", "always", "never")),
    _Field("maxLines", "max_lines", _integer(1, optional=False)),
    _Field("completionFallback", "completion_fallback", _choice("auto", "on", "off")),
    _Field("maxFileSize", "max_file_size", _integer(1, optional=False)),
    _Field("redactSecrets", "redact_secrets", _boolean),
    _Field("respectGitignore", "respect_gitignore", _boolean),
    _Field("caBundle", "ca_bundle", _pem_file),
)
_BY_KEY = {f.key: f for f in FIELDS} | {f.attr: f for f in FIELDS}


@dataclass(frozen=True)
class Problem:
    """A setting that could not be used, with the reason; safe to show (never holds a key)."""

    key: str
    reason: str
    source: str

    def __str__(self) -> str:
        return f"codestral-lsp: setting '{self.key}' from {self.source} {self.reason}"


def client_section(settings: object) -> Mapping[str, object]:
    """Our part of a didChangeConfiguration payload: ``settings.codestral`` or ``settings``."""
    if not isinstance(settings, dict):
        return {}
    section = settings.get("codestral", settings)
    return section if isinstance(section, dict) else {}


def config_path(environ: Mapping[str, str]) -> Path:
    """Where the TOML settings file is looked for."""
    explicit = environ.get("CODESTRAL_LSP_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "codestral-lsp" / "config.toml"


def read_file(path: Path, *, required: bool) -> tuple[dict[str, Any], list[Problem]]:
    """The TOML file's table (``[codestral]`` or top level); a missing optional file is empty."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        if not required:
            return {}, []
        return {}, [Problem(str(path), "does not exist", "CODESTRAL_LSP_CONFIG")]
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return {}, [Problem(str(path), f"could not be read: {exc}", "the settings file")]
    section = data.get("codestral", data)
    return (section if isinstance(section, dict) else {}), []


class SettingsLayers:
    """Keeps each source's raw values so a later change re-merges in the right precedence."""

    def __init__(self, file_values: Mapping[str, object], file_source: str) -> None:
        self._layers: dict[str, Mapping[str, object]] = {file_source: file_values}
        self._sources: dict[str, str] = {}
        self._pinned: tuple[str, str, int | None] | None = None
        self.current = Settings()

    def pin_destination(self, url: str | None = None) -> None:
        """From now on, credentials go to ``url`` (default: where they go now): see ``_redirect``.

        The server pins the first URL that answered a call; over TCP, what the settings file
        and the environment say, before any client connects. Only the first call pins.
        """
        if self._pinned is None:
            self._pinned = _origin(url or destination(self.current))

    def set_layer(self, source: str, values: Mapping[str, object]) -> list[Problem]:
        """Replace one source's values and rebuild; returns the problems found."""
        self._layers[source] = dict(values)
        return self.rebuild()

    def rebuild(self) -> list[Problem]:
        """Re-merge all layers; for each field the highest layer that sets it decides."""
        chosen: dict[str, tuple[_Field, object, str]] = {}
        problems: list[Problem] = []
        for source, values in self._layers.items():
            for key, value in values.items():
                spec = _BY_KEY.get(key)
                if spec is None:
                    problems.append(Problem(key, "is unknown and was ignored", source))
                else:
                    chosen[spec.attr] = (spec, value, source)
        changes: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for attr, (spec, value, source) in chosen.items():
            try:
                changes[attr] = spec.parse(value)
                sources[spec.key] = source
            except ValueError as exc:
                hidden = spec.secret or isinstance(exc, _Unshown)
                shown = "<hidden>" if hidden else _describe(value)
                reason = f"{exc} (got {shown}); the last good value stays in force"
                problems.append(Problem(spec.key, reason, source))
                changes[attr] = getattr(self.current, attr)
                sources[spec.key] = self._sources.get(spec.key, "default")
        redirect = self._redirect(replace(Settings(), **changes), sources)
        if redirect is not None:
            problems.append(redirect)
            for spec in (_BY_KEY["endpoint"], _BY_KEY["provider"], _BY_KEY["region"]):
                changes[spec.attr] = getattr(self.current, spec.attr)
                sources[spec.key] = self._sources.get(spec.key, "default")
        if "model" not in changes:  # unset anywhere: the provider's own default
            changes["model"] = PROVIDERS[changes.get("provider", Settings.provider)].model
        self.current = replace(Settings(), **changes)
        self._sources = sources
        return problems

    def _redirect(self, candidate: Settings, sources: Mapping[str, str]) -> Problem | None:
        """A change that would send credentials set elsewhere to a new host, refused.

        Once pinned (by the first call an endpoint answered), the key and headers go only to
        the pinned host or to a provider's own URL, unless the source that sets the new
        ``endpoint`` also sets ``apiKey`` (and ``headers``, if any are in force): then its own
        credentials go there.
        """
        url = destination(candidate)
        if self._pinned is None or candidate.endpoint is None or _origin(url) == self._pinned:
            return None
        source = sources.get("endpoint", "default")
        own_key = sources.get("apiKey") == source
        own_headers = not candidate.headers or sources.get("headers") == source
        if own_key and own_headers:
            return None
        host = urlsplit(url).netloc
        was = "{}:{}".format(*self._pinned[1:])
        reason = (
            f"would send the API key (and headers) set elsewhere to {host} instead of {was}; "
            "refused, the last good value stays in force. Set it in the settings file and "
            "restart the server, or set apiKey in the same place as this endpoint"
        )
        return Problem("endpoint", reason, source)

    def sources(self) -> dict[str, str]:
        """Per camelCase key, the source of the value in force: a layer's name, or "default".

        A rejected value keeps the last good one, and with it that value's source.
        """
        return {f.key: self._sources.get(f.key, "default") for f in FIELDS}


def load_layers(environ: Mapping[str, str]) -> tuple[SettingsLayers, list[Problem]]:
    """Settings from defaults and the TOML file, ready for the editor's layers on top."""
    path = config_path(environ)
    values, problems = read_file(path, required=bool(environ.get("CODESTRAL_LSP_CONFIG")))
    layers = SettingsLayers(values, f"the settings file {path}")
    problems.extend(layers.rebuild())
    return layers, problems


def destination(settings: Settings) -> str:
    """The URL the key and headers are sent to."""
    return endpoint_url(settings.provider, settings.region, settings.endpoint)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def secrets_in(values: object) -> list[str]:
    """Credentials in raw settings as a client sent them, valid or not: to mask in logs.

    The key, header values, and credentials in an endpoint URL.
    """
    if not isinstance(values, Mapping):
        return []
    found: list[str] = []
    for name in ("apiKey", "api_key"):
        if isinstance(key := values.get(name), str):
            found += [key, key.strip()]
    if isinstance(headers := values.get("headers"), Mapping):
        found += [v for v in headers.values() if isinstance(v, str)]
    if isinstance(url := values.get("endpoint"), str):
        try:
            found += url_credentials(url)
        except ValueError:
            found.append(url)  # no telling what is secret in it: all of it
    return found


def rate_limit(settings: Settings) -> RateLimit:
    """The limits in force: the setting, else the provider's known limits."""
    if settings.rate_limit is not None:
        return settings.rate_limit
    row = PROVIDERS[settings.provider]
    return RateLimit(rpm=row.rpm, tpm=row.tpm)


def secrets(settings: Settings, extra: Iterable[str | None] = ()) -> list[str]:
    """Strings that must never appear in output: the key and header values."""
    found = [settings.api_key, *(v for _, v in settings.headers), *extra]
    return [s for s in found if s and len(s) >= 6]
