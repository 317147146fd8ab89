from llm_lsp.completion.menu import escape_snippet, menu_item
from llm_lsp.providers.base import ModelInfo
from llm_lsp.routing.select import expand, split_model_id


def test_menu_item_covers_the_typed_word_and_escapes_snippets():
    item = menu_item("rint(f'{x} costs $5')", "    p", snippet_support=True)
    assert item.replace_chars == 1
    assert item.filter_text.startswith("print(")
    assert item.snippet
    assert item.new_text == "print(f'{x\\} costs \\$5')"


def test_menu_item_plain_text_without_snippet_support():
    item = menu_item("return a + b", "    ", snippet_support=False)
    assert not item.snippet and item.new_text == "return a + b" and item.replace_chars == 0


def test_snippet_continuation_lines_are_relative_to_the_cursor_line():
    item = menu_item("if x:\n        y()\n    z()", "    ", snippet_support=True)
    assert item.new_text == "if x:\n    y()\nz()"
    assert item.label.endswith("…")


def test_single_word_stays_plain_even_with_snippets():
    item = menu_item("ult", "res", snippet_support=True)
    assert not item.snippet and item.new_text == "result" and item.label == "result"


def test_escape_snippet():
    assert escape_snippet("a\\b$c}d") == "a\\\\b\\$c\\}d"


def test_split_model_id_knows_provider_ids():
    ids = ["ollama", "lmstudio"]
    assert split_model_id("ollama/qwen2.5-coder:1.5b", ids) == ("ollama", "qwen2.5-coder:1.5b")
    assert split_model_id("lmstudio/lmstudio-community/qwen", ids) == ("lmstudio", "lmstudio-community/qwen")
    assert split_model_id("lmstudio-community/qwen", ids) == (None, "lmstudio-community/qwen")


def test_pick_prefers_local_native_loaded_fim():
    a = ModelInfo("lmstudio", "chat", frozenset({"chat"}))
    b = ModelInfo("ollama", "starcoder", frozenset({"fim"}), native_fim=False)
    c = ModelInfo("ollama", "qwen-coder", frozenset({"fim"}), native_fim=True, loaded=False)
    d = ModelInfo("remote", "qwen-coder", frozenset({"fim"}), native_fim=True, loaded=True, local=False)
    inventory = {"p": [a, b, c, d]}
    assert expand("auto", "fim", inventory, ["p"], "completion")[0] is c
    assert expand("auto", "fim", {"p": [a]}, ["p"], "completion") == []
