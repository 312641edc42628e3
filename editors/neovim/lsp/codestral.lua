-- codestral-lsp for Neovim 0.11+, in the `lsp/<name>.lua` form (as nvim-lspconfig ships configs).
--
-- Copy this file to ~/.config/nvim/lsp/codestral.lua, then in your init.lua:
--
--   vim.lsp.enable('codestral')
--   vim.lsp.inline_completion.enable()   -- Neovim 0.12+: ghost text (<Tab> mapping: init.lua)
--
-- Neovim 0.11 has no inline completion: the suggestion is an item of the completion menu. So is
-- it with blink.cmp or nvim-cmp on any version; Neovim 0.12 declares inline completion, so for
-- the menu ask for it whatever the editor declares:
--
--   vim.lsp.config('codestral', { init_options = { completionFallback = 'on' } })
--
-- Settings merge the same way (see the main README for every key), e.g.
--   vim.lsp.config('codestral', { init_options = { model = 'codestral-2508', maxTokens = 128 } })
-- The key is read from $CODESTRAL_API_KEY (or $MISTRAL_API_KEY / $LANGDOCK_API_KEY, by
-- `provider`) in the environment Neovim was started from.

---@type vim.lsp.Config
return {
  cmd = { 'codestral-lsp' },
  -- No `filetypes`: every file buffer. To limit it: filetypes = { 'python', 'lua' }.
  -- No `root_markers`: one server for all files, whatever the project.
  init_options = {
    provider = 'codestral', -- 'codestral', 'mistral' or 'langdock'
  },
}
