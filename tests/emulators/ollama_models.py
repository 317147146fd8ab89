"""Ollama model records (what /api/tags, /api/show and /api/ps describe)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

FIM_TEMPLATE = (
    "{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>"
    "{{- else }}{{ .Prompt }}{{- end }}"
)


@dataclass
class OllamaModel:
    name: str  # always with a tag, e.g. "qwen2.5-coder:1.5b"
    family: str = "qwen2"
    families: list[str] | None = None  # default [family]
    architecture: str | None = None  # model_info["general.architecture"]; default family
    parameter_size: str = "1.5B"
    quantization_level: str = "Q4_K_M"
    format: str = "gguf"
    parent_model: str = ""
    context_length: int = 32768  # model_info["<arch>.context_length"]
    embedding_length: int = 1536
    capabilities: list[str] = field(default_factory=lambda: ["completion", "insert"])
    template: str = FIM_TEMPLATE
    parameters: str = 'stop "<|endoftext|>"'
    size: int = 986_000_000
    digest: str = ""  # default: sha256 of the name
    modified_at: str = "2025-01-15T10:00:00.000000Z"
    loaded: bool = False  # listed by /api/ps
    size_vram: int | None = None  # default size
    loaded_context_length: int = 4096  # /api/ps context_length
    embedding_dim: int = 16  # length of the vectors /api/embed returns

    def __post_init__(self) -> None:
        self.families = self.families if self.families is not None else [self.family]
        self.architecture = self.architecture or self.family
        self.digest = self.digest or hashlib.sha256(self.name.encode()).hexdigest()

    def details(self) -> dict[str, Any]:
        return {
            "parent_model": self.parent_model,
            "format": self.format,
            "family": self.family,
            "families": self.families,
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        }


DEFAULT_MODELS: dict[str, dict[str, Any]] = {
    "qwen2.5-coder:1.5b": {},
    "llama3.2:1b": {
        "family": "llama",
        "parameter_size": "1.2B",
        "context_length": 131072,
        "capabilities": ["completion", "tools"],
        "template": "{{ .Prompt }}",
        "size": 1_321_000_000,
    },
    "nomic-embed-text:latest": {
        "family": "nomic-bert",
        "parameter_size": "137M",
        "quantization_level": "F16",
        "context_length": 2048,
        "embedding_length": 768,
        "capabilities": ["embedding"],
        "template": "",
        "size": 274_000_000,
    },
}


def full_name(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def owner(name: str) -> str:
    return name.split("/")[0] if "/" in name else "library"


def param_count(size: str) -> int:
    scale = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
    try:
        return int(float(size[:-1]) * scale[size[-1].upper()])
    except (ValueError, KeyError, IndexError):
        return 0
