"""Secret-looking text out of what is sent: found in whole document lines, masked in any cut.

What is sent is always a run of one document's text (the prompt, the suffix, a snippet chunk of
another file or of the edit trail), cut anywhere. Secrets are therefore never looked for in the
cut text itself but in the document:

- **Line rules** run on the whole lines that a run touches (never on a cut piece of a line), so
  a cut at the cursor or at the window's edge cannot hide a token: provider token formats
  (gitleaks' rule set, vendored in ``secret_rules``, plus a few of our own), credentials in
  URLs, auth headers and CLI flags, ``.netrc`` lines, and key/value pairs whose name says
  secret in env, YAML, JSON, TOML, INI, shell and code string literals.
- **Private keys** span lines, so each document keeps an index of its ``BEGIN``/``END PRIVATE
  KEY`` markers (``KeyBlocks``), built at open and kept up to date per edit by rescanning only
  the edited lines. A ``BEGIN`` without its ``END`` hides everything to the end of the document,
  an ``END`` without its ``BEGIN`` everything back to the previous marker: when unsure, hide.

``hidden`` maps both into the run's coordinates; ``mask`` replaces each span by ``<redacted>``.
A value that merely names a secret (a variable, a call, an attribute, an env lookup, a
``${VAR}`` reference) is not masked: the model still sees what the code does.
"""

from __future__ import annotations

import bisect
import collections
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from codestral_lsp.documents import Document, TextChange
from codestral_lsp.secret_rules import RULES

logger = logging.getLogger(__name__)

MASK = "<redacted>"
Span = tuple[int, int]  # [start, end) in some text


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Languages whose unquoted values are code (variables, calls), not literal config values.
CODE_LANGUAGES = _set(
    "python javascript javascriptreact typescript typescriptreact go rust java kotlin c cpp "
    "csharp objective-c objective-cpp ruby php swift scala lua dart r perl elixir erlang "
    "haskell ocaml fsharp zig julia vue svelte groovy clojure nim crystal vb powershell"
)

# --- provider token formats ------------------------------------------------------------------

# Ours, beside gitleaks': looser forms (test keys, Mistral-style sk- keys) and ones gitleaks
# only finds next to a keyword (Discord, Telegram) or not at all (webhook URLs).
_OWN_TOKENS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"\bsk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}", ("sk-",)),  # OpenAI, Anthropic
    (r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}", ("_live_", "_test_")),  # Stripe
    (r"\bgh[pousr]_[A-Za-z0-9]{30,}", ("gh",)),  # GitHub
    (r"\bgithub_pat_[A-Za-z0-9_]{22,}", ("github_pat_",)),
    (r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b", ("akia", "asia", "abia", "acca")),  # AWS key ids
    (r"\bxox[abposre]-[A-Za-z0-9-]{10,}", ("xox",)),  # Slack tokens
    (r"\bAIza[0-9A-Za-z_\-]{35}", ("aiza",)),  # Google API keys
    (r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}", ("eyj",)),  # JWTs
    (r"\bhf_[A-Za-z0-9]{30,}", ("hf_",)),  # Hugging Face
    (r"\bglpat-[A-Za-z0-9_\-]{20,}", ("glpat-",)),  # GitLab
    (r"\bnpm_[A-Za-z0-9]{36}\b", ("npm_",)),  # npm
    (r"\bSG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{16,64}", ("sg.",)),  # SendGrid
    (r"\b\d{8,10}:AA[A-Za-z0-9_\-]{33}\b", (":aa",)),  # Telegram bots
    (r"\bpypi-AgE[A-Za-z0-9_\-]{50,}", ("pypi-",)),  # PyPI
    (r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_\-]{20,}", ("hooks.slack",)),
    (r"discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_\-]+", ("/webhooks/",)),
    # Discord bot tokens: base64 of a numeric id (so M, N or O first), a dot, 6, a dot, 27+.
    (r"\b[MNO][A-Za-z0-9_\-]{23,27}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,40}", (".",)),
)
# Ours, then gitleaks': (regex, lower-case keywords one of which the text must hold, group).
_ALL_RULES = (*((p, k, 0) for p, k in _OWN_TOKENS), *((p, k, g) for _, p, k, g in RULES))
_KEYWORD_RULES: dict[str, list[int]] = {}
for _index, _rule_row in enumerate(_ALL_RULES):
    for _keyword in _rule_row[1]:
        _KEYWORD_RULES.setdefault(_keyword, []).append(_index)
