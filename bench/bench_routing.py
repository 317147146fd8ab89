"""What a dead model server costs per keystroke once the router has marked it unavailable.

Runs the real llm-lsp process twice against loopback servers: (1) only a healthy Ollama emulator; (2) a dead
port as the first completion candidate and the same healthy emulator as fallback. Prints latency of explicit
inline completions (no debounce, distinct positions, so no cache hits) in both runs and their ratio.

    python bench/bench_routing.py [--requests 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lsprotocol import types

from tests.e2e.conftest import dead_port, inline, lsp, open_doc
from tests.emulators import OllamaEmulator


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(emu: OllamaEmulator, with_dead: bool, n: int) -> tuple[float, list[float]]:
    providers: dict[str, object] = {"lmstudio": {"enabled": False}, "backup": {"kind": "ollama", "baseUrl": emu.url}}
    routes = ["backup/qwen2.5-coder:1.5b"]
    if with_dead:
        providers["ollama"] = {"baseUrl": f"http://127.0.0.1:{dead_port()}"}
        routes.insert(0, "ollama/qwen2.5-coder:1.5b")
    else:
        providers["ollama"] = {"enabled": False}
    opts = {"completion": {"multiline": "never"}, "routes": {"completion": routes}, "providers": providers}
    lines = [f"v{i} = " for i in range(n + 1)]
    text = "\n".join(lines)
    async with lsp(opts) as lc:
        uri = open_doc(lc, text)
        await asyncio.sleep(1.5)  # let start-up discovery and the first probes settle
        started = time.perf_counter()
        await inline(lc, uri, types.Position(line=0, character=len(lines[0])))
        first = (time.perf_counter() - started) * 1000
        times = []
        for i in range(1, n + 1):
            started = time.perf_counter()
            result = await inline(lc, uri, types.Position(line=i, character=len(lines[i])))
            times.append((time.perf_counter() - started) * 1000)
            assert result is not None and result.items, "no suggestion"
    return first, times


async def recovery(rounds: int) -> list[tuple[float, float]]:
    """Kill the preferred server mid-session, then restart it: how long until a completion comes from the
    fallback (after the kill) and from the preferred server again (after the restart)."""
    out = []
    with OllamaEmulator() as first, OllamaEmulator() as backup:
        first.response_text, backup.response_text = "from_first", "from_backup"
        opts = {
            "completion": {"multiline": "never"},
            "routes": {"completion": ["ollama/qwen2.5-coder:1.5b", "backup/qwen2.5-coder:1.5b"]},
            "providers": {
                "lmstudio": {"enabled": False},
                "ollama": {"baseUrl": first.url},
                "backup": {"kind": "ollama", "baseUrl": backup.url},
            },
        }
        lines = [f"w{i} = " for i in range(2000)]
        async with lsp(opts) as lc:
            uri = open_doc(lc, "\n".join(lines))
            n = 0

            async def ask() -> str:
                nonlocal n
                n += 1
                result = await inline(lc, uri, types.Position(line=n, character=len(lines[n])))
                return str(result.items[0].insert_text) if result and result.items else ""

            assert await ask() == "from_first"
            for _ in range(rounds):
                first.stop()
                started = time.perf_counter()
                while await ask() != "from_backup":
                    pass
                failover = (time.perf_counter() - started) * 1000
                await asyncio.sleep(1.0)  # it is marked unavailable and re-probed with backoff meanwhile
                first.start()
                started = time.perf_counter()
                while await ask() != "from_first" and time.perf_counter() - started < 30:
                    await asyncio.sleep(0.05)
                out.append((failover, (time.perf_counter() - started) * 1000))
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with OllamaEmulator() as emu:
        emu.response_text = "compute()"
        base_first, base = await run(emu, False, args.requests)
        generations_before = emu.generation_count
        dead_first, dead = await run(emu, True, args.requests)
        served = emu.generation_count - generations_before
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}; {args.requests} requests per run")
    print(f"{'figure':<52}{'healthy only':>14}{'dead first':>14}{'ratio':>8}")
    for name, a, b in (
        ("first request after start-up (ms)", base_first, dead_first),
        ("p50 per request (ms)", statistics.median(base), statistics.median(dead)),
        ("p99 per request (ms)", pct(base, 0.99), pct(dead, 0.99)),
    ):
        print(f"{name:<52}{a:>14.2f}{b:>14.2f}{b / a:>8.2f}")
    print(f"requests served by the fallback in the dead-first run: {served} of {args.requests + 1}")
    rounds = await recovery(args.rounds)
    for i, (failover, back) in enumerate(rounds, 1):
        print(
            f"kill/restart round {i}: kill -> served by the fallback {failover:.1f} ms (the same request); "
            f"restart -> preferred server serves again {back:.0f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
