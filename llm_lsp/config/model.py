"""The one validated configuration model. camelCase on the wire (JSON), snake_case accepted too."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

PROVIDER_KINDS = ("ollama", "lmstudio", "llamacpp", "openai")

DEFAULT_URLS = {
    "ollama": "http://127.0.0.1:11434",
    "lmstudio": "http://127.0.0.1:1234",
}
DEFAULT_KEY_ENVS = {
    "ollama": ("OLLAMA_API_KEY",),
    "lmstudio": ("LM_API_TOKEN", "LMSTUDIO_API_TOKEN"),
    "llamacpp": ("LLAMA_API_KEY",),
    "openai": ("OPENAI_API_KEY",),
}


class Section(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ProviderConfig(Section):
    kind: Literal["ollama", "lmstudio", "llamacpp", "openai"] | None = Field(
        None, description="Wire format; defaults to the provider's id when that is a known kind."
    )
    base_url: str | None = Field(None, description="Server URL; defaults per kind and from the environment.")
    api_key_env: str | None = Field(
        None, description='Name of the environment variable that holds the API key ("" for no key).'
    )
    api_key_command: str | None = Field(
        None, description="A command that prints the API key (user configuration only; run without a shell)."
    )
    local: bool | None = Field(
        None,
        description="Whether text sent here stays on this machine; default: true for loopback URLs. Set false for a "
        "local tunnel or proxy to a cloud service, true for a trusted server on your own network.",
    )
    enabled: bool = True
    timeout_ms: int = Field(30000, ge=100, description="Read timeout for one request.")
    fim_mode: str = Field(
        "auto",
        description='How to fill in the middle: "auto", "native" (server template: Ollama suffix, llama.cpp /infill), '
        '"suffix" (OpenAI `suffix` field), "template" (FIM template by model family), "chat", or a template name.',
    )

    @field_validator("fim_mode")
    @classmethod
    def _known_fim_mode(cls, value: str) -> str:
        from llm_lsp.completion.fim import FIM_MODES, template_names

        if value not in FIM_MODES and value not in template_names():
            raise ValueError(f"must be one of {', '.join(FIM_MODES)} or a template: {', '.join(template_names())}")
        return value


class CompletionConfig(Section):
    enabled: bool = True
    model: str | None = Field(None, description='"provider/model"; unset: the first discovered FIM model.')
    max_tokens: int = Field(128, ge=1, le=8192)
    temperature: float = Field(0.2, ge=0, le=2)
    multiline: Literal["auto", "always", "never"] = "auto"
    max_lines: int = Field(16, ge=1, le=500)
    max_prefix_chars: int = Field(8000, ge=0)
    max_suffix_chars: int = Field(2000, ge=0)
    debounce_ms: int | None = Field(None, ge=0, le=5000, description="Fixed debounce; unset: adaptive.")
    debounce_min_ms: int = Field(25, ge=0, le=5000)
    debounce_max_ms: int = Field(300, ge=0, le=5000)
    cache_size: int = Field(256, ge=0)
    timeout_ms: int = Field(15000, ge=100, description="Give up on one completion after this long.")


TASKS = ("completion", "chat", "edit", "embed")

DEFAULT_EXCLUDES = [".env", ".env.*", "*.pem", "*.key", "id_rsa*", "id_ed25519*", "*.p12", "*.pfx", "secrets/"]


class PrivacyConfig(Section):
    mode: Literal["default", "local-only"] = Field(
        "default", description='"local-only": no text of this folder goes to a provider that is not local.'
    )
    redact: bool = Field(True, description="Replace known secret shapes in text bound for a non-local provider.")


class RoutesConfig(Section):
    """Per task, an ordered list of candidates: "provider/model", "provider/*" (any model there that can do the
    task) or "auto" (the best discovered model). The first healthy candidate serves; on failure the next one does."""

    completion: list[str] | None = None
    chat: list[str] | None = None
    edit: list[str] | None = None
    embed: list[str] | None = None

    @field_validator("completion", "chat", "edit", "embed", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("completion", "chat", "edit", "embed")
    @classmethod
    def _not_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not all(v.strip() for v in value):
            raise ValueError("candidates must be non-empty strings")
        return value


class Settings(Section):
    completion: CompletionConfig = Field(default_factory=CompletionConfig)
    routes: RoutesConfig = Field(default_factory=RoutesConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    exclude: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EXCLUDES),
        description="Globs of files that are never completed nor used as context (a trailing / matches a directory).",
    )
    trusted_folders: list[str] = Field(
        default_factory=list,
        description="Folders whose .llm-lsp.toml may change keyed providers, privacy and keys (user configuration only).",
    )
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    log_level: Literal["error", "warning", "info", "debug"] = "info"

    def provider_kind(self, provider_id: str) -> str | None:
        cfg = self.providers.get(provider_id)
        if cfg is not None and cfg.kind:
            return cfg.kind
        return provider_id if provider_id in PROVIDER_KINDS else None
