"""Settings: one frozen, validated object built from defaults, a TOML file and the editor's options.

Precedence, lowest first: defaults; the TOML file (``$CODESTRAL_LSP_CONFIG`` or
``$XDG_CONFIG_HOME/codestral-lsp/config.toml``); ``initializationOptions``; the latest
``workspace/didChangeConfiguration``. Keys are camelCase on the wire (snake_case is accepted too).
A bad value is reported by field and reason, and the last good value of that field stays in force.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from codestral_lsp.backends import PROVIDERS, Provider, endpoint_url
from codestral_lsp.exclusion import DEFAULT_NAMES, DEFAULT_PATHS, check_patterns

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
class Kind:
    """What a setting accepts: a parser from the raw JSON/TOML value, and the same in words.

    The parser returns the parsed value or raises ValueError with the reason.
    """

    accepts: str
    parse: Callable[[object], Any]

    def __call__(self, value: object) -> Any:
        return self.parse(value)


# --- what each setting accepts: parsers of the raw JSON/TOML value (ValueError: the reason)


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _choice(*choices: str) -> Kind:
    def parse(value: object) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return str(value)

    return Kind(", ".join(f"`{c}`" for c in choices), parse)


def _number(low: float, high: float | None, *, optional: bool = True) -> Kind:
    def parse(value: object) -> float | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("must be a number")
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise ValueError(f"must be {bound}")
        return float(value)

    bound = f"{low:g} to {high:g}" if high is not None else f"at least {low:g}"
    return Kind(f"number, {bound}", parse)


def _integer(low: int, *, optional: bool = True) -> Kind:
    def parse(value: object) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be a whole number")
        if value < low:
            raise ValueError(f"must be at least {low}")
        return value

    return Kind(f"whole number, at least {low}", parse)


def _text(*, optional: bool, pattern: str | None = None, accepts: str = "string") -> Kind:
    def parse(value: object) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        if pattern and not re.fullmatch(pattern, value):
            raise ValueError(f"must match {pattern}")
        return value.strip()

    return Kind(accepts, parse)


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


def _setting(
    default: Any, kind: Kind, doc: str, *, unset: str = "unset", secret: bool = False
) -> Any:
    """A field of Settings: its default, what it accepts, and what it does for the user.

    ``doc`` is the README's description (the table is made by ``markdown_table``); ``unset``
    says what a None or empty default means; a ``secret`` value is never shown.
    """
    metadata = {"kind": kind, "doc": doc, "unset": unset, "secret": secret}
    return field(default=default, repr=not secret, metadata=metadata)


_BOOLEAN = Kind("`true`, `false`", _boolean)


def _provider_entry(row: Provider) -> str:
    """``name`` (default URL, key variable) for the provider setting's description."""
    if row.key_env is None:
        key = "no key"
    else:
        key = f"{'key' if row.key_required else 'optional key'} in `{row.key_env}`"
    return f"`{row.name}` (`{row.url_template}`, {key})"


def _limits_entry(row: Provider) -> str:
    """The provider's default limits for the rateLimit setting's description."""
    limits = [f"{row.rpm:,} requests"] if row.rpm else []
    limits += [f"{row.tpm:,} tokens"] if row.tpm else []
    return f"`{row.name}`, {' and '.join(limits)} a minute"


