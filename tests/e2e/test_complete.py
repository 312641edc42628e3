"""`codestral-lsp complete FILE:LINE:COL` against the fake: the text, what was sent, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import Ran, run_cli, server_env, units
from tests.fake_codestral import FakeCodestral

HEAD = '    msg = "héllo 中文 😀" + '  # before the cursor on its line: 2-byte, 3-byte, astral
SOURCE = f"# é 中文 😀\ndef greet(name):\n{HEAD}\n    return msg\n"


async def complete(
    fake: FakeCodestral, tmp_path: Path, *args: str, env: dict[str, str | None] | None = None
) -> Ran:
    environ = server_env(tmp_path, {"CODESTRAL_API_KEY": fake.api_key, **(env or {})})
    ran = await run_cli("complete", "--endpoint", fake.url, *args, env=environ)
    assert fake.api_key not in ran.out + ran.err
    return ran


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / "src" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


async def test_prints_exactly_the_suggestion_after_non_ascii_text(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    fake_codestral.completion = "name"
    path = write(tmp_path, "greet.py", SOURCE)
    column = len(HEAD) + 1  # 1-based, in characters: the emoji is one column
    ran = await complete(fake_codestral, tmp_path, f"{path}:3:{column}")
    assert (ran.code, ran.out, ran.err) == (0, "name\n", "")
    (request,) = fake_codestral.requests
    assert request.body["prompt"] == f"# é 中文 😀\ndef greet(name):\n{HEAD}"
    assert request.body["suffix"] == "\n    return msg\n"
    assert request.body["stream"] is True  # the server's default, as the server sends it


async def test_json_has_the_item_range_and_timings(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    fake_codestral.completion = "name)"  # the ")" after the cursor is covered by the range
    line = f"{HEAD}len()"
    path = write(tmp_path, "greet.py", f"def greet(name):\n{line}\n")
    column = len(HEAD) + len("len(") + 1
    ran = await complete(fake_codestral, tmp_path, "--json", f"{path}:2:{column}")
    assert ran.code == 0, ran.err
    item = json.loads(ran.out)
    start = units(HEAD + "len(", "utf-16")
    assert item["text"] == "name)"
    assert item["replace"] == 1
    assert item["range"] == {
        "start": {"line": 1, "character": start},
        "end": {"line": 1, "character": start + 1},
    }
    assert item["position_encoding"] == "utf-16"
    assert item["raw"] == "name)"
    body = fake_codestral.requests[0].body
    assert (item["prompt_chars"], item["suffix_chars"]) == (
        len(body["prompt"]),
        len(body["suffix"]),
    )
    assert item["usage"] == {
        "prompt_tokens": item["usage"]["prompt_tokens"],
        "completion_tokens": 2,
    }
    assert item["usage"]["prompt_tokens"] > 0
    assert (item["model"], item["finish_reason"]) == ("codestral-latest", "stop")
    assert set(item["timings_ms"]) == {"context", "upstream", "shaping", "total"}
    assert item["timings_ms"]["total"] >= item["timings_ms"]["upstream"] > 0


async def test_line_endings_and_secrets_go_as_the_server_sends_them(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    fake_codestral.completion = "1"
    secret = "sk-" + "a1b2c3d4" * 4
    path = write(tmp_path, "conf.py", f'TOKEN = "{secret}"\r\nx = \r\n')
    ran = await complete(fake_codestral, tmp_path, f"{path}:2:5", "--model", "codestral-2508")
    assert (ran.code, ran.out) == (0, "1\n")
    body = fake_codestral.requests[0].body
    assert body["prompt"] == 'TOKEN = "<redacted>"\r\nx = '
    assert body["model"] == "codestral-2508"
    assert secret not in json.dumps(body)


async def test_nothing_to_show_exits_3(fake_codestral: FakeCodestral, tmp_path: Path) -> None:
    fake_codestral.completion = "  \n\t\n"
    path = write(tmp_path, "a.py", "x = \n")
    ran = await complete(fake_codestral, tmp_path, f"{path}:1:5")
    assert (ran.code, ran.out) == (3, "")
    assert "nothing to show here" in ran.err
    assert len(fake_codestral.requests) == 1


async def test_an_excluded_file_is_never_sent(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    path = write(tmp_path, ".env", "DEBUG=1\n")
    ran = await complete(fake_codestral, tmp_path, f"{path}:1:8")
    assert (ran.code, ran.out) == (3, "")
    assert "nothing sent" in ran.err
    assert fake_codestral.requests == []


async def test_a_backend_failure_exits_1_with_the_fix(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    path = write(tmp_path, "a.py", "x = \n")
    env: dict[str, str | None] = {"CODESTRAL_API_KEY": "wrong-key-but-long-enough"}
    ran = await complete(fake_codestral, tmp_path, f"{path}:1:5", env=env)
    assert (ran.code, ran.out) == (1, "")
    assert "HTTP 401" in ran.err
    assert "--provider mistral" in ran.err
    assert "wrong-key-but-long-enough" not in ran.err


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing.py:1:1", "missing.py: no such file"),
        ("a.py:3:1", "a.py has 1 line; line 3 is past its end"),
        ("four.py:99:1", "four.py has 4 lines; line 99 is past its end"),
        ("four-no-eol.py:99:1", "four-no-eol.py has 4 lines; line 99 is past its end"),
        ("a.py:1:7", "line 1 of {dir}/a.py has 4 characters; COL may be 1 to 5"),
        ("a.py:0:1", "LINE and COL must be whole numbers from 1"),
        ("a.py:1", "expected FILE:LINE:COL"),
        ("latin1.py:1:1", "latin1.py: not UTF-8 text"),
    ],
)
async def test_a_bad_place_exits_2_with_a_clear_message(
    fake_codestral: FakeCodestral, tmp_path: Path, target: str, message: str
) -> None:
    write(tmp_path, "a.py", "x = \n")
    write(tmp_path, "four.py", "a = 1\nb = 2\n\nc = 3\n")
    write(tmp_path, "four-no-eol.py", "a = 1\nb = 2\n\nc = 3")
    (tmp_path / "src" / "latin1.py").write_bytes("é = 1\n".encode("latin-1"))
    directory = tmp_path / "src"
    ran = await complete(fake_codestral, tmp_path, f"{directory}/{target}")
    assert (ran.code, ran.out) == (2, "")
    assert message.format(dir=directory) in ran.err
    assert fake_codestral.requests == []
