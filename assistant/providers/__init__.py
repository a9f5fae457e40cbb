"""Chat models chosen by settings, like Django's CACHES: ``HUMPHREY_CHAT_MODELS`` maps aliases to
``{"CLASS": dotted path or short name, "CONFIG": {...}}``; ``HUMPHREY_CHAT_MODEL_ALIAS`` picks one.

Short names: ``openai``, ``azure``, ``extractive``, ``fake``. Each provider is built once per process
(its circuit breaker must outlive one answer); changing the settings builds a new one.
"""

from __future__ import annotations

import functools
import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .base import ChatModel

SHORT_NAMES = {
    "openai": "assistant.providers.openai.OpenAIChatModel",
    "azure": "assistant.providers.openai.AzureOpenAIChatModel",
    "extractive": "assistant.providers.extractive.ExtractiveAnswerer",
    "fake": "assistant.providers.fake.FakeChatModel",
}
_built: dict[str, tuple[str, ChatModel]] = {}
_lock = threading.Lock()


def get_chat_model(alias: str | None = None) -> ChatModel:
    """The chat model named ``alias`` (default: ``HUMPHREY_CHAT_MODEL_ALIAS``)."""
    alias = alias or settings.HUMPHREY_CHAT_MODEL_ALIAS
    models = settings.HUMPHREY_CHAT_MODELS
    if alias not in models:
        raise ImproperlyConfigured(f"HUMPHREY_CHAT_MODELS has no alias {alias!r} (known: {', '.join(models)})")
    spec = models[alias]
    key = repr(sorted(spec.items(), key=str))
    cached = _built.get(alias)
    if cached is not None and cached[0] == key:
        return cached[1]
    with _lock:
        cached = _built.get(alias)
        if cached is not None and cached[0] == key:
            return cached[1]
        if "CLASS" not in spec:
            raise ImproperlyConfigured(f"HUMPHREY_CHAT_MODELS[{alias!r}] needs a CLASS")
        path = SHORT_NAMES.get(spec["CLASS"], spec["CLASS"])
        try:
            cls = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(f"HUMPHREY_CHAT_MODELS[{alias!r}] CLASS {path!r}: {exc}") from None
        try:
            model = cls(alias=alias, **spec.get("CONFIG", {}))
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"HUMPHREY_CHAT_MODELS[{alias!r}] CONFIG: {exc}") from None
        _built[alias] = (key, model)
        return model


@functools.cache
def fallback_answerer() -> ChatModel:
    """What answers when the configured language model fails before its first word: the extractive
    answerer, saying why it quotes (``HUMPHREY_CHAT_QUOTE_WHEN_MODEL_FAILS``)."""
    from .extractive import FALLBACK_NOTICE, ExtractiveAnswerer

    return ExtractiveAnswerer(
        alias="extractive-fallback", max_words=settings.HUMPHREY_ANSWER_QUOTE_WORDS, notice=FALLBACK_NOTICE
    )


def reset_chat_models() -> None:
    """Forget built providers (tests that change settings call this)."""
    with _lock:
        _built.clear()
    fallback_answerer.cache_clear()