_compiled: dict[int, re.Pattern[str]] = {}


def _rule(index: int) -> re.Pattern[str]:
    """The rule's regex, compiled the first time a text holds one of its keywords."""
    pattern = _compiled.get(index)
    if pattern is None:
        pattern = _compiled[index] = re.compile(_ALL_RULES[index][0])
    return pattern


def _provider_spans(text: str, lower: str) -> Iterable[Span]:
    wanted = sorted({i for k, rules in _KEYWORD_RULES.items() if k in lower for i in rules})
    for index in wanted:
        group = _ALL_RULES[index][2]
        for match in _rule(index).finditer(text):
            yield _secret_group(match, group)


def _secret_group(match: re.Match[str], group: int) -> Span:
    if group and match.group(group) is not None:
        return match.span(group)
    for number in range(1, (match.re.groups or 0) + 1):
        if match.group(number):
            return match.span(number)
    return match.span()


# --- structural rules: URLs, headers, command lines, .netrc, XML -------------------------------

_URL_USERINFO = re.compile(
    r"\b[A-Za-z][A-Za-z0-9+.\-]{1,20}://[^\s/?#@'\"`<>:]*:([^\s/?#'\"`<>]+)@"
)
_URL_QUERY = re.compile(
    r"(?i)[?&](?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|refresh[_-]?token|id[_-]?token"
    r"|private[_-]?token|token|secret|client[_-]?secret|password|passwd|pwd|sig|signature|key)"
    r"=([^&\s'\"`#<>]+)"
)
_HEADER = re.compile(
    r"(?i)(?:proxy-)?(?:authorization|x-[\w-]*?(?:api-?key|token|secret|auth|password)[\w-]*"
    r"|api-?key|private-token|ocp-apim-subscription-key)[ \t]*:[ \t]*"
    r"(?:(?:bearer|basic|token|bot|digest|apikey|negotiate|ntlm)[ \t]+)?([^\s'\"`,;]+)"
)
_IN_STRING = re.compile(r"[\"'`][ \t]*$|(?:-H|--header)[= \t]*[\"']?$")
_CURL_USER = re.compile(
    r"(?i)\bcurl\b[^\n]*?[ \t](?:-u|--user)(?:=|[ \t]*)[\"']?[^\s'\":]*:([^\s'\"]+)"
)
_FLAG = re.compile(
    r"(?i)(?<![\w-])--?(?:password|passwd|token|api-key|apikey|secret|client-secret)(?:=|[ \t]+)"
    r"[\"']?([^\s'\"]+)"
)
_MYSQL = re.compile(r"\bmysql(?:dump|admin|sh)?\b[^\n]*?[ \t]-p([^\s'\"]+)")
_NETRC = re.compile(
    r"(?im)\b(?:machine|default)\b[^\n]*?\bpassword[ \t]+(\S+)|^[ \t]*password[ \t]+(\S+)[ \t]*$"
)
_CONNECTION = re.compile(
    r"(?i)(?<![\w.\-])(?:accountkey|sharedaccesskey|sharedaccesssignature|password|pwd)=([^;'\"\s]+)"
)
_XML = re.compile(
    r"(?i)<([\w:.-]*?(?:password|passwd|secret|token|api_?key|apikey|access_?key|private_?key"
    r"|credentials?)[\w:.-]*)>([^<\n]+)</\1>"
)
# Each rule runs only on a text that holds one of its keywords (lower case).
_STRUCTURAL: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (_URL_USERINFO, ("://",)),
    (_URL_QUERY, ("=",)),
    (_CONNECTION, ("accountkey", "sharedaccess", "password=", "pwd=")),
    (_CURL_USER, ("curl",)),
    (_FLAG, ("-password", "-passwd", "-token", "-api-key", "-apikey", "-secret")),
    (_MYSQL, ("mysql",)),
    (_NETRC, ("password",)),
    (_XML, ("</",)),
)


def _structural_spans(text: str, lower: str, code: bool) -> Iterable[Span]:
    for pattern, keywords in _STRUCTURAL:
        if any(k in lower for k in keywords):
            for match in pattern.finditer(text):
                group = next(n for n in range(pattern.groups, 0, -1) if match.group(n) is not None)
                if not _is_reference(match.group(group)):
                    yield match.span(group)
    if "authorization" in lower or "-key" in lower or "-token" in lower or "x-" in lower:
        for match in _HEADER.finditer(text):
            value = match.group(1)
            line_start = text.rfind("\n", 0, match.start()) + 1
            before = text[line_start : match.start()]
            quoted = _IN_STRING.search(before) is not None
            if not quoted and before.strip(" \t-"):
                continue  # a name ending in "authorization" or the like, not a header
            if _is_reference(value) or (code and not quoted and _is_code_value(value, code)):
                continue  # JS object keys and YAML keys given a variable
            yield match.span(1)


