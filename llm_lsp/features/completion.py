"""textDocument/inlineCompletion and textDocument/completion, both served from one pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from llm_lsp.completion.context import offset_to_position
from llm_lsp.completion.menu import menu_item

if TYPE_CHECKING:
    from llm_lsp.server import LlmLanguageServer

TRIGGER_CHARACTERS = [".", "(", "[", "{", ",", ":", "=", " "]


def register(server: LlmLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(params: types.InlineCompletionParams) -> types.InlineCompletionList:
        automatic = params.context.trigger_kind != types.InlineCompletionTriggerKind.Invoked
        suggestion, _ = await server.suggest(params.text_document.uri, params.position, automatic=automatic)
        if suggestion is None:
            return types.InlineCompletionList(items=[])
        here = types.Range(start=params.position, end=params.position)
        return types.InlineCompletionList(items=[types.InlineCompletionItem(insert_text=suggestion.text, range=here)])

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=TRIGGER_CHARACTERS, resolve_provider=False),
    )
    async def completion(params: types.CompletionParams) -> types.CompletionList:
        automatic = params.context is None or params.context.trigger_kind != types.CompletionTriggerKind.Invoked
        uri = params.text_document.uri
        suggestion, inp = await server.suggest(uri, params.position, automatic=automatic)
        if suggestion is None or inp is None:
            return types.CompletionList(is_incomplete=True, items=[])
        text, offset, enc = inp.text, inp.offset, server.encoding()
        line_start = text.rfind("\n", 0, offset) + 1
        snippets = _snippet_support(server)
        item = menu_item(suggestion.text, text[line_start:offset], snippets)
        start_line, start_char = offset_to_position(text, offset - item.replace_chars, enc)
        edit_range = types.Range(start=types.Position(start_line, start_char), end=params.position)
        return types.CompletionList(
            is_incomplete=True,
            items=[
                types.CompletionItem(
                    label=item.label,
                    kind=types.CompletionItemKind.Snippet if "\n" in suggestion.text else types.CompletionItemKind.Text,
                    detail=f"llm-lsp · {suggestion.model_id}",
                    documentation=_documentation(server, item.documentation),
                    sort_text="0000",
                    filter_text=item.filter_text,
                    preselect=True,
                    insert_text_format=types.InsertTextFormat.Snippet
                    if item.snippet
                    else types.InsertTextFormat.PlainText,
                    text_edit=types.TextEdit(range=edit_range, new_text=item.new_text),
                )
            ],
        )


def _item_caps(server: LlmLanguageServer) -> types.ClientCompletionItemOptions | None:
    caps = server.client_capabilities
    td = caps.text_document if caps else None
    comp = td.completion if td else None
    return comp.completion_item if comp else None


def _snippet_support(server: LlmLanguageServer) -> bool:
    item = _item_caps(server)
    return bool(item and item.snippet_support)


def _documentation(server: LlmLanguageServer, text: str) -> str | types.MarkupContent:
    item = _item_caps(server)
    if item and item.documentation_format and types.MarkupKind.Markdown in item.documentation_format:
        return types.MarkupContent(kind=types.MarkupKind.Markdown, value=f"```\n{text}\n```")
    return text  # a plain string: every client takes that
