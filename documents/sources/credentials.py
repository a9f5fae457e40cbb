"""Credentials a synced source may send: an intranet page or sitemap behind a sign-in.

The operator names them in ``HUMPHREY_SOURCE_CREDENTIALS`` (JSON): each a header to send, the
environment variable holding its value, and the origins it may be sent to::

    {"intranet": {"origins": ["https://intranet.example.gov.uk"],
                  "header": "Authorization", "value_env": "HUMPHREY_INTRANET_TOKEN"}}

A curator picks one by name for a web-pages or sitemap source; the secret itself is never stored,
shown, logged or audited. It goes only with requests to its own origins (scheme, host and port),
robots.txt included, so a redirect to any other site does not carry it (``net.Fetcher``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


@dataclass(frozen=True)
class Credential:
    name: str
    origins: frozenset[str]
    header: str
    value_env: str

    def value(self) -> str:
        """The secret, read from the environment when a run starts ("" when it is not set)."""
        return os.environ.get(self.value_env, "")

    def applies_to(self, url: str) -> bool:
        return origin(url) in self.origins


def origin(url: str) -> str:
    """``https://host[:port]`` of ``url`` (the port only when it is not the scheme's own); "" if none."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return ""
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return ""
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{parsed.host.lower()}{port}"


def credentials() -> dict[str, Credential]:
    """The configured credentials by name; ImproperlyConfigured naming what is wrong."""
    found = {}
    for name, spec in (settings.HUMPHREY_SOURCE_CREDENTIALS or {}).items():
        where = f"HUMPHREY_SOURCE_CREDENTIALS[{name!r}]"
        if not isinstance(name, str) or not _NAME.match(name):
            raise ImproperlyConfigured(f"{where}: a name is letters, digits, '.', '_' or '-'")
        if not isinstance(spec, dict):
            raise ImproperlyConfigured(f"{where} must be an object with origins, header and value_env")
        origins = spec.get("origins")
        if not isinstance(origins, list) or not origins:
            raise ImproperlyConfigured(f"{where}: origins must be a list of https://host addresses")
        normalised = set()
        for text in origins:
            at = origin(str(text))
            if not at or at != str(text).rstrip("/").lower():
                raise ImproperlyConfigured(f"{where}: {text!r} is not an origin like https://intranet.example.gov.uk")
            normalised.add(at)
        header = spec.get("header", "Authorization")
        if not isinstance(header, str) or not _HEADER.match(header):
            raise ImproperlyConfigured(f"{where}: header must be a header name such as Authorization")
        value_env = spec.get("value_env")
        if not isinstance(value_env, str) or not value_env:
            raise ImproperlyConfigured(f"{where}: value_env must name the environment variable holding the value")
        found[name] = Credential(name, frozenset(normalised), header, value_env)
    return found


def credential_named(name: str) -> Credential | None:
    return credentials().get(name) if name else None