@dataclass(frozen=True)
class Settings:
    """Everything a user can set, each field declared once: default, accepted values, meaning.

    The wire name is the camelCase of the attribute (``max_tokens`` -> ``maxTokens``); the
    parsing table ``FIELDS`` and the README's configuration table are derived from here.
    """

    provider: str = _setting(
        "codestral",
        _choice(*PROVIDERS),
        "The API, its default URL, the key's variable and the default limits: "
        + "; ".join(_provider_entry(row) for row in PROVIDERS.values())
        + ". A Codestral key gets 401 on api.mistral.ai and the reverse. A key goes only to its "
        "own provider: a local one never gets `CODESTRAL_API_KEY`.",
    )
    endpoint: str | None = _setting(
        None,
        Kind("http(s) URL", _url),
        "Overrides the provider's URL: the full FIM URL for `codestral`, `mistral`, `langdock` "
        "(gateways, self-hosted proxies) and `openai` (`…/v1/completions`); the server's base "
        "URL for `ollama` and `llamacpp`. The key is still taken from the provider's variable "
        "unless `apiKey` is set. A URL carrying credentials (`user:pass@`, a "
        "`?api-key=`/`?token=`/`?sig=`-like parameter) is refused: use `apiKey` or `headers`. "
        "Moving it to another host once the key has worked needs a restart (see *Your key* "
        "below).",
    )
    region: str = _setting(
        "eu",
        _text(optional=False, pattern=r"[A-Za-z0-9-]+", accepts="letters, digits, `-`"),
        "Langdock region in its URL.",
    )
    api_key: str | None = _setting(
        None,
        Kind("string", _api_key),
        "The API key. Prefer the provider's environment variable; this setting exists for "
        "editors that cannot set one. A key with a line break, control character, space or "
        "non-ASCII character is refused (so is such a key in the variable).",
        secret=True,
    )
    model: str = _setting(
        "codestral-latest",
        _text(optional=False),
        "`model` sent to the API (`codestral-2508`, ...). When unset, the provider's own: "
        + ", ".join(
            f'`"{row.model}"` for `{row.name}`'
            for row in PROVIDERS.values()
            if row.model != "codestral-latest"
        )
        + "; the default shown here for the others.",
    )
    temperature: float | None = _setting(
        None, _number(0, 1.5), "Sampling temperature.", unset="unset (model default)"
    )
    top_p: float | None = _setting(
        None,
        _number(0, 1),
        "Nucleus sampling: the probability mass sampled from.",
        unset="unset (model default)",
    )
    max_tokens: int | None = _setting(
        256,
        _integer(1),
        "Upper bound on generated tokens per suggestion; keeps cost and latency bounded. "
        "`null` sends none.",
    )
    min_tokens: int | None = _setting(None, _integer(0), "Minimum tokens to generate.")
    stop: str | tuple[str, ...] | None = _setting(
        None,
        Kind("string or list of strings", _stop),
        'Strings that end generation (`["\\n\\n"]` is common).',
    )
    random_seed: int | None = _setting(None, _integer(0), "Seed for deterministic sampling.")
    stream: bool = _setting(
        True,
        _BOOLEAN,
        "Read the answer as it is generated (server-sent events; NDJSON from Ollama); `false` "
        "asks for one JSON body.",
    )
    fim_template: str | None = _setting(
        None,
        Kind('`"codestral"` or a string with `{prefix}`, `{suffix}`', _fim_template),
        "`ollama` and `openai`: write the FIM prompt out and send no `suffix` (vLLM rejects "
        "one; Ollama then gets `raw: true`, for models whose Ollama template cannot insert). "
        '`"codestral"` is Codestral\'s own order as mistral-common encodes it, '
        "`<s>[SUFFIX]{suffix}[PREFIX]{prefix}`; any other string must hold `{prefix}` and "
        '`{suffix}` (e.g. `"<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>"` for '
        "Qwen2.5-Coder).",
    )
    headers: tuple[tuple[str, str], ...] = _setting(
        (),
        Kind("object of header names to strings", _headers),
        "Extra HTTP headers sent with every request (gateways); they can replace "
        "`Authorization`. Names must be RFC 7230 tokens, values printable ASCII; values are "
        "treated as secrets.",
        unset="`{}`",
        secret=True,
    )
    request_timeout_ms: int = _setting(
        10_000,
        _integer(100, optional=False),
        "Deadline for a whole FIM call; after it the editor gets an empty answer.",
    )
    debounce_ms: int = _setting(
        75,
        _integer(0, optional=False),
        "Least pause before an automatic request goes upstream (see below). `0` together with "
        "`debounceMaxMs: 0` sends at once.",
    )
    debounce_max_ms: int = _setting(
        300,
        _integer(0, optional=False),
        "Longest pause the adaptive debounce may choose while you type steadily.",
    )
    cache_size: int = _setting(
        256,
        _integer(0, optional=False),
        "Completions kept in memory for reuse; `0` turns the cache and typed-through reuse off.",
    )
    cache_ttl_seconds: float = _setting(
        300.0,
        _number(0, None, optional=False),
        "How long a remembered completion may be served again.",
    )
    coalesce: bool = _setting(
        True, _BOOLEAN, "Let a request typed on top of an in-flight one share its upstream call."
    )
    speculate: bool = _setting(
        False,
        _BOOLEAN,
        "After you accept a whole suggestion, ask for the next one at once, while the "
        'rate-limit budget has room (see "While you type").',
    )
    context_tokens: int = _setting(
        2048,
        _integer(64, optional=False),
        "Token budget of a request's context: prompt + suffix + snippets (see below).",
    )
    suffix_share: float = _setting(
        0.25,
        _number(0, 0.9, optional=False),
        "Part of the local window's budget given to the text after the cursor.",
    )
    extra_context_share: float = _setting(
        0.2,
        _number(0, 0.8, optional=False),
        "Part of the budget for snippets of other open files and recent edits; `0` turns them off.",
    )
    context_length: int = _setting(
        256_000,
        _integer(1024, optional=False),
        "The model's context length; prompt tokens + `maxTokens` never exceed it (32000 for the "
        "retired codestral-2405).",
    )
    rate_limit: RateLimit | None = _setting(  # noqa: RUF009 - a dataclasses.field
        None,
        Kind('`{"rpm": N, "tpm": N, "windowSeconds": 60}`', _rate_limit),
        "Client-side limits. Default: "
        + "; ".join(_limits_entry(row) for row in PROVIDERS.values() if row.rpm or row.tpm)
        + '; none for the others (local servers included). `{"rpm": null, "tpm": null}` '
        "turns them off.",
        unset="the provider's",
    )
    max_tokens_per_day: int | None = _setting(
        None,
        _integer(1),
        "Stop automatic requests once this many tokens (prompt + completion) were used today.",
    )
    exclude: tuple[str, ...] = _setting(
        (),
        Kind("list of patterns", _globs),
        "Patterns of files that get no completions and are never read for context, with "
        "`.gitignore` semantics (case-sensitive), relative to the workspace folder holding the "
        "file (for files outside every folder, to `/`; for `complete`, to the current "
        "directory): `*.local.py` and `secrets/` match at any depth, `secrets/**` and `/build/` "
        "from the root, `!keep.py` re-includes.",
        unset="`[]`",
    )
    exclude_defaults: bool = _setting(
        True,
        _BOOLEAN,
        "Also exclude the usual secret files, whatever the case of their names: by name "
        + ", ".join(f"`{name}`" for name in DEFAULT_NAMES)
        + "; by place, at any depth, "
        + ", ".join(f"`{place.removeprefix('**/')}`" for place in DEFAULT_PATHS)
        + ".",
    )
    multiline: str = _setting(
        "auto",
        _choice("auto", "always", "never"),
        "At a line end: `auto` (up to `maxLines`, cut at a natural end: a blank line, or a line "
        "indented less than the cursor's that does not continue or close its block), `always` "
        "(up to `maxLines`), `never` (one line). Mid-line suggestions are always one line.",
    )
    max_lines: int = _setting(8, _integer(1, optional=False), "Most lines a suggestion may have.")
    completion_fallback: str = _setting(
        "auto",
        _choice("auto", "on", "off"),
        "Serve the suggestion through `textDocument/completion` as one menu item: `auto` (when "
        "the client does not declare `textDocument.inlineCompletion`: Helix, Zed, Sublime, "
        "eglot), `on`, `off`.",
    )
    max_file_size: int = _setting(
        2_000_000,
        _integer(1, optional=False),
        "Documents longer than this (characters) get no completions; said once in the log.",
    )
    redact_secrets: bool = _setting(
        True,
        _BOOLEAN,
        "Mask secret-looking text with `<redacted>` before a request leaves: private keys, "
        "provider tokens, credentials in URLs, auth headers, values of keys named like a "
        "password, secret, token or API key. What it does and does not catch: "
        "[Privacy and reliability](#privacy-and-reliability).",
    )
    respect_gitignore: bool = _setting(
        True,
        _BOOLEAN,
        "Files git ignores are excluded too (`git check-ignore`, asked once per file when it "
        "opens; again after a `.gitignore` is saved).",
    )
    ca_bundle: str | None = _setting(
        None,
        Kind("path of a PEM file", _pem_file),
        "PEM file of CA certificates to trust (a corporate CA). Certificates are always "
        "verified; without it, the system's (`SSL_CERT_FILE`/`SSL_CERT_DIR`, else certifi).",
    )

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if f.name not in ("api_key", "headers")
        )
        shown += f", headers={[name for name, _ in self.headers]!r}"
        key = "set" if self.api_key else "unset"
        return f"Settings({shown}, api_key=<{key}>)"


