"""What to tell the user about a problem, naming the fix: the one home of that advice.

The engine's messages in the editor and ``codestral-lsp doctor``/``complete`` all say it from
here: ``unusable`` (no key, or a key that cannot be sent), ``no_key`` (where to put one) and
``fix`` (each backend failure: which setting or variable, which provider).
"""

from __future__ import annotations

from collections.abc import Mapping

from codestral_lsp.backends import PROVIDERS, Route, errors
from codestral_lsp.backends.errors import BackendError
from codestral_lsp.settings import Settings

PREFIX = "codestral-lsp: "  # what a message in the editor starts with
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")


def unusable(route: Route) -> str | None:
    """Why no request may go on ``route`` (no key, or one no header can carry), or None."""
    if route.missing_key:
        return f"no API key for provider '{route.provider.name}'"
    if route.key_problem is not None:
        return f"the API key from {route.key_source} {route.key_problem}"
    return None


def for_route(route: Route) -> str | None:
    """The editor's message for an unusable ``route``: what is wrong and the fix, or None."""
    problem = unusable(route)
    if problem is None:
        return None
    if route.missing_key:
        return f"{PREFIX}{problem}. Fix: {no_key(route)}"
    return f"{PREFIX}{problem}."


def for_failure(
    exc: BackendError, settings: Settings, route: Route, environ: Mapping[str, str] | None = None
) -> str:
    """The editor's message for a failed call: what happened and the fix."""
    return f"{PREFIX}{exc}. Fix: {fix(exc, settings, route, environ or {})}"


def no_key(route: Route) -> str:
    """Where to put a key for ``route``'s provider (or which provider to choose)."""
    provider = route.provider
    others = ", ".join(
        f"{p.name}: {p.key_env}" for p in PROVIDERS.values() if p is not provider and p.key_env
    )
    return (
        f"set {provider.key_env} to {provider.key_hint}, or the apiKey setting; "
        f"or choose the provider your key belongs to with --provider or the provider setting "
        f"({others})."
    )


def fix(exc: BackendError, settings: Settings, route: Route, environ: Mapping[str, str]) -> str:
    """What to do about ``exc``: which setting or variable, which provider."""
    if (own := route.wire.advice(exc, settings.model)) is not None:
        return own
    if isinstance(exc, errors.AuthError):
        return _auth_advice(settings, route, exc)
    if isinstance(exc, errors.RateLimitError):
        return _rate_limit_advice(settings, exc)
    if isinstance(exc, errors.BackendUnavailable):
        return _unreachable_advice(str(exc), environ)
    if isinstance(exc, errors.BackendTimeout):
        return (
            f"no complete answer within requestTimeoutMs ({settings.request_timeout_ms} ms): "
            "check the network or proxy, or raise requestTimeoutMs."
        )
    if isinstance(exc, errors.RequestRejected):
        return _rejected_advice(settings, exc, route)
    if isinstance(exc, errors.InvalidResponse):
        hint = route.wire.endpoint_hint
        return (
            f"{route.url} answered, but not as a FIM API does: the endpoint setting should hold "
            f"{hint}; fix it, or unset it to use the provider's."
        )
    return "the backend or a proxy in front of it failed; try again later."


def _auth_advice(settings: Settings, route: Route, exc: errors.AuthError) -> str:
    provider, key_source = route.provider, route.key_source
    where = f"the endpoint {settings.endpoint}" if settings.endpoint else provider.name
    text = (
        f"{where} refused the API key from {key_source} (HTTP {exc.status}). Keys belong to one "
        "provider: a Codestral key (console.mistral.ai, Codestral section) works on "
        "codestral.mistral.ai only, a La Plateforme key on api.mistral.ai only; a Codestral key "
        "gets 401 on api.mistral.ai and the reverse. "
    )
    if settings.provider == "codestral":
        text += "If yours is a La Plateforme key, use --provider mistral (key in MISTRAL_API_KEY)."
    elif settings.provider == "mistral":
        text += "If yours is a Codestral key, use --provider codestral (key in CODESTRAL_API_KEY)."
    elif settings.provider == "langdock":
        text += f"Langdock wants {provider.key_hint}; check it and the region ({settings.region})."
    text += f" Otherwise set {provider.key_env} to {provider.key_hint}."
    if settings.endpoint:
        text += " A gateway may want its own header: set it in the headers setting."
    return text


def _rate_limit_advice(settings: Settings, exc: errors.RateLimitError) -> str:
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


def _rejected_advice(settings: Settings, exc: errors.RequestRejected, route: Route) -> str:
    if exc.status in (404, 405):
        hint = route.wire.endpoint_hint
        return (
            f"{route.url} is not a FIM endpoint (HTTP {exc.status}): {hint}; fix the endpoint "
            "setting, or unset it to use the provider's."
        )
    return (
        f"the request was rejected (HTTP {exc.status}): check the model name (now "
        f"'{settings.model}'; e.g. --model codestral-latest) and the API fields you set "
        "(temperature, topP, maxTokens, minTokens, stop, randomSeed)."
    )
