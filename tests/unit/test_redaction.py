"""Secrets masked in what is sent, whatever the cut; code that only names a secret left alone.

The forms go through the real pipeline (document → window → ``outgoing``), the way a request
is built. Every token here is made up: none is valid anywhere.
"""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codestral_lsp.documents import Cursor, Document, TextChange
from codestral_lsp.engine import outgoing, outgoing_files, outgoing_parts
from codestral_lsp.local import FimContext
from codestral_lsp.redaction import LINE_MEMORY, MASK, KeyBlocks, SecretIndex
from codestral_lsp.settings import Settings
from codestral_lsp.tokens import TokenEstimator
from codestral_lsp.window import Assembler

LOCAL = Settings(extra_context_share=0.0)


def sent(text: str, language: str = "python", settings: Settings = LOCAL) -> str:
    """What leaves the machine for ``text`` with the cursor at its end: prompt + suffix."""
    doc = Document("file:///w/f", text, 1, language)
    cursor = Cursor(doc.line_count - 1, len(doc.line(doc.line_count - 1)))
    fim = Assembler(TokenEstimator()).assemble(doc, cursor, settings, [])
    prompt, suffix = outgoing(fim, settings)
    return prompt + suffix


# (line, the secret in it, language). 60 forms: tokens, URLs, headers, config and code.
SECRET_FORMS = [
    ('OPENAI = "sk-proj-Zq7vT2xW9yL4mN8bR3kP6sD1fG5hJ0aQ"', "Zq7vT2xW9yL4mN8bR3kP6sD1f", "python"),
    ('key = "sk-ant-api03-AbCdEfGhIjKlMnOpQrSt1234567890"', "AbCdEfGhIjKlMnOpQrSt123", "python"),
    ('stripe.api_key = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"', "4eC39HqLyjWDarjtT1zdp7dc", "python"),
    ('tok = "ghp_Xy7Xy7Xy7Xy7Xy7Xy7Xy7Xy7Xy7Xy7Xy7Xy7"', "Xy7Xy7Xy7Xy7Xy7Xy7Xy7Xy7", "python"),
    (
        "git clone https://github_pat_11ABCDEFG0abcdefghijklmnopqrstuvwx@github.com/o/r",
        "11ABCDEFG0abcdefghijklmnopqrstuvwx",
        "shellscript",
    ),
    ("aws_access_key_id = AKIAZ7Q4W2E8R6T1Y3U5", "AKIAZ7Q4W2E8R6T1Y3U5", "ini"),
    (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG",
        "ini",
    ),
    ('slack = "xoxb-2468013579-1357924680-QwErTyUiOpAsDfGh"', "QwErTyUiOpAsDfGh", "python"),
    (
        'HOOK = "https://hooks.slack.com/services/T0A1B2C3D/B4E5F6G7H/abcdefghijklmnopqrstuvwx"',
        "abcdefghijklmnopqrstuvwx",
        "python",
    ),
    ('maps("AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW")', "A1b2C3d4E5f6G7h8I9j0Kl", "python"),
    (
        'session = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjb2Rlc3RyYWwifQ.dGhpc19pc19ub3RfYV9zaWc"',
        "dGhpc19pc19ub3RfYV9zaWc",
        "python",
    ),
    ('HF = "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH"', "abcdefghijklmnopqrstuvwxyz", "python"),
    ('gl = "glpat-xY9zA8bC7dE6fG5hI4jK"', "xY9zA8bC7dE6fG5hI4jK", "python"),
    (
        "//registry.npmjs.org/:_authToken=npm_abcdefghijklmnopqrstuvwxyz0123456789",
        "abcdefghijklmnopqrstuvwxyz0123456789",
        "ini",
    ),
    (
        'sg = "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"',
        "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc",
        "python",
    ),
    (
        'client.run("MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs")',
        "ZnCjm1XVW7vRze4b7Cq4se7kKWs",
        "python",
    ),
    (
        'url = "https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWx"',
        "AbCdEfGhIjKlMnOpQrStUvWx",
        "python",
    ),
    (
        'bot = Bot("1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawZ")',
        "HdqTcvCH1vGWJxfSeofSAs0K5",
        "python",
    ),
    (
        "password = pypi-AgEIcHlwaS5vcmcCJDU3OTM5MzEwLTY5NTYtNDc0Yy1hOGI0LWQ3ZDM1NDg5MTc0OQ",
        "AgEIcHlwaS5vcmcCJDU3OTM5MzEw",
        "ini",
    ),
    ("glsa_ZyXwVuTsRqPoNmLkJiHgFeDcBa012345_1a2b3c4d", "ZyXwVuTsRqPoNmLkJiHgFeDcBa", "plaintext"),
    ("password: hunter2", "hunter2", "yaml"),
    ('  db_password: "s3cr3t!"', "s3cr3t!", "yaml"),
    ("DB_PASSWORD=hunter2", "hunter2", "dotenv"),
    ("KEY=abc", "abc", "dotenv"),
    ("export API_TOKEN=abc123", "abc123", "shellscript"),
    ('"password": "hunter2",', "hunter2", "json"),
    ('{"client_secret": "GOCSPX-1a2b3c4d5e6f"}', "GOCSPX-1a2b3c4d5e6f", "json"),
    ('api_key = "abc123def"', "abc123def", "toml"),
    ("password = hunter2", "hunter2", "ini"),
    ('SECRET_KEY = "django-insecure-x7!k2"', "django-insecure-x7!k2", "python"),
    ('const apiKey = "abcd1234efgh";', "abcd1234efgh", "javascript"),
    ('token := "abcdef123456"', "abcdef123456", "go"),
    ("PASSWORD='p@ss w0rd'", "p@ss w0rd", "shellscript"),
    ("<password>hunter2</password>", "hunter2", "xml"),
    ("spring.datasource.password=hunter2", "hunter2", "properties"),
    ('client_secret: "abc-def"', "abc-def", "yaml"),
    ("      - POSTGRES_PASSWORD=hunter2", "hunter2", "yaml"),
    ("'password' => 'hunter2',", "hunter2", "php"),
    ('db = connect(host="h", password="hunter2")', "hunter2", "python"),
    ('password: str = "hunter2"', "hunter2", "python"),
    ('os.environ["API_KEY"] = "abc123xyz"', "abc123xyz", "python"),
    ('os.environ.setdefault("SECRET_KEY", "abc123xyz")', "abc123xyz", "python"),
    ('if password == "hunter2":', "hunter2", "python"),
    ('DATABASE_URL = "postgres://admin:pw@db.example.com/app"', ":pw@", "python"),
    ("git remote add origin https://user:tok3n@github.com/o/r.git", "tok3n", "shellscript"),
    ("mongodb+srv://u:p4ss@cluster0.mongodb.net", "p4ss", "plaintext"),
    ("REDIS_URL=redis://:hunter2@localhost:6379/0", "hunter2", "dotenv"),
    ('fetch("https://api.example.com/v1?api_key=abc123&x=1")', "abc123", "javascript"),
    ('curl -H "Authorization: Bearer abcdef123456" https://api.x', "abcdef123456", "shellscript"),
    ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz", "http"),
    ('headers = {"Authorization": "Bearer abcdef123456"}', "abcdef123456", "python"),
    ('curl -H "X-API-Key: abc123" https://x', "abc123", "shellscript"),
    ("curl -u admin:hunter2 https://example.com", "hunter2", "shellscript"),
    ("curl --user=admin:hunter2 https://example.com", "hunter2", "shellscript"),
    ("machine api.example.com login bob password hunter2", "hunter2", "plaintext"),
    ("mysql -u root -phunter2 db", "hunter2", "shellscript"),
    ("http -a admin:hunter2 https://example.com", "hunter2", "shellscript"),
    ('subprocess.run(["curl", "-u", "admin:hunter2", url])', "hunter2", "python"),
    ("deploy --token abc123def", "abc123def", "shellscript"),
    (
        "AccountName=x;AccountKey=abc+def/ghi==;EndpointSuffix=core.windows.net",
        "abc+def/ghi==",
        "plaintext",
    ),
    (
        '"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n"',
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
        "json",
    ),
    ("[default]\npassword = 12345678", "12345678", "ini"),
    ('DB_PASSWORD = "$ecretPassw0rd"', "ecretPassw0rd", "python"),  # not a shell variable here
]

