"""Shared fixtures: a started fake Codestral server per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fake_codestral import FakeCodestral


@pytest.fixture
async def fake_codestral() -> AsyncIterator[FakeCodestral]:
    """A fake Codestral on 127.0.0.1 (key `DEFAULT_KEY`), stopped after the test."""
    async with FakeCodestral() as fake:
        yield fake
