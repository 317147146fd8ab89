"""Emacs 28 + eglot 1.9, batch, with the shipped editors/emacs/llm-lsp.el: completion-at-point and inline requests.

One Emacs session (module fixture) runs tests/editors/emacs_test.el, which types the keys a user would;
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

SNIPPET = REPO / "editors" / "emacs" / "llm-lsp.el"


@pytest.fixture(scope="module")
def emacs_run(ollama_for_editors: OllamaEmulator, tmp_path_factory: pytest.TempPathFactory) -> EditorRun:
    emacs = find_binary("emacs")
    work = tmp_path_factory.mktemp("emacs")
    (work / "sample.py").write_text(SAMPLE)
    out = work / "result.json"
    env = editor_env(
        work / "home",
        LLM_LSP_OUT=str(out),
        LLM_LSP_SNIPPET=str(SNIPPET),
        LLM_LSP_CMD=json.dumps(server_command()),
        LLM_LSP_INIT=json.dumps(init_options(ollama_for_editors)),
        LLM_LSP_WATCHDOG_S="16",
    )
    # -q, not -Q: -Q would skip Debian's site-start, which puts elpa-eglot on the load-path.
    argv = [emacs, "--batch", "-q", "-l", str(HERE / "emacs_test.el")]
    run = run_editor(argv, cwd=work, env=env, out=out, timeout=20)
    print(f"emacs session: {run.seconds:.2f} s")
    return run


def ok(run: EditorRun) -> dict[str, Any]:
    assert not run.result.get("error"), run.context()
    return run.result


def test_connects_with_initialization_options(emacs_run: EditorRun) -> None:
    # The emulator's URL reaches the server only through :initializationOptions (see the backend test below).
    r = ok(emacs_run)
    assert r["server_info"]["name"] == "llm-lsp", emacs_run.context()
    assert r["inline_provider"] is True, emacs_run.context()
    assert r["snippet_fn"] is None  # no yasnippet here: eglot advertises snippetSupport false
    assert emacs_run.seconds < 20


def test_explicit_inline_completion_request(emacs_run: EditorRun) -> None:
    req = ok(emacs_run)["inline_request"]
    items = req["response"]["items"]
    assert [i["insertText"] for i in items] == ["len(xs)"], emacs_run.context()
    pos = req["params"]["position"]
    assert pos == {"line": 2, "character": 12}
    assert items[0]["range"] == {"start": pos, "end": pos}


def test_inline_command_inserts_and_leaves_point_after_it(emacs_run: EditorRun) -> None:
    r = ok(emacs_run)
    assert r["inline_key"] == "    count = len(xs)  # n", emacs_run.context()
    assert r["inline_key_utf"] == '    tag = "é😋" + str(total)  # t', emacs_run.context()
    assert r["inline_key_multi_point_line"] == "        total += x  # w", emacs_run.context()


def test_completion_at_point_inserts_the_whole_suggestion_as_plain_text(emacs_run: EditorRun) -> None:
    r = ok(emacs_run)
    single = next(resp for resp in r["completion_responses"] if resp["items"][0]["label"].startswith("print"))
    (item,) = single["items"]
    assert item["insertTextFormat"] == 1, emacs_run.context()  # plain text: eglot would insert $0 literally
    assert item["textEdit"]["newText"] == "print(total, end='')"
    assert r["capf_single"] == "    print(total, end='')", emacs_run.context()
    assert r["capf_utf"] == "    label = \"é😋\" + str(total) + ' items'", emacs_run.context()
    assert r["capf_dollar"] == '    price = fmt("${amount} \\ {x}")', emacs_run.context()


def test_completion_at_point_multi_line_keeps_the_block_indentation(emacs_run: EditorRun) -> None:
    r = ok(emacs_run)
    assert r["capf_multi_point_line"] == "            break", emacs_run.context()  # point at the end
    lines = r["buffer"].split("\n")
    n = lines.index("    for x in xs:") + 1
    assert lines[n : n + 4] == [
        "        total += x",
        "        if total > 10:",
        "            break",
        "    print(total, end='')",  # the line typed earlier: the dedented suggestion line was cut
    ], emacs_run.context()
    for resp in r["completion_responses"]:
        new_text = resp["items"][0]["textEdit"]["newText"]
        assert "$0" not in new_text and "${1" not in new_text and "\\$" not in new_text, emacs_run.context()


def test_whole_buffer_afterwards(emacs_run: EditorRun) -> None:
    assert ok(emacs_run)["buffer"].split("\n") == [*FINAL, ""], emacs_run.context()


def test_backend_got_one_fim_request_per_spot_for_the_configured_model(
    emacs_run: EditorRun, ollama_for_editors: OllamaEmulator
) -> None:
    assert not emacs_run.result.get("error"), emacs_run.context()
    check_backend_requests(ollama_for_editors)
