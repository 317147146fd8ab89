"""Shape a suggestion as a completion-menu item that Helix, eglot, Neovim and VS Code show and insert whole."""

from __future__ import annotations

import re
from dataclasses import dataclass

from llm_lsp.completion.postprocess import indent_of

_WORD = re.compile(r"[\w$]*$")
LABEL_MAX = 60


@dataclass(frozen=True)
class MenuItem:
    label: str
    filter_text: str
    new_text: str
    replace_chars: int  # how many code points before the cursor the edit replaces (the word being typed)
    snippet: bool
    documentation: str


def escape_snippet(text: str) -> str:
    return text.replace("\\", "\\\\").replace("$", "\\$").replace("}", "\\}")


def menu_item(suggestion: str, line_prefix: str, snippet_support: bool) -> MenuItem:
    """Clients filter by the word before the cursor, so the item covers that word and starts with it.

    Neovim inserts a plain-text item only up to its first space, so multi-word text goes as a snippet where
    the client takes snippets; snippet engines indent continuation lines by the cursor line's indentation,
    so those lines are sent relative to it. Clients without snippets (eglot without yasnippet) get plain text.
    """
    word = _WORD.search(line_prefix)
    typed = word.group(0) if word else ""
    full = typed + suggestion
    first = full.split("\n", 1)[0]
    label = first.strip() or full.strip().split("\n", 1)[0]
    if len(label) > LABEL_MAX:
        label = label[: LABEL_MAX - 1] + "…"
    if "\n" in full:
        label += " …"
    snippet = snippet_support and (any(c.isspace() for c in full) or any(c in full for c in "$}\\"))
    new_text = full
    if snippet:
        indent = indent_of(line_prefix)
        lines = full.split("\n")
        if indent:
            lines = [lines[0]] + [ln[len(indent) :] if ln.startswith(indent) else ln for ln in lines[1:]]
        new_text = escape_snippet("\n".join(lines))
    return MenuItem(
        label=label,
        filter_text=first if first.strip() else full,
        new_text=new_text,
        replace_chars=len(typed),
        snippet=snippet,
        documentation=full,
    )
