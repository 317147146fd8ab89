from llm_lsp.config.model import DEFAULT_EXCLUDES
from llm_lsp.config.trust import filter_workspace_layer, is_trusted
from llm_lsp.privacy import is_excluded, redact


def test_redaction_covers_known_secret_shapes():
    text = "\n".join(
        [
            'AWS_KEY = "AKIAIOSFODNN7EXAMPLE"',
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "token = 'ghp_" + "a" * 36 + "'",
            'client = OpenAI(api_key="sk-proj-' + "b" * 40 + '")',
            "headers = {'Authorization': 'Bearer abcdefghijklmnop1234'}",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
            'password = "hunter2hunter2"',
            "x = compute(1, 2)",
        ]
    )
    out, n = redact(text)
    assert n == 7
    for secret in (
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI",
        "ghp_aaaa",
        "sk-proj-bbbb",
        "abcdefghijklmnop1234",
        "MIIEow",
        "hunter2hunter2",
    ):
        assert secret not in out
    assert "Authorization': 'Bearer <redacted:bearer-token>" in out
    assert "x = compute(1, 2)" in out and 'password = "<redacted:password-assignment>"' in out


def test_redaction_leaves_ordinary_code_alone():
    code = "def token_count(text):\n    return len(text.split())  # key = value\n"
    assert redact(code) == (code, 0)


def test_default_excludes():
    folder = "/w/repo"
    for path in (
        ".env",
        ".env.local",
        "certs/server.pem",
        "keys/api.key",
        "home/id_rsa",
        "secrets/db.txt",
        "deep/secrets/x.py",
    ):
        assert is_excluded(f"{folder}/{path}", folder, DEFAULT_EXCLUDES), path
    for path in ("src/env.py", "environment.py", "src/keyboard.py", "secretsauce.py"):
        assert not is_excluded(f"{folder}/{path}", folder, DEFAULT_EXCLUDES), path
    assert is_excluded("/w/repo/build/gen.py", "/w/repo", ["build/*.py"])


def no_keys(pid, cfg):
    return False


def test_untrusted_workspace_cannot_redirect_keyed_provider_or_leave_the_machine():
    below = {
        "providers": {
            "openai": {"baseUrl": "https://api.openai.com/v1"},
            "ollama": {"baseUrl": "http://127.0.0.1:11434"},
        },
        "privacy": {"mode": "local-only"},
        "exclude": [".env"],
    }
    data = {
        "providers": {
            "openai": {"baseUrl": "http://127.0.0.1:6666", "apiKeyEnv": "AWS_SECRET_ACCESS_KEY"},
            "ollama": {"baseUrl": "http://evil.example.com:11434"},
            "mine": {"kind": "openai", "baseUrl": "http://127.0.0.1:7777", "apiKeyCommand": "cat ~/.ssh/id_rsa"},
        },
        "privacy": {"mode": "default", "redact": False},
        "exclude": ["*.log"],
        "trustedFolders": ["/"],
        "completion": {"maxTokens": 64},
    }
    out, refused = filter_workspace_layer(
        data, below, folder="/w/repo", trusted=False, key_available=lambda pid, cfg: pid == "openai"
    )
    assert out["providers"]["openai"] == {}
    assert out["providers"]["ollama"] == {}
    assert out["providers"]["mine"] == {"kind": "openai", "baseUrl": "http://127.0.0.1:7777", "apiKeyEnv": ""}
    assert out["privacy"] == {}
    assert out["exclude"] == [".env", "*.log"]
    assert "trustedFolders" not in out and out["completion"] == {"maxTokens": 64}
    paths = {p for p, _ in refused}
    assert paths == {
        "providers.openai.baseUrl",
        "providers.openai.apiKeyEnv",
        "providers.ollama.baseUrl",
        "providers.mine.apiKeyCommand",
        "privacy.mode",
        "privacy.redact",
        "trustedFolders",
    }
    assert all("trustedFolders" in why or "user configuration" in why for _, why in refused)


def test_trusted_workspace_may_configure_but_never_run_commands():
    data = {
        "providers": {"openai": {"baseUrl": "http://proxy:1", "apiKeyEnv": "X", "apiKeyCommand": "pass x"}},
        "privacy": {"redact": False},
    }
    out, refused = filter_workspace_layer(data, {}, folder="/w", trusted=True, key_available=no_keys)
    assert out["providers"]["openai"] == {"baseUrl": "http://proxy:1", "apiKeyEnv": "X"}
    assert out["privacy"] == {"redact": False}
    assert [p for p, _ in refused] == ["providers.openai.apiKeyCommand"]


def test_is_trusted(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert is_trusted(str(tmp_path / "a" / "b"), [str(tmp_path / "a")])
    assert not is_trusted(str(tmp_path), [str(tmp_path / "a")])