# Code that names a secret without holding one: sent as it is.
ORDINARY = [
    ('api_key=os.environ.get("API_KEY")', "python"),
    ('client = Client(api_key=os.environ.get("API_KEY"))', "python"),
    ('client = Client(api_key=os.environ.get("API_KEY"))', "markdown"),
    ('api_key = os.environ["API_KEY"]', "python"),
    ("token = settings.token", "python"),
    ("password = getpass.getpass()", "python"),
    ("self.secret = secret", "python"),
    ("def set_password(self, password):", "python"),
    ('API_KEY = config("API_KEY")', "python"),
    ("const token = process.env.TOKEN;", "javascript"),
    ('token := os.Getenv("TOKEN")', "go"),
    ("password: ${DB_PASSWORD}", "yaml"),
    ("API_KEY=$API_KEY", "dotenv"),
    ('KEY="${KEY}"', "shellscript"),
    ('secret_key_base: <%= ENV["SECRET_KEY_BASE"] %>', "yaml"),
    ("GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}", "yaml"),
    ("if not token:", "python"),
    ("password_hash = hash(password)", "python"),
    ('return {"token": token}', "python"),
    ('auth = request.headers["Authorization"]', "python"),
    ('headers = {"Authorization": f"Bearer {token}"}', "python"),
    ('url = f"postgres://{user}:{password}@{host}/db"', "python"),
    ('"password": "",', "json"),
    ("password: null", "yaml"),
    ("token = None", "python"),
    ("max_tokens = 1000", "python"),
    ('token_url = "https://oauth2.googleapis.com/token"', "python"),
    ('cache_key = "user:42"', "python"),
    ("items.sort(key=lambda x: x.name)", "python"),
    ("password: str", "python"),
    ('monkey = "banana-split-with-cream"', "python"),
    ('tokenizer = "bert-base-uncased"', "python"),
    ("api_key: !env API_KEY", "yaml"),
    ("headers: { Authorization: `Bearer ${token}` },", "javascript"),
    ("  Authorization: token,", "javascript"),
    ('parser.add_argument("--password", help="the password")', "python"),
    ('token_type = "bearer"', "python"),
    ('publicKey = "ssh-rsa AAAAB3NzaC1yc2E"', "javascript"),
    ("-----BEGIN CERTIFICATE-----", "plaintext"),
    ("    pass", "python"),
    ("git push -u origin main", "shellscript"),
    ("python -u -m http.server 8000", "shellscript"),
    ('sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"', "python"),
    ('request_id = "123e4567-e89b-12d3-a456-426614174000"', "python"),
    (
        'img = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42"',
        "python",
    ),
    ("tokens = tokenizer.encode(text)", "python"),
    ('logger.info("token refreshed for %s", user)', "python"),
    ("for key, value in items.items():", "python"),
    ('const [key, setKey] = useState("");', "javascript"),
    ("password_validators = [MinimumLengthValidator()]", "python"),
]


