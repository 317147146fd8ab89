"""A minimal, comment-preserving edit of one key in a TOML file (for persisting selections)."""

from __future__ import annotations

import json
import re


def toml_value(value: object) -> str:
    """Strings and lists of strings, the only values we write; JSON's string escapes are valid TOML."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def set_key(text: str, table: str, key: str, value: object) -> str:
    """``text`` with ``[table] key = value`` set: the existing line replaced (a multi-line array too), or the key
    added at the top of the table, or the table appended. Everything else is kept as it was."""
    lines = text.splitlines()
    new_line = f"{key} = {toml_value(value)}"
    header = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]\s*(#.*)?$")
    any_header = re.compile(r"^\s*\[")
    key_line = re.compile(rf"^\s*{re.escape(key)}\s*=")
    start = next((i for i, ln in enumerate(lines) if header.match(ln)), None)
    if start is None:
        body = text if not text or text.endswith("\n") else text + "\n"
        sep = "\n" if body.strip() else ""
        return f"{body}{sep}[{table}]\n{new_line}\n"
    end = next((i for i in range(start + 1, len(lines)) if any_header.match(lines[i])), len(lines))
    for i in range(start + 1, end):
        if key_line.match(lines[i]):
            j = i
            if lines[i].split("=", 1)[1].strip().startswith("[") and "]" not in lines[i]:
                while j + 1 < end and "]" not in lines[j]:
                    j += 1
            lines[i : j + 1] = [new_line]
            return "\n".join(lines) + "\n"
    lines.insert(start + 1, new_line)
    return "\n".join(lines) + "\n"
