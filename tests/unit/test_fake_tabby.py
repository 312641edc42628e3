"""The fake Tabby server plays the part of Tabby's API that tabby-agent 1.5.0 uses."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fake_codestral import count_tokens
from tests.fake_tabby import TABBY_PATH, FakeTabby


async def test_completions_answer_from_the_model_with_the_segments() -> None:
    seen: list[dict[str, Any]] = []

    def model(body: dict[str, Any]) -> str:
        seen.append(body)
        return "return a + b"

    segments = {
        "prefix": "def add(a, b):\n    ",
        "suffix": "\n",
        "relevant_snippets_from_changed_files": [{"filepath": "x.py", "body": "y = 1"}],
    }
    async with FakeTabby(completion=model) as fake, httpx.AsyncClient() as client:
        health = await client.get(fake.url + "/v1/health")
        answer = await client.post(
            fake.url + TABBY_PATH, json={"language": "python", "segments": segments}
        )
        bad = await client.post(fake.url + TABBY_PATH, json={"language": "python"})
    assert health.status_code == 200
    assert "model" in health.json()
    assert answer.status_code == 200
    assert answer.json()["choices"] == [{"index": 0, "text": "return a + b"}]
    assert (seen[0]["prompt"], seen[0]["suffix"]) == (segments["prefix"], segments["suffix"])
    assert bad.status_code == 422
    [call] = [r for r in fake.requests if r.path == TABBY_PATH and r.status == 200]
    assert call.prompt_tokens == sum(map(count_tokens, ("def add(a, b):\n    ", "\n", "y = 1")))
    assert call.completion_tokens == count_tokens("return a + b")
