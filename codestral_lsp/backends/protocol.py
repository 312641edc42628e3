"""The seam between the one HTTP client and each API: a neutral request in, text pieces out.

A wire format (one module per API in ``backends``) turns a ``FimCall`` into the URL and JSON
body its API takes, and each JSON answer, stream event (SSE) or stream line (NDJSON) into a
``Piece``: text, the finish reason once the answer is over, token counts (from the body, or the
headers where an API puts them there), the model. The client (``backends.client``) does
everything else the same way for all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codestral_lsp.backends.errors import BackendError, InvalidResponse
from codestral_lsp.positions import replace_lone_surrogates

# Codestral's FIM order as mistral-common's encode_fim writes it: BOS, [SUFFIX], suffix,
# [PREFIX], prefix (no middle token).
CODESTRAL_TEMPLATE = "<s>[SUFFIX]{suffix}[PREFIX]{prefix}"


@dataclass(frozen=True)
class FimCall:
    """One completion as asked for, in no API's terms; ``None`` fields are not sent."""

    model: str
    prompt: str
    suffix: str
    extra: str = ""  # context from other files, before the prompt
    extra_files: tuple[tuple[str, str], ...] = ()  # the same, one (path, text) per snippet
    max_tokens: int | None = None
    min_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | tuple[str, ...] | None = None
    seed: int | None = None
    stream: bool = True
    fim_template: str | None = None  # "codestral", or a string with {prefix} and {suffix}

    def __post_init__(self) -> None:
        for name in ("prompt", "suffix", "extra"):
            # a lone surrogate (a utf-16 client may send one) cannot be encoded as UTF-8
            object.__setattr__(self, name, replace_lone_surrogates(getattr(self, name)))
        files = tuple(
            (replace_lone_surrogates(p), replace_lone_surrogates(t)) for p, t in self.extra_files
        )
        object.__setattr__(self, "extra_files", files)

    @property
    def stops(self) -> list[str] | None:
        """``stop`` as a list (the APIs that take only lists)."""
        if self.stop is None:
            return None
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    @property
    def stop_field(self) -> str | list[str] | None:
        """``stop`` as the JSON the Mistral and OpenAI APIs take (a string or a list)."""
        return list(self.stop) if isinstance(self.stop, tuple) else self.stop

    def written_out(self) -> str:
        """The whole FIM prompt through ``fim_template`` (for servers that take no suffix)."""
        template = self.fim_template or ""
        template = CODESTRAL_TEMPLATE if template == "codestral" else template
        prefix = self.extra + self.prompt
        head, _, tail = template.partition("{prefix}")
        return (
            head.replace("{suffix}", self.suffix) + prefix + tail.replace("{suffix}", self.suffix)
        )


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Piece:
    """What one answer, event or line brings; ``finish`` is set once the answer is complete."""

    text: str = ""
    finish: str | None = None
    usage: Usage | None = None
    model: str | None = None


class Wire:
    """One API's request and answer format. Subclasses override what differs."""

    name = "wire"
    stream_type = "text/event-stream"  # what a streamed answer is sent as
    done_marker: str | None = "[DONE]"  # an SSE event that ends the stream, if the API sends one
    endpoint_hint = "check the URL"  # what the endpoint setting should hold, for advice
    reads_to_end = False  # a stream is read past the finish, to its end (usage comes last)
    path = ""  # added to the endpoint, when the setting is the server's base URL

    def url(self, endpoint: str) -> str:
        """The URL to POST to, from the ``endpoint`` setting or the provider's default."""
        return endpoint.rstrip("/") + self.path if self.path else endpoint

    def stream_url(self, url: str) -> str:
        """Where a streamed call goes, for an API with a separate streaming route."""
        return url

    @property
    def takes_base_url(self) -> bool:
        """The ``endpoint`` setting is the server's base URL (the wire adds the path)."""
        return bool(self.path)

    def body(self, call: FimCall) -> dict[str, Any]:
        raise NotImplementedError

    def max_tokens(self, body: Mapping[str, Any]) -> int | None:
        """The bound on generated tokens in ``body`` (bounds on reading the answer follow it)."""
        wanted = body.get("max_tokens")
        return wanted if isinstance(wanted, int) else None

    def auth_headers(self, key: str | None) -> dict[str, str]:
        """A bearer token when there is a key; no ``Authorization`` at all otherwise."""
        return {"Authorization": f"Bearer {key}"} if key else {}

    def answer(self, data: Mapping[str, Any]) -> Piece:
        """A whole JSON answer (not streamed); InvalidResponse when it brings no text."""
        raise NotImplementedError

    def chunk(self, data: Mapping[str, Any]) -> Piece:
        """One streamed event or line."""
        raise NotImplementedError

    def header_usage(self, headers: Mapping[str, str]) -> Usage | None:
        """Token counts from the answer's headers, for an API whose body lacks them."""
        return None

    def health_url(self, url: str) -> str | None:
        """A cheap GET that says the server is up (``doctor``), if the API has one."""
        return None

    def advice(self, exc: BackendError, model: str) -> str | None:
        """The fix for a failure peculiar to this API, if any (else ``doctor``'s generic one)."""
        return None


def integer(data: Mapping[str, Any], name: str) -> int | None:
    value = data.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def counts(data: Mapping[str, Any], prompt: str, completion: str) -> Usage | None:
    """Token counts from the answer's fields named ``prompt`` and ``completion``, if both."""
    found = integer(data, prompt), integer(data, completion)
    return Usage(found[0], found[1]) if found[0] is not None and found[1] is not None else None


def text_of(data: Mapping[str, Any], name: str, what: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise InvalidResponse(f"the answer has no {what} string")
    return value


def model_of(data: Mapping[str, Any]) -> str | None:
    model = data.get("model")
    return model if isinstance(model, str) else None
