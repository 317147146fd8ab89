"""Benchmark plumbing: a token-timing Ollama emulator, the real server process, a mirrored document, statistics.

Everything here talks to 127.0.0.1 only, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/bench_completion.py` puts bench/, not the repo, on sys.path
    sys.path.append(str(ROOT))  # appended: a checkout put first on PYTHONPATH wins (see README)

from lsprotocol import types  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities  # noqa: E402

from tests.emulators import Generation, OllamaEmulator  # noqa: E402

MODEL = "qwen2.5-coder:1.5b"
# 20 tokens for the emulator's tokenizer (words, punctuation and whitespace runs are one token each).
RESPONSE = "compute_total(alpha, beta, gamma) + offset * 2"

# Variables from the developer's own setup must not reach the server under test.
_SCRUB = ("OLLAMA_", "LM_STUDIO_", "LMSTUDIO_", "LM_API_TOKEN", "OPENAI_", "LLAMA_API_KEY")


class TimedOllamaEmulator(OllamaEmulator):
    """The Ollama emulator, also recording when each streamed token was written (``time.monotonic()``).

    The emulator runs in a thread of this process, so its clock is the benchmark's clock.
    """

    def __init__(self) -> None:
        self.token_times: dict[int, list[float]] = {}
        super().__init__()

    def _count_token(self, gen: Generation) -> None:
        super()._count_token(gen)
        self.token_times.setdefault(id(gen), []).append(time.monotonic())

    def times_of(self, gen: Generation) -> list[float]:
        return list(self.token_times.get(id(gen), ()))

    def script(self, *, first_token_delay: float, token_delay: float, slots: int, text: str) -> None:
        self.first_token_delay = first_token_delay
        self.token_delay = token_delay
        self.slots = slots
        self.response_text = text


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    if env.get("PYTHONPATH"):
        # `python -m` would put the working directory first and could shadow the checkout on PYTHONPATH.
        env["PYTHONSAFEPATH"] = "1"
    return env


def server_source() -> dict[str, str]:
    """Which llm_lsp the server process imports (asked with its own interpreter and environment), and its commit."""
    info: dict[str, str] = {}
    try:
        out = subprocess.run(
            [sys.executable, "-c", "import llm_lsp, os; print(os.path.dirname(llm_lsp.__file__))"],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        pkg = out.stdout.strip()
        info["path"] = pkg
        head = subprocess.run(
            ["git", "-C", pkg, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode == 0:
            dirty = subprocess.run(
                ["git", "-C", pkg, "status", "--porcelain", "--", "."], capture_output=True, text=True, timeout=10
            )
            info["commit"] = head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError) as exc:
        info["error"] = str(exc)
    return info


def init_options(emulator_url: str, **completion: Any) -> dict[str, Any]:
    """Only the emulator as provider (the built-in defaults switched off), the model pinned."""
    return {
        "completion": {"model": f"ollama/{MODEL}", **completion},
        "providers": {"ollama": {"baseUrl": emulator_url}, "lmstudio": {"enabled": False}},
    }


@dataclass
class Session:
    lc: LanguageClient
    pid: int
    init_s: float  # spawn -> initialize response
    stderr: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Warnings and errors the server reported (showMessage, logMessage, stderr)."""
        out = [f"showMessage: {m.message}" for m in self.lc.messages]
        out += [
            f"logMessage: {m.message}"
            for m in self.lc.log_messages
            if m.type in (types.MessageType.Error, types.MessageType.Warning)
        ]
        out += [f"stderr: {line}" for line in self.stderr if " WARNING " in line or " ERROR " in line]
        return out


async def _drain(stream: asyncio.StreamReader | None, into: list[str], limit: int = 2000) -> None:
    """Read the server's stderr (so its pipe never fills) and keep the first lines."""
    if stream is None:
        return
    for _ in range(1_000_000):
        line = await stream.readline()
        if not line:
            return
        if len(into) < limit:
            into.append(line.decode("utf-8", "replace").rstrip())


