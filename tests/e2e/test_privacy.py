"""Secrets never leave: excluded and git-ignored files, planted secrets, secrets cut anywhere."""

from __future__ import annotations

import random
import string
import subprocess
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.conftest import ServerFactory, ask_until, items, open_doc, send_inline
from tests.fake_codestral import FakeCodestral

FAST = {"debounceMs": 0, "debounceMaxMs": 0, "cacheSize": 0}

# Planted secrets, each in a form redaction must catch; all fake, none valid anywhere.
PLANTED = {
    "openai": "sk-proj-Zq7vT2xW9yL4mN8bR3kP6sD1fG5hJ0aQ",
    "github": "ghp_" + "Xy7" * 12,
    "aws": "AKIAZ7Q4W2E8R6T1Y3U5",
    "slack": "xoxb-2468013579-1357924680-QwErTyUiOpAsDfGh",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjb2Rlc3RyYWwifQ.dGhpc19pc19ub3RfYV9zaWc",
    "password": "correct-horse-battery-staple-42",
    "private_key": "MIIEowIBAAKCAQEA7xZbPlantedPrivateKeyMaterial0123456789",
}
MAIN = f'''\
import os

OPENAI = "{PLANTED["openai"]}"
GITHUB_TOKEN = "{PLANTED["github"]}"
aws_access_key_id = "{PLANTED["aws"]}"
slack = "{PLANTED["slack"]}"
session = "{PLANTED["jwt"]}"
DB_PASSWORD = "{PLANTED["password"]}"
KEY = """-----BEGIN RSA PRIVATE KEY-----
{PLANTED["private_key"]}
-----END RSA PRIVATE KEY-----"""


def connect():
    return open_database(DB_PASSWORD, '''
ENV_ONLY = "ENV_FILE_MARKER_7f3c"  # appears in the excluded .env only
LOCAL_ONLY = "LOCAL_FILE_MARKER_9a1d"  # appears in the excluded *.local.py only


async def test_no_excluded_byte_and_no_planted_secret_ever_reaches_the_backend(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    fake_codestral.completion = "timeout=30)"
    options = {**FAST, "exclude": ["*.local.py"]}
    async with start_server(init_options=options) as client:
        env = f"DB_PASSWORD={PLANTED['password']}\nMARKER={ENV_ONLY}\nopen_database connect\n"
        local = f"# {LOCAL_ONLY}\ndef open_database(password, timeout):\n    pass\n"
        open_doc(client, "file:///w/.env", env)
        open_doc(client, "file:///w/db.local.py", local)
        open_doc(client, "file:///w/main.py", MAIN)
        lines = MAIN.split("\n")
        last, column = len(lines) - 1, len(lines[-1])
        # Complete in every file, edit the excluded ones (the edit trail must not leak them).
        for uri, line, char in [
            ("file:///w/.env", 1, 3),
            ("file:///w/db.local.py", 1, 4),
            ("file:///w/main.py", last, column),
        ]:
            await send_inline(client, uri, line, char, invoked=True)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri="file:///w/db.local.py", version=2
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line=2, character=0),
                            end=types.Position(line=2, character=0),
                        ),
                        text=f"    # {LOCAL_ONLY} open_database\n",
                    )
                ],
            )
        )
        result = await send_inline(client, "file:///w/main.py", last, column, invoked=True)
    assert [i.insert_text for i in items(result)] == ["timeout=30)"]  # completion still works
    assert fake_codestral.requests, "nothing was sent at all"
    sent = "\n".join(
        f"{r.body['prompt']}\n{r.body.get('suffix', '')}" for r in fake_codestral.requests
    )
    for name, secret in PLANTED.items():
        assert secret not in sent, f"{name} secret reached the backend"
    assert ENV_ONLY not in sent
    assert LOCAL_ONLY not in sent
    assert "<redacted>" in sent  # the lines are there, their values are not
    assert 'DB_PASSWORD = "<redacted>"' in sent


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.parametrize("respect", [True, False])
async def test_git_ignored_files_are_excluded(
    start_server: ServerFactory, fake_codestral: FakeCodestral, tmp_path: Path, respect: bool
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git("init", "-q", cwd=repo)
    (repo / ".gitignore").write_text("generated.py\n", encoding="utf-8")
    ignored, tracked = repo / "generated.py", repo / "app.py"
    ignored.write_text("x = ", encoding="utf-8")
    tracked.write_text("x = ", encoding="utf-8")
    options = {**FAST, "respectGitignore": respect}
    async with start_server(init_options=options) as client:
        for path in (ignored, tracked):
            open_doc(client, path.as_uri(), "x = ")
        from_ignored = items(await send_inline(client, ignored.as_uri(), 0, 4, invoked=True))
        from_tracked = items(await send_inline(client, tracked.as_uri(), 0, 4, invoked=True))
        said = client.log_file.read_text(encoding="utf-8")  # type: ignore[attr-defined]
    assert from_tracked
    if respect:
        assert from_ignored == []
        assert "is ignored by git (respectGitignore)" in said
        assert len(fake_codestral.requests) == 1
    else:
        assert from_ignored
        assert len(fake_codestral.requests) == 2


async def test_defaults_can_be_turned_off_and_redaction_still_applies(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    options = {**FAST, "excludeDefaults": False}
    async with start_server(init_options=options) as client:
        open_doc(client, "file:///w/.env", f"DB_PASSWORD={PLANTED['password']}\nHOST=")
        assert items(await send_inline(client, "file:///w/.env", 1, 5, invoked=True))
    prompt = fake_codestral.requests[0].body["prompt"]
    assert prompt == "DB_PASSWORD=<redacted>\nHOST="


async def test_redaction_can_be_turned_off(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    async with start_server(init_options={**FAST, "redactSecrets": False}) as client:
        open_doc(client, "file:///w/t.py", f'token = "{PLANTED["github"]}"\nx = ')
        assert items(await send_inline(client, "file:///w/t.py", 1, 4, invoked=True))
    assert PLANTED["github"] in fake_codestral.requests[0].body["prompt"]


# --- secrets cut by the window, the cursor or a snippet (issue 11, items 3 and 4) ---------------

KEY_BODY = [
    "".join(random.Random(n).choice(string.ascii_letters + string.digits + "+/") for _ in range(64))
    for n in range(30)
]
KEY_BLOCK = ["-----BEGIN RSA PRIVATE KEY-----", *KEY_BODY, "-----END RSA PRIVATE KEY-----"]


def key_leaks(text: str) -> list[str]:
    """The key body lines (or any 16-character piece of one) present in ``text``."""
    return [line for line in KEY_BODY if any(line[i : i + 16] in text for i in range(0, 49, 8))]


def sent_texts(fake: FakeCodestral) -> str:
    return "\n".join(f"{r.body['prompt']}\n{r.body.get('suffix', '')}" for r in fake.requests)


def edit(client: LanguageClient, uri: str, version: int, line: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(line=line, character=0),
                        end=types.Position(line=line, character=0),
                    ),
                    text=text,
                )
            ],
        )
    )