@pytest.mark.parametrize(("line", "secret", "language"), SECRET_FORMS)
def test_each_secret_form_is_masked(line: str, secret: str, language: str) -> None:
    out = sent(line, language)
    assert secret not in out
    assert MASK in out


@pytest.mark.parametrize(("line", "language"), ORDINARY)
def test_code_that_names_a_secret_is_sent_as_it_is(line: str, language: str) -> None:
    assert sent(line, language) == line


def test_the_tables_are_wide() -> None:
    assert len(SECRET_FORMS) >= 53
    assert len(ORDINARY) >= 20


def test_only_the_value_goes() -> None:
    assert sent('DB_PASSWORD = "hunter22"\nx = ') == f'DB_PASSWORD = "{MASK}"\nx = '
    assert sent("password: hunter2\nhost: db", "yaml") == f"password: {MASK}\nhost: db"
    assert sent("postgres://admin:pw@db/app", "plaintext") == f"postgres://admin:{MASK}@db/app"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('password = b"x\\"y" + z', f'password = b"{MASK}" + z'),  # an escaped quote inside
        ('password = "a\\\\" + x', f'password = "{MASK}" + x'),  # an escaped backslash last
        ('token = rb"abc"', f'token = rb"{MASK}"'),
        ('password = """abc"""', f'password = """{MASK}"""'),
        ('password = "abc', f'password = "{MASK}'),  # open to the end of the line: all of it
        ("password = b", "password = b"),  # a variable called b
    ],
)
def test_string_literals(line: str, expected: str) -> None:
    assert sent(line) == expected


