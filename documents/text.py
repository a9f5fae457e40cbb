"""What curators type, or files name themselves, that nobody can see: refused where a curator types it
(a passage's stop reason, glossary entries, the curation forms' names, titles and reasons), taken out
where a file or its metadata gives it (a document's title, its file name). No Django imports."""

from __future__ import annotations

import re
import unicodedata

#: Characters nobody can see that change what text shows or matches: control characters other than
#: whitespace (NUL, which the database cannot store, C1 controls), lone surrogates, zero-width
#: characters and marks (U+200B-U+200F, U+2060-U+2064, U+FEFF), and direction embeddings, overrides
#: and isolates (U+061C, U+202A-U+202E, U+2066-U+2069), which can make a title read as another
#: ("report\u202efdp.exe" shows as "reportexe.pdf"). A phrase holding one never matches either.
INVISIBLE = re.compile(
    r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)


def invisible_found(text: str) -> str:
    """The first invisible character in ``text`` as people can look it up ("U+202E RIGHT-TO-LEFT
    OVERRIDE"); "" when there is none."""
    match = INVISIBLE.search(text or "")
    if match is None:
        return ""
    char = match.group()
    name = unicodedata.name(char, "") or ("a control character" if ord(char) < 0xA0 else "a lone surrogate")
    return f"U+{ord(char):04X} {name}"


def invisible_removed(text: str) -> str:
    """``text`` without its invisible characters: for names that come from a file, not a person."""
    return INVISIBLE.sub("", text or "")
