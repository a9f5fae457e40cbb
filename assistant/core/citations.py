"""Citations: which ``[n]`` an answer used, keeping only numbers of passages it was shown."""

from __future__ import annotations

import re

_CITE = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")


def cited_numbers(text: str, shown: set[int] | list[int]) -> list[int]:
    """The distinct passage numbers cited in ``text``, in order of first use, that were ``shown``.

    ``[2]``, ``[2][3]`` and ``[2, 3]`` are all understood; ``[9]`` when only 1-8 were shown is not
    a citation (a model cannot cite what it was not given).
    """
    allowed = set(shown)
    found: list[int] = []
    for match in _CITE.finditer(text):
        for part in match.group(1).split(","):
            n = int(part.strip())
            if n in allowed and n not in found:
                found.append(n)
    return found


def strip_unshown(text: str, shown: set[int] | list[int]) -> str:
    """``text`` with citations of numbers that were never shown removed."""
    allowed = set(shown)

    def keep(match: re.Match) -> str:
        numbers = [p.strip() for p in match.group(1).split(",") if int(p.strip()) in allowed]
        return "".join(f"[{n}]" for n in numbers)

    return _CITE.sub(keep, text)


MAX_HIGHLIGHTS = 20  # spans a passage link carries, at most


def highlight_query(spans) -> str:
    """``?hl=start-end,...``: the sentences of a passage an answer drew on, for its page to highlight
    (``documents.views.passages.passage`` reads it). Empty when there are none."""
    parts = [f"{int(start)}-{int(end)}" for start, end in list(spans or [])[:MAX_HIGHLIGHTS] if int(end) > int(start)]
    return f"?hl={','.join(parts)}" if parts else ""