async def test_a_window_that_starts_inside_a_key_block_sends_none_of_it(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    # About 1,150 characters of prompt: the last ~300 are code, the rest the key's tail.
    code = [f"value_{n} = compute({n})" for n in range(12)]
    text = "\n".join(['KEY = """' + KEY_BLOCK[0], *KEY_BLOCK[1:], '"""', *code, "total = "])
    options = {**FAST, "contextTokens": 512, "extraContextShare": 0}
    async with start_server(init_options=options) as client:
        open_doc(client, "file:///w/k.py", text)
        last = text.count("\n")
        assert items(await send_inline(client, "file:///w/k.py", last, 8, invoked=True))
    prompt = fake_codestral.requests[0].body["prompt"]
    assert "value_0 = compute(0)" in prompt  # the window reaches back past the code...
    assert "BEGIN RSA" not in prompt  # ...into the key, but not to its start
    assert "<redacted>" in prompt
    assert key_leaks(sent_texts(fake_codestral)) == []


async def test_a_cursor_inside_a_key_block_sends_none_of_it(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    text = "\n".join(["import ssl", "", 'PEM = """' + KEY_BLOCK[0], *KEY_BLOCK[1:], '"""', "x = 1"])
    async with start_server(init_options=FAST) as client:
        open_doc(client, "file:///w/k.py", text)
        await send_inline(client, "file:///w/k.py", 3 + 15, 10, invoked=True)  # body line 16
    body = fake_codestral.requests[0].body
    assert body["prompt"].startswith("import ssl\n")
    assert body["suffix"].endswith('"""\nx = 1')
    assert key_leaks(sent_texts(fake_codestral)) == []


async def test_a_snippet_that_cuts_a_key_block_sends_none_of_it(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    # keys.py: the block on lines 5-36, then the code that main.py uses. Its chunks (20 lines,
    # every 10) that hold that code start on line 20 or 30: inside the block, after BEGIN.
    keys = "\n".join(
        [
            *(f"# header line {n}" for n in range(5)),
            *KEY_BLOCK,
            "def load_signing_material(target): return parse_material(KEY, target)",
            "def rotate_deploy_secret(material, target): return material.rotate(target)",
            "# end of keys",
        ]
    )
    main = (
        "from keys import load_signing_material, rotate_deploy_secret\n\n"
        "def deploy(target):\n"
        "    material = load_signing_material(target)\n"
        "    rotate_deploy_secret(material, target)\n"
        "    return "
    )
    main_py = "file:///w/main.py"
    async with start_server(init_options=FAST) as client:
        open_doc(client, "file:///w/keys.py", keys)
        open_doc(client, main_py, main)
        first = await ask_until(
            client, fake_codestral, main_py, 5, 11, lambda p: "+++++ /w/keys.py" in p, "snippet"
        )
        # An edit inside the block puts it on the edit trail too (a chunk of lines 10-29).
        edit(client, "file:///w/keys.py", 2, 20, "# load_signing_material rotate_deploy_secret\n")
        both = await ask_until(
            client,
            fake_codestral,
            main_py,
            5,
            11,
            lambda p: p.count("+++++ /w/keys.py") == 2,  # and the trail's chunk, in the block
            "trail's chunk",
        )
    assert "<redacted>" in first
    assert "<redacted>" in both
    assert key_leaks(sent_texts(fake_codestral)) == []


async def test_url_credentials_in_another_open_file_stay_out_of_its_snippet(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    settings_py = (
        'DATABASE_URL = "postgres://admin:S3cretPw0rd@db.internal:5432/app"\n'
        "def open_database_connection(url=DATABASE_URL):\n"
        "    return connect_pool(url)\n"
    )
    main = "from settings import open_database_connection\n\nconn = open_database_connection("
    async with start_server(init_options=FAST) as client:
        open_doc(client, "file:///w/settings.py", settings_py)
        open_doc(client, "file:///w/main.py", main)
        prompt = await ask_until(
            client,
            fake_codestral,
            "file:///w/main.py",
            2,
            31,
            lambda p: "+++++ /w/settings.py" in p,
            "snippet",
        )
    assert 'DATABASE_URL = "postgres://admin:<redacted>@db.internal:5432/app"' in prompt
    assert "S3cretPw0rd" not in sent_texts(fake_codestral)