@dataclass(frozen=True)
class FieldSpec:
    """One setting as the parser sees it, derived from its Settings field."""

    key: str  # camelCase wire name
    attr: str  # Settings attribute
    parse: Callable[[object], Any]
    secret: bool
    accepts: str
    doc: str
    unset: str


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


FIELDS: tuple[FieldSpec, ...] = tuple(
    FieldSpec(
        _camel(f.name),
        f.name,
        f.metadata["kind"].parse,
        f.metadata["secret"],
        f.metadata["kind"].accepts,
        f.metadata["doc"],
        f.metadata["unset"],
    )
    for f in fields(Settings)
)


def shown_default(spec: FieldSpec) -> str:
    """A field's default as the README shows it: JSON in backticks, or what unset means."""
    value = getattr(Settings(), spec.attr)
    if value is None or value == ():
        return spec.unset
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{json.dumps(value)}`"


def markdown_table() -> str:
    """The README's table of settings, made from the declarations in ``Settings``."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = [
        f"| `{f.key}` | {cell(shown_default(f))} | {cell(f.accepts)} | {cell(f.doc)} |"
        for f in FIELDS
    ]
    return "\n".join(["| Setting | Default | Values | Meaning |", "|---|---|---|---|", *rows])


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
        chosen: dict[str, tuple[FieldSpec, object, str]] = {}
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
