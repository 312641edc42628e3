-- codestral-lsp in Neovim 0.12+: Codestral completions shown as inline ghost text.
--
-- Copy this file to ~/.config/nvim/plugin/codestral.lua (or paste it into your init.lua).
-- Or copy lsp/codestral.lua beside it to ~/.config/nvim/lsp/ and call vim.lsp.enable('codestral')
-- and vim.lsp.inline_completion.enable() yourself (see README.md).
-- The key is read from $CODESTRAL_API_KEY (or $MISTRAL_API_KEY / $LANGDOCK_API_KEY, by `provider`)
-- in the environment Neovim was started from.
--
-- To change a setting without editing this file, call vim.lsp.config() again later: tables merge,
-- e.g. vim.lsp.config('codestral', { init_options = { model = 'codestral-2508' } }).
--
-- Logs: the server's log lines and stderr land in Neovim's LSP log. Raise its level with
-- `:lua vim.lsp.log.set_level('debug')` and open it with `:exe 'tabnew' v:lua.vim.lsp.log.get_filename()`.
-- `:checkhealth vim.lsp` shows whether the server is attached to the current buffer.

if vim.fn.has('nvim-0.12') == 0 or not vim.lsp.inline_completion then
  vim.notify('codestral-lsp: needs Neovim 0.12+ (vim.lsp.inline_completion)', vim.log.levels.WARN)
  return
end

vim.lsp.config('codestral', {
  cmd = { 'codestral-lsp' },
  -- No `filetypes`: attach to every file buffer. To limit it, list them:
  -- filetypes = { 'python', 'lua', 'typescript' },
  -- No `root_markers`: one server for all files, whatever the project.
  init_options = {
    provider = 'codestral', -- 'codestral', 'mistral' or 'langdock'
    -- model = 'codestral-latest',
    -- maxTokens = 256,
    -- endpoint = 'https://codestral.mistral.ai/v1/fim/completions', -- gateways, proxies
  },
})
vim.lsp.enable('codestral')

-- Ask for a suggestion 200 ms after the cursor stops in insert mode; show it as ghost text.
vim.lsp.inline_completion.enable()

-- <Tab> accepts the suggestion shown; with none shown it inserts a Tab as usual.
vim.keymap.set('i', '<Tab>', function()
  if not vim.lsp.inline_completion.get() then
    return '<Tab>'
  end
end, { expr = true, desc = 'Accept the inline completion (codestral-lsp)' })
