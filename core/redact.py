"""Secrets out of everything the platform prints or logs.

Two tools, used together wherever text leaves the process (logs, `sge config`, error bodies, the
operator readiness report, CLI errors):

- `redact_url(url)`: credentials in a URL become `***` — the password of `user:password@`, a lone
  user name of an http(s)/ws(s) URL (`https://<token>@host`; a database's user name stays), query
  values named like a credential (`?apikey=`, `token`, `secret`, `password`, `signature`, …), and
  path segments that look like a provider key: 32+ hex digits (Infura `/v3/<key>`, QuickNode, Ankr),
  a UUID (Blast), or any run of 20+ letters, digits, `_` and `-` that mixes letters and digits
  (Alchemy `/v2/<key>`). `0x`-prefixed segments are left alone: addresses and hashes are public and
  operators need them.
- `mask_secrets(text)`: every registered secret value (`register_secrets(settings)`: each `SecretStr`
  setting, and the credentials found in every URL-valued setting) becomes `***`, wherever it occurs.

`redact(text)` applies both, to every URL in a free text. This module imports nothing of ours.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

REDACTED = "***"
MIN_SECRET_CHARS = 4  # shorter values would mask ordinary words everywhere

_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>\\`]+")
_SECRET_PARAM = re.compile(
    r"key|token|secret|passw|pwd|pass$|auth|signature|^sig$|credential|jwt|session|private", re.IGNORECASE
)
_HEX_KEY = re.compile(r"^[0-9a-fA-F]{32,}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_RANDOM = re.compile(r"^[A-Za-z0-9_-]{20,}$")
_TOKEN_USER_SCHEMES = frozenset({"http", "https", "ws", "wss"})  # where a user without password is a token


def secret_segment(segment: str) -> bool:
    """Whether a URL path segment looks like a provider key rather than a resource name."""
    if segment.lower().startswith("0x"):
        return False
    if _HEX_KEY.match(segment) or _UUID.match(segment):
        return True
    return bool(_RANDOM.match(segment) and any(c.isdigit() for c in segment) and any(c.isalpha() for c in segment))


def _split(url: str):
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return None
    return parts if parts.scheme and parts.netloc else None


def url_credentials(url: str) -> list[str]:
    """The secret parts of a URL (password, lone user, credential query values, key-like path segments)."""
    parts = _split(url)
    if parts is None:
        return []
    found: list[str] = []
    if parts.password:
        found.append(parts.password)
    elif parts.username and parts.scheme.lower() in _TOKEN_USER_SCHEMES:
        found.append(parts.username)
    found += [value for name, value in parse_qsl(parts.query, keep_blank_values=True) if _SECRET_PARAM.search(name)]
    found += [seg for seg in parts.path.split("/") if seg and secret_segment(seg)]
    return [value for value in found if value]


def redact_url(url: str) -> str:
    """`url` with its credentials replaced by `***` (anything that is not a URL is returned as is)."""
    parts = _split(url)
    if parts is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if userinfo:
        user, has_password, _password = userinfo.partition(":")
        if has_password:
            userinfo = f"{user}:{REDACTED}"
        elif parts.scheme.lower() in _TOKEN_USER_SCHEMES:
            userinfo = REDACTED
    netloc = f"{userinfo}@{hostport}" if userinfo else hostport
    path = "/".join(REDACTED if seg and secret_segment(seg) else seg for seg in parts.path.split("/"))
    query = parts.query
    if query:
        pairs = []
        for pair in query.split("&"):
            name, eq, value = pair.partition("=")
            pairs.append(f"{name}={REDACTED}" if eq and value and _SECRET_PARAM.search(name) else pair)
        query = "&".join(pairs)
    return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))


def redact_urls(text: str) -> str:
    """Every URL in a free text, redacted."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)


class SecretMasker:
    """The secret values this process knows (thread-safe); `mask` replaces each with `***`."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            before = len(self._values)
            for value in values:
                value = value.strip()
                if len(value) < MIN_SECRET_CHARS:
                    continue
                self._values.add(value)
                if value.lower().startswith("0x") and len(value) > 2 + MIN_SECRET_CHARS:
                    self._values.add(value[2:])  # a hex key written without its prefix
                encoded = quote(value, safe="")
                if encoded != value:
                    self._values.add(encoded)  # as it appears inside a URL
            if len(self._values) != before:
                ordered = sorted(self._values, key=len, reverse=True)  # longest first: no partial masks
                self._pattern = re.compile("|".join(map(re.escape, ordered)), re.IGNORECASE)

    def mask(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(REDACTED, text) if pattern is not None else text

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None


SECRETS = SecretMasker()


def secret_values(settings: Any) -> list[str]:
    """Every secret a settings object holds: `SecretStr` values, and the credentials inside every URL
    (a database or Redis password, an RPC key in a path or a query)."""
    values: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            values.append(str(value.get_secret_value()))
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, str) and "://" in item:
                values += url_credentials(item)
    return values


def register_secrets(settings: Any) -> None:
    """Mask this settings object's secrets in everything `redact` handles from now on."""
    SECRETS.add(secret_values(settings))


def mask_secrets(text: str) -> str:
    return SECRETS.mask(text)


def redact(text: str) -> str:
    """A free text with its URLs redacted and every registered secret masked."""
    return SECRETS.mask(redact_urls(text))