def test_redaction_off_sends_everything() -> None:
    line = 'DB_PASSWORD = "hunter22"'
    assert sent(line, settings=Settings(extra_context_share=0.0, redact_secrets=False)) == line


def test_other_files_one_by_one_are_masked_like_the_whole() -> None:
    """llama.cpp gets other files' snippets one by one: each masked as the preamble is."""
    settings = Settings(extra_context_share=0.5)
    other = Document(
        "file:///w/db.py", 'DB_PASSWORD = "hunter22"\ndef connect_db(url):\n    ...\n', 1, "python"
    )
    doc = Document("file:///w/main.py", "conn = connect_db(url)\n", 1, "python")
    fim = Assembler(TokenEstimator()).assemble(doc, Cursor(1, 0), settings, [other], root="/w")
    extra, _, _ = outgoing_parts(fim, settings)
    [(path, text)] = outgoing_files(fim, extra)
    assert path == "db.py"
    assert "hunter22" not in extra
    assert "hunter22" not in text
    assert f'DB_PASSWORD = "{MASK}"' in text
    assert text in extra


def test_other_files_redacted_as_a_whole_do_not_go_one_by_one() -> None:
    """Built without the index, the whole is redacted where it leaves; were a snippet to go
    apart, it would go unmasked: none does (fail closed)."""
    secret = 'DB_PASSWORD = "hunter22"\n'
    fim = FimContext(
        "file:///w/main.py",
        1,
        "python",
        Cursor(0, 0),
        "x = ",
        "",
        extra=f"+++++ db.py\n{secret}+++++ main.py\n",
        extra_files=(("db.py", secret),),
    )
    extra, prompt, _ = outgoing_parts(fim, Settings())
    assert "hunter22" not in extra + prompt
    assert outgoing_files(fim, extra) == ()
    assert outgoing_files(fim, fim.extra) == fim.extra_files


# --- private keys, cut anywhere ------------------------------------------------------------------

BODY = [
    "".join(
        random.Random(n).choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop0123456789+/")
        for _ in range(64)
    )
    for n in range(30)
]
KEY_BLOCK = ["-----BEGIN RSA PRIVATE KEY-----", *BODY, "-----END RSA PRIVATE KEY-----"]
CODE = [f"def step_{n}(value):\n    return value + {n}" for n in range(40)]
TOKEN = "ghp_" + "Q7w" * 12
DOCUMENT = "\n".join(
    [*CODE[:20], 'KEY = """' + KEY_BLOCK[0], *KEY_BLOCK[1:], '"""', f'T = "{TOKEN}"', *CODE[20:]]
)


def fragments(secret: str, size: int = 12) -> set[str]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


SECRET_FRAGMENTS = set().union(*(fragments(s) for s in [*BODY, TOKEN]))


def leaked(out: str) -> set[str]:
    return {f for f in SECRET_FRAGMENTS if f in out}


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_no_cut_of_the_window_leaks_a_key_line(data: st.DataObject) -> None:
    doc = Document("file:///w/k.py", DOCUMENT, 1, "python")
    line = data.draw(st.integers(0, doc.line_count - 1))
    index = data.draw(st.integers(0, len(doc.line(line))))
    tokens = data.draw(st.integers(64, 1500))
    options = Settings(context_tokens=tokens, extra_context_share=0.0)
    fim = Assembler(TokenEstimator()).assemble(doc, Cursor(line, index), options, [])
    prompt, suffix = outgoing(fim, options)
    assert not leaked(prompt + suffix)


@pytest.mark.parametrize("inside", [3, 20, 37])
def test_a_token_cut_on_a_long_line_is_masked(inside: int) -> None:
    line = "x = [" + "1, " * 50_000 + f'"{TOKEN}", ' + "2, " * 50_000 + "]"
    doc = Document("file:///w/long.py", f"import os\n{line}\n", 1, "python")
    at = line.index(TOKEN) + inside
    options = Settings(context_tokens=200, extra_context_share=0.0)
    fim = Assembler(TokenEstimator()).assemble(doc, Cursor(1, at), options, [])
    prompt, suffix = outgoing(fim, options)
    assert len(fim.prompt) < 1_000  # the line is cut on both sides of the cursor
    assert TOKEN[:inside] not in prompt
    assert TOKEN[inside:] not in suffix


