"""Secrets out of log text before it is analysed, stored as evidence, sent to an LLM or
shown in an alert: private keys, Authorization headers, bearer tokens, credentials in
URLs, AWS keys, well-known token formats and ``key=value`` secrets.

Each pattern only runs when a cheap substring test says it could match, so clean lines
cost little. Addresses, user names and everything else the analysis needs stay.
"""

import re
from collections.abc import Callable

MARK = "[REDACTED]"

# (lower-case substrings one of which must occur for the pattern to apply, pattern, replacement)
Rule = tuple[tuple[str, ...], re.Pattern[str], str | Callable[[re.Match[str]], str]]

SECRET_KEYS = (
    r"pass(?:word|wd|phrase)?|secret|client_secret|token|access_token|refresh_token|"
    r"auth_token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|private[_-]?key|"
    r"credentials?|session(?:id)?|cookie|aws_secret_access_key"
)

RULES: list[Rule] = [
    # PEM private keys: the BEGIN line, its body (also as one line with \n escapes), END
    (
        ("private key",),
        re.compile(
            r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----"
            r"(?:[ \t]*[A-Za-z0-9+/=\\]+)*"
            r"(?:\r?\n(?:Proc-Type|DEK-Info):[^\n]*)*"
            r"(?:\r?\n[ \t]*[A-Za-z0-9+/=]+[ \t]*(?=\r?\n|$))*"
            r"(?:\r?\n?[ \t]*-----END [A-Z0-9 ]*PRIVATE KEY-----)?"
        ),
        r"-----BEGIN \1PRIVATE KEY----- " + MARK,
    ),
    (
        ("authorization",),
        re.compile(
            r"((?:Proxy-)?Authorization[\"']?\s*[:=]\s*[\"']?)"
            r"(?:(Bearer|Basic|Digest|Token|Bot|Negotiate|AWS4-HMAC-SHA256)\s+)?[^\s\"',;]+",
            re.IGNORECASE,
        ),
        lambda m: f"{m[1]}{m[2] + ' ' if m[2] else ''}{MARK}",
    ),
    (
        ("bearer",),
        re.compile(r"\b(Bearer)\s+(?!\[REDACTED\])[A-Za-z0-9\-._~+/]{8,}=*", re.IGNORECASE),
        r"\1 " + MARK,
    ),
    # user:password@ in URLs
    (
        ("://",),
        re.compile(r"\b([a-z][a-z0-9+.\-]*://)[^/\s:@]+:[^/\s@]+@", re.IGNORECASE),
        r"\1" + MARK + "@",
    ),
    (
        ("akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa"),
        re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
        "[REDACTED-AWS-KEY]",
    ),
    (
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})\b"),
        MARK,
    ),
    (("xox",), re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), MARK),
    (("sk-",), re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_\-]{20,}"), MARK),
    (("aiza",), re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"), MARK),
    (("eyj",), re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MARK),
    (("/webhooks/",), re.compile(r"(/api/webhooks/\d+/)[A-Za-z0-9_\-]+"), r"\1" + MARK),
    (("mysql",), re.compile(r"(mysql(?:dump|admin)?\b[^\n]*?\s-p)(?!\s)[^\s]+"), r"\1" + MARK),
]

# key=value (also DB_PASSWORD=…), "key": "value" (JSON), password: value, --password value.
# Matched on the lower-cased text (a case-insensitive pattern is ten times slower there),
# replaced in the original: group 1 is kept, group 2 (the value) becomes [REDACTED].
KEY_RULES: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    (
        ("=",),
        re.compile(rf"((?:{SECRET_KEYS})[\"']?\s*=\s*)(\"[^\"]*\"|'[^']*'|[^\s&;,\"']+)"),
    ),
    (
        ('"', "'"),
        re.compile(rf"([\"'][\w.-]*?(?:{SECRET_KEYS})[\"']\s*:\s*)(\"[^\"]*\"|'[^']*'|[^\s,}}]+)"),
    ),
    (
        ("password:", "passwd:", "secret:", "token:", "api_key:", "apikey:", "api-key:"),
        re.compile(
            r"((?<![a-z0-9])(?:password|passwd|secret|api[_-]?key|apikey|token)\s*:\s+)"
            r"(?!\[redacted)(\S+)"
        ),
    ),
    (
        ("--pass", "--token", "--secret", "--api"),
        re.compile(r"(--(?:password|passwd|token|secret|api-?key)\s+)(?![\-\[])(\S+)"),
    ),
]


def _hide(value: str) -> str:
    quote = value[:1]
    return f"{quote}{MARK}{quote}" if quote in ("'", '"') and len(value) > 1 else MARK


def _sub_keys(pattern: re.Pattern[str], text: str, lowered: str) -> str:
    if len(lowered) != len(text):  # a character whose lower case is longer: slow path
        slow = re.compile(pattern.pattern, re.IGNORECASE)
        return slow.sub(lambda m: m[1] + _hide(m[2]), text)
    parts, last = [], 0
    for match in pattern.finditer(lowered):
        parts += [text[last : match.start()], text[match.start(1) : match.end(1)]]
        parts.append(_hide(text[match.start(2) : match.end(2)]))
        last = match.end()
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


def redact(text: str) -> str:
    """``text`` with the secrets replaced by [REDACTED]."""
    lowered = text.lower()
    for needles, pattern, replacement in RULES:
        if any(needle in lowered for needle in needles):
            text = pattern.sub(replacement, text)
            lowered = text.lower()
    for needles, pattern in KEY_RULES:
        if any(needle in lowered for needle in needles):
            text = _sub_keys(pattern, text, lowered)
            lowered = text.lower()
    return text


def redact_lines(lines: list[str]) -> tuple[list[str], int]:
    """Redacted lines and how many were changed. Multi-line secrets (PEM blocks) are
    handled by redacting the joined text."""
    text = "\n".join(lines)
    redacted = redact(text)
    if redacted == text:
        return lines, 0
    new_lines = redacted.split("\n")
    changed = sum(1 for line in new_lines if MARK in line or "[REDACTED-AWS-KEY]" in line)
    return new_lines, changed
