"""Where the cursor is and what text the model sees: positions in any encoding, and a budgeted prefix/suffix window."""

from __future__ import annotations

from dataclasses import dataclass

CHARS_PER_TOKEN = 3.0  # conservative for code; real tokenizers average 3.5-4.5 chars per token
PROMPT_RESERVE_TOKENS = 64  # template tokens, file headers


class PositionError(ValueError):
    """A position that does not exist in the document."""


def _units(ch: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(ch.encode("utf-8"))
    if encoding == "utf-32":
        return 1
    return 2 if ord(ch) > 0xFFFF else 1


def position_to_offset(text: str, line: int, character: int, encoding: str = "utf-16") -> int:
    """Offset (in code points) of an LSP position counted in ``encoding`` units.

    A character past the end of the line means the end of the line (as the LSP specification says);
    a line past the end of the document, or a negative number, is an error. A position inside a
    surrogate pair (or inside a UTF-8 sequence) snaps to the start of that character.
    """
    if line < 0 or character < 0:
        raise PositionError(f"negative position {line}:{character}")
    start = 0
    for n in range(line):  # only as far as the wanted line
        nl = text.find("\n", start)
        if nl < 0:
            raise PositionError(f"line {line} is past the end of the document ({n + 1} lines)")
        start = nl + 1
    nl = text.find("\n", start)
    end = len(text) if nl < 0 else nl
    if end > start and text[end - 1] == "\r":
        end -= 1
    units = 0
    offset = start
    while offset < end:
        step = _units(text[offset], encoding)
        if units + step > character:
            break
        units += step
        offset += 1
    return offset


def offset_to_position(text: str, offset: int, encoding: str = "utf-16") -> tuple[int, int]:
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return line, sum(_units(c, encoding) for c in text[start:offset])


@dataclass(frozen=True)
class Window:
    prefix: str
    suffix: str
    line_prefix: str  # text of the cursor's line before the cursor
    line_suffix: str  # text of the cursor's line after the cursor


def char_budget(
    context_length: int | None, max_tokens: int, max_prefix_chars: int, max_suffix_chars: int
) -> tuple[int, int]:
    """How many characters of prefix and suffix fit in the model's context next to the answer."""
    if not context_length:
        return max_prefix_chars, max_suffix_chars
    tokens = max(0, context_length - max_tokens - PROMPT_RESERVE_TOKENS)
    chars = int(tokens * CHARS_PER_TOKEN)
    prefix = min(max_prefix_chars, chars * 3 // 4)
    suffix = min(max_suffix_chars, chars - prefix)
    return prefix, suffix


def window(text: str, offset: int, max_prefix: int, max_suffix: int) -> Window:
    """The text before and after the cursor, cut to the budget on line boundaries where possible."""
    before, after = text[:offset], text[offset:]
    prefix = before
    if len(before) > max_prefix:
        prefix = before[len(before) - max_prefix :]
        nl = prefix.find("\n")
        if 0 <= nl < len(prefix) - 1:
            prefix = prefix[nl + 1 :]
    suffix = after
    if len(after) > max_suffix:
        suffix = after[:max_suffix]
        nl = suffix.rfind("\n")
        if nl > 0:
            suffix = suffix[: nl + 1]
    line_start = before.rfind("\n") + 1
    line_end = after.find("\n")
    line_suffix = after if line_end < 0 else after[:line_end]
    return Window(prefix, suffix, before[line_start:], line_suffix.rstrip("\r"))
