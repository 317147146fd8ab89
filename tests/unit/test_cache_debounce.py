from llm_lsp.completion.cache import SuggestionCache
from llm_lsp.completion.debounce import AdaptiveDebounce


def test_exact_retype_hits():
    c = SuggestionCache(8)
    c.put("m", "def f(x):\n    ", "\n", "return x")
    assert c.get("m", "def f(x):\n    ", "\n") == "return x"
    assert c.get("other-model", "def f(x):\n    ", "\n") is None


def test_typing_through_a_suggestion_returns_the_rest():
    c = SuggestionCache(8)
    prefix = "import os\n" * 50 + "x = "
    c.put("m", prefix, "\n", "compute(1, 2)")
    assert c.get("m", prefix + "com", "\n") == "pute(1, 2)"
    assert c.get("m", prefix + "compute(1, ", "\n") == "2)"
    assert c.get("m", prefix + "cop", "\n") is None  # diverged from the suggestion
    assert c.get("m", prefix + "com", "\nother") is None  # different text after the cursor


def test_typing_through_with_a_sliding_prefix_window():
    c = SuggestionCache(8)
    body = "".join(f"v{i} = {i}\n" for i in range(200))
    c.put("m", body[-600:], "", "print(v1)")
    grown = (body + "pri")[-600:]  # the window slid by three characters
    assert c.get("m", grown, "") == "nt(v1)"


def test_lru_evicts_oldest():
    c = SuggestionCache(2)
    c.put("m", "a", "", "1")
    c.put("m", "b", "", "2")
    c.put("m", "c", "", "3")
    assert c.get("m", "a", "") is None
    assert c.get("m", "c", "") == "3"


def test_disabled_cache_stores_nothing():
    c = SuggestionCache(0)
    c.put("m", "a", "", "1")
    assert c.get("m", "a", "") is None


def test_debounce_learns_the_typing_rhythm():
    d = AdaptiveDebounce(min_ms=25, max_ms=300, initial_ms=120)
    assert d.delay_ms() == 120
    t = 0.0
    for _ in range(10):
        d.observe_keystroke("doc", t)
        t += 0.080
    assert 80 < d.delay_ms() < 100  # just over the usual gap, below tabby's fixed 100 ms floor


def test_debounce_ignores_pauses_and_separates_documents():
    d = AdaptiveDebounce()
    d.observe_keystroke("a", 0.0)
    d.observe_keystroke("b", 0.05)
    d.observe_keystroke("a", 5.0)  # a pause, not rhythm
    assert d.delay_ms() == d.initial_ms


def test_slow_model_raises_the_margin_and_limits_hold():
    d = AdaptiveDebounce(min_ms=25, max_ms=300)
    for i in range(10):
        d.observe_keystroke("doc", i * 0.1)
    fast = d.delay_ms()
    d.observe_latency(4000)
    assert d.delay_ms() > fast
    for i in range(10):
        d.observe_keystroke("doc", 10 + i * 0.45)
    assert d.delay_ms() == 300


def test_pauses_between_words_do_not_stretch_the_debounce():
    d = AdaptiveDebounce(min_ms=25, max_ms=300)
    t = 0.0
    for _ in range(4):  # words of 8 keys at 80 ms, 0.55 s apart
        for _ in range(8):
            d.observe_keystroke("doc", t)
            t += 0.08
        t += 0.55
    assert d.delay_ms() < 100
