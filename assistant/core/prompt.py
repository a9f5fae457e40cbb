"""Render the versioned answer prompt: system rules, recent turns, fenced passages, the question.

Passages are wrapped in ``<passage n=...>`` tags and any tag-like text inside them that could close
or forge a fence is neutralised, so a document cannot smuggle instructions out of its quotation.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

from .types import Source, Turn

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
PROMPT_VERSION = "answer_v1"
MAX_TURN_CHARS = 1500  # earlier turns are context only; long ones are cut
MAX_TURNS = 4

_SECTION = re.compile(r"^=== (system|user) ===\s*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{\{(passages|question)\}\}")
_FENCE = re.compile(r"<\s*/?\s*passage", re.IGNORECASE)
_CITATION = re.compile(r"\[(\d{1,3})\]")


@cache
def load_prompt(version: str = PROMPT_VERSION) -> dict[str, str]:
    """The ``system`` and ``user`` templates of a prompt version."""
    text = (PROMPTS / f"{version}.md").read_text(encoding="utf-8")
    parts = _SECTION.split(text)
    sections = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    if set(sections) != {"system", "user"}:
        raise ValueError(f"prompt {version} must have a system and a user section")
    return sections


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


# Characters a model may read as "<" or "/" although they are not: fullwidth and small forms (which
# NFKC folds), angle quotation marks and brackets, and the zero-width characters that can hide inside
# "pas\u200bsage".
_LOOKALIKES = str.maketrans(
    {
        "\u2039": "<", "\u2329": "<", "\u3008": "<", "\u27e8": "<", "\u02c2": "<", "\u276e": "<",
        "\uff1c": "<", "\ufe64": "<",
        "\u203a": ">", "\u232a": ">", "\u3009": ">", "\u27e9": ">", "\u02c3": ">", "\u276f": ">",
        "\uff1e": ">", "\ufe65": ">",
        "\u2215": "/", "\u2044": "/", "\uff0f": "/", "\u29f8": "/",
        "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
    }
)  # fmt: skip


def fence(text: str) -> str:
    """Passage text with anything that could open or close a ``<passage>`` tag made harmless, lookalike
    brackets, slashes and letters (fullwidth, angle quotes, zero-width joiners) folded to ASCII first."""
    text = unicodedata.normalize("NFKC", text).translate(_LOOKALIKES)
    return _FENCE.sub(lambda m: m.group(0).replace("<", "&lt;"), text)


def render_passages(sources: list[Source]) -> str:
    blocks = []
    for s in sources:
        where = s.heading_path or ""
        if s.anchor:
            where = f"{where} ({s.anchor})" if where else s.anchor
        blocks.append(
            f'<passage n="{s.n}" document="{_attr(s.document_title)}" section="{_attr(where)}">\n'
            f"{fence(s.text.strip())}\n</passage>"
        )
    return "\n\n".join(blocks)


def render_messages(
    *, question: str, sources: list[Source], turns: list[Turn] = (), version: str = PROMPT_VERSION
) -> list[dict]:
    """The messages sent to the chat model, in OpenAI form. Recorded verbatim in the audit."""
    templates = load_prompt(version)
    values = {"passages": render_passages(sources), "question": question.strip()}
    user = _PLACEHOLDER.sub(lambda m: values[m.group(1)], templates["user"])
    messages = [{"role": "system", "content": templates["system"]}]
    for turn in list(turns)[-MAX_TURNS:]:
        # Earlier answers' [n] referred to earlier passages; drop them so they are not confused.
        text = _CITATION.sub("", turn.text) if turn.role == "assistant" else turn.text
        messages.append({"role": turn.role, "content": text[:MAX_TURN_CHARS]})
    messages.append({"role": "user", "content": user})
    return messages
