import pytest

from llm_lsp.config.sources import defaults_layer, env_layer, flags_layer, load, parse_ollama_host


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("", "http://127.0.0.1:11434"),
        ("0.0.0.0", "http://0.0.0.0:11434"),
        ("example.com:8080", "http://example.com:8080"),
        ("http://example.com", "http://example.com:80"),
        ("https://example.com", "https://example.com:443"),
        ("[::1]:9000", "http://[::1]:9000"),
        ("::1", "http://[::1]:11434"),
        ("http://h:99999", "http://h:80"),
        ('"localhost:1"', "http://localhost:1"),
        ("example.com/ollama", "http://example.com:11434/ollama"),
    ],
)
def test_ollama_host_is_parsed_as_ollama_does(value, url):
    assert parse_ollama_host(value) == url


def test_env_aliases_and_default_models():
    env = {"OLLAMA_ENDPOINT": "http://h:1", "LMSTUDIO_ENDPOINT": "http://h:2", "OLLAMA_MODEL": "qwen2.5-coder:1.5b"}
    layer = env_layer(env)
    assert layer["providers"]["ollama"]["baseUrl"] == "http://h:1"
    assert layer["providers"]["lmstudio"]["baseUrl"] == "http://h:2"
    assert layer["completion"]["model"] == "ollama/qwen2.5-coder:1.5b"
    assert (
        env_layer({"OLLAMA_HOST": "h:3", "OLLAMA_BASE_URL": "http://x"})["providers"]["ollama"]["baseUrl"]
        == "http://h:3"
    )
    assert env_layer({"LM_STUDIO_MODEL": "m"})["completion"]["model"] == "lmstudio/m"


def test_precedence_and_snake_case():
    settings, problems = load(
        [
            ("defaults", defaults_layer()),
            ("environment", env_layer({"OLLAMA_HOST": "h:1"})),
            ("command line", flags_layer("ollama", "http://flag:2", "starcoder2")),
            ("initializationOptions", {"completion": {"max_tokens": 64}}),
        ]
    )
    assert problems == []
    assert settings.providers["ollama"].base_url == "http://flag:2"
    assert settings.providers["lmstudio"].base_url == "http://127.0.0.1:1234"
    assert settings.completion.model == "ollama/starcoder2"
    assert settings.completion.max_tokens == 64


def test_bad_values_fall_back_to_the_layer_below_and_are_reported_with_source():
    settings, problems = load(
        [
            ("defaults", defaults_layer()),
            ("command line", {"completion": {"maxTokens": 50}}),
            (
                "initializationOptions",
                {
                    "completion": {"maxTokens": -1, "temperature": 0.7, "modle": "x"},
                    "providers": {"ollama": {"timeoutMs": "soon"}},
                },
            ),
        ]
    )
    assert settings.completion.max_tokens == 50  # the command line's value, not -1, not the default
    assert settings.completion.temperature == 0.7  # the rest still applies
    assert settings.providers["ollama"].timeout_ms == 30000
    text = "\n".join(map(str, problems))
    assert "initializationOptions: completion.maxTokens: Input should be greater than or equal to 1" in text
    assert "completion.modle: unknown key; did you mean 'model'?" in text
    assert "providers.ollama.timeoutMs" in text


def test_non_object_layer_is_a_problem_not_a_crash():
    settings, problems = load([("initializationOptions", ["not", "an", "object"])])
    assert settings.completion.max_tokens == 128
    assert "expected an object" in str(problems[0])


def test_wrong_type_for_a_whole_section():
    settings, problems = load([("x", {"completion": 5})])
    assert settings.completion.enabled and problems
