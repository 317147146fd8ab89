"""Completion benchmark for llm-lsp: the real server process against a loopback Ollama emulator.

    python bench/bench_completion.py [--bursts N] [--json FILE]

Prints figures (never pass/fail). See bench/README.md for what each figure means and how it is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ itself, also when imported as bench.*

import httpx
from harness import (
    RESPONSE,
    Doc,
    Sent,
    Session,
    TimedOllamaEmulator,
    init_options,
    pct,
    rss_kib,
    send_inline,
    server_session,
    server_source,
    settle,
)

from llm_lsp.completion.debounce import AdaptiveDebounce
from llm_lsp.config.model import CompletionConfig
from tests.emulators import Generation

FIRST_TOKEN_S = 0.050
TOKEN_S = 0.005
SLOTS = 1
KEY_GAP_S = 0.080
BURST_PAUSE_S = 0.300
HEADER = '"""A document the benchmark types into."""\nimport math\n'
LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass
class Figure:
    section: str
    name: str
    value: Any
    unit: str = ""
    target: str = ""
    key: str = ""

    def shown(self) -> str:
        v = self.value
        if v is None:
            return "n/a"
        if isinstance(v, float):
            text = f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"
        else:
            text = str(v)
        return f"{text} {self.unit}".rstrip()


def gens_since(emu: TimedOllamaEmulator, start: int) -> list[Generation]:
    return [g for g in emu.generations[start:] if g.path == "/api/generate"]


async def all_finished(emu: TimedOllamaEmulator, start: int, timeout: float = 5.0) -> bool:
    return await emu.wait_for_async(lambda: all(g.finished_at is not None for g in gens_since(emu, start)), timeout)


# ------------------------------------------------------------------------------------------- 1. bursts


async def bench_bursts(emu: TimedOllamaEmulator, bursts: int, keys: int) -> tuple[list[Figure], dict[str, Any]]:
    S = "1. bursts"
    start_gen = emu.generation_count
    burst_recs: list[list[Sent]] = []
    async with server_session(init_options(emu.url)) as s:
        doc = Doc(s.lc, "file:///bench/bursts.py", HEADER)
        for b in range(bursts):
            doc.append(f"\nvalue_{b} = ")  # a fresh line: a context the cache has never seen
            typed = (LETTERS[b % 26 :] + LETTERS)[:keys]
            recs: list[Sent] = []
            futs: list[asyncio.Future[Any]] = []
            t_next = time.monotonic()
            for ch in typed:
                delay = t_next - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                doc.append(ch)
                line, col = doc.end()
                rec, fut = send_inline(doc, line, col, automatic=True)  # not awaited: typing goes on
                recs.append(rec)
                futs.append(fut)
                t_next += KEY_GAP_S
            await settle(futs, timeout=10.0)
            burst_recs.append(recs)
            await asyncio.sleep(BURST_PAUSE_S)
        await all_finished(emu, start_gen)
        mem = rss_kib(s.pid)
        problems = s.problems()

    gens = gens_since(emu, start_gen)
    by_prefix: dict[str, tuple[int, int]] = {}
    for b, recs in enumerate(burst_recs):
        for k, r in enumerate(recs):
            by_prefix[r.prefix] = (b, k)
    gens_of: dict[tuple[int, int], list[Generation]] = {}
    unmatched = 0
    for g in gens:
        where = by_prefix.get((g.body or {}).get("prompt", ""))
        if where is None:
            unmatched += 1
        else:
            gens_of.setdefault(where, []).append(g)

    # Tokens written by superseded generations after the moment the superseding request was sent.
    superseded = [g for g in gens if not g.completed]
    after_supersession: list[int] = []
    for where, gs in gens_of.items():
        b, k = where
        nxt = burst_recs[b][k + 1].sent if k + 1 < len(burst_recs[b]) else None
        for g in gs:
            if not g.completed and nxt is not None:
                after_supersession.append(sum(1 for t in emu.times_of(g) if t > nxt))

    all_recs = [r for recs in burst_recs for r in recs]
    answered = sum(1 for r in all_recs if r.items is not None)
    errors = [r.error for r in all_recs if r.error]
    nonempty_early = sum(1 for recs in burst_recs for r in recs[:-1] if r.items)

    # Latency of the last keystroke of each burst, split at the moments the emulator saw the request.
    modelled = _model_debounce(burst_recs, gens_of, doc.uri)
    total, undebounced, before_backend, backend, last_nonempty = [], [], [], [], 0
    for b, recs in enumerate(burst_recs):
        last = recs[-1]
        if last.items:
            last_nonempty += 1
            if last.latency_ms is not None:
                total.append(last.latency_ms)
                if b < len(modelled):
                    undebounced.append(last.latency_ms - modelled[b])
        lg = [g for g in gens_of.get((b, len(recs) - 1), []) if g.completed and g.finished_at is not None]
        if lg and last.items:
            before_backend.append((lg[0].queued_at - last.sent) * 1000.0)
            backend.append((lg[0].finished_at - lg[0].queued_at) * 1000.0)  # type: ignore[operator]

    n_sent = len(all_recs)
    figs = [
        Figure(S, "typing", f"{bursts} bursts x {keys} keys, {KEY_GAP_S * 1000:.0f} ms apart"),
        Figure(S, "backend requests per burst", len(gens) / bursts, "", "<= 1.2", "backend_requests_per_burst"),
        Figure(S, "superseded generations (started, not finished)", len(superseded), "", "", "superseded_generations"),
        Figure(
            S,
            "tokens after disconnect (sum)",
            sum(g.tokens_after_disconnect for g in gens),
            "",
            "0",
            "tokens_after_disconnect",
        ),
        Figure(
            S,
            "tokens after supersession (sum / max per gen)",
            f"{sum(after_supersession)} / {max(after_supersession, default=0)}",
            "",
            "<= 1 per gen (in flight)",
            "tokens_after_supersession",
        ),
        Figure(S, "requests answered / sent", f"{answered} / {n_sent}", "", "all", "answered_of_sent"),
        Figure(S, "error answers", len(errors), "", "0", "errors"),
        Figure(S, "non-empty answers before a burst's last key", nonempty_early, "", "", "nonempty_before_last"),
        Figure(S, "bursts whose last key got a suggestion", f"{last_nonempty} / {bursts}", "", "all", "last_nonempty"),
        Figure(S, "last key -> suggestion p50", pct(total, 50), "ms", "", "last_key_latency_p50_ms"),
        Figure(S, "last key -> suggestion p99", pct(total, 99), "ms", "", "last_key_latency_p99_ms"),
        Figure(
            S,
            "  of which before the backend p50 / p99",
            _pair(pct(before_backend, 50), pct(before_backend, 99)),
            "ms",
            "",
            "before_backend_ms",
        ),
        Figure(
            S,
            "  server debounce (modelled) p50 / min-max",
            f"{_num(pct(modelled, 50))} / {_num(min(modelled, default=None))}-{_num(max(modelled, default=None))}",
            "ms",
            "",
            "debounce_modelled_ms",
        ),
        Figure(
            S,
            "  latency minus modelled debounce p50",
            pct(undebounced, 50),
            "ms",
            "",
            "latency_minus_debounce_p50_ms",
        ),
        Figure(
            S,
            "  backend (emulator) p50",
            pct(backend, 50),
            "ms",
            "",
            "backend_ms_p50",
        ),
        Figure(
            S,
            "server RSS after bursts (peak)",
            f"{mem.get('VmRSS', 0) / 1024:.1f} ({mem.get('VmHWM', 0) / 1024:.1f})",
            "MiB",
            "",
            "rss_mib",
        ),
    ]
    raw = {
        "generations": len(gens),
        "unmatched_generations": unmatched,
        "after_supersession": after_supersession,
        "last_key_latency_ms": total,
        "before_backend_ms": before_backend,
        "backend_ms": backend,
        "debounce_modelled_ms": modelled,
        "rss_kib": mem,
        "errors": errors[:10],
        "server_problems": problems[:20],
    }
    return figs, raw


def _model_debounce(
    burst_recs: list[list[Sent]], gens_of: dict[tuple[int, int], list[Generation]], uri: str
) -> list[float]:
    """The delay the server's adaptive debounce would apply at each burst's last key.

    Replays the server's own AdaptiveDebounce (its defaults, as the benchmark configures none) with the
    keystroke times as this client sent them and the backend time of each generation. The server sees
    each keystroke a little later than it was sent, so this is a model, not a reading of the server.
    """
    try:
        cfg = CompletionConfig()
        model = AdaptiveDebounce(min_ms=cfg.debounce_min_ms, max_ms=cfg.debounce_max_ms)
        out: list[float] = []
        for b, recs in enumerate(burst_recs):
            for r in recs:
                model.observe_keystroke(uri, now=r.sent)
            out.append(model.delay_ms())
            for k in range(len(recs)):
                for g in gens_of.get((b, k), []):
                    if g.finished_at is not None:
                        model.observe_latency((g.finished_at - g.queued_at) * 1000.0)
        return out
    except Exception as exc:  # the server's debounce changed shape: report n/a rather than fail
        print(f"bench: cannot model the debounce: {exc!r}", file=sys.stderr)
        return []


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f}" if abs(v) >= 10 else f"{v:.1f}"


def _pair(a: float | None, b: float | None) -> str:
    return f"{_num(a)} / {_num(b)}"


# ------------------------------------------------------------------ 1b. supersession in the middle of a stream


async def bench_supersede(emu: TimedOllamaEmulator, s: Session, reps: int) -> tuple[list[Figure], dict[str, Any]]:
    S = "1b. keystroke during a stream"
    doc = Doc(s.lc, "file:///bench/supersede.py", HEADER)
    after, after_disc, lag, ok = [], [], [], 0
    for r in range(reps):
        doc.append(f"\nlate_{r} = x")
        line, col = doc.end()
        first, f1 = send_inline(doc, line, col, automatic=False)

        def streaming(prefix: str = first.prefix) -> bool:
            return any((g.body or {}).get("prompt") == prefix and g.tokens_sent >= 3 for g in emu.generations)

        if not await emu.wait_for_async(streaming, 3.0):
            continue
        (g1,) = [g for g in emu.generations if (g.body or {}).get("prompt") == first.prefix]
        doc.append("y")
        line, col = doc.end()
        second, f2 = send_inline(doc, line, col, automatic=False)
        await settle([f1, f2], 5.0)
        await emu.wait_for_async(lambda g=g1: g.finished_at is not None, 2.0)
        after.append(sum(1 for t in emu.times_of(g1) if t > second.sent))
        after_disc.append(g1.tokens_after_disconnect)
        if g1.disconnected_at is not None:
            lag.append((g1.disconnected_at - second.sent) * 1000.0)
        if first.items == [] and second.items:
            ok += 1
    figs = [
        Figure(S, "repetitions (a key 3 tokens into a generation)", reps),
        Figure(S, "superseded answered empty, newer answered", f"{ok} / {reps}", "", "all", "supersede_ok"),
        Figure(
            S,
            "tokens after supersession (sum / max per gen)",
            f"{sum(after)} / {max(after, default=0)}",
            "",
            "<= 1 per gen (in flight)",
            "stream_tokens_after_supersession",
        ),
        Figure(S, "tokens after disconnect (sum)", sum(after_disc), "", "0", "stream_tokens_after_disconnect"),
        Figure(
            S,
            "new request sent -> backend sees disconnect p50 / p99",
            _pair(pct(lag, 50), pct(lag, 99)),
            "ms",
            "",
            "disconnect_lag_ms",
        ),
    ]
    return figs, {"after_supersession": after, "after_disconnect": after_disc, "disconnect_lag_ms": lag}


# ------------------------------------------------------------------------------ 2. server-added latency


@dataclass
class Timing:
    """One timed completion: total, request sent -> backend has read it, last token written -> answer (ms)."""

    total: float
    to_backend: float
    after_last_token: float


def _timing(emu: TimedOllamaEmulator, sent: float, answered: float) -> Timing:
    """Split one request at the moments the emulator recorded for the newest generation."""
    g = emu.generations[-1]
    times = emu.times_of(g)
    last = times[-1] if times else g.finished_at or answered
    return Timing((answered - sent) * 1000.0, (g.queued_at - sent) * 1000.0, (answered - last) * 1000.0)


async def _direct(emu: TimedOllamaEmulator, client: httpx.AsyncClient, body: dict[str, Any]) -> Timing:
    """A streaming POST to /api/generate, timed until the final NDJSON line (then drained for reuse)."""
    started = time.monotonic()
    finished = None
    async with client.stream("POST", emu.url + "/api/generate", json=body) as resp:
        async for line in resp.aiter_lines():
            if line.strip() and json.loads(line).get("done"):
                finished = time.monotonic()
        # the loop also read the end of the chunked body, so the connection goes back to the pool
    if finished is None:
        raise RuntimeError("the emulator's stream ended without a done line")
    return _timing(emu, started, finished)


async def _via_lsp(emu: TimedOllamaEmulator, doc: Doc, line: int, failures: list[str]) -> Timing | None:
    """An explicitly invoked inline completion at the end of ``line``, awaited."""
    rec, fut = send_inline(doc, line, len(doc.lines[line]), automatic=False)
    await settle([fut], 10.0)
    if not rec.items or rec.answered is None:
        failures.append(f"line {line}: {rec.error or rec.items}")
        return None
    return _timing(emu, rec.sent, rec.answered)


def _last_body(emu: TimedOllamaEmulator) -> dict[str, Any] | None:
    sent = emu.requests_to("/api/generate")
    return sent[-1].body if sent else None


async def bench_added_latency(
    emu: TimedOllamaEmulator, s: Session, n: int, warmup: int = 3
) -> tuple[list[Figure], dict[str, Any]]:
    S = "2. server-added latency"
    total = n + warmup
    doc = Doc(s.lc, "file:///bench/latency.py", "\n".join(f"item_{i} = " for i in range(total)) + "\n")
    pairs: list[tuple[Timing, Timing]] = []
    failures: list[str] = []
    conns_before = emu.connection_count
    async with httpx.AsyncClient(trust_env=False, timeout=10.0) as client:
        for i in range(total):  # alternate the order, so that neither side always goes first
            t_lsp = t_direct = None
            if i % 2 == 0:
                t_lsp = await _via_lsp(emu, doc, i, failures)
                body = _last_body(emu)  # the body the server just sent for this position
                if t_lsp is not None and body is not None:
                    t_direct = await _direct(emu, client, body)
            else:
                body = _last_body(emu)  # the same kind of body: the server's for the previous position
                if body is not None:
                    t_direct = await _direct(emu, client, body)
                t_lsp = await _via_lsp(emu, doc, i, failures)
            if i >= warmup and t_lsp is not None and t_direct is not None:
                pairs.append((t_lsp, t_direct))
    conns = emu.connection_count - conns_before - 1  # minus the direct client's own keep-alive connection

    def col(side: int, attr: str) -> list[float]:
        return [getattr(p[side], attr) for p in pairs]

    lsp, direct = col(0, "total"), col(1, "total")
    lp50, lp99, dp50, dp99 = pct(lsp, 50), pct(lsp, 99), pct(direct, 50), pct(direct, 99)
    added50 = None if lp50 is None or dp50 is None else lp50 - dp50
    added99 = None if lp99 is None or dp99 is None else lp99 - dp99
    paired = [p[0].total - p[1].total for p in pairs]
    figs = [
        Figure(S, "pairs measured (explicit trigger vs direct POST)", f"{len(pairs)} / {n}", "", "", "pairs"),
        Figure(S, "LSP end-to-end p50 / p99", _pair(lp50, lp99), "ms", "", "lsp_ms"),
        Figure(S, "direct /api/generate p50 / p99", _pair(dp50, dp99), "ms", "", "direct_ms"),
        Figure(S, "added p50 (LSP p50 - direct p50)", added50, "ms", "<= 3 ms", "added_p50_ms"),
        Figure(S, "added p99 (LSP p99 - direct p99)", added99, "ms", "", "added_p99_ms"),
        Figure(
            S,
            "paired difference (LSP - direct) p50 / p99",
            _pair(pct(paired, 50), pct(paired, 99)),
            "ms",
            "",
            "paired_ms",
        ),
        Figure(S, "ratio p50 (LSP / direct)", lp50 / dp50 if lp50 and dp50 else None, "x", "", "ratio_p50"),
        Figure(
            S,
            "  request sent -> backend has it p50: LSP / direct",
            _pair(pct(col(0, "to_backend"), 50), pct(col(1, "to_backend"), 50)),
            "ms",
            "",
            "to_backend_ms",
        ),
        Figure(
            S,
            "  last token written -> answer p50: LSP / direct",
            _pair(pct(col(0, "after_last_token"), 50), pct(col(1, "after_last_token"), 50)),
            "ms",
            "",
            "after_last_token_ms",
        ),
        Figure(
            S,
            "server's new backend connections per request",
            conns / total,
            "",
            "",
            "server_connections_per_request",
        ),
    ]
    raw = {
        "lsp": [vars(p[0]) for p in pairs],
        "direct": [vars(p[1]) for p in pairs],
        "server_connections": conns,
        "lsp_requests": total,
        "failures": failures[:10],
    }
    return figs, raw


# --------------------------------------------------------------------------------- 3. cache on retype


async def bench_cache(emu: TimedOllamaEmulator, s: Session, m: int) -> tuple[list[Figure], dict[str, Any]]:
    S = "3. cache on retype"
    doc = Doc(s.lc, "file:///bench/cache.py", "\n".join(f"entry_{i} = total_" for i in range(m)) + "\n")
    hits, retypes, hit_ms, miss_ms = 0, 0, [], []
    for i in range(m):
        line, col = i, len(doc.lines[i])
        rec, fut = send_inline(doc, line, col, automatic=False)
        await settle([fut], 10.0)
        if not rec.items:
            continue
        if rec.latency_ms is not None:
            miss_ms.append(rec.latency_ms)
        for step in ("again", "retype"):
            if step == "retype":
                ch = doc.lines[line][col - 1]
                doc.edit(line, col - 1, col, "")
                doc.edit(line, col - 1, col - 1, ch)
            before = emu.generation_count
            again, fut = send_inline(doc, line, col, automatic=step == "retype")
            await settle([fut], 10.0)
            retypes += 1
            if again.items == rec.items and emu.generation_count == before:
                hits += 1
                if again.latency_ms is not None:
                    hit_ms.append(again.latency_ms)
    figs = [
        Figure(S, "positions (request, repeat, delete+retype)", m),
        Figure(S, "cache hits / repeat requests", f"{hits} / {retypes}", "", "100%", "cache_hits"),
        Figure(S, "hit rate", 100.0 * hits / retypes if retypes else None, "%", "100%", "cache_hit_rate"),
        Figure(S, "cache hit latency p50 / p99", _pair(pct(hit_ms, 50), pct(hit_ms, 99)), "ms", "", "hit_ms"),
        Figure(S, "cache miss latency p50 (for contrast)", pct(miss_ms, 50), "ms", "", "miss_ms_p50"),
    ]
    return figs, {"hit_ms": hit_ms, "miss_ms": miss_ms}


# -------------------------------------------------------------------------------------- 4. cold start


async def bench_cold_start(emu: TimedOllamaEmulator, starts: int) -> tuple[list[Figure], dict[str, Any]]:
    S = "4. cold start"
    times = []
    for _ in range(starts):
        async with server_session(init_options(emu.url)) as s:
            times.append(s.init_s * 1000.0)
    figs = [
        Figure(
            S,
            f"spawn -> initialize response, median of {starts}",
            statistics.median(times) if times else None,
            "ms",
            "",
            "cold_start_ms",
        ),
        Figure(S, "  min / max", _pair(min(times, default=None), max(times, default=None)), "ms", "", ""),
    ]
    return figs, {"cold_start_ms": times}


# ------------------------------------------------------------------------------------------------ main


def loadavg() -> str:
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def machine() -> dict[str, Any]:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 0
    return {
        "nproc": cpus,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pygls": metadata.version("pygls"),
        "llm_lsp": metadata.version("llm-lsp"),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "server": server_source(),
        "loadavg_before": loadavg(),
    }


def table(figs: list[Figure], info: dict[str, Any], elapsed: float) -> str:
    w_name = max(len(f.name) for f in figs)
    w_val = max(len(f.shown()) for f in figs)
    lines = [
        f"llm-lsp completion benchmark · nproc {info['nproc']} · Python {info['python']} · pygls {info['pygls']}"
        f" · {info['platform']}",
        f"backend: Ollama emulator, first token {FIRST_TOKEN_S * 1000:.0f} ms, {TOKEN_S * 1000:.0f} ms/token, "
        f"{SLOTS} slot, {len(RESPONSE)} chars / 20 tokens · run took {elapsed:.0f} s",
        f"server: {info['server'].get('path', '?')} at {info['server'].get('commit', 'no git commit')}",
        f"load average (1/5/15 min) before: {info['loadavg_before']}, after: {info.get('loadavg_after', '?')}"
        " (other work on the machine makes every figure noisier)",
        "",
        f"{'figure':<{w_name}}  {'value':>{w_val}}  target",
    ]
    section = None
    for f in figs:
        if f.section != section:
            section = f.section
            lines.append(f"-- {section}")
        lines.append(f"{f.name:<{w_name}}  {f.shown():>{w_val}}  {f.target}".rstrip())
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> tuple[list[Figure], dict[str, Any]]:
    figs: list[Figure] = []
    raw: dict[str, Any] = {}
    with TimedOllamaEmulator() as emu:
        emu.script(first_token_delay=FIRST_TOKEN_S, token_delay=TOKEN_S, slots=SLOTS, text=RESPONSE)
        f, raw["bursts"] = await bench_bursts(emu, args.bursts, args.keys)
        figs += f
        async with server_session(init_options(emu.url)) as s:
            f, raw["supersede"] = await bench_supersede(emu, s, args.supersede)
            figs += f
            f, raw["latency"] = await bench_added_latency(emu, s, args.requests)
            figs += f
            f, raw["cache"] = await bench_cache(emu, s, args.positions)
            figs += f
            raw["server_problems"] = s.problems()[:20]
        f, raw["cold"] = await bench_cold_start(emu, args.starts)
        figs += f
        raw["emulator_errors"] = emu.server_errors[:5]
    return figs, raw


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bursts", type=int, default=20, help="typing bursts (default 20)")
    p.add_argument("--keys", type=int, default=10, help="keystrokes per burst (default 10)")
    p.add_argument("--supersede", type=int, default=20, help="keystrokes in the middle of a stream (default 20)")
    p.add_argument("--requests", type=int, default=50, help="explicit requests vs direct POSTs (default 50)")
    p.add_argument("--positions", type=int, default=20, help="positions for the cache scenario (default 20)")
    p.add_argument("--starts", type=int, default=5, help="cold starts (default 5)")
    p.add_argument("--json", metavar="FILE", help="also write the figures (and raw samples) as JSON")
    args = p.parse_args(argv)
    for name in ("bursts", "keys", "supersede", "requests", "positions", "starts"):
        if not 1 <= getattr(args, name) <= 1000:
            p.error(f"--{name} must be between 1 and 1000")

    logging.getLogger("pygls").setLevel(logging.ERROR)  # e.g. "Ignoring notification for unknown method"
    info = machine()
    started = time.monotonic()
    figs, raw = asyncio.run(run(args))
    elapsed = time.monotonic() - started
    info["loadavg_after"] = loadavg()
    print(table(figs, info, elapsed))
    problems = raw.get("server_problems") or []
    if problems or raw["bursts"].get("server_problems") or raw.get("emulator_errors"):
        print("\nreported by the server or the emulator during the run:")
        for line in [*raw["bursts"].get("server_problems", []), *problems, *raw.get("emulator_errors", [])][:10]:
            print(f"  {line[:200]}")
    if args.json:
        out = {
            "machine": info,
            "elapsed_s": round(elapsed, 1),
            "setup": {
                "first_token_ms": FIRST_TOKEN_S * 1000,
                "token_ms": TOKEN_S * 1000,
                "slots": SLOTS,
                "response": RESPONSE,
                "key_gap_ms": KEY_GAP_S * 1000,
                "burst_pause_ms": BURST_PAUSE_S * 1000,
                **{k: getattr(args, k) for k in ("bursts", "keys", "supersede", "requests", "positions", "starts")},
            },
            "figures": [
                {
                    "section": f.section,
                    "name": f.name,
                    "key": f.key,
                    "value": f.value,
                    "unit": f.unit,
                    "target": f.target,
                }
                for f in figs
            ],
            "raw": raw,
        }
        Path(args.json).write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
