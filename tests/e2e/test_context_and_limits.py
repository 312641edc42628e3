"""The context window, other files, rate limits and cost, through the real server."""

from __future__ import annotations

import json
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.conftest import ServerFactory, ask_until, inline, items, open_doc, send_inline
from tests.fake_codestral import ERROR_BODIES, FakeCodestral, Reply, count_tokens

URI = "file:///w/main.py"
OTHER = "file:///w/billing.py"
FAST = {"debounceMs": 0, "debounceMaxMs": 0, "cacheSize": 0}

BILLING = """\
import decimal


def invoice_total(lines, tax_rate):
    subtotal = sum(line.price * line.quantity for line in lines)
    return subtotal * (1 + tax_rate)


def unrelated_helper():
    return 'nothing to see'
"""


async def stats(client: LanguageClient) -> dict[str, Any]:
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="codestral.stats")
    )
    assert isinstance(result, dict)
    return result


async def test_other_open_files_give_relevant_snippets(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    async with start_server(init_options=FAST) as client:
        open_doc(client, OTHER, BILLING)
        line = "total = invoice_total(lines, "
        open_doc(client, URI, "lines = load()\n" + line)
        prompt = await ask_until(
            client, fake_codestral, URI, 1, len(line), lambda p: "+++++" in p, "snippet"
        )
    assert prompt.startswith("+++++ /w/billing.py\n")
    assert "def invoice_total(lines, tax_rate):" in prompt
    assert prompt.endswith("+++++ /w/main.py\nlines = load()\ntotal = invoice_total(lines, ")


async def test_extra_context_off_sends_only_the_local_window(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    async with start_server(init_options={**FAST, "extraContextShare": 0}) as client:
        open_doc(client, OTHER, BILLING)
        open_doc(client, URI, "total = invoice_total(lines, ")
        assert items(await inline(client, URI, 0, 29))
    assert fake_codestral.requests[0].body["prompt"] == "total = invoice_total(lines, "


async def test_excluded_files_get_no_completions_and_give_no_context(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    secret = "API_TOKEN=zq8-excluded-value-4471 invoice_total lines"
    async with start_server(init_options={**FAST, "exclude": ["*.local.py"]}) as client:
        open_doc(client, "file:///w/.env", secret + "\n")
        open_doc(client, "file:///w/conf.local.py", f"# {secret}\ninvoice_total = 1\n")
        assert items(await inline(client, "file:///w/.env", 0, 4)) == []
        assert items(await inline(client, "file:///w/conf.local.py", 1, 3)) == []
        open_doc(client, URI, "total = invoice_total(lines, ")
        assert items(await inline(client, URI, 0, 29))
        said = client.log_file.read_text(encoding="utf-8")  # type: ignore[attr-defined]
    assert len(fake_codestral.requests) == 1
    assert all("zq8-excluded" not in r.raw.decode() for r in fake_codestral.requests)
    assert "file:///w/.env matches an exclude pattern" in said


async def test_context_tokens_bound_the_prompt(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    body = "".join(f"value_{i} = compute(value_{i - 1}, {i})\n" for i in range(1, 400))
    options = {**FAST, "contextTokens": 300, "extraContextShare": 0, "suffixShare": 0.25}
    async with start_server(init_options=options) as client:
        open_doc(client, URI, body + "result = \n" + body)
        # The first answer's usage teaches the server this text's characters per token...
        assert items(await inline(client, URI, 200, 0))
        # ...so the next request lands within the budget as the backend counts it.
        assert items(await inline(client, URI, 399, 9))
    first = fake_codestral.requests[0].body
    assert len(first["prompt"]) + len(first["suffix"]) < len(body)  # bounded even before
    sent = fake_codestral.requests[1].body
    assert sent["prompt"].endswith("result = ")
    assert sent["prompt"].startswith("value_")  # whole lines
    assert sent["suffix"].startswith("\nvalue_1 = ")
    counted = count_tokens(sent["prompt"] + sent["suffix"])
    assert 240 <= counted <= 300, counted  # near the budget, never over


async def test_429_cool_down_and_stats(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    fake_codestral.enqueue(
        Reply(429, ERROR_BODIES["rate_limited_1300"], headers={"Retry-After": "30"})
    )
    async with start_server(init_options=FAST) as client:
        open_doc(client, URI, "x = ")
        assert items(await inline(client, URI, 0, 4)) == []
        assert items(await inline(client, URI, 0, 4)) == []  # cooling down: no call
        assert len(fake_codestral.requests) == 1
        numbers = await stats(client)
        logged = [m.message for m in client.log_messages]
    limiter = numbers["limiter"]
    assert limiter["rateLimited"] == 1
    assert 25 < limiter["coolDownSeconds"] <= 30
    assert limiter["holding"] == "cool-down after HTTP 429"
    assert numbers["errors"] == {"rate_limit": 1}
    assert numbers["requests"] == {"empty": 1, "limited": 1}
    assert any("cooling down for 30.0 s" in m for m in logged), logged
    assert any("holding automatic requests back" in m for m in logged)


async def test_stats_count_tokens_per_model(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    fake_codestral.completion = "compute(1)"
    async with start_server(init_options={**FAST, "model": "codestral-2508"}) as client:
        open_doc(client, URI, "x = ")
        assert items(await inline(client, URI, 0, 4))
        numbers = await stats(client)
    usage = numbers["models"]["codestral-2508"]
    assert usage["calls"] == 1
    assert usage["promptTokens"] == count_tokens("x = ")
    assert usage["completionTokens"] == count_tokens("compute(1)")
    assert numbers["requests"] == {"upstream": 1}
    assert numbers["limiter"]["tokensToday"] == usage["promptTokens"] + usage["completionTokens"]


async def test_langdock_limits_by_default(start_server: ServerFactory) -> None:
    async with start_server(
        init_options={"provider": "langdock"}, env={"LANGDOCK_API_KEY": "k" * 20}
    ) as client:
        limits = (await stats(client))["limiter"]["limits"]
    assert (limits["rpm"], limits["tpm"]) == (500, 60_000)


async def test_daily_cap_stops_automatic_requests(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    async with start_server(init_options={**FAST, "maxTokensPerDay": 3}) as client:
        open_doc(client, URI, "x = ")
        assert items(await inline(client, URI, 0, 4))  # spends more than 3 tokens
        assert items(await inline(client, URI, 0, 4)) == []
        assert items(await send_inline(client, URI, 0, 4, invoked=True))
        assert items(await inline(client, URI, 0, 4)) == []
        logged = [m.message for m in client.log_messages]
        shown = [m.message for m in client.messages]
    assert len(fake_codestral.requests) == 2
    assert sum("holding automatic requests back: daily token cap" in m for m in logged) == 1
    # The user can raise the cap: shown, once, like the governor's other news is logged once.
    assert shown == ["codestral-lsp: holding automatic requests back: daily token cap of 3 reached"]


async def test_low_allowance_in_headers_holds_requests_back(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    headers = {
        "x-ratelimit-limit-tokens-minute": "60000",
        "x-ratelimit-remaining-tokens-minute": "40",
        "x-ratelimit-remaining-req-minute": "100",
    }
    fake_codestral.enqueue(Reply(headers=headers))
    async with start_server(init_options=FAST) as client:
        open_doc(client, URI, "x = ")
        assert items(await inline(client, URI, 0, 4))
        assert items(await inline(client, URI, 0, 4)) == []
        numbers = await stats(client)
    assert len(fake_codestral.requests) == 1
    assert numbers["limiter"]["holding"] == "token allowance low"


async def test_after_a_first_look_at_a_young_window_requests_stay_small(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    # A team that starts together: the first answer's window holds four requests and a quarter
    # of its tokens. A budget of the target over four would be a full request each.
    young = {
        "x-ratelimit-limit-tokens-minute": "24000",
        "x-ratelimit-remaining-tokens-minute": "17600",
        "x-ratelimit-limit-req-minute": "204",
        "x-ratelimit-remaining-req-minute": "200",
    }
    fake_codestral.enqueue(Reply(headers=young), Reply(headers=young))
    body = "".join(f"value_{i} = compute(value_{i - 1}, {i})\n" for i in range(1, 400))
    async with start_server(init_options=FAST) as client:  # no limits known: learnt from headers
        open_doc(client, URI, body + "result = \n" + body)
        assert items(await inline(client, URI, 399, 9))
        assert items(await inline(client, URI, 399, 9))
        limiter = (await stats(client))["limiter"]
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codestral.status")
        )
    assert status["pacing"]["lastDecision"] == limiter["lastDecision"]
    assert status["pacing"]["guardHeldShare"] == 0  # the guard held nothing back
    first, second = (
        count_tokens(r.body["prompt"] + r.body["suffix"]) for r in fake_codestral.requests
    )
    assert first > 1_500  # the whole budget: nothing said there was a limit
    assert second < 200, second  # the floor's context, until a second answer measures the rate
    assert limiter["lastDecision"].startswith("shared limit, its rate not measured yet")
    assert limiter["guardHeldShare"] == 0


async def test_an_absurd_retry_after_is_capped_and_an_answer_ends_the_cool_down(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    fake_codestral.enqueue(
        Reply(429, ERROR_BODIES["rate_limited_1300"], headers={"Retry-After": "31536000"})
    )
    async with start_server(init_options=FAST) as client:
        open_doc(client, URI, "x = ")
        assert items(await inline(client, URI, 0, 4)) == []
        cooling = (await stats(client))["limiter"]["coolDownSeconds"]
        assert 0 < cooling <= 300  # not a year
        assert items(await inline(client, URI, 0, 4)) == []  # cooling down: no call
        assert items(await send_inline(client, URI, 0, 4, invoked=True))  # asked for: answered
        assert items(await inline(client, URI, 0, 4))  # the answer ended the cool-down
        after = await stats(client)
    assert after["limiter"]["coolDownSeconds"] == 0
    assert len(fake_codestral.requests) == 3


async def test_a_retry_after_that_is_no_number_keeps_the_status_valid_json(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    headers = {"Retry-After": "1e400", "x-ratelimit-remaining-tokens-minute": "inf"}
    fake_codestral.enqueue(Reply(429, ERROR_BODIES["rate_limited_1300"], headers=headers))
    async with start_server(init_options=FAST) as client:
        open_doc(client, URI, "x = ")
        assert items(await inline(client, URI, 0, 4)) == []
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codestral.status")
        )
    assert isinstance(result, dict)
    json.dumps(result, allow_nan=False)  # no Infinity: valid JSON for every client
    assert 0 < result["coolDownSeconds"] <= 300
