"""What may leave the machine: excluded files, and secrets redacted from text bound for non-local providers."""

from __future__ import annotations

import fnmatch
import re
from pathlib import PurePosixPath

# Known secret shapes. Each match is replaced by a marker naming the kind, so the model still sees code shape.
SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private-key",
        re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S),
    ),
    ("aws-access-key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("aws-secret", re.compile(r"(?i)(aws_secret_access_key\s*[=:]\s*[\"']?)[A-Za-z0-9/+=]{40}")),
    ("github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b")),
    ("openai-key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}\b")),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("slack-token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
    ("stripe-key", re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{20,}\b")),
    ("bearer-token", re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9_\-.=+/]{16,}")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b")),
    (
        "password-assignment",
        re.compile(
            r"(?i)((?:password|passwd|secret|api_?key|token)\s*[=:]\s*[\"'])(?!<redacted:)[^\"'\s]{8,}(?=[\"'])"
        ),
    ),
)


def redact(text: str) -> tuple[str, int]:
    """Text with secrets replaced, and how many were replaced."""
    count = 0

    def sub(kind: str):
        def repl(m: re.Match[str]) -> str:
            nonlocal count
            count += 1
            keep = m.group(1) if m.re.groups else ""
            return f"{keep}<redacted:{kind}>"

        return repl

    for kind, pattern in SECRET_PATTERNS:
        text = pattern.sub(sub(kind), text)
    return text, count


def is_excluded(path: str, folder: str | None, globs: list[str]) -> bool:
    """Whether a file matches an exclude glob: by name, by path relative to its folder, or (``dir/``) by a
    directory anywhere on its path."""
    p = PurePosixPath(path.replace("\\", "/"))
    rel = p
    if folder:
        try:
            rel = p.relative_to(PurePosixPath(folder.replace("\\", "/")))
        except ValueError:
            rel = p
    parts = rel.parts
    for g in globs:
        if g.endswith("/"):
            name = g.rstrip("/")
            if any(fnmatch.fnmatchcase(part, name) for part in parts[:-1]):
                return True
            continue
        if fnmatch.fnmatchcase(p.name, g) or ("/" in g and fnmatch.fnmatchcase(str(rel), g)):
            return True
    return False
