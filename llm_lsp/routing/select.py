"""Pure candidate logic: model ids, wildcards, and which discovered model is best for a task."""

from __future__ import annotations

from llm_lsp.providers.base import ModelInfo

TASK_CAPABILITY = {"completion": "fim", "chat": "chat", "edit": "chat", "embed": "embedding"}


def split_model_id(model_id: str, provider_ids: list[str]) -> tuple[str | None, str]:
    """``provider/model`` -> (provider, model); a name whose first part is no provider id is a bare model name.

    LM Studio names contain slashes (``lmstudio-community/qwen2.5-coder``), so only a known provider id
    counts as a prefix.
    """
    head, sep, rest = model_id.partition("/")
    if sep and head in provider_ids:
        return head, rest
    return None, model_id


def rank(models: list[ModelInfo], task: str) -> list[ModelInfo]:
    """Best first. Local before remote and loaded before not; for completion native FIM first; for chat and
    edit the larger context. Discovery order breaks ties (sorted() is stable)."""
    if task == "completion":
        return sorted(models, key=lambda m: (not m.local, not m.native_fim, not m.loaded))
    if task in ("chat", "edit"):
        return sorted(models, key=lambda m: (not m.local, not m.loaded, -(m.context_length or 0)))
    return sorted(models, key=lambda m: (not m.local, not m.loaded))


def expand(
    spec: str, capability: str, inventory: dict[str, list[ModelInfo]], provider_ids: list[str], task: str = ""
) -> list[ModelInfo]:
    """Models a wildcard (``provider/*``), ``auto`` or a bare model name stands for, best first."""
    task = task or next((t for t, c in TASK_CAPABILITY.items() if c == capability), "")
    if spec == "auto":
        pool = [m for pid in provider_ids for m in inventory.get(pid, []) if capability in m.capabilities]
        return rank(pool, task)
    provider_id, name = split_model_id(spec, provider_ids)
    if provider_id is not None and name in ("*", ""):
        return rank([m for m in inventory.get(provider_id, []) if capability in m.capabilities], task)
    # A bare name: whichever provider has it.
    return [m for pid in provider_ids for m in inventory.get(pid, []) if m.name == spec]
