"""The commands for people: `llm-lsp complete` and `llm-lsp models`, against the emulators."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import clean_env


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llm_lsp", *args], capture_output=True, text=True, timeout=60, env=env or clean_env()
    )


def test_complete_prints_the_suggestion_with_flags(ollama, tmp_path):
    src = tmp_path / "demo.py"
    src.write_text("def add(a, b):\n    \n\nprint(add(1, 2))\n")
    ollama.response_text = "return a + b"
    env = clean_env(LM_STUDIO_BASE_URL="http://127.0.0.1:9")  # dead: must not matter with an explicit model
    r = run(
        "complete",
        f"{src}:2:5",
        "--provider",
        "ollama",
        "--base-url",
        ollama.url,
        "--model",
        "qwen2.5-coder:1.5b",
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "return a + b\n"
    assert "ollama/qwen2.5-coder:1.5b" in r.stderr
    body = ollama.requests_to("/api/generate")[0].body
    assert body["prompt"] == "def add(a, b):\n    " and body["suffix"] == "\n\nprint(add(1, 2))\n"


def test_complete_uses_environment_habits(ollama, tmp_path):
    src = tmp_path / "x.py"
    src.write_text("x = \n")
    ollama.response_text = "1"
    env = clean_env(OLLAMA_HOST=ollama.url, OLLAMA_MODEL="qwen2.5-coder:1.5b", LMSTUDIO_ENDPOINT="http://127.0.0.1:9")
    r = run("complete", f"{src}:1:5", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["text"] == "1"


def test_complete_reports_a_dead_server_clearly(tmp_path):
    src = tmp_path / "x.py"
    src.write_text("x = \n")
    r = run("complete", f"{src}:1:5", "--base-url", "http://127.0.0.1:9", "--model", "ollama/m")
    assert r.returncode == 2
    assert "cannot reach Ollama at http://127.0.0.1:9" in r.stderr
    assert "Traceback" not in r.stderr


def test_complete_rejects_a_bad_position(tmp_path):
    src = tmp_path / "x.py"
    src.write_text("x = \n")
    r = run("complete", f"{src}:9:1", "--model", "ollama/m")
    assert r.returncode == 2 and "past the end" in r.stderr
    r = run("complete", "nowhere")
    assert r.returncode != 0 and "FILE:LINE:COL" in r.stderr


def test_models_lists_every_provider_with_capabilities(ollama, lmstudio):
    env = clean_env(OLLAMA_HOST=ollama.url, LM_STUDIO_BASE_URL=lmstudio.url)
    r = run("models", "--json", env=env)
    assert r.returncode == 0, r.stderr
    models = {m["id"]: m for m in json.loads(r.stdout)}
    qwen = models["ollama/qwen2.5-coder:1.5b"]
    assert {"fim", "completion", "chat"} <= set(qwen["capabilities"]) and qwen["contextLength"] == 32768
    assert "fim" not in models["ollama/llama3.2:1b"]["capabilities"]
    assert models["ollama/nomic-embed-text:latest"]["capabilities"] == ["embedding"]
    lms = models["lmstudio/qwen2.5-coder-1.5b-instruct"]
    assert lms["loaded"] is True and "fim" in lms["capabilities"]
    assert models["lmstudio/text-embedding-nomic-embed-text-v1.5"]["capabilities"] == ["embedding"]

    r = run("models", "--capability", "fim", env=env)
    assert r.returncode == 0
    assert "ollama/qwen2.5-coder:1.5b" in r.stdout and "llama3.2" not in r.stdout


def test_models_with_nothing_running_says_so():
    env = clean_env(OLLAMA_HOST="127.0.0.1:9", LM_STUDIO_BASE_URL="http://127.0.0.1:9")
    r = run("models", env=env)
    assert r.returncode == 1
    assert "no models found" in r.stderr


def test_config_shows_every_value_with_its_origin(tmp_path):
    user = tmp_path / "user.toml"
    user.write_text('[completion]\nmax_tokens = 64\n[providers.ollama]\nbaseUrl = "http://127.0.0.1:1"\n')
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".llm-lsp.toml").write_text("[completion]\ntemperature = 0.4\ndebounceMs = -1\n")
    env = clean_env(LLM_LSP_CONFIG=str(user), OLLAMA_MODEL="qwen2.5-coder:1.5b")
    r = run("config", "--folder", str(repo), "--json", env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["settings"]["completion.maxTokens"] == 64 and out["origins"]["completion.maxTokens"] == str(user)
    assert out["settings"]["completion.temperature"] == 0.4
    assert out["origins"]["completion.temperature"] == str(repo / ".llm-lsp.toml")
    assert out["origins"]["completion.model"] == "environment"
    assert out["origins"]["completion.cacheSize"] == "default"
    assert any(".llm-lsp.toml:3 completion.debounceMs" in p for p in out["problems"])
    assert out["trusted"] is False
    r = run("config", "--folder", str(repo), "--model", "ollama/x", env=env)
    assert r.returncode == 0
    assert "command line" in r.stdout and "completion.model" in r.stdout


def test_schema_matches_the_shipped_file():
    r = run("schema")
    assert r.returncode == 0
    shipped = json.loads((Path(__file__).parents[2] / "editors" / "llm-lsp.schema.json").read_text())
    assert json.loads(r.stdout) == shipped, "run: llm-lsp schema > editors/llm-lsp.schema.json"
    assert "completion" in shipped["properties"] and "trustedFolders" in shipped["properties"]
