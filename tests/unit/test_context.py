import pytest

from llm_lsp.completion.context import (
    PositionError,
    char_budget,
    offset_to_position,
    position_to_offset,
    window,
)

EMOJI_LINE = 'x = "😋😋" + y\nnext\n'


@pytest.mark.parametrize(("encoding", "character"), [("utf-16", 9), ("utf-8", 13), ("utf-32", 7)])
def test_positions_count_code_units_of_the_negotiated_encoding(encoding, character):
    # x = "😋😋" + y : each emoji is 1 code point, 2 UTF-16 units, 4 UTF-8 units; all three name the closing quote
    off = position_to_offset(EMOJI_LINE, 0, character, encoding)
    assert off == 7 and EMOJI_LINE[off:].startswith('" +')


def test_position_inside_a_surrogate_pair_snaps_to_the_character_start():
    off = position_to_offset(EMOJI_LINE, 0, 6, "utf-16")  # between the two halves of the first emoji
    assert EMOJI_LINE[off] == "😋" and off == 5


def test_position_round_trip_all_encodings():
    text = "a😋b\n\tc€d\n"
    for enc in ("utf-8", "utf-16", "utf-32"):
        for off in range(len(text) + 1):
            line, ch = offset_to_position(text, off, enc)
            assert position_to_offset(text, line, ch, enc) == off


def test_character_past_end_of_line_clamps_to_line_end():
    assert position_to_offset("abc\ndef", 0, 99) == 3
    assert position_to_offset("abc\r\ndef", 0, 99) == 3


def test_line_past_end_is_an_error():
    with pytest.raises(PositionError, match="past the end"):
        position_to_offset("abc\n", 5, 0)
    with pytest.raises(PositionError):
        position_to_offset("abc", -1, 0)


def test_last_empty_line_exists():
    assert position_to_offset("abc\n", 1, 0) == 4


def test_window_cuts_on_line_boundaries_and_reports_cursor_line():
    text = "".join(f"line{i}\n" for i in range(100)) + "def f(x):\n    return x"
    off = text.index("return") + 3
    w = window(text, off, 40, 1000)
    assert w.prefix.endswith("    ret") and len(w.prefix) <= 40
    assert w.prefix.startswith("line")  # starts at a line start
    assert w.line_prefix == "    ret" and w.line_suffix == "urn x"


def test_budget_follows_context_length():
    assert char_budget(None, 128, 8000, 2000) == (8000, 2000)
    p, s = char_budget(512, 128, 8000, 2000)
    assert p + s <= (512 - 128) * 3 and p > s > 0
    assert char_budget(100, 128, 8000, 2000) == (0, 0)
