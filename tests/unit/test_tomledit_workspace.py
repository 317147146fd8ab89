import sys
from pathlib import Path

from llm_lsp.config.sources import defaults_layer, env_layer
from llm_lsp.config.tomledit import set_key
from llm_lsp.config.workspace import ConfigSet

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def test_set_key_replaces_adds_and_appends_keeping_comments():
    text = '# mine\n[routes]\nchat = ["a"]  # keep\ncompletion = [\n  "x",\n  "y",\n]\n[completion]\nmaxTokens = 5\n'
    out = set_key(text, "routes", "completion", ["ollama/m", "auto"])
    assert tomllib.loads(out)["routes"] == {"chat": ["a"], "completion": ["ollama/m", "auto"]}
    assert "# mine" in out and "# keep" in out and tomllib.loads(out)["completion"]["maxTokens"] == 5
    out2 = set_key("[completion]\nmaxTokens = 5\n", "routes", "embed", ["auto"])
    assert tomllib.loads(out2) == {"completion": {"maxTokens": 5}, "routes": {"embed": ["auto"]}}
    out3 = set_key('[routes]\nchat = "a"\n', "routes", "completion", ["z"])
    assert tomllib.loads(out3)["routes"] == {"completion": ["z"], "chat": "a"}
    assert tomllib.loads(set_key("", "routes", "completion", ['q"uote']))["routes"]["completion"] == ['q"uote']


def config(tmp_path: Path, user: str, workspace: str, env=None) -> ConfigSet:
    (tmp_path / "user.toml").write_text(user)
    folder = tmp_path / "repo"
    folder.mkdir(exist_ok=True)
    (folder / ".llm-lsp.toml").write_text(workspace)
    env = env or {}
    c = ConfigSet(
        [("defaults", defaults_layer()), ("environment", env_layer(env))], {}, env=env, user_file=tmp_path / "user.toml"
    )
    c.set_folders([str(folder)])
    return c


def test_precedence_user_workspace_flags_init_client(tmp_path):
    c = config(
        tmp_path,
        "[completion]\nmax_tokens = 10\ntemperature = 0.1\nmax_lines = 3\n",
        "[completion]\nmaxTokens = 20\ntemperature = 0.3\n",
    )
    c.flags = {"completion": {"temperature": 0.5}}
    c.init_options = {"completion": {"maxLines": 7}}
    folder = str(tmp_path / "repo")
    fs = c.build(folder)
    assert fs.settings.completion.max_tokens == 20  # workspace file over user file
    assert fs.settings.completion.temperature == 0.5  # flags over the workspace file
    assert fs.settings.completion.max_lines == 7  # initializationOptions over the user file
    assert fs.origins["completion.maxTokens"].endswith(".llm-lsp.toml")
    assert fs.origins["completion.maxLines"] == "initializationOptions"
    c.client_folders = {folder: {"completion": {"maxTokens": 30}}}
    assert c.build(folder).settings.completion.max_tokens == 30  # the folder's workspace/configuration wins
    assert c.build(None).settings.completion.max_tokens == 10  # outside the folder: no workspace file


def test_a_bad_reload_keeps_the_last_good_value(tmp_path):
    c = config(tmp_path, "", "[completion]\nmaxTokens = 20\n")
    folder = str(tmp_path / "repo")
    assert c.build(folder).settings.completion.max_tokens == 20
    (tmp_path / "repo" / ".llm-lsp.toml").write_text("[completion]\nmaxTokens = -1\ntemperature = 0.9\n")
    c.reread()
    fs = c.build(folder)
    assert fs.settings.completion.max_tokens == 20 and fs.settings.completion.temperature == 0.9
    assert any(p.line == 2 and p.path == "completion.maxTokens" for p in fs.problems)
    (tmp_path / "repo" / ".llm-lsp.toml").write_text("[completion\n")  # a syntax error
    c.reread()
    fs = c.build(folder)
    assert fs.settings.completion.temperature == 0.9  # last good content of the file
    assert any("syntax error" in p.message and p.line == 1 for p in fs.problems)


def test_keyed_provider_detection_uses_the_environment(tmp_path):
    c = config(
        tmp_path,
        '[providers.corp]\nkind = "openai"\nbaseUrl = "https://llm.corp/v1"\napiKeyEnv = "CORP_KEY"\n',
        '[providers.corp]\nbaseUrl = "http://127.0.0.1:9999/v1"\n',
        env={"CORP_KEY": "secret-value-123"},
    )
    fs = c.build(str(tmp_path / "repo"))
    assert fs.settings.providers["corp"].base_url == "https://llm.corp/v1"
    assert any("would send your key" in p.message for p in fs.problems)
    c2 = config(
        tmp_path,
        '[providers.corp]\nkind = "openai"\nbaseUrl = "https://llm.corp/v1"\napiKeyEnv = "CORP_KEY"\n',
        '[providers.corp]\nbaseUrl = "http://127.0.0.1:9999/v1"\n',
        env={},
    )
    # No key in the environment: redirecting to loopback is allowed (nothing secret to leak, code stays here).
    assert c2.build(str(tmp_path / "repo")).settings.providers["corp"].base_url == "http://127.0.0.1:9999/v1"
