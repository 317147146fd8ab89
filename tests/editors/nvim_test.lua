-- Driven by tests/editors/test_neovim.py: `nvim --headless -u nvim_test.lua sample.py`.
-- Loads the shipped editors/neovim/llm_lsp.lua, points it at the emulator, then drives the real client:
-- request_sync for inlineCompletion, typed keys for the <M-l> mapping and for menu completion.
-- Writes what happened as JSON to $LLM_LSP_OUT and quits. Every wait has a timeout.
local env = vim.env
local out_path = assert(env.LLM_LSP_OUT, 'LLM_LSP_OUT not set')
local results = { steps = {} }
local finished = false

local function finish(err)
  if finished then
    return
  end
  finished = true
  if err then
    results.error = tostring(err)
  end
  results.buffer = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  results.messages = vim.api.nvim_exec2('messages', { output = true }).output
  local f = assert(io.open(out_path, 'w'))
  f:write(vim.json.encode(results))
  f:close()
  vim.cmd('qa!')
end

-- A watchdog: whatever hangs, write what we have and quit (the test also kills nvim on its own timeout).
local watchdog_ms = tonumber(env.LLM_LSP_WATCHDOG_MS or '15000')
vim.defer_fn(function()
  finish('watchdog: timed out after ' .. watchdog_ms .. ' ms')
end, watchdog_ms)

vim.lsp.log.set_level(env.LLM_LSP_NVIM_LOG_LEVEL or 'warn')

-- The shipped snippet, as a user would have it, then the test's overrides (merged into it by vim.lsp.config).
dofile(env.LLM_LSP_SNIPPET)
vim.lsp.config('llm_lsp', {
  cmd = vim.json.decode(env.LLM_LSP_CMD),
  init_options = vim.json.decode(env.LLM_LSP_INIT),
})

local function keys(s)
  return vim.api.nvim_replace_termcodes(s, true, false, true)
end

-- Poll cond every 20 ms from the event loop (so typed keys and LSP responses get processed meanwhile).
local function wait_until(cond, timeout_ms, what)
  local co = coroutine.running()
  local deadline = vim.uv.now() + timeout_ms
  local function poll()
    local ok, value = pcall(cond)
    if ok and value then
      coroutine.resume(co, value)
    elseif vim.uv.now() > deadline then
      coroutine.resume(co, nil)
    else
      vim.defer_fn(poll, 20)
    end
  end
  vim.defer_fn(poll, 0)
  local value = coroutine.yield()
  if value == nil then
    error('timed out waiting for ' .. what, 0)
  end
  return value
end

local function line(n)
  return vim.api.nvim_buf_get_lines(0, n - 1, n, false)[1]
end

-- The number of the first line that is exactly `text`.
local function find_line(text)
  for i, l in ipairs(vim.api.nvim_buf_get_lines(0, 0, -1, false)) do
    if l == text then
      return i
    end
  end
  error('no line is ' .. vim.inspect(text), 0)
end


local function normal_mode()
  return vim.api.nvim_get_mode().mode == 'n'
end

-- Type keys (as typed, mappings applied): they are queued and run once this callback yields to the event loop.
local function type_keys(s)
  vim.api.nvim_feedkeys(keys(s), 'mt', false)
end

-- <M-l> at the end of line `lnum`, then type `after` and leave insert mode; returns lines lnum..lnum+2.
local function inline_key(lnum, after)
  local before = line(lnum)
  vim.api.nvim_win_set_cursor(0, { lnum, 0 })
  type_keys('A<M-l>')
  wait_until(function()
    return line(lnum) ~= before
  end, 8000, 'the <M-l> insertion on line ' .. lnum)
  type_keys(after .. '<Esc>')
  wait_until(normal_mode, 3000, 'normal mode')
  return { lnum = lnum, lines = vim.api.nvim_buf_get_lines(0, lnum - 1, lnum + 2, false) }
end

