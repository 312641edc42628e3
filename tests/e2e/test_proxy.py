"""Proxies from the usual environment variables: requests go through HTTP_PROXY when it is set."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from tests.e2e.conftest import ServerFactory, items, open_doc, send_inline
from tests.fake_codestral import FakeCodestral

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "host"}


class ForwardProxy:
    """A minimal HTTP forward proxy on 127.0.0.1: takes absolute-form requests, relays them."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ForwardProxy:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._relay)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._session = aiohttp.ClientSession(auto_decompress=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _relay(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        target = str(request.url)  # absolute-form: the request line carried the full URL
        self.seen.append(f"{request.method} {target}")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with self._session.request(
            request.method, target, headers=headers, data=await request.read()
        ) as upstream:
            response = web.StreamResponse(status=upstream.status)
            for name, value in upstream.headers.items():
                if name.lower() not in HOP_BY_HOP | {"content-length"}:
                    response.headers[name] = value
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy() as running:
        yield running


async def test_requests_go_through_the_proxy_in_http_proxy(
    start_server: ServerFactory, fake_codestral: FakeCodestral, proxy: ForwardProxy
) -> None:
    fake_codestral.completion = "via_proxy()"
    env = {"HTTP_PROXY": proxy.url, "http_proxy": proxy.url, "NO_PROXY": None, "no_proxy": None}
    options = {"debounceMs": 0, "debounceMaxMs": 0}
    async with start_server(init_options=options, env=env) as client:
        open_doc(client, "file:///w/p.py", "x = ")
        result = await send_inline(client, "file:///w/p.py", 0, 4, invoked=True)
    assert [i.insert_text for i in items(result)] == ["via_proxy()"]
    assert proxy.seen == [f"POST {fake_codestral.url}"]
    assert fake_codestral.requests[0].headers["authorization"].endswith(fake_codestral.api_key)
