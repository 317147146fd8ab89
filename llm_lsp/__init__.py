"""llm-lsp: a language server that brings LLMs into any editor."""

__version__ = "0.1.0"
