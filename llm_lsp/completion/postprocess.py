"""Turn raw model output into a suggestion: when to stop early, where a block ends, what to drop.

Pure functions over strings; the pipeline feeds them the text as it streams in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CLOSERS = set(")]}>\"'`;:,. \t")
_OPENERS = ("(", "[", "{", ":", "=>", "->", " do", " then", "\\")
# Special tokens that leak when a template or server is misconfigured.
_LEAKS = re.compile(
    r"<\|[a-z_]+\|>|<\/?(?:fim_\w+|file_sep|PRE|SUF|MID|EOT)>|<｜[^｜]+｜>|\[(?:PREFIX|SUFFIX|MIDDLE)\]"
)


def indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def wants_multiline(line_prefix: str, line_suffix: str, setting: str = "auto") -> bool:
    """Multi-line on a blank line or after a block opener at the end of a line; single-line mid-line."""
    if setting == "always":
        return True
    if setting == "never":
        return False
    if any(c not in _CLOSERS for c in line_suffix):
        return False  # text after the cursor on this line: finish the line only
    stripped = line_prefix.rstrip()
    if not stripped:
        return True
    return stripped.endswith(_OPENERS)


@dataclass
class Shaper:
    """Decides, as text streams in, when the suggestion is complete; then trims it."""

    line_prefix: str
    line_suffix: str
    suffix: str
    multiline: bool
    max_lines: int = 16

    @property
    def base_indent(self) -> int:
        return len(indent_of(self.line_prefix))

    def done(self, text: str) -> bool:
        """True once enough text has arrived: stop reading (and close the upstream stream)."""
        if _LEAKS.search(text):
            return True
        if not self.multiline:
            return "\n" in text.lstrip("\n") if self.line_prefix.strip() == "" else "\n" in text
        lines = text.split("\n")
        if len(lines) > self.max_lines + 1:
            return True
        # A complete line (not the last, still growing) that dedents below the block ends the suggestion.
        return any(self._ends_block(i, ln) for i, ln in enumerate(lines[:-1]))

    def _ends_block(self, i: int, line: str) -> bool:
        if i == 0 or not line.strip():
            return False
        return len(indent_of(line)) < self._block_indent()

    def _block_indent(self) -> int:
        """Lines of the suggestion must stay at or beyond this indentation."""
        stripped = self.line_prefix.rstrip()
        if stripped and stripped.endswith(_OPENERS):
            return self.base_indent + 1  # the block body is deeper than the opener's line
        return self.base_indent

    def finish(self, text: str) -> str:
        text = _cut_leaks(text)
        if not self.multiline:
            text = text.lstrip("\n") if self.line_prefix.strip() == "" and not self.line_suffix else text
            text = text.split("\n", 1)[0]
        else:
            text = self._cut_block(text)
            text = _drop_repeats(text)
            text = _cut_suffix_echo(text, self.suffix)
            text = self._fix_first_indent(text)
        text = _trim_overlap(text, self.line_suffix, self.line_prefix)
        text = text.rstrip() if "\n" in text else text.rstrip("\r\n")
        if not text.strip():
            return ""
        return text

    def _cut_block(self, text: str) -> str:
        lines = text.split("\n")
        keep = [lines[0]]
        for i, ln in enumerate(lines[1:], start=1):
            if self._ends_block(i, ln) or i >= self.max_lines:
                break
            keep.append(ln)
        return "\n".join(keep)

    def _fix_first_indent(self, text: str) -> str:
        """A model that repeats the indentation already on the cursor's line would indent twice: undo that."""
        lp = self.line_prefix
        if not lp or lp.strip() or not text.startswith(lp):
            return text
        lines = text.split("\n")
        if len(lines) > 1 and all(ln.startswith(lp) or not ln.strip() for ln in lines):
            lines[0] = lines[0][len(lp) :]
            return "\n".join(lines)
        return text


def _cut_leaks(text: str) -> str:
    m = _LEAKS.search(text)
    return text[: m.start()] if m else text


def _drop_repeats(text: str) -> str:
    """Stop at the second repetition of a non-trivial line run (models loop)."""
    lines = text.split("\n")
    keys = [ln.strip() for ln in lines]
    seen: dict[str, int] = {}
    for i, key in enumerate(keys):
        if len(key) < 4:
            continue
        if key in seen and keys[seen[key] : i] == keys[i : i + (i - seen[key])]:
            return "\n".join(lines[:i])
        seen.setdefault(key, i)
    return text


def _cut_suffix_echo(text: str, suffix: str) -> str:
    """Models often regenerate the code that follows the cursor: cut where the suggestion starts repeating it."""
    follow = [ln for ln in suffix.split("\n")[1:] if ln.strip()][:2]
    if not follow or len(follow[0].strip()) < 3:
        return text
    lines = text.split("\n")
    for i in range(1, len(lines)):
        if lines[i].rstrip() == follow[0].rstrip() and (
            len(follow) < 2 or i + 1 >= len(lines) or lines[i + 1].rstrip() == follow[1].rstrip()
        ):
            return "\n".join(lines[:i])
    return text


def _trim_overlap(text: str, line_suffix: str, line_prefix: str = "") -> str:
    """Remove the end of the suggestion that the text after the cursor already has, e.g. a closing bracket.

    Only when that makes the line better balanced: ``print(|)`` + ``foo(a)`` keeps its ``)``, while
    ``print(|)`` + ``foo(a))`` loses one.
    """
    tail = line_suffix.strip()
    if not tail:
        return text
    last_nl = text.rfind("\n")
    head, last = text[: last_nl + 1], text[last_nl + 1 :].rstrip()
    context = line_prefix if last_nl < 0 else ""
    best, best_score = last, _imbalance(context + last + line_suffix)
    for k in range(1, len(tail) + 1):
        if not last.endswith(tail[:k]):
            continue
        cand = last[: len(last) - k]
        score = _imbalance(context + cand + line_suffix)
        if score < best_score:
            best, best_score = cand, score
    return head + best if best != last else text


def _imbalance(s: str) -> int:
    """How far a line is from balanced: unmatched brackets plus unclosed quotes."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    unmatched = 0
    for c in s:
        if c in "([{":
            stack.append(c)
        elif c in pairs:
            if stack and stack[-1] == pairs[c]:
                stack.pop()
            else:
                unmatched += 1
    quotes = sum(s.count(q) % 2 for q in ('"', "'", "`"))
    return unmatched + len(stack) + quotes
