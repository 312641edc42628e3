"""Large and odd documents through the real server: 50 MB, a 5 MB line, NUL bytes, lone
surrogates, mixed line ends, and ``maxFileSize``: sane time and memory, never a crash."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.conftest import ServerFactory, items, open_doc, send_inline
from tests.e2e.mirror import MIRROR_SETTINGS, end_of, offset_of, sent_for, server_copy, units
from tests.e2e.test_settings_and_documents import change
from tests.fake_codestral import FakeCodestral

URI = "file:///w/big.py"
MB = 1_000_000
GENEROUS_S = 30.0  # a bound on one request: what matters is that it comes back at all
MAX_RSS = 1_500 * 2**20  # bytes


def memory_of(client: LanguageClient) -> tuple[int, int]:
    """The server's (current, peak) resident set size in bytes, from /proc."""
    pid = client._server.pid  # type: ignore[union-attr]
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    kib = [int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")]
    return kib[0] * 1024, kib[1] * 1024


def log_of(client: LanguageClient) -> str:
    return client.log_file.read_text(encoding="utf-8", errors="replace")  # type: ignore[attr-defined]


async def timed(awaitable: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = await awaitable
    return result, time.monotonic() - started


def big_text(size: int) -> str:
    """About ``size`` characters of Python-like lines."""
    line = "    total_{n:07d} = compute(items[{n}], weight=0.{n}) + offset\n"
    count = size // len(line.format(n=0))
    return "".join(line.format(n=n) for n in range(count)) + "def last():\n    "


@pytest.mark.timeout(240)
async def test_fifty_megabytes(
    start_server: ServerFactory, fake_codestral: FakeCodestral, capfd: pytest.CaptureFixture[str]
) -> None:
    text = big_text(50 * MB)
    options = {**MIRROR_SETTINGS, "contextTokens": 2048, "maxFileSize": 60 * MB}
    async with start_server(init_options=options) as client:
        open_doc(client, URI, text)
        line, character = end_of(text, "utf-16")
        # A one-character edit near the end, then a completion at the end.
        change(client, URI, 2, "X", (line - 1, 4, line - 1, 5))  # "def last" -> "def Xast"
        at = offset_of(text, line - 1, 4, "utf-16")
        text = text[:at] + "X" + text[at + 1 :]
        (prompt, suffix, result), took = await timed(
            sent_for(client, fake_codestral, URI, line, character)
        )
        assert took < GENEROUS_S
        assert prompt.endswith("def Xast():\n    ")
        assert text.endswith(prompt)
        assert suffix == ""
        assert [i.insert_text for i in items(result)] == ["return 42"]
        rss, peak = memory_of(client)
        with capfd.disabled():
            print(  # noqa: T201 (a measurement for whoever runs the test)
                f"\n50 MB document: first completion {took:.2f}s, "
                f"server RSS {rss / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB"
            )
        assert peak < MAX_RSS
        # The default maxFileSize (2,000,000 characters): tracked, but no completions.
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={**options, "maxFileSize": 2 * MB})
        )
        before = len(fake_codestral.requests)
        result, took = await timed(send_inline(client, URI, line, character, invoked=True))
        assert items(result) == []
        assert took < GENEROUS_S
        assert len(fake_codestral.requests) == before
    assert log_of(client).count("is larger than maxFileSize") == 1


