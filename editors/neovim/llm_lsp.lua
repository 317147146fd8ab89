-- llm-lsp for Neovim 0.11+ (no plugins needed: uses vim.lsp.config / vim.lsp.enable / vim.lsp.completion).
--
-- Install the server so that `llm-lsp` is on PATH (`pip install .` in a checkout of llm-lsp), then copy this file to
-- ~/.config/nvim/plugin/llm_lsp.lua (loaded at startup) or paste it into your init.lua.
--
-- Keys, in insert mode, in buffers where llm-lsp is attached:
--   <M-l>        ask for a suggestion at the cursor (textDocument/inlineCompletion) and insert it;
--                the cursor ends up after the inserted text (multi-line suggestions keep their indentation)
--   <C-x><C-o>   completion menu (textDocument/completion): the suggestion is one item, shown with the model
--                name and selected; <C-y> inserts it whole (Neovim expands it as a snippet, so multi-word and
--                multi-line suggestions arrive complete and indented), <C-e> dismisses it
--
-- Settings go in init_options (the same keys as the server's configuration file): completion.model is
-- "provider/model"; leave it out to use the first fill-in-the-middle model the server discovers.
-- They may also go under `settings = { ['llm-lsp'] = {...} }`, which Neovim sends as workspace/didChangeConfiguration.
-- Tested headless with Neovim 0.11.4 by tests/editors/test_neovim.py, which loads this very file.

vim.lsp.config('llm_lsp', {
  cmd = { 'llm-lsp' },
  filetypes = {
    'c', 'cpp', 'cs', 'go', 'java', 'javascript', 'javascriptreact', 'lua', 'php', 'python', 'ruby', 'rust',
    'sh', 'typescript', 'typescriptreact', 'zig',
  },
  root_markers = { '.git' }, -- without one the server still starts, for the single file
  init_options = {
    completion = { model = 'ollama/qwen2.5-coder:1.5b' },
    providers = {
      ollama = { baseUrl = 'http://127.0.0.1:11434' },
      -- lmstudio = { enabled = false },
    },
  },
})
vim.lsp.enable('llm_lsp')

--- Ask llm-lsp for an inline completion at the cursor and insert the first suggestion.
--- Returns the inserted text, or nil (with a message) when there is none.
local function llm_lsp_insert_inline(client, bufnr)
  local win = vim.api.nvim_get_current_win()
  local enc = client.offset_encoding or 'utf-16'
  local params = vim.lsp.util.make_position_params(win, enc)
  params.context = { triggerKind = 1 } -- Invoked: explicitly asked for, so the server does not debounce it
  local resp, err = client:request_sync('textDocument/inlineCompletion', params, 15000, bufnr)
  if not resp or resp.err then
    vim.notify('llm-lsp: ' .. tostring(err or (resp and resp.err and resp.err.message)), vim.log.levels.WARN)
    return nil
  end
  local result = resp.result or {}
  local item = (result.items or result)[1]
  if not item then
    vim.notify('llm-lsp: no suggestion here', vim.log.levels.INFO)
    return nil
  end
  local range = item.range or { start = params.position, ['end'] = params.position }
  local row = range.start.line
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local col = vim.str_byteindex(line, enc, range.start.character, false)
  local text = item.insertText
  if type(text) == 'table' then -- a StringValue: a snippet
    vim.lsp.util.apply_text_edits({ { range = range, newText = '' } }, bufnr, enc)
    vim.api.nvim_win_set_cursor(win, { row + 1, col })
    vim.snippet.expand(text.value)
    return text.value
  end
  vim.lsp.util.apply_text_edits({ { range = range, newText = text } }, bufnr, enc)
  local lines = vim.split(text, '\n', { plain = true })
  local last_col = (#lines == 1 and col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(win, { row + #lines, last_col })
  return text
end

vim.api.nvim_create_autocmd('LspAttach', {
  group = vim.api.nvim_create_augroup('llm_lsp', { clear = true }),
  callback = function(args)
    local client = vim.lsp.get_client_by_id(args.data.client_id)
    if not client or client.name ~= 'llm_lsp' then
      return
    end
    -- Menu completion: <C-x><C-o> (the omnifunc Neovim sets on attach) and <C-y> to accept, with the
    -- snippet expansion that inserts multi-word and multi-line suggestions whole.
    -- autotrigger = true would ask the model on every trigger character (including space) as you type.
    vim.lsp.completion.enable(true, client.id, args.buf, { autotrigger = false })
    -- llm-lsp answers with ONE item: without 'menuone' Neovim shows no menu for it, and <C-y> then both
    -- accepts it and inserts the character above the cursor (its plain insert-mode meaning).
    -- 'noinsert' keeps the item selected but not yet typed in, so <C-x><C-o> then <C-y> inserts it.
    vim.bo[args.buf].completeopt = 'menu,menuone,noinsert,popup'
    vim.keymap.set('i', '<M-l>', function()
      llm_lsp_insert_inline(client, args.buf)
    end, { buffer = args.buf, desc = 'llm-lsp: insert the suggestion at the cursor' })
  end,
})
