"""Payloads of the llm-lsp/* requests (camelCase), built from the router's state. Pure functions."""

from __future__ import annotations

from typing import Any

from llm_lsp.config.model import TASKS
from llm_lsp.providers.base import ModelInfo
from llm_lsp.routing.router import Route, Router


def model_json(m: ModelInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": m.id,
        "provider": m.provider,
        "name": m.name,
        "capabilities": sorted(m.capabilities),
        "contextLength": m.context_length,
        "loaded": m.loaded,
        "local": m.local,
    }
    for key, value in (("sizeBytes", m.size_bytes), ("quantization", m.quantization), ("family", m.family)):
        if value is not None:
            out[key] = value
    return out


def providers_json(router: Router) -> list[dict[str, Any]]:
    out = []
    for pid, p in router.providers.items():
        h = router.health[pid]
        item: dict[str, Any] = {
            "id": pid,
            "kind": p.kind,
            "baseUrl": p.base_url,
            "local": p.local,
            "status": h.status.value,
            "latencyMs": round(h.latency_p50_ms, 1) if h.latency_p50_ms is not None else None,
            "successRate": round(h.success_rate, 3) if h.success_rate is not None else None,
            "modelCount": len(router.inventory.get(pid, [])),
        }
        if h.last_error and h.status.value != "available":
            item["lastError"] = h.last_error
        if pid in router.skipped_for_privacy():
            item["skipped"] = "privacy.mode is local-only: this provider is not local"
        out.append(item)
    return out


def route_json(task: str, routes: list[Route], everything: list[Route], router: Router) -> dict[str, Any]:
    chosen = routes[0] if routes else None
    candidates = []
    for r in everything:
        h = router.health[r.provider.id]
        candidates.append({"model": r.model_id, "provider": r.provider.id, "status": h.status.value})
    out: dict[str, Any] = {
        "model": chosen.model_id if chosen else None,
        "provider": chosen.provider.id if chosen else None,
        "candidates": candidates,
        "specs": router.specs(task),
    }
    if router.overrides.get(task):
        out["selected"] = router.overrides[task]
    return out


async def status_json(router: Router) -> dict[str, Any]:
    routes: dict[str, Any] = {}
    for task in TASKS:
        try:
            usable = await router.candidates(task)
            everything = await router.candidates(task, healthy_only=False)
        except Exception as exc:
            routes[task] = {
                "model": None,
                "provider": None,
                "candidates": [],
                "specs": router.specs(task),
                "error": str(exc),
            }
            continue
        routes[task] = route_json(task, usable, everything, router)
    events = [{"task": e.task, "message": e.text, "at": e.at} for e in router.events]
    privacy = {
        "mode": "local-only" if router.local_only else "default",
        "skippedProviders": router.skipped_for_privacy(),
    }
    return {"routes": routes, "providers": providers_json(router), "recentEvents": events, "privacy": privacy}


def status_text(status: dict[str, Any]) -> str:
    """A readable report for people (llm-lsp.showStatus)."""
    lines = ["llm-lsp status", "", "Providers:"]
    for p in status["providers"]:
        lat = f", p50 {p['latencyMs']:.0f} ms" if p.get("latencyMs") is not None else ""
        err = f" — {p['lastError']}" if p.get("lastError") else ""
        lines.append(f"  {p['id']} ({p['kind']}, {p['baseUrl']}): {p['status']}, {p['modelCount']} model(s){lat}{err}")
    lines += ["", "Routes:"]
    for task, r in status["routes"].items():
        others = [c["model"] for c in r["candidates"][1:4]]
        then = f" (then {', '.join(others)})" if others else ""
        lines.append(f"  {task}: {r['model'] or 'none'}{then}" + (f" — {r['error']}" if r.get("error") else ""))
    if status["recentEvents"]:
        lines += ["", "Recent:"] + [f"  {e['task']}: {e['message']}" for e in status["recentEvents"][-5:]]
    return "\n".join(lines)