-- Menu completion exactly as a user does it: A (append), the typed prefix, <C-x><C-o>, wait for the menu, <C-y>.
local function menu_complete(lnum, typed)
  vim.api.nvim_win_set_cursor(0, { lnum, 0 })
  type_keys('A' .. typed .. '<C-x><C-o>')
  local info = wait_until(function()
    local ci = vim.fn.complete_info({ 'pum_visible', 'items', 'selected', 'mode' })
    ci.completeopt = vim.bo.completeopt
    return ci.pum_visible == 1 and #ci.items > 0 and ci
  end, 8000, 'the completion menu')
  local step = {
    typed = typed,
    mode = info.mode,
    selected = info.selected,
    pum_visible = info.pum_visible,
    completeopt = info.completeopt,
    items = {},
  }
  for _, it in ipairs(info.items) do
    local lsp_item = vim.tbl_get(it, 'user_data', 'nvim', 'lsp', 'completion_item')
    table.insert(step.items, { word = it.word, abbr = it.abbr, menu = it.menu, kind = it.kind, lsp = lsp_item })
  end
  step.line_while_menu_open = vim.api.nvim_get_current_line()
  -- The shipped config selects the one item without inserting it: <C-y> accepts it (as its comment says).
  type_keys('<C-y>')
  wait_until(function()
    return vim.fn.pumvisible() == 0 and vim.api.nvim_get_mode().mode:sub(1, 1) == 'i'
  end, 3000, 'the menu to close')
  -- Let CompleteDone run (the snippet expansion), then leave insert mode the way a user would.
  wait_until(function()
    return true
  end, 100, 'a tick')
  step.cursor_in_insert = vim.api.nvim_win_get_cursor(0)
  step.lines_after_accept = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  step.snippet_active = vim.snippet.active()
  type_keys('<Esc>')
  wait_until(normal_mode, 3000, 'normal mode')
  if vim.snippet.active() then
    vim.snippet.stop()
  end
  step.lines_after = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  return step
end

local function main()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = wait_until(function()
    return vim.lsp.get_clients({ bufnr = bufnr, name = 'llm_lsp' })[1]
  end, 8000, 'llm-lsp to attach')
  wait_until(function()
    return client.initialized
  end, 8000, 'initialize')
  results.attached = true
  results.offset_encoding = client.offset_encoding
  results.server_info = client.server_info
  results.omnifunc = vim.bo[bufnr].omnifunc
  results.inline_provider = client.server_capabilities.inlineCompletionProvider ~= nil

  -- (a) textDocument/inlineCompletion with client:request_sync at the end of an indented line.
  local ln = find_line('    count = ')
  local params = {
    textDocument = vim.lsp.util.make_text_document_params(bufnr),
    position = { line = ln - 1, character = #line(ln) },
    context = { triggerKind = 1 },
  }
  local resp, err = client:request_sync('textDocument/inlineCompletion', params, 10000, bufnr)
  results.steps.request_sync = { params = params, response = resp, err = err }

  -- (b) the shipped <M-l> mapping on the same line (then typing on after it), after non-ASCII text
  -- (positions in the negotiated encoding), and with a multi-line suggestion on an empty line in a block.
  results.steps.inline_keymap = inline_key(ln, '  # n')
  results.steps.inline_keymap_utf = inline_key(find_line('    tag = "é😋" + '), '  # t')
  results.steps.inline_keymap_multi = inline_key(find_line('    while xs:') + 1, '  # w')

  -- (c) menu completion of a multi-word suggestion after a typed prefix; also after non-ASCII text.
  local p = find_line('    ')
  results.steps.menu_single = menu_complete(p, 'p')
  results.steps.menu_single.lnum = p
  local u = find_line('    label = "é😋" + ')
  results.steps.menu_utf = menu_complete(u, 's')
  results.steps.menu_utf.lnum = u
  local d = find_line('    price = ')
  results.steps.menu_dollar = menu_complete(d, 'f')
  results.steps.menu_dollar.lnum = d

  -- (d) menu completion of a multi-line suggestion on an empty line inside an indented block.
  local blank = find_line('    for x in xs:') + 1
  results.steps.menu_multi = menu_complete(blank, '')
  results.steps.menu_multi.lnum = blank
end

vim.api.nvim_create_autocmd('VimEnter', {
  once = true,
  callback = function()
    coroutine.wrap(function()
      local ok, err = xpcall(main, debug.traceback)
      finish(not ok and err or nil)
    end)()
  end,
})