def test_a_begin_without_end_hides_to_the_end_of_the_document() -> None:
    text = "\n".join(["x = 1", KEY_BLOCK[0], *BODY[:5], "def later():", "    return 2"])
    out = sent(text)
    assert out == f"x = 1\n{MASK}"


def test_an_end_without_begin_hides_back_to_the_start() -> None:
    text = "\n".join(["x = 1", *BODY[:5], KEY_BLOCK[-1], "y = 2"])
    assert sent(text) == f"{MASK}\ny = 2"


def test_a_key_in_one_json_line_is_masked_inside_the_line() -> None:
    line = (
        '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\n'
        f'{BODY[0]}\\n-----END PRIVATE KEY-----\\n", "client_email": "a@b.iam"}}'
    )
    out = sent(line, "json")
    assert BODY[0][:20] not in out
    assert out.startswith('{"type": "service_account", "private_key": "')
    assert out.endswith('", "client_email": "a@b.iam"}')


# --- the private-key index follows edits ------------------------------------------------------

LINES = st.sampled_from(
    [KEY_BLOCK[0], KEY_BLOCK[-1], BODY[0], "x = 1", "", "-----BEGIN EC PRIVATE KEY----- tail"]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(LINES, max_size=12), st.lists(st.tuples(st.data()), max_size=12))
def test_the_key_index_after_edits_is_the_index_of_the_result(
    start: list[str], edits: list[tuple[st.DataObject]]
) -> None:
    doc = Document("file:///w/e.py", "\n".join(start), 1, "python")
    blocks = KeyBlocks(doc)
    for version, (data,) in enumerate(edits, start=2):
        l1 = data.draw(st.integers(0, doc.line_count - 1))
        l2 = data.draw(st.integers(l1, doc.line_count - 1))
        c1 = data.draw(st.integers(0, len(doc.line(l1))))
        c2 = data.draw(st.integers(0 if l2 > l1 else c1, len(doc.line(l2))))
        pieces = data.draw(st.lists(LINES, max_size=3))
        text = data.draw(st.sampled_from(["", "\n", "\r\n", "x"])).join(pieces)
        change = TextChange((l1, c1, l2, c2), text)
        before = doc.line_count
        doc.apply(change, "utf-32")
        doc.version = version
        blocks.edited(doc, change, before)
        blocks.version = version
        assert blocks._markers == KeyBlocks(doc)._markers


def test_a_document_edited_behind_the_index_is_rescanned() -> None:
    doc = Document("file:///w/e.py", "x = 1\n", 1, "python")
    index = SecretIndex()
    index.opened(doc)
    doc.apply(TextChange((0, 0, 0, 0), f"{KEY_BLOCK[0]}\n{BODY[0]}\n"), "utf-32")
    doc.version = 2  # the index was not told
    lines = index.lines(doc, 1, 1)
    assert lines.hidden == [(0, len(lines.text))]


def test_line_findings_are_remembered_within_a_bound() -> None:
    index = SecretIndex()
    lines = [f'token_{n} = "abc{n:08d}"' for n in range(LINE_MEMORY + 50)]
    doc = Document("file:///w/m.py", "\n".join(lines), 1, "python")
    found = index.lines(doc, 0, doc.line_count - 1)
    assert len(found.hidden) == len(lines)
    assert len(index._found[True]) == LINE_MEMORY
    again = index.lines(doc, doc.line_count - 10, doc.line_count - 1)
    assert all(re.fullmatch(r"abc\d{8}", again.text[a:b]) for a, b in again.hidden)


# What the README says redaction cannot catch: pinned, so the README stays true.
NOT_CAUGHT = [
    ('connect("admin", "hunter2")', "python"),
    ('x = "f9a8c2e1b4d7a3f6"', "python"),
    ('db_pw2 = "hunter2"', "python"),
    ("# the admin password is hunter2", "python"),
    ("password:\n  hunter2", "yaml"),
]


@pytest.mark.parametrize(("line", "language"), NOT_CAUGHT)
def test_what_redaction_cannot_catch_is_documented(line: str, language: str) -> None:
    assert sent(line, language) == line