# --- key/value pairs whose name says secret ---------------------------------------------------

_STEM = re.compile(r"pass|pwd|secret|token|key|cred|auth|bearer")  # on lower-case text
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.$@-")
_CANDIDATE = re.compile(
    r"(?P<q>[\"'`]?)(?P<name>[A-Za-z_$@][\w.$@\-]*)"
    r"(?P=q)\]?(?P<sep>[ \t]*(?::=|=>|<-|\?=|==|!=|=|:|,)[ \t]*)"
)
_SECRET_WORDS = _set(
    "password passwd passwrd pwd passphrase secret secrets token apikey credential credentials "
    "cred creds privatekey secretkey accesskey authtoken bearer authorization masterkey signingkey "
    "encryptionkey privkey authkey appkey clientkey licensekey servicekey subscriptionkey"
)
_LAST_ONLY = frozenset({"pass", "auth"})  # secret only as the last word: DB_PASS, basic_auth
_KEY_QUALIFIERS = _set(
    "api access secret private priv auth encryption encrypt signing sign master app client "
    "license licence account service subscription consumer webhook session jwt hmac crypto "
    "shared storage admin deploy ssh gpg pgp rsa aes openai mistral codestral anthropic stripe "
    "google aws azure gcp github gitlab slack twilio sendgrid mailgun firebase rest developer "
    "dev prod live bot user write read root x"
)
_STOP_FIRST = _set(
    "max min num n total count is has use enable enabled disable require required show hide "
    "validate check verify get set reset forgot no allow skip should can needs"
)
_STOP_LAST = _set(
    "name names id ids type types length len size file files path paths dir url uri urls "
    "endpoint field fields header headers env var variable prefix suffix count max min timeout "
    "expiry expires expiration ttl format kind mode policy label regex pattern description desc "
    "help hint placeholder message msg error errors required enabled strength changed at "
    "location arn ref source provider manager store class cls factory fn func callback handler "
    "validator col column input form dialog prompt text regexp version generator rotation "
    "limit limits budget budgets usage used left remaining rate method methods scheme schemes "
    "counts index idx keys list lists map dict"
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_TYPE_ANNOTATION = re.compile(r"[A-Za-z_][\w.\[\], |]*?[ \t]*=(?!=)[ \t]*")
_REFERENCE = re.compile(
    r"\$\{\{[^}]*\}\}|\{\{[^}]*\}\}|\$\{[^}]*\}|\$\([^)]*\)|<%=?[^%]*%>|%\(\w+\)[sd]|%\w+%"
    r"|\{[\w.\[\]'\"]*\}|%[sd]|\$[A-Za-z_]\w*|\$\d+"
)
_SCHEME_WORDS = re.compile(r"(?i)\b(?:bearer|basic|token|bot|digest)\b")
_CODE_VALUE = re.compile(
    r"(?:new[ \t]+|await[ \t]+|not[ \t]+|!|&|\*)?[A-Za-z_$][\w$]*"
    r"(?:(?:\.|::|->|\?\.)[A-Za-z_$][\w$]*)*[ \t]*(?:[(\[{]|$|[,;)\]}:]|\|\||&&|\?\?|[+?]"
    r"|(?:or|and|if|else)\b)"
)
_CALL_VALUE = re.compile(
    r"(?:process\.env|import\.meta\.env|os\.environ|ENV|env)\b"
    r"|[A-Za-z_$][\w$]*(?:(?:\.|::|->)[A-Za-z_$][\w$]*)*[ \t]*[(\[]"
)
_LITERAL_WORDS = _set("null none nil true false yes no on off undefined ~ '' \"\" [] {} ()")


def _words(name: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(name)]


def _names_a_secret(name: str) -> bool:
    """Whether a key called ``name`` holds a secret: by its words, not its letters."""
    words = _words(name)
    if not words or words[0] in _STOP_FIRST or words[-1] in _STOP_LAST:
        return False
    if any(w in _SECRET_WORDS for w in words) or words[-1] in _LAST_ONLY:
        return True
    if "key" not in words:
        return False
    if name.isupper():
        return True  # SECRET_KEY, STRIPE_KEY, KEY= in env files and constants
    at = len(words) - 1 - words[::-1].index("key")
    return at > 0 and words[at - 1] in _KEY_QUALIFIERS


def _is_reference(value: str) -> bool:
    """Whether ``value`` only refers to a secret kept elsewhere (``${VAR}``, ``{{ x }}``...)."""
    rest = _SCHEME_WORDS.sub("", _REFERENCE.sub("", value))
    return not rest.strip(" \t\"'`+.,;:")


def _is_code_value(value: str, code: bool) -> bool:
    """Whether an unquoted ``value`` is code: a variable, attribute, call, index or keyword."""
    if code:
        return value.lower() in _LITERAL_WORDS or _CODE_VALUE.match(value) is not None
    return _CALL_VALUE.match(value) is not None


def _quoted(text: str, at: int, end: int) -> Span | None:
    """The content of the string literal opening at ``at`` (on one line), to ``end`` if open."""
    while at < end and text[at] in "bBrRuUfF" and text[at + 1 : at + 2] in "\"'`bBrRuUfF":
        at += 1
    quote = text[at]
    if text.startswith(quote * 3, at):
        quote *= 3
    start = at + len(quote)
    index = start
    while True:
        close = text.find(quote, index, end)
        if close < 0:
            return (start, end)  # open to the end of the line: hide it all
        if text[close - 1] != "\\" or quote * 2 == text[close - 1 : close + 1]:
            return (start, close)
        index = close + 1


def _value_span(
    text: str, at: int, end: int, sep: str, quoted_name: bool, code: bool
) -> Span | None:
    """The secret part of the value starting at ``at`` (its line ends at ``end``), if any."""
    if at >= end:
        return None
    first = text[at]
    if first in "\"'`" or (first in "bBrRuUfF" and text[at + 1 : at + 2] in "\"'"):
        span = _quoted(text, at, end)
        if span is None or span[0] >= span[1] or _is_reference(text[span[0] : span[1]]):
            return None
        return span
    if sep in ("==", "!=", ",") or (quoted_name and code):
        return None  # comparisons, arguments and dict entries count only with a literal
    if sep == ":" and code and not quoted_name:
        annotated = _TYPE_ANNOTATION.match(text, at, end)
        if annotated:  # "password: str = value"
            return _value_span(text, annotated.end(), end, "=", quoted_name, code)
    value_end = end
    if sep == "=" and text[at - 1] == "=":  # NAME=value (env, shell): up to a blank
        blank = re.search(r"[ \t]", text[at:end])
        value_end = at + blank.start() if blank else end
    comment = re.search(r"[ \t]+(?:#|//|;)", text[at:value_end])
    if comment:
        value_end = at + comment.start()
    value = text[at:value_end].rstrip(" \t,;")
    if not value or value.lower() in _LITERAL_WORDS or first in "|>!&*[{(":
        return None
    if _is_reference(value) or _is_code_value(value, code):
        return None
    return (at, at + len(value))


def _key_value_spans(text: str, lower: str, code: bool) -> Iterable[Span]:
    tried = -1
    for stem in _STEM.finditer(lower):
        start = stem.start()
        if start <= tried:
            continue  # a second stem in a name already tried
        while start > 0 and text[start - 1] in _NAME_CHARS:
            start -= 1
        if start > 0 and text[start - 1] in "\"'`":
            start -= 1
        match = _CANDIDATE.match(text, start)
        tried = stem.end()
        if match is None:
            continue
        tried = match.end("name")
        if not _names_a_secret(match.group("name")):
            continue
        sep = match.group("sep").strip() or " "
        end = text.find("\n", match.end())
        end = len(text) if end < 0 else end
        span = _value_span(text, match.end(), end, sep, bool(match.group("q")), code)
        if span is not None:
            yield span


# --- finding and masking -------------------------------------------------------------------------


def find(text: str, code: bool = False) -> list[Span]:
    """Spans of ``text`` (whole lines) that hold a secret, sorted and merged: O(len(text)).

    ``code``: the text is source code, so an unquoted value is a variable or a call, not a
    literal. Private keys across lines are ``KeyBlocks``' business, not this function's.
    """
    lower = text.lower()
    if len(lower) != len(text):  # a few characters lower-case to two: keep offsets aligned
        lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    spans = [
        *_provider_spans(text, lower),
        *_structural_spans(text, lower, code),
        *_key_value_spans(text, lower, code),
    ]
    return merge(spans)


def merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted spans with overlapping and touching ones joined; empty ones dropped."""
    merged: list[Span] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def mask(text: str, spans: Sequence[Span]) -> str:
    """``text`` with each span (sorted, disjoint) replaced by ``<redacted>``."""
    if not spans:
        return text
    parts: list[str] = []
    at = 0
    for start, end in spans:
        parts += (text[at:start], MASK)
        at = end
    parts.append(text[at:])
    return "".join(parts)


def redact_secrets(text: str, code: bool = False) -> str:
    """``text`` with what looks like a secret masked, private keys included (no document)."""
    blocks = [(m.start(), m.end(), m.group(1) == "BEGIN") for m in _MARKER.finditer(text)]
    return mask(text, merge([*find(text, code), *_pair(blocks, 0, len(text))]))


# --- private keys across lines -------------------------------------------------------------------

_MARKER = re.compile(r"-----[ \t]*(BEGIN|END)[A-Z0-9 _\-]*PRIVATE KEY(?: BLOCK)?[ \t]*-----")
Position = tuple[int, int]  # (line, index in the line)
Marker = tuple[int, int, int, bool]  # line, start, end, is BEGIN


def _pair(markers: Iterable[tuple[int, int, bool]], first: int, last: int) -> list[Span]:
    """Spans from each BEGIN to its END, in one coordinate system: unmatched ones fail closed."""
    spans: list[Span] = []
    opened: int | None = None
    closed = first  # where the last block ended: an orphan END hides back to it
    for start, end, begin in markers:
        if begin:
            if opened is None:
                opened = start
        else:
            spans.append((closed if opened is None else opened, end))
            opened, closed = None, end
    if opened is not None:
        spans.append((opened, last))
    return spans


def _line_markers(number: int, line: str) -> list[Marker]:
    if "PRIVATE KEY" not in line:
        return []
    return [(number, m.start(), m.end(), m.group(1) == "BEGIN") for m in _MARKER.finditer(line)]


class KeyBlocks:
    """The private-key markers of one document, kept up to date per edit in O(edited lines)."""

    def __init__(self, doc: Document) -> None:
        self.version = doc.version
        self._markers: list[Marker] = []
        self.rescan(doc)

    def rescan(self, doc: Document) -> None:
        """Find every marker again: O(document), at open and when out of step."""
        self.version = doc.version
        if "PRIVATE KEY" not in doc.text:  # one pass in C for the usual case
            self._markers = []
            return
        self._markers = [
            marker for n in range(doc.line_count) for marker in _line_markers(n, doc.line(n))
        ]

    def edited(self, doc: Document, change: TextChange, old_count: int) -> None:
        """Follow one change already applied to ``doc`` (which had ``old_count`` lines)."""
        if change.range is None:
            self.rescan(doc)
            return
        first = min(change.range[0], old_count - 1)
        last = min(change.range[2], old_count - 1)
        delta = doc.line_count - old_count
        low, high = max(0, first - 1), min(doc.line_count - 1, last + delta + 1)
        kept = [m for m in self._markers if m[0] < low]
        moved = [(m[0] + delta, *m[1:]) for m in self._markers if m[0] > last]
        fresh = [m for n in range(low, high + 1) for m in _line_markers(n, doc.line(n))]
        self._markers = [*kept, *fresh, *(m for m in moved if m[0] > high)]

    def blocks(self, doc: Document) -> list[tuple[Position, Position]]:
        """Each key block as (start, end) positions; rescans first if the index is stale."""
        if self.version != doc.version or not self._still_there(doc):
            logger.info("private-key index of %s out of step: rescanned", doc.uri)
            self.rescan(doc)
        if not self._markers:
            return []
        width = max(len(doc.line_with_ending(m[0])) for m in self._markers) + 1
        flat = [(m[0] * width + m[1], m[0] * width + m[2], m[3]) for m in self._markers]
        end = doc.line_count * width
        return [(divmod(a, width), divmod(b, width)) for a, b in _pair(flat, 0, end)]

    def _still_there(self, doc: Document) -> bool:
        for number, start, end, begin in self._markers:
            if number >= doc.line_count:
                return False
            found = _MARKER.match(doc.line(number), start)
            if found is None or found.end() != end or (found.group(1) == "BEGIN") != begin:
                return False
        return True


# --- documents: what a run of lines hides ------------------------------------------------------

LINE_MEMORY = 20_000  # lines whose findings are remembered (by text): a window rescans only edits


@dataclass(frozen=True)
class Lines:
    """Lines ``first..last`` of a document as one text, where each starts, and what it hides."""

    text: str
    starts: list[int]
    hidden: list[Span]


@dataclass(frozen=True)
class Hidden:
    """The spans of a context's prompt and suffix that ``mask`` hides before they are sent."""

    prompt: tuple[Span, ...] = ()
    suffix: tuple[Span, ...] = ()


class SecretIndex:
    """Per open document, what must never be sent; kept up to date by the server per edit.

    Line findings are remembered by line text (an LRU of ``LINE_MEMORY`` lines), so a request
    scans only the lines it has not seen: O(edit) while typing, O(window) at worst.
    """

    def __init__(self) -> None:
        self._blocks: dict[str, KeyBlocks] = {}
        self._found: collections.OrderedDict[tuple[str, bool], tuple[Span, ...]] = (
            collections.OrderedDict()
        )

    def opened(self, doc: Document) -> None:
        self._blocks[doc.uri] = KeyBlocks(doc)

    def changed(self, doc: Document, change: TextChange, old_count: int) -> None:
        blocks = self._blocks.get(doc.uri)
        if blocks is not None:
            blocks.edited(doc, change, old_count)

    def synced(self, doc: Document) -> None:
        """``doc`` is at a new version and every change to it was passed to ``changed``."""
        blocks = self._blocks.get(doc.uri)
        if blocks is not None:
            blocks.version = doc.version

    def forget(self, uri: str) -> None:
        self._blocks.pop(uri, None)

    def lines(self, doc: Document, first: int, last: int) -> Lines:
        """Lines ``first..last`` of ``doc`` and every secret span in them: O(lines)."""
        texts = [doc.line_with_ending(n) for n in range(first, last + 1)]
        starts = [0]
        for line in texts:
            starts.append(starts[-1] + len(line))
        text = "".join(texts)
        hidden = [
            (starts[i] + a, starts[i] + b)
            for i, spans in enumerate(self._line_findings(texts, doc.language_id in CODE_LANGUAGES))
            for a, b in spans
        ]
        blocks = self._blocks.get(doc.uri)
        if blocks is None:  # a document the server was not told about: index it now
            blocks = self._blocks[doc.uri] = KeyBlocks(doc)
        for (l1, c1), (l2, c2) in blocks.blocks(doc):
            if l2 < first or l1 > last:
                continue
            start = 0 if l1 < first else starts[l1 - first] + c1
            end = len(text) if l2 > last else starts[l2 - first] + c2
            hidden.append((start, end))
        return Lines(text, starts, merge(hidden))

    def _line_findings(self, texts: list[str], code: bool) -> list[tuple[Span, ...]]:
        """Each line's spans: remembered ones, the others found in one batch."""
        memory = self._found
        found: list[tuple[Span, ...] | None] = []
        for line in texts:
            known = memory.get((line, code))
            if known is not None:
                memory.move_to_end((line, code))
            found.append(known)
        missing = [i for i, spans in enumerate(found) if spans is None]
        if missing:
            batch = [texts[i] for i in missing]
            for i, spans in zip(missing, _split(find("".join(batch), code), batch), strict=True):
                found[i] = memory[(texts[i], code)] = spans
            while len(memory) > LINE_MEMORY:
                memory.popitem(last=False)
        return [spans or () for spans in found]


def _split(spans: list[Span], lines: list[str]) -> list[tuple[Span, ...]]:
    """``spans`` of the concatenated ``lines``, cut per line and made relative to each."""
    result: list[tuple[Span, ...]] = []
    at = 0
    index = 0
    for line in lines:
        end = at + len(line)
        own: list[Span] = []
        while index < len(spans) and spans[index][0] < end:
            a, b = spans[index]
            own.append((max(a, at) - at, min(b, end) - at))
            if b > end:
                break  # it goes on into the next line
            index += 1
        result.append(tuple(own))
        at = end
    return result


def clip(hidden: Sequence[Span], start: int, end: int) -> tuple[Span, ...]:
    """The parts of ``hidden`` (sorted, disjoint) inside ``[start, end)``, shifted to 0."""
    at = bisect.bisect_right([s[1] for s in hidden], start)
    clipped: list[Span] = []
    for a, b in hidden[at:]:
        if a >= end:
            break
        clipped.append((max(a, start) - start, min(b, end) - start))
    return tuple(s for s in clipped if s[1] > s[0])
