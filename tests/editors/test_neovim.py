"""Neovim 0.11, headless, with the shipped editors/neovim/llm_lsp.lua: inline request, the <M-l> mapping, menu completion.

One Neovim session (module fixture) runs tests/editors/nvim_test.lua, which types the keys a user would;
each test checks one part of what it recorded.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.emulators import OllamaEmulator

from .conftest import (
    FINAL,
    HERE,
    REPO,
    SAMPLE,
    EditorRun,
    check_backend_requests,
    editor_env,
    find_binary,
    init_options,
    run_editor,
    server_command,
)

pytestmark = pytest.mark.editors

SNIPPET = REPO / "editors" / "neovim" / "llm_lsp.lua"


@pytest.fixture(scope="module")
def nvim_run(ollama_for_editors: OllamaEmulator, tmp_path_factory: pytest.TempPathFactory) -> EditorRun:
    nvim = find_binary("nvim")
    work = tmp_path_factory.mktemp("nvim")
    (work / "sample.py").write_text(SAMPLE)
    out = work / "result.json"
    env = editor_env(
        work / "home",
        LLM_LSP_OUT=str(out),
        LLM_LSP_SNIPPET=str(SNIPPET),
        LLM_LSP_CMD=json.dumps(server_command()),
        LLM_LSP_INIT=json.dumps(init_options(ollama_for_editors)),
        LLM_LSP_WATCHDOG_MS="16000",
    )
    argv = [nvim, "--headless", "-i", "NONE", "-n", "-u", str(HERE / "nvim_test.lua"), "sample.py"]
    run = run_editor(argv, cwd=work, env=env, out=out, timeout=20)
    print(f"neovim session: {run.seconds:.2f} s")
    return run


def step(run: EditorRun, name: str) -> dict[str, Any]:
    assert not run.result.get("error"), run.context()
    got = run.result.get("steps", {}).get(name)
    assert got is not None, run.context()
    return got


def test_attaches_with_the_shipped_config(nvim_run: EditorRun) -> None:
    r = nvim_run.result
    assert r.get("attached"), nvim_run.context()
    assert r["server_info"]["name"] == "llm-lsp"
    assert r["inline_provider"] is True
    assert r["omnifunc"] == "v:lua.vim.lsp.omnifunc"
    assert nvim_run.seconds < 20


def test_request_sync_inline_completion_at_end_of_indented_line(nvim_run: EditorRun) -> None:
    s = step(nvim_run, "request_sync")
    assert s.get("err") is None, nvim_run.context()
    resp = s["response"]
    assert resp.get("err") is None, nvim_run.context()
    items = resp["result"]["items"]
    assert [i["insertText"] for i in items] == ["len(xs)"], nvim_run.context()
    pos = s["params"]["position"]
    assert items[0]["range"] == {"start": pos, "end": pos}


def test_inline_keymap_inserts_and_leaves_the_cursor_after_it(nvim_run: EditorRun) -> None:
    # <M-l> inserted the suggestion; the keys typed next ("  # n") landed after it.
    assert step(nvim_run, "inline_keymap")["lines"][0] == "    count = len(xs)  # n", nvim_run.context()


def test_inline_keymap_after_non_ascii_text(nvim_run: EditorRun) -> None:
    assert nvim_run.result["offset_encoding"] == "utf-8"  # what Neovim and the server agreed on
    assert step(nvim_run, "inline_keymap_utf")["lines"][0] == '    tag = "é😋" + str(total)  # t', nvim_run.context()


def test_inline_keymap_multi_line_keeps_indentation_and_cursor(nvim_run: EditorRun) -> None:
    s = step(nvim_run, "inline_keymap_multi")
    assert s["lines"] == ["        x = xs.pop()", "        total += x  # w", "    return total / count"], (
        nvim_run.context()
    )


def test_menu_completion_inserts_the_whole_multi_word_suggestion(nvim_run: EditorRun) -> None:
    s = step(nvim_run, "menu_single")
    # The documented keys: <C-x><C-o> shows the one item, selected (menuone,noinsert), <C-y> inserts it.
    assert (s["pum_visible"], s["selected"], s["completeopt"]) == (1, 0, "menu,menuone,noinsert,popup")
    (item,) = s["items"]
    assert item["lsp"]["insertTextFormat"] == 2, nvim_run.context()  # a snippet: Neovim would cut plain text at a space
    assert item["menu"] == "llm-lsp · ollama/qwen2.5-coder:1.5b"
    assert s["lines_after"][s["lnum"] - 1] == "    print(total, end='')", nvim_run.context()


def test_menu_completion_after_non_ascii_text(nvim_run: EditorRun) -> None:
    s = step(nvim_run, "menu_utf")
    assert s["lines_after"][s["lnum"] - 1] == "    label = \"é😋\" + str(total) + ' items'", nvim_run.context()


def test_menu_completion_keeps_snippet_syntax_characters_literal(nvim_run: EditorRun) -> None:
    s = step(nvim_run, "menu_dollar")
    assert s["lines_after"][s["lnum"] - 1] == '    price = fmt("${amount} \\ {x}")', nvim_run.context()


def test_menu_completion_multi_line_keeps_the_block_indentation(nvim_run: EditorRun) -> None:
    s = step(nvim_run, "menu_multi")
    assert s["pum_visible"] == 1 and s["typed"] == ""
    n = s["lnum"] - 1
    after = s["lines_after"]
    assert after[n : n + 3] == ["        total += x", "        if total > 10:", "            break"], nvim_run.context()
    assert after[n + 3] == "    print(total, end='')", nvim_run.context()  # the dedented line was cut, not inserted


def test_whole_buffer_afterwards(nvim_run: EditorRun) -> None:
    assert nvim_run.result["buffer"] == FINAL, nvim_run.context()


def test_backend_got_one_fim_request_per_spot_for_the_configured_model(
    nvim_run: EditorRun, ollama_for_editors: OllamaEmulator
) -> None:
    assert not nvim_run.result.get("error"), nvim_run.context()
    check_backend_requests(ollama_for_editors)
