-- codestral-lsp in Neovim 0.10 / 0.11: Codestral suggestions as an item of the completion menu.
--
-- For Neovim without `vim.lsp.inline_completion` (0.12 has it: use init.lua beside this file for
-- ghost text instead). Load one of the two files, not both.
--
-- Copy this file to ~/.config/nvim/plugin/codestral.lua (or paste it into your init.lua).
-- The key is read from $CODESTRAL_API_KEY (or $MISTRAL_API_KEY / $LANGDOCK_API_KEY, by `provider`)
-- in the environment Neovim was started from.
--
-- 0.11+: the menu opens by itself after `.` `(` `[` `{` `,` `:` `=` (the server's trigger
-- characters), and on <C-x><C-o> anywhere. 0.10: <C-x><C-o> only.
-- In the menu: <C-n> selects the suggestion (marked Codestral), <C-y> inserts it. Known gaps
-- of Neovim's menu: see editors/neovim/README.md.
--
-- Logs: `:lua vim.lsp.log.set_level('debug')`, then `:exe 'tabnew' v:lua.vim.lsp.log.get_filename()`.

if vim.fn.has('nvim-0.10') == 0 then
  vim.notify('codestral-lsp: needs Neovim 0.10+', vim.log.levels.WARN)
  return
end

local settings = {
  provider = 'codestral', -- 'codestral', 'mistral' or 'langdock'
  -- model = 'codestral-latest',
  -- maxTokens = 256,
  -- endpoint = 'https://codestral.mistral.ai/v1/fim/completions', -- gateways, proxies
  -- Serve the menu whatever the editor declares (Neovim 0.12 declares inline completion, and
  -- `auto` would then leave the menu empty).
  completionFallback = 'on',
}

-- The server answers with one item: show the menu for it, and select nothing until <C-n>, so
-- that <CR> still starts a new line.
local function menu_for_one_item(bufnr)
  local flags = vim.split(vim.go.completeopt, ',', { trimempty = true })
  for _, flag in ipairs({ 'menuone', 'noselect' }) do
    if not vim.list_contains(flags, flag) then
      table.insert(flags, flag)
    end
  end
  vim.bo[bufnr].completeopt = table.concat(flags, ',') -- local to the buffer from 0.11 on
end

if vim.fn.has('nvim-0.11') == 1 then
  vim.lsp.config('codestral', {
    cmd = { 'codestral-lsp' },
    -- No `filetypes`: attach to every file buffer. To limit it: filetypes = { 'python', 'lua' }.
    -- No `root_markers`: one server for all files, whatever the project.
    init_options = settings,
  })
  vim.lsp.enable('codestral')

  -- Neovim's own LSP completion for this server: the menu on its trigger characters, and the
  -- item's snippet and command (the server counts acceptances) applied on <C-y>.
  vim.api.nvim_create_autocmd('LspAttach', {
    group = vim.api.nvim_create_augroup('codestral_lsp_completion', { clear = true }),
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == 'codestral' then
        menu_for_one_item(args.buf)
        vim.lsp.completion.enable(true, client.id, args.buf, { autotrigger = true })
      end
    end,
  })
  return
end

-- 0.10: no vim.lsp.config / vim.lsp.completion. Start the server for every file buffer and
-- complete with <C-x><C-o> ('omnifunc' is set to vim.lsp.omnifunc when the server attaches).
-- 0.10's omnifunc inserts an item's text as it is, without expanding snippets or running the
-- item's command: ask for one-line suggestions only (acceptances are not counted).
settings.multiline = 'never'
vim.opt.completeopt:append({ 'menuone', 'noselect' }) -- a global option before 0.11
vim.api.nvim_create_autocmd('FileType', {
  group = vim.api.nvim_create_augroup('codestral_lsp_completion', { clear = true }),
  callback = function(args)
    if vim.bo[args.buf].buftype ~= '' then
      return
    end
    vim.lsp.start({
      name = 'codestral',
      cmd = { 'codestral-lsp' },
      init_options = settings,
    }, { bufnr = args.buf })
  end,
})
