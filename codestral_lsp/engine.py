"""One completion, start to finish: key, request, backend call, accounting of what it cost.

Failures become empty answers; the governor, the token estimator and the stats learn from every
answer and every failure.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from codestral_lsp.backends import PROVIDERS, resolve_key
from codestral_lsp.backends.client import FimClient, FimResult, fim_request
from codestral_lsp.backends.errors import AuthError, BackendError, RateLimitError
from codestral_lsp.governor import Governor
from codestral_lsp.local import FimContext
from codestral_lsp.redaction import CODE_LANGUAGES, mask, redact_secrets
from codestral_lsp.settings import Settings, key_problem
from codestral_lsp.stats import Stats
from codestral_lsp.tokens import TokenEstimator

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completion:
    """The model's text for a context."""

    context: FimContext
    text: str
    result: FimResult


class CompletionEngine:
    """Calls the backend for a context and reports failures the way the user needs them.

    ``notify_user`` shows a message in the editor; it is called once per distinct actionable
    problem (no key, a refused key), never once per keystroke. ``answered`` hears the URL of each
    call that succeeded (where the key is known to work).
    """

    def __init__(
        self,
        client: FimClient,
        environ: Mapping[str, str],
        notify_user: Callable[[str], None],
        governor: Governor,
        estimator: TokenEstimator,
        stats: Stats,
        answered: Callable[[str], None] = lambda url: None,
    ) -> None:
        self._client = client
        self._answered = answered  # told each URL that answered a call with the key
        self._environ = environ
        self._notify_user = notify_user
        self._told: set[str] = set()
        self.governor, self.estimator, self.stats = governor, estimator, stats

    async def complete(
        self, context: FimContext, settings: Settings, request_id: str, need: int
    ) -> Completion | None:
        """The completion for ``context``, or None when there is none to show."""
        key, key_source = resolve_key(settings.provider, settings.api_key, self._environ)
        if key is None and PROVIDERS[settings.provider].key_required:
            self._tell_once("no-key", _no_key_message(settings))
            return None
        if key is not None and (problem := key_problem(key)):
            self._tell_once(
                f"bad-key {key_source}", f"codestral-lsp: the API key from {key_source} {problem}."
            )
            return None
        extra, prompt, suffix = outgoing_parts(context, settings)
        logger.debug("[%s] prompt %r suffix %r", request_id, extra + prompt, suffix)
        files = outgoing_files(context, extra)
        request = fim_request(settings, key, prompt, suffix, extra, files)
        url = request.url
        sent = self.governor.sent(need)
        try:
            result = await self._client.complete(request)
        except BackendError as exc:
            self._failed(exc, settings, key_source, url, key, request_id)
            return None
        self._answered(url)
        if result.usage is not None:
            usage = result.usage
            self.governor.settle(sent, usage.prompt_tokens, usage.completion_tokens)
            chars = len(context.sent_prompt) + len(context.suffix)
            self.estimator.observe(context.language_id, chars, usage.prompt_tokens)
            self.stats.call(settings.model, usage.prompt_tokens, usage.completion_tokens)
        else:
            self.stats.call(settings.model, 0, 0)
        self.governor.observe_headers(result.rate_limits, as_of=sent.at)
        counted = result.usage
        logger.info(
            "[%s] upstream ms=%.1f chars=%d finish=%s prompt_tokens_est=%d prompt_tokens=%s "
            "completion_tokens=%s",
            request_id,
            result.elapsed_s * 1000,
            len(result.text),
            result.finish_reason,
            need - (settings.max_tokens or 0),
            counted.prompt_tokens if counted else "?",
            counted.completion_tokens if counted else "?",
        )
        logger.debug("[%s] completion %r", request_id, result.text)
        if not result.text.strip():
            return None
        return Completion(context, result.text, result)

    def _failed(
        self,
        exc: BackendError,
        settings: Settings,
        key_source: str,
        url: str,
        key: str | None,
        request_id: str,
    ) -> None:
        self.stats.failure(settings.model, exc.kind, str(exc))
        if isinstance(exc, AuthError):
            fingerprint = hashlib.sha256(f"{url}\0{key or ''}".encode()).hexdigest()
            self._tell_once(fingerprint, _refused_message(settings, key_source, exc))
        elif isinstance(exc, RateLimitError):
            logger.info("[%s] rate limited: %s", request_id, exc)
            self.governor.rate_limited(exc.retry_after, exc.rate_limits)
        else:
            logger.warning("[%s] no completion: %s", request_id, exc)
            self.governor.observe_headers(exc.rate_limits)

    def _tell_once(self, key: str, message: str) -> None:
        logger.error("%s", message)
        if key not in self._told:
            self._told.add(key)
            self._notify_user(message)


def _no_key_message(settings: Settings) -> str:
    provider = PROVIDERS[settings.provider]
    return (
        f"codestral-lsp: no API key for provider '{provider.name}'. Set the environment variable "
        f"{provider.key_env} ({provider.key_hint}) or the 'apiKey' setting."
    )


def _refused_message(settings: Settings, key_source: str, exc: AuthError) -> str:
    provider = PROVIDERS[settings.provider]
    where = settings.endpoint or provider.name
    return (
        f"codestral-lsp: {where} refused the API key from {key_source} (HTTP {exc.status}). "
        f"Set {provider.key_env or 'the headers setting'} to {provider.key_hint}, or choose "
        "the provider the key belongs to "
        "with the 'provider' setting: a Codestral key gets 401 on api.mistral.ai and the reverse."
    )


def outgoing(context: FimContext, settings: Settings) -> tuple[str, str]:
    """Prompt (other files' context first) and suffix as they leave the machine."""
    extra, prompt, suffix = outgoing_parts(context, settings)
    return extra + prompt, suffix


def outgoing_parts(context: FimContext, settings: Settings) -> tuple[str, str, str]:
    """Other files' context, prompt and suffix as they leave the machine: secrets masked when
    asked (``redaction``). The server and ``codestral-lsp complete`` both send exactly this.
    """
    if not settings.redact_secrets:
        return context.extra, context.prompt, context.suffix
    hidden = context.hidden
    code = context.language_id in CODE_LANGUAGES
    if hidden is None:  # built without its document's index: look in the text itself
        sent = redact_secrets(context.sent_prompt, code)
        extra = sent[: len(context.extra)] if sent.startswith(context.extra) else ""
        return extra, sent[len(extra) :], redact_secrets(context.suffix, code)
    prompt = mask(context.prompt, hidden.prompt)
    return context.extra, prompt, mask(context.suffix, hidden.suffix)


def outgoing_files(context: FimContext, extra: str) -> tuple[tuple[str, str], ...]:
    """Other files' snippets one by one, ``(path, text)``, given ``extra`` as it leaves
    (``outgoing_parts``): each snippet is part of it when it leaves as built; when redaction
    changed it, none goes apart (it all goes masked before the prompt)."""
    return context.extra_files if extra == context.extra else ()
