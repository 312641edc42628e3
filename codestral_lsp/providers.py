"""The FIM services we know: their endpoint URLs and the environment variable holding each key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Provider:
    """One hosted FIM service."""

    name: str
    url_template: str  # may contain ``{region}``
    key_env: str  # environment variable read when no ``apiKey`` setting is given
    key_hint: str  # where a user gets a key for it


PROVIDERS: Mapping[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "codestral",
            "https://codestral.mistral.ai/v1/fim/completions",
            "CODESTRAL_API_KEY",
            "a Codestral key from console.mistral.ai (Codestral section)",
        ),
        Provider(
            "mistral",
            "https://api.mistral.ai/v1/fim/completions",
            "MISTRAL_API_KEY",
            "a La Plateforme key from console.mistral.ai (API keys)",
        ),
        Provider(
            "langdock",
            "https://api.langdock.com/mistral/{region}/v1/fim/completions",
            "LANGDOCK_API_KEY",
            "a Langdock API key with access to Codestral",
        ),
    )
}


def endpoint_url(provider: str, region: str, endpoint: str | None) -> str:
    """The URL to POST to: ``endpoint`` when set, else the provider's URL for ``region``."""
    if endpoint:
        return endpoint
    return PROVIDERS[provider].url_template.format(region=region)


def resolve_key(
    provider: str, api_key: str | None, environ: Mapping[str, str]
) -> tuple[str | None, str]:
    """The key to send and a description of where it came from (never the key itself)."""
    if api_key:
        return api_key, "the apiKey setting"
    env = PROVIDERS[provider].key_env
    value = environ.get(env, "").strip()
    return (value or None), f"${env}"
