"""Loopback HTTP servers that speak the wire formats of shared/PROTOCOLS.md, for tests.

from tests.emulators import OllamaEmulator, LMStudioEmulator, OpenAICompatEmulator

with OllamaEmulator() as emu:
    emu.response_text = "def f():"
    ...  # talk to emu.url
"""

from .base import DEFAULT_TEXT, EmulatorBase
from .lmstudio import LMStudioEmulator, LMStudioModel
from .ollama import OllamaEmulator
from .ollama_models import OllamaModel
from .openai_compat import OpenAICompatEmulator
from .records import Generation, RequestRecord, tokenize

__all__ = [
    "DEFAULT_TEXT",
    "EmulatorBase",
    "Generation",
    "LMStudioEmulator",
    "LMStudioModel",
    "OllamaEmulator",
    "OllamaModel",
    "OpenAICompatEmulator",
    "RequestRecord",
    "tokenize",
]