@contextlib.asynccontextmanager
async def server_session(opts: dict[str, Any], *, timeout: float = 30.0) -> AsyncIterator[Session]:
    """Spawn ``python -m llm_lsp`` and initialize it like tests/e2e/conftest.py; always shut it down."""
    started = time.monotonic()
    config = ClientServerConfig(server_command=[sys.executable, "-m", "llm_lsp"], server_env=clean_env())
    lc = await asyncio.wait_for(config.start(), timeout)
    proc: asyncio.subprocess.Process = lc._server  # type: ignore[attr-defined,assignment]
    forwarder = getattr(lc, "_stderr_forwarder", None)
    if forwarder is not None:  # pytest-lsp copies the server's stderr to ours; keep it instead
        forwarder.cancel()
    lines: list[str] = []
    drain = asyncio.ensure_future(_drain(proc.stderr, lines))
    try:
        params = types.InitializeParams(capabilities=client_capabilities("neovim"), initialization_options=opts)
        await asyncio.wait_for(lc.initialize_session(params), timeout)
        session = Session(lc, proc.pid, time.monotonic() - started, lines)
        yield session
    finally:
        try:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(lc.shutdown_session(), 10)
            await asyncio.wait_for(lc.stop(), 10)
        except (asyncio.TimeoutError, Exception):
            if proc.returncode is None:
                proc.kill()  # only the process this function started
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(proc.wait(), 5)
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await drain


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB, from /proc."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


class Doc:
    """A document open in the server, mirrored here; edits are sent as incremental changes (ASCII only)."""

    def __init__(self, lc: LanguageClient, uri: str, text: str) -> None:
        self.lc = lc
        self.uri = uri
        self.lines = text.split("\n")
        self.version = 1
        lc.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
            )
        )

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def end(self) -> tuple[int, int]:
        return len(self.lines) - 1, len(self.lines[-1])

    def prefix_at(self, line: int, col: int) -> str:
        return "\n".join([*self.lines[:line], self.lines[line][:col]])

    def edit(self, line: int, start: int, end: int, new: str) -> None:
        """Replace characters start..end of ``line`` with ``new`` (which may contain newlines)."""
        old = self.lines[line]
        self.lines[line : line + 1] = (old[:start] + new + old[end:]).split("\n")
        self.version += 1
        rng = types.Range(start=types.Position(line, start), end=types.Position(line, end))
        self.lc.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
                content_changes=[types.TextDocumentContentChangePartial(range=rng, text=new)],
            )
        )

    def append(self, new: str) -> None:
        line, col = self.end()
        self.edit(line, col, col, new)


@dataclass
class Sent:
    """One inlineCompletion request: when it left, when its answer arrived, what the answer was."""

    sent: float
    line: int
    col: int
    prefix: str
    answered: float | None = None
    items: list[str] | None = None  # None until answered (or on error)
    error: str | None = None

    @property
    def latency_ms(self) -> float | None:
        return None if self.answered is None else (self.answered - self.sent) * 1000.0


def send_inline(doc: Doc, line: int, col: int, *, automatic: bool) -> tuple[Sent, asyncio.Future[Any]]:
    """Send textDocument/inlineCompletion now (written to the server's stdin before returning)."""
    kind = types.InlineCompletionTriggerKind.Automatic if automatic else types.InlineCompletionTriggerKind.Invoked
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=doc.uri),
        position=types.Position(line, col),
        context=types.InlineCompletionContext(trigger_kind=kind),
    )
    rec = Sent(time.monotonic(), line, col, doc.prefix_at(line, col))
    fut: Future[Any] = doc.lc.protocol.send_request(types.TEXT_DOCUMENT_INLINE_COMPLETION, params)

    def done(f: Future[Any]) -> None:
        rec.answered = time.monotonic()
        exc = f.exception()
        if exc is not None:
            rec.error = f"{type(exc).__name__}: {exc}"
            return
        result = f.result()
        items = result.items if isinstance(result, types.InlineCompletionList) else (result or [])
        rec.items = [str(i.insert_text) for i in items]

    fut.add_done_callback(done)
    return rec, asyncio.wrap_future(fut)


async def settle(futures: Sequence[asyncio.Future[Any]], timeout: float) -> None:
    """Wait (bounded) until every request is answered; errors are kept in the Sent records."""
    if futures:
        await asyncio.wait(list(futures), timeout=timeout)


def pct(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p99 of fewer than 100 samples is the maximum)."""
    if not values:
        return None
    xs = sorted(values)
    return xs[max(0, min(len(xs) - 1, math.ceil(p / 100.0 * len(xs)) - 1))]
