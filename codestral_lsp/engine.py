"""One completion, start to finish: request, backend call, accounting of what it cost, shaping.

Failures become empty answers; the governor, the token estimator and the stats learn from every
answer and every failure. ``build_request`` and ``shape_at`` are the server's own steps, and
``codestral-lsp complete`` calls the same ones.

Where the calls go and with which key is the ``Route`` the server resolved when the settings
last changed. A route without a usable key, or one whose key the backend refused (401/403),
stops the calls: the user is told once (``notices``), every request meanwhile answers empty at
once, and the calls resume when the settings change (``configure``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from codestral_lsp import advice
from codestral_lsp.backends import Route
from codestral_lsp.backends.client import FimClient, FimRequest, FimResult, fim_request
from codestral_lsp.backends.errors import AuthError, BackendError, RateLimitError
from codestral_lsp.documents import Cursor, Document
from codestral_lsp.governor import Governor
from codestral_lsp.local import FimContext, surroundings
from codestral_lsp.notices import Notice, Notices
from codestral_lsp.pacing import Sent
from codestral_lsp.redaction import CODE_LANGUAGES, mask, redact_secrets
from codestral_lsp.settings import Settings
from codestral_lsp.shaping import Options, Shaped, Surroundings, shape
from codestral_lsp.stats import Stats
from codestral_lsp.tokens import TokenEstimator

logger = logging.getLogger(__name__)

STOPPED = "route"  # the notices' topic for why calls stopped


@dataclass(frozen=True)
class Completion:
    """The model's text for a context."""

    context: FimContext
    text: str
    result: FimResult


@dataclass(frozen=True)
class _Stop:
    """Why no call goes upstream (for ``codestral.status``) and what the user is told."""

    reason: str
    notice: Notice


class CompletionEngine:
    """Calls the backend for a context and reports failures the way the user needs them.

    Actionable problems (no key, a refused key) go to ``notices`` as actionable notices: shown
    once, never once per keystroke. ``answered`` hears the URL of each call that succeeded
    (where the key is known to work).
    """

    def __init__(
        self,
        client: FimClient,
        route: Route,
        notices: Notices,
        governor: Governor,
        estimator: TokenEstimator,
        stats: Stats,
        answered: Callable[[str], None] = lambda url: None,
    ) -> None:
        self._client = client
        self._answered = answered  # told each URL that answered a call with the key
        self._notices = notices
        self.governor, self.estimator, self.stats = governor, estimator, stats
        self.route = route
        self._configured: tuple[Settings, Route] | None = None
        self._stop = _unusable(route)

    @property
    def stopped(self) -> str | None:
        """Why calls are stopped until the settings change, or None."""
        return self._stop.reason if self._stop else None

    def configure(self, settings: Settings, route: Route) -> None:
        """The settings in force and the route they give; a stop ends when either changed."""
        if self._configured == (settings, route):
            return
        self._configured = (settings, route)
        self.route = route
        self._stop = _unusable(route)
        self._notices.clear(STOPPED)  # a problem that is still there is news again

    def refuses(self) -> bool:
        """Whether calls are stopped: said once (the notices drop repeats), answered at once."""
        if self._stop is None:
            return False
        self._notices(self._stop.notice)
        return True

    async def complete(
        self, context: FimContext, settings: Settings, request_id: str, need: int
    ) -> Completion | None:
        """The completion for ``context``, or None when there is none to show."""
        if self.refuses():
            return None
        route = self.route
        request = build_request(context, settings, route, request_id)
        sent = self.governor.sent(need)
        try:
            result = await self._client.complete(request)
        except BackendError as exc:
            self._failed(exc, settings, route, request_id)
            return None
        self._answered(route.url)
        self._account(context, settings, result, sent, need, request_id)
        logger.debug("[%s] completion %r", request_id, result.text)
        if not result.text.strip():
            return None
        return Completion(context, result.text, result)

    def _account(
        self,
        context: FimContext,
        settings: Settings,
        result: FimResult,
        sent: Sent,
        need: int,
        request_id: str,
    ) -> None:
        """What the call cost, told to the governor, the estimator and the stats; one log line."""
        usage = result.usage
        if usage is not None:
            self.governor.settle(sent, usage.prompt_tokens, usage.completion_tokens)
            chars = len(context.sent_prompt) + len(context.suffix)
            self.estimator.observe(context.language_id, chars, usage.prompt_tokens)
            self.stats.call(settings.model, usage.prompt_tokens, usage.completion_tokens)
        else:
            self.stats.call(settings.model, 0, 0)
        self.governor.observe_headers(result.rate_limits, as_of=sent.at)
        logger.info(
            "[%s] upstream ms=%.1f chars=%d finish=%s prompt_tokens_est=%d prompt_tokens=%s "
            "completion_tokens=%s",
            request_id,
            result.elapsed_s * 1000,
            len(result.text),
            result.finish_reason,
            need - (settings.max_tokens or 0),
            usage.prompt_tokens if usage else "?",
            usage.completion_tokens if usage else "?",
        )

    def _failed(self, exc: BackendError, settings: Settings, route: Route, request_id: str) -> None:
        self.stats.failure(settings.model, exc.kind, str(exc))
        if isinstance(exc, AuthError):
            if route is self.route:  # not a call made before the settings changed
                message = advice.for_failure(exc, settings, route)
                self._stop = _Stop(str(exc), Notice(STOPPED, message, logging.ERROR, True))
                self.refuses()
        elif isinstance(exc, RateLimitError):
            logger.info("[%s] rate limited: %s", request_id, exc)
            self.governor.rate_limited(exc.retry_after, exc.rate_limits)
        else:
            logger.warning("[%s] no completion: %s", request_id, exc)
            self.governor.observe_headers(exc.rate_limits)


def _unusable(route: Route) -> _Stop | None:
    message = advice.for_route(route)
    reason = advice.unusable(route)
    if message is None or reason is None:
        return None
    return _Stop(reason, Notice(STOPPED, message, logging.ERROR, actionable=True))


def build_request(
    context: FimContext, settings: Settings, route: Route, request_id: str = "-"
) -> FimRequest:
    """The request for ``context`` as it leaves the machine (secrets masked when asked): the
    server and ``codestral-lsp complete`` both send exactly this."""
    extra, prompt, suffix = outgoing_parts(context, settings)
    logger.debug("[%s] prompt %r suffix %r", request_id, extra + prompt, suffix)
    return fim_request(settings, route, prompt, suffix, extra, outgoing_files(context, extra))


def shape_at(
    text: str, doc: Document, cursor: Cursor, settings: Settings
) -> tuple[Shaped | None, Surroundings]:
    """The model's ``text`` shaped to fit at ``cursor`` in ``doc`` (None: nothing to show), and
    the surroundings it was shaped for."""
    around = surroundings(doc, cursor)
    return shape(text, around, Options(settings.multiline, settings.max_lines)), around


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
