"""What curators type that nobody can see: shared by the services that keep it (a passage's stop
reason, glossary entries)."""

from __future__ import annotations

import re

#: Control characters other than whitespace, and lone surrogates: nobody can see them, a phrase holding
#: one never matches, and the database cannot store a NUL.
INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\ud800-\udfff]")
