"""`complete`'s FILE:LINE:COL parsing and language ids: tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from codestral_lsp.commands.complete import UsageError, language_id, parse_target


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("app.py:12:5", (Path("app.py"), 12, 5)),
        ("src/a b/中文.py:1:1", (Path("src/a b/中文.py"), 1, 1)),
        ("C:\\src\\app.py:3:7", (Path("C:\\src\\app.py"), 3, 7)),  # split from the right
        ("odd:name.py:2:4", (Path("odd:name.py"), 2, 4)),
    ],
)
def test_targets(target: str, expected: tuple[Path, int, int]) -> None:
    assert parse_target(target) == expected


@pytest.mark.parametrize(
    "target", ["app.py", "app.py:3", ":1:1", "app.py:0:1", "app.py:1:0", "app.py:x:1", "a:-1:2"]
)
def test_bad_targets(target: str) -> None:
    with pytest.raises(UsageError):
        parse_target(target)


@pytest.mark.parametrize(
    ("name", "language"),
    [
        ("a.py", "python"),
        ("a.TS", "typescript"),
        ("a.tsx", "typescriptreact"),
        ("main.go", "go"),
        ("lib.rs", "rust"),
        ("x.h", "c"),
        ("x.hpp", "cpp"),
        ("init.lua", "lua"),
        ("Makefile", "plaintext"),
    ],
)
def test_language_ids(name: str, language: str) -> None:
    assert language_id(Path(name)) == language
