"""The backends we know: one row per provider, naming its wire format, URL, key and limits.

A new backend is one module (a ``protocol.Wire``) plus one row here plus its tests.

``Route.of`` answers "which backend, which URL, which key" once per settings change; the server
holds the result and passes it on, and no request asks again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from codestral_lsp.backends import llamacpp, mistral_fim, ollama, openai, tgi
from codestral_lsp.backends.protocol import Wire

if TYPE_CHECKING:
    from codestral_lsp.settings import Settings


@dataclass(frozen=True)
class Provider:
    """One backend: how to talk to it, where, with which key, within which limits."""

    name: str
    wire: Wire
    url_template: str  # the default endpoint; may contain ``{region}``
    key_env: str | None  # variable read when no ``apiKey`` setting is given; None: takes no key
    key_hint: str  # where a user gets a key for it
    key_required: bool = True
    model: str = "codestral-latest"  # the model setting's default for this provider
    rpm: int | None = None  # default client-side limits (the rateLimit setting overrides)
    tpm: int | None = None

    @property
    def local(self) -> bool:
        """A server the user runs (no key needed, no limits by default)."""
        return not self.key_required


PROVIDERS: Mapping[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "codestral",
            mistral_fim.WIRE,
            "https://codestral.mistral.ai/v1/fim/completions",
            "CODESTRAL_API_KEY",
            "a Codestral key from console.mistral.ai (Codestral section)",
        ),
        Provider(
            "mistral",
            mistral_fim.WIRE,
            "https://api.mistral.ai/v1/fim/completions",
            "MISTRAL_API_KEY",
            "a La Plateforme key from console.mistral.ai (API keys)",
        ),
        Provider(
            "langdock",
            mistral_fim.WIRE,
            "https://api.langdock.com/mistral/{region}/v1/fim/completions",
            "LANGDOCK_API_KEY",
            "a Langdock API key with access to Codestral",
            rpm=500,
            tpm=60_000,
        ),
        Provider(
            "ollama",
            ollama.WIRE,
            "http://127.0.0.1:11434",
            None,
            "no key: Ollama takes none",
            key_required=False,
            model="codestral",
        ),
        Provider(
            "llamacpp",
            llamacpp.WIRE,
            "http://127.0.0.1:8080",
            "LLAMA_API_KEY",
            "the key llama-server was started with (--api-key), if any",
            key_required=False,
        ),
        Provider(
            "openai",
            openai.WIRE,
            "http://127.0.0.1:8000/v1/completions",
            "OPENAI_API_KEY",
            "the server's API key, if it wants one",
            key_required=False,
        ),
        Provider(
            "tgi",
            tgi.WIRE,
            "http://127.0.0.1:8080",  # TGI's own port, as llama.cpp's: run one of them there
            "HF_TOKEN",
            "a Hugging Face token (Inference Endpoints); a local TGI takes none",
            key_required=False,
        ),
    )
}


def endpoint_url(provider: str, region: str, endpoint: str | None) -> str:
    """The URL to POST to: from ``endpoint`` when set, else from the provider's default."""
    row = PROVIDERS[provider]
    return row.wire.url(endpoint or row.url_template.format(region=region))


def resolve_key(
    provider: str, api_key: str | None, environ: Mapping[str, str]
) -> tuple[str | None, str]:
    """The key to send and a description of where it came from (never the key itself).

    A provider that takes no key gets none, whatever the settings and the environment hold.
    """
    env = PROVIDERS[provider].key_env
    if env is None:
        return None, f"no key ({provider} takes none)"
    if api_key:
        return api_key, "the apiKey setting"
    value = environ.get(env, "").strip()
    return (value or None), f"${env}"


@dataclass(frozen=True)
class Route:
    """Where requests go and with which key, resolved from the settings and the environment.

    ``key_source`` says where the key came from (never the key). ``missing_key`` and
    ``key_problem`` say why no request may go; ``usable`` is their sum.
    """

    provider: Provider
    url: str
    key: str | None = field(repr=False)
    key_source: str
    missing_key: bool = False  # the provider wants a key and none is set
    key_problem: str | None = None  # why the key cannot go in a header (never quotes it)

    @property
    def wire(self) -> Wire:
        return self.provider.wire

    @property
    def usable(self) -> bool:
        return not self.missing_key and self.key_problem is None

    @classmethod
    def of(cls, settings: Settings, environ: Mapping[str, str]) -> Route:
        # settings imports this module (the provider table): imported here, when first used
        from codestral_lsp.settings import key_problem

        key, source = resolve_key(settings.provider, settings.api_key, environ)
        row = PROVIDERS[settings.provider]
        return cls(
            row,
            endpoint_url(settings.provider, settings.region, settings.endpoint),
            key,
            source,
            missing_key=key is None and row.key_required,
            key_problem=key_problem(key) if key is not None else None,
        )