@pytest.mark.timeout(120)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
async def test_one_five_megabyte_line(
    start_server: ServerFactory, fake_codestral: FakeCodestral, encoding: str
) -> None:
    half = "é = [1, 2, 3]; " * (2_500_000 // 15)  # not ASCII: every column is converted
    text = half + half
    fake_codestral.completion = "zz"
    options = {**MIRROR_SETTINGS, "contextTokens": 2048, "maxFileSize": 10 * MB}
    async with start_server(init_options=options, encodings=[encoding]) as client:
        open_doc(client, URI, text)
        middle = units(half, encoding)
        change(client, URI, 2, "MID", (0, middle, 0, middle))
        text = half + "MID" + half
        cut = units("é = [", encoding)  # delete "é = [" just after the insertion
        after = middle + units("MID", encoding)
        change(client, URI, 3, "", (0, after, 0, after + cut))
        text = half + "MID" + half[len("é = [") :]
        (prompt, suffix, result), took = await timed(
            sent_for(client, fake_codestral, URI, 0, after)
        )
        assert took < GENEROUS_S
        assert prompt.endswith(half[-100:] + "MID")
        assert suffix.startswith("1, 2, 3]; é = [")
        at = len(half) + 3
        assert text[:at].endswith(prompt)
        assert text[at:].startswith(suffix)
        [item] = items(result)  # placed at the cursor, in the client's units
        assert item.insert_text == "zz"
        assert item.range == types.Range(types.Position(0, after), types.Position(0, after))
        assert memory_of(client)[1] < MAX_RSS


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
async def test_nul_bytes_and_control_characters(
    start_server: ServerFactory, fake_codestral: FakeCodestral, encoding: str
) -> None:
    text = "a\x00b = '\x00'\n\x00\x01\x1b[0m\x7f\n\x00"
    async with start_server(init_options=MIRROR_SETTINGS, encodings=[encoding]) as client:
        open_doc(client, URI, text)
        assert await server_copy(client, fake_codestral, URI, text, encoding) == text
        change(client, URI, 2, "\x00\x00", (0, 2, 1, 1))  # across a line end, into NULs
        text = "a\x00\x00\x00\x01\x1b[0m\x7f\n\x00"
        assert await server_copy(client, fake_codestral, URI, text, encoding) == text
        prompt, suffix, _ = await sent_for(client, fake_codestral, URI, 0, 3)
        assert (prompt, suffix) == ("a\x00\x00", "\x00\x01\x1b[0m\x7f\n\x00")


async def test_lone_surrogates_from_a_utf16_client(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    """JSON may carry "\\ud800" alone; each is one utf-16 unit and goes out as U+FFFD."""
    text = "a\ud800b = '\udfff'\nx\ud83d = 1\n"
    fake_codestral.completion = "zz"
    async with start_server(init_options=MIRROR_SETTINGS, encodings=["utf-16"]) as client:
        open_doc(client, URI, text)
        assert await server_copy(client, fake_codestral, URI, text, "utf-16") == clean(text)
        # After the lone high half on line 1, the low half arrives by itself: still two lone
        # surrogates in the server's copy, two units as the client counts them.
        change(client, URI, 2, "\ude00", (1, 2, 1, 2))
        text = "a\ud800b = '\udfff'\nx\ud83d\ude00 = 1\n"
        change(client, URI, 3, "Z", (1, 3, 1, 4))  # replaces the " " after them
        text = "a\ud800b = '\udfff'\nx\ud83d\ude00Z= 1\n"
        prompt, suffix, result = await sent_for(client, fake_codestral, URI, 1, 4)
        at = offset_of(text, 1, 4, "utf-16")
        assert text[at - 2 :].startswith("\ude00Z")
        assert (prompt, suffix) == (clean(text[:at]), clean(text[at:]))
        [item] = items(result)  # after the two lone halves, as a utf-16 client counts
        assert item.insert_text == "zz"
        assert item.range == types.Range(types.Position(1, 4), types.Position(1, 4))
        # A completion right after each surrogate, and on the position between two of them.
        for line, character in [(0, 2), (0, 8), (1, 2), (1, 3)]:
            prompt, suffix, _ = await sent_for(client, fake_codestral, URI, line, character)
            assert prompt + suffix == clean(text)
        assert await server_copy(client, fake_codestral, URI, text, "utf-16") == clean(text)


def clean(text: str) -> str:
    return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
async def test_mixed_line_ends_with_edits_across_them(
    start_server: ServerFactory, fake_codestral: FakeCodestral, encoding: str
) -> None:
    text = "one\r\ntwo\rthree\nfour\r\n\r\rsix\x0cstill six\u2028and six\n中文😀\r"
    edits = [
        ((0, 3, 1, 1), "\n"),  # "one" + "\n" + "wo": the "\r\n" becomes "\n"
        ((0, 3, 0, 3), "\r"),  # "\r" before that "\n": one "\r\n" again
        ((1, 2, 2, 0), ""),  # joins "wo" and "three" across a bare "\r"
        ((3, 0, 5, 1), "x\r"),  # across "\r\n", "\r", "\r" into "six"
        ((4, 0, 4, 0), "\n"),  # a "\n" after a bare "\r": one "\r\n" line end
        ((5, 2, 6, 0), "Y"),  # across the last line end, past U+2028 and \x0c
    ]
    async with start_server(init_options=MIRROR_SETTINGS, encodings=[encoding]) as client:
        open_doc(client, URI, text)
        for version, ((sl, sc, el, ec), new) in enumerate(edits, start=2):
            start = offset_of(text, sl, sc, encoding)
            end = offset_of(text, el, ec, encoding)
            change(client, URI, version, new, (sl, sc, el, ec))
            text = text[:start] + new + text[end:]
            assert await server_copy(client, fake_codestral, URI, text, encoding) == text


async def test_max_file_size(start_server: ServerFactory, fake_codestral: FakeCodestral) -> None:
    small, large = "file:///w/small.py", "file:///w/large.py"
    options = {**MIRROR_SETTINGS, "maxFileSize": 1000}
    async with start_server(init_options=options) as client:
        open_doc(client, small, "x = 1\n" * 166)  # 996 characters
        open_doc(client, large, "x = 1\n" * 167)  # 1002 characters
        for _ in range(3):
            before = len(fake_codestral.requests)
            result = await send_inline(client, large, 167, 0, invoked=True)
            assert result is not None
            assert items(result) == []
            assert len(fake_codestral.requests) == before  # never sent
        # Still tracked: an edit takes it below the limit, and it completes again.
        change(client, large, 2, "", (0, 0, 1, 0))
        text = "x = 1\n" * 166
        assert await server_copy(client, fake_codestral, large, text, "utf-16") == text
        # The small one completed all along; growing it past the limit stops that.
        assert await server_copy(client, fake_codestral, small, text, "utf-16") == text
        change(client, small, 2, "#" * 10, (166, 0, 166, 0))
        assert items(await send_inline(client, small, 166, 10, invoked=True)) == []
        said = log_of(client)
    assert said.count("is larger than maxFileSize") == 2
    assert said.count(f"{large} is larger than maxFileSize") == 1
