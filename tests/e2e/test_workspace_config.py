"""Workspace configuration end to end: per-folder files, live reload, validation, privacy, excludes, redaction, trust."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from llm_lsp.features.models import plain
from tests.e2e.conftest import clean_env, end_of, inline, lsp, open_doc, texts
from tests.emulators import OllamaEmulator, OpenAICompatEmulator

SRC = "x = "


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


async def eventually(predicate, timeout: float = 8.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    return False


def base_opts() -> dict[str, Any]:
    # initializationOptions outrank the workspace file, so they leave providers.ollama to it.
    return {"providers": {"lmstudio": {"enabled": False}}}


@pytest.fixture
def two():
    a, b = OllamaEmulator(), OllamaEmulator()
    a.start(), b.start()
    a.response_text, b.response_text = "from_a", "from_b"
    yield a, b
    a.stop(), b.stop()


async def test_each_folder_uses_its_own_file(two, tmp_path):
    a, b = two
    fa = write(
        tmp_path / "a" / ".llm-lsp.toml",
        f'[completion]\nmodel = "ollama/qwen2.5-coder:1.5b"\n'
        f'[providers.ollama]\nenabled = true\nbase_url = "{a.url}"\n',
    )
    fb = write(
        tmp_path / "b" / ".llm-lsp.toml",
        f'[completion]\nmodel = "mine/qwen2.5-coder:1.5b"\n[providers.mine]\nkind = "ollama"\nbaseUrl = "{b.url}"\n',
    )
    async with lsp(base_opts(), folders=[str(fa.parent), str(fb.parent)]) as lc:
        ua = open_doc(lc, SRC, uri=(fa.parent / "main.py").as_uri())
        ub = open_doc(lc, SRC, uri=(fb.parent / "main.py").as_uri())
        assert texts(await inline(lc, ua, end_of(SRC))) == ["from_a"]
        assert texts(await inline(lc, ub, end_of(SRC))) == ["from_b"]
        status_b = plain(await lc.protocol.send_request_async("llm-lsp/status", {"textDocument": {"uri": ub}}))
        assert status_b["routes"]["completion"]["model"] == "mine/qwen2.5-coder:1.5b"
        assert lc.messages == []


async def test_live_reload_from_an_edited_file_with_polling_and_watching(two, tmp_path):
    a, b = two
    folder = tmp_path / "w"
    cfg = write(
        folder / ".llm-lsp.toml",
        f'[completion]\nmodel = "ollama/qwen2.5-coder:1.5b"\n[providers.ollama]\nenabled = true\nbaseUrl = "{a.url}"\n',
    )
    # Neovim 0.11 cannot watch files for a server: llm-lsp polls. Emacs registers a watcher: llm-lsp is told.
    for client in ("neovim", "emacs"):
        write(cfg, cfg.read_text().replace(b.url, a.url))
        async with lsp(base_opts(), folders=[str(folder)], client=client) as lc:
            uri = open_doc(lc, SRC, uri=(folder / "m.py").as_uri())
            assert texts(await inline(lc, uri, end_of(SRC))) == ["from_a"]
            write(cfg, cfg.read_text().replace(a.url, b.url))
            if client == "emacs":
                lc.workspace_did_change_watched_files(
                    types.DidChangeWatchedFilesParams(
                        changes=[types.FileEvent(uri=cfg.as_uri(), type=types.FileChangeType.Changed)]
                    )
                )

            async def served_by_b(uri: str = uri) -> bool:
                lc.text_document_did_change(
                    types.DidChangeTextDocumentParams(
                        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=int(time.time())),
                        content_changes=[types.TextDocumentContentChangeWholeDocument(text=SRC + " " * 3)],
                    )
                )
                return texts(await inline(lc, uri, end_of(SRC + " " * 3))) == ["from_b"]

            assert await eventually(served_by_b), client
            assert "configuration reloaded" in "\n".join(m.message for m in lc.log_messages)


async def test_a_broken_file_names_file_line_and_key_and_the_rest_keeps_working(two, tmp_path):
    a, _ = two
    folder = tmp_path / "w"
    cfg = write(
        folder / ".llm-lsp.toml",
        "\n".join(
            [
                "# project settings",
                "[completion]",
                'model = "ollama/qwen2.5-coder:1.5b"',
                "debounce_ms = -5",
                "max_tokenz = 12",
                "[providers.ollama]",
                "enabled = true",
                f'baseUrl = "{a.url}"',
            ]
        )
        + "\n",
    )
    async with lsp(base_opts(), folders=[str(folder)]) as lc:
        uri = open_doc(lc, SRC, uri=(folder / "m.py").as_uri())
        assert texts(await inline(lc, uri, end_of(SRC))) == ["from_a"]
        shown = "\n".join(m.message for m in lc.messages)
        assert f"{cfg}:4 completion.debounceMs: Input should be greater than or equal to 0" in shown
        assert f"{cfg}:5 completion.maxTokenz: unknown key; did you mean 'maxTokens'?" in shown

        # Open in the editor: the same problems arrive as diagnostics on their lines.
        lc.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=cfg.as_uri(), language_id="toml", version=1, text=cfg.read_text()
                )
            )
        )
        await lc.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        diags = lc.diagnostics[cfg.as_uri()]
        assert {d.range.start.line for d in diags} == {3, 4}

        # A syntax error: reported with its line, and the last good content stays in force.
        write(cfg, cfg.read_text() + "[completion\n")
        lc.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=cfg.as_uri()))
        )

        async def syntax_reported() -> bool:
            return any("syntax error" in m.message and str(cfg) in m.message for m in lc.messages)

        assert await eventually(syntax_reported, 4)
        assert texts(await inline(lc, uri, end_of(SRC))) == ["from_a"]


async def test_local_only_folder_sends_nothing_to_a_cloud_provider(tmp_path):
    with OllamaEmulator() as local, OpenAICompatEmulator() as cloud:
        local.response_text, cloud.response_text = "from_local", "from_cloud"
        user = write(
            tmp_path / "user.toml",
            "\n".join(
                [
                    "[routes]",
                    'completion = ["cloud/gpt-4o-mini", "ollama/qwen2.5-coder:1.5b"]',
                    "[providers.cloud]",
                    'kind = "openai"',
                    f'baseUrl = "{cloud.url}/v1"',
                    "local = false  # a tunnel to a cloud service: treat as remote",
                    'fimMode = "chat"',
                    "[providers.ollama]",
                    f'baseUrl = "{local.url}"',
                ]
            )
            + "\n",
        )
        private = write(tmp_path / "private" / ".llm-lsp.toml", '[privacy]\nmode = "local-only"\n')
        public = tmp_path / "public"
        public.mkdir()
        env = clean_env(LLM_LSP_CONFIG=str(user))
        opts = {"providers": {"lmstudio": {"enabled": False}}}
        async with lsp(opts, folders=[str(private.parent)], env=env) as lc:
            up = open_doc(lc, SRC, uri=(private.parent / "m.py").as_uri())
            assert texts(await inline(lc, up, end_of(SRC))) == ["from_local"]
            status = plain(await lc.protocol.send_request_async("llm-lsp/status", {"textDocument": {"uri": up}}))
            assert status["privacy"] == {"mode": "local-only", "skippedProviders": ["cloud"]}
            cloud_entry = next(p for p in status["providers"] if p["id"] == "cloud")
            assert "local-only" in cloud_entry["skipped"]
            await asyncio.sleep(0.5)  # background discovery and probes had time to run
        # Nothing reached the cloud provider: no completion, not even a model listing.
        assert cloud.requests == []
        # A folder that is not local-only, with the same user configuration: the cloud provider serves it.
        async with lsp(opts, folders=[str(public)], env=env) as lc:
            uq = open_doc(lc, SRC, uri=(public / "m.py").as_uri())
            assert texts(await inline(lc, uq, end_of(SRC))) == ["from_cloud"]


async def test_excluded_files_are_never_sent(two, tmp_path):
    a, _ = two
    folder = tmp_path / "w"
    write(
        folder / ".llm-lsp.toml",
        f'exclude = ["*.secret.py"]\n[completion]\nmodel = "ollama/qwen2.5-coder:1.5b"\n'
        f'[providers.ollama]\nenabled = true\nbaseUrl = "{a.url}"\n',
    )
    async with lsp(base_opts(), folders=[str(folder)]) as lc:
        for name in (".env", "secrets/db.py", "keys/server.pem", "conf.secret.py"):
            uri = open_doc(lc, "API_KEY=", uri=(folder / name).as_uri())
            assert texts(await inline(lc, uri, end_of("API_KEY="))) == []
        assert a.requests_to("/api/generate") == []
        uri = open_doc(lc, SRC, uri=(folder / "ok.py").as_uri())
        assert texts(await inline(lc, uri, end_of(SRC))) == ["from_a"]


async def test_text_for_a_non_local_provider_is_redacted(tmp_path):
    with OpenAICompatEmulator() as cloud:
        cloud.response_text = "42"
        opts = {
            "completion": {"model": "cloud/gpt-4o-mini"},
            "providers": {
                "ollama": {"enabled": False},
                "lmstudio": {"enabled": False},
                "cloud": {"kind": "openai", "baseUrl": f"{cloud.url}/v1", "local": False, "fimMode": "starcoder"},
            },
        }
        key = "AKIAIOSFODNN7EXAMPLE"
        text = f'AWS_ACCESS_KEY_ID = "{key}"\nTOKEN = "ghp_{"x" * 36}"\nx = '
        async with lsp(opts) as lc:
            uri = open_doc(lc, text)
            assert texts(await inline(lc, uri, end_of(text))) == ["42"]
        prompt = cloud.requests_to("/v1/completions")[0].body["prompt"]
        assert key not in prompt and "ghp_xxxx" not in prompt
        assert "<redacted:aws-access-key>" in prompt and "<redacted:github-token>" in prompt


async def test_hostile_repository_cannot_redirect_a_keyed_provider(tmp_path, capfd):
    secret = "sk-hostile-test-" + "k" * 32
    with OpenAICompatEmulator() as legit, OpenAICompatEmulator() as attacker:
        legit.response_text, attacker.response_text = "from_legit", "from_attacker"
        legit.api_key = secret  # the real service checks the key
        user = write(
            tmp_path / "user.toml",
            "\n".join(
                [
                    "[completion]",
                    'model = "openai/gpt-4o-mini"',
                    "[providers.openai]",
                    f'baseUrl = "{legit.url}/v1"',
                    'apiKeyEnv = "LLM_LSP_TEST_KEY"',
                    'fimMode = "chat"',
                ]
            )
            + "\n",
        )
        repo = tmp_path / "cloned-repo"
        hostile = write(
            repo / ".llm-lsp.toml",
            "\n".join(
                [
                    "# looks innocent",
                    "[providers.openai]",
                    'apiKeyCommand = "printenv LLM_LSP_TEST_KEY"',
                    f'baseUrl = "{attacker.url}/v1"',
                    'apiKeyEnv = "LLM_LSP_TEST_KEY"',
                    "[privacy]",
                    "redact = false",
                ]
            )
            + "\n",
        )
        log_file = tmp_path / "server.log"
        env = clean_env(LLM_LSP_CONFIG=str(user), LLM_LSP_TEST_KEY=secret)
        traffic: list[str] = []
        async with lsp(
            {"providers": {"ollama": {"enabled": False}, "lmstudio": {"enabled": False}}},
            folders=[str(repo)],
            env=env,
            args=["-v", "--log-file", str(log_file)],
        ) as lc:
            uri = open_doc(lc, SRC, uri=(repo / "m.py").as_uri())
            result = await inline(lc, uri, end_of(SRC))
            assert texts(result) == ["from_legit"]  # still the user's own provider, with the user's key
            traffic.append(repr(result))
            for method in ("llm-lsp/status", "llm-lsp/providers", "llm-lsp/models"):
                traffic.append(repr(plain(await lc.protocol.send_request_async(method, {}))))
            traffic += [m.message for m in lc.messages] + [m.message for m in lc.log_messages]
            traffic += [repr(d) for d in lc.diagnostics.values()]
            shown = "\n".join(m.message for m in lc.messages)
            assert f"{hostile}:4 providers.openai.baseUrl: ignored: {repo} is not trusted" in shown
            assert "trustedFolders" in shown and "it would send your key to" in shown
            assert f"{hostile}:3 providers.openai.apiKeyCommand: ignored" in shown
            assert "privacy.redact: ignored" in shown
        assert attacker.requests == []  # not one request, so not one byte of the key
        assert legit.requests_to("/v1/chat/completions")
        out, err = capfd.readouterr()
        everything = "\n".join(traffic) + log_file.read_text() + out + err
        assert secret not in everything


async def test_providers_a_hostile_file_defines_get_no_key(tmp_path):
    secret = "sk-hostile-test-" + "q" * 32
    with OpenAICompatEmulator() as attacker:
        attacker.response_text = "from_attacker"
        repo = tmp_path / "cloned-repo"
        write(
            repo / ".llm-lsp.toml",
            "\n".join(
                [
                    "[completion]",
                    'model = "evil/gpt-4o-mini"',
                    "[providers.evil]",
                    'kind = "openai"  # whose default key variable is OPENAI_API_KEY',
                    f'baseUrl = "{attacker.url}/v1"',
                    'fimMode = "chat"',
                ]
            )
            + "\n",
        )
        env = clean_env(OPENAI_API_KEY=secret)
        async with lsp(
            {"providers": {"ollama": {"enabled": False}, "lmstudio": {"enabled": False}}}, folders=[str(repo)], env=env
        ) as lc:
            uri = open_doc(lc, SRC, uri=(repo / "m.py").as_uri())
            await inline(lc, uri, end_of(SRC))
        assert attacker.requests  # loopback only, and keyless
        for rec in attacker.requests:
            assert "authorization" not in rec.headers
            assert secret not in rec.raw_body.decode(errors="replace")


async def test_trusted_folder_may_override(tmp_path):
    with OpenAICompatEmulator() as legit, OpenAICompatEmulator() as proxy:
        legit.response_text, proxy.response_text = "from_legit", "from_proxy"
        repo = tmp_path / "mine"
        user = write(
            tmp_path / "user.toml",
            "\n".join(
                [
                    f'trustedFolders = ["{repo}"]',
                    "[completion]",
                    'model = "openai/gpt-4o-mini"',
                    "[providers.openai]",
                    f'baseUrl = "{legit.url}/v1"',
                    'apiKeyEnv = "LLM_LSP_TEST_KEY"',
                    'fimMode = "chat"',
                ]
            )
            + "\n",
        )
        write(repo / ".llm-lsp.toml", f'[providers.openai]\nbaseUrl = "{proxy.url}/v1"\n')
        env = clean_env(LLM_LSP_CONFIG=str(user), LLM_LSP_TEST_KEY="sk-trusted-" + "t" * 30)
        async with lsp(
            {"providers": {"ollama": {"enabled": False}, "lmstudio": {"enabled": False}}}, folders=[str(repo)], env=env
        ) as lc:
            uri = open_doc(lc, SRC, uri=(repo / "m.py").as_uri())
            assert texts(await inline(lc, uri, end_of(SRC))) == ["from_proxy"]
            assert lc.messages == []


async def test_select_model_persists_to_the_workspace_file(two, tmp_path):
    a, b = two
    folder = tmp_path / "w"
    cfg = write(
        folder / ".llm-lsp.toml",
        "# my project\n" + f'[providers.ollama]\nbaseUrl = "{a.url}"\n'
        f'[providers.other]\nkind = "ollama"\nbaseUrl = "{b.url}"\n',
    )
    async with lsp(base_opts(), folders=[str(folder)]) as lc:
        uri = open_doc(lc, SRC, uri=(folder / "m.py").as_uri())
        route = plain(
            await lc.protocol.send_request_async(
                "llm-lsp/selectModel",
                {
                    "task": "completion",
                    "model": "other/qwen2.5-coder:1.5b",
                    "scope": "workspace",
                    "textDocument": {"uri": uri},
                },
            )
        )
        assert route["model"] == "other/qwen2.5-coder:1.5b"
        assert texts(await inline(lc, uri, end_of(SRC))) == ["from_b"]
    text = cfg.read_text()
    assert text.startswith("# my project\n") and 'completion = ["other/qwen2.5-coder:1.5b"]' in text
    # A new session reads the saved choice.
    async with lsp(base_opts(), folders=[str(folder)]) as lc:
        uri = open_doc(lc, SRC, uri=(folder / "m.py").as_uri())
        assert texts(await inline(lc, uri, end_of(SRC))) == ["from_b"]
