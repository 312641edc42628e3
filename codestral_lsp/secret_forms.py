"""Secret-looking text in whole lines of text: where it is, as spans (what, not where to send).

Three kinds of rule, each run only on a text that holds one of its keywords:
- provider token formats: gitleaks' rule set (``secret_rules``, vendored data) and a few of ours;
- structure: credentials in URLs, auth headers, curl and other command-line flags, ``.netrc``
  lines, connection strings, XML elements;
- key/value pairs whose *name* says secret (by its words: ``DB_PASSWORD``, ``apiKey``,
  ``client_secret``; not ``monkey`` or ``max_tokens``), in env, YAML, JSON, TOML, INI, shell
  and code: a literal value is a secret, a value that is code (a variable, a call, an
  attribute, an env lookup) or a reference (``${VAR}``, ``{{ x }}``) is not.

Private keys span lines: ``redaction`` keeps them per document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from codestral_lsp.secret_rules import RULES

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
    """The secret's span (gitleaks' rule: its secret group, else the first that matched)."""
    if not (group and match.group(group) is not None):
        numbers = range(1, (match.re.groups or 0) + 1)
        group = next((n for n in numbers if match.group(n)), 0)
    start, end = match.span(group)
    text = match.string
    if end - start > 2 and text[start] == text[end - 1] and text[start] in "\"'`":
        return (start + 1, end - 1)  # the quotes stay: the model sees a string
    return (start, end)


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
# curl -u, wget --user, httpie -a and the like: "user:password" after the flag.
_USER_FLAG = re.compile(
    r"(?<![\w-])(?:-u|--user|-a|--auth)(?:=|[ \t]+|[\"'][ \t]*,[ \t]*)[\"']?[^\s'\":]*:([^\s'\"]+)"
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
    (_USER_FLAG, ("-u", "--user", "-a", "--auth")),
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
    r"|\{[\w.\[\]'\"]*\}|%[sd]"
)
_SHELL_VARIABLE = re.compile(r"\$[A-Za-z_]\w*|\$\d+")  # a reference outside code strings
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


_QUOTES = "\"'`"
_PREFIXES = "bBrRuUfF"


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


def _is_reference(value: str, in_code_string: bool = False) -> bool:
    """Whether ``value`` only refers to a secret kept elsewhere (``${VAR}``, ``{{ x }}``...).

    ``$NAME`` is a reference in config and shell, but text in a code string ("$ecret1").
    """
    rest = _REFERENCE.sub("", value)
    if not in_code_string:
        rest = _SHELL_VARIABLE.sub("", rest)
    return not _SCHEME_WORDS.sub("", rest).strip(" \t\"'`+.,;:")


def _is_code_value(value: str, code: bool) -> bool:
    """Whether an unquoted ``value`` is code: a variable, attribute, call, index or keyword."""
    if code:
        return value.lower() in _LITERAL_WORDS or _CODE_VALUE.match(value) is not None
    return _CALL_VALUE.match(value) is not None


def _quoted(text: str, at: int, end: int) -> Span:
    """The content of the string literal opening at ``at`` (on one line), to ``end`` if open."""
    while text[at] in _PREFIXES:  # b"", rb'', f"" and the like
        at += 1
    quote = text[at]
    if text.startswith(quote * 3, at):
        quote *= 3
    start = index = at + len(quote)
    while True:
        close = text.find(quote, index, end)
        if close < 0:
            return (start, end)  # open to the end of the line: hide all of it
        backslashes = close - index - len(text[index:close].rstrip("\\"))
        if backslashes % 2 == 0:
            return (start, close)
        index = close + 1


def _opens_string(text: str, at: int, end: int) -> bool:
    """Whether a string literal with a prefix of one or two letters (b, r, f, rb) opens here."""
    prefix = 0
    while prefix < 2 and at + prefix < end and text[at + prefix] in _PREFIXES:
        prefix += 1
    return at + prefix < end and text[at + prefix] in _QUOTES


def _value_span(
    text: str, at: int, end: int, sep: str, quoted_name: bool, code: bool
) -> Span | None:
    """The secret part of the value starting at ``at`` (its line ends at ``end``), if any."""
    if at >= end:
        return None
    first = text[at]
    if first in _QUOTES or (first in _PREFIXES and _opens_string(text, at, end)):
        span = _quoted(text, at, end)
        if span[0] >= span[1] or _is_reference(text[span[0] : span[1]], code):
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
    tried = line_end = -1
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
        if line_end < match.end():
            line_end = text.find("\n", match.end())
            line_end = len(text) if line_end < 0 else line_end
        span = _value_span(text, match.end(), line_end, sep, bool(match.group("q")), code)
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
