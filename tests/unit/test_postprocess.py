from llm_lsp.completion.postprocess import Shaper, wants_multiline


def shaper(line_prefix, line_suffix="", suffix="", multiline=None):
    if multiline is None:
        multiline = wants_multiline(line_prefix, line_suffix)
    return Shaper(line_prefix, line_suffix, suffix, multiline)


def test_single_line_mid_line_multi_line_on_blank_or_opener():
    assert not wants_multiline("x = foo(", "a, b)")
    assert wants_multiline("    ", "")
    assert wants_multiline("def f(x):", "")
    assert wants_multiline("x = foo(", ")")  # only closers after the cursor
    assert not wants_multiline("return x", "")
    assert wants_multiline("return x", "", "always")
    assert not wants_multiline("    ", "", "never")


def test_single_line_stops_at_first_newline():
    s = shaper("x = ", "")
    assert not s.done("compute(")
    assert s.done("compute(1)\nprint")
    assert s.finish("compute(1)\nprint(x)") == "compute(1)"


def test_multiline_ends_where_the_block_dedents():
    s = shaper("    ", suffix="\n")
    text = "total = 0\n    for x in xs:\n        total += x\n    return total\n\ndef other():\n"
    assert s.done(text)
    assert s.finish(text) == "total = 0\n    for x in xs:\n        total += x\n    return total"


def test_block_after_an_opener_must_be_indented_deeper():
    s = shaper("def f(x):")
    assert s.finish("\n    return x\nprint(f(1))") == "\n    return x"


def test_overlap_with_text_after_cursor_is_removed_only_when_unbalanced():
    assert shaper("print(", ")").finish("foo(a))") == "foo(a)"
    assert shaper("print(", ")").finish("foo(a)") == "foo(a)"
    assert shaper('x = f("', '")').finish('hello")') == "hello"


def test_regenerated_suffix_is_cut():
    suffix = "\n    return result\n"
    s = shaper("    ", suffix=suffix)
    assert s.finish("result = a + b\n    return result") == "result = a + b"


def test_repetition_loops_are_dropped():
    s = shaper("    ")
    text = "x.append(1)\n    x.append(2)\n    x.append(1)\n    x.append(2)\n    x.append(1)"
    assert s.finish(text) == "x.append(1)\n    x.append(2)"


def test_leaked_special_tokens_are_cut_and_stop_the_stream():
    s = shaper("x = ")
    assert s.done("42<|endoftext|>")
    assert s.finish("42<|endoftext|>junk") == "42"
    assert shaper("    ").finish("pass<|fim_pad|>") == "pass"


def test_doubled_indentation_from_the_model_is_undone():
    s = shaper("    ")
    assert s.finish("    a = 1\n    b = 2") == "a = 1\n    b = 2"


def test_whitespace_only_is_no_suggestion():
    assert shaper("x = ").finish("   ") == ""
    assert shaper("    ").finish("\n\n") == ""


def test_max_lines():
    s = Shaper("", "", "", True, max_lines=3)
    assert s.finish("a\nb\nc\nd\ne") == "a\nb\nc"
