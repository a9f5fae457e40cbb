"""Personal data in questions: find it precisely, then warn, redact or block by setting.

Plain Python, no Django imports. Pattern recognisers with validation, because the NLP recognisers of
tools such as Presidio need spaCy models that cannot be installed here:

- National Insurance numbers, with HMRC's prefix rules (no D, F, I, Q, U or V; no O second; not BG,
  GB, KN, NK, NT, TN or ZZ) and suffix A-D;
- email addresses;
- UK phone numbers, parsed and validated by ``phonenumbers`` (Google's libphonenumber);
- payment card numbers, 13-19 digits passing the Luhn check;
- UK postcodes (the official format), reported as a *postcode* — with a capitalised name before it on the
  same line they are reported as an *address*.

A detector that cries wolf teaches people to ignore it, so each pattern prefers missing an odd case to
flagging a form code such as "MPM A.4" or a section number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

KIND_LABELS = {
    "ni_number": "National Insurance number",
    "email": "email address",
    "phone": "phone number",
    "card_number": "payment card number",
    "postcode": "postcode",
    "address": "name and address",
}


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]


_NINO = re.compile(
    r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z])\s?(\d{2})\s?(\d{2})\s?(\d{2})\s?([A-D])\b",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_POSTCODE = re.compile(
    r"\b(GIR ?0AA|[A-PR-UWYZ](?:\d[A-HJKPSTUW\d]?|[A-HK-Y]\d[ABEHMNPRVWXY\d]?) ?\d[ABD-HJLNP-UW-Z]{2})\b"
)
_NAME_BEFORE = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+\b[^\n]{0,80}$")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def find_personal_data(text: str) -> list[Finding]:
    """Every personal-data finding in ``text``, in order, overlaps removed (first, longest wins)."""
    found: list[Finding] = []
    for m in _NINO.finditer(text):
        found.append(Finding("ni_number", m.start(), m.end()))
    for m in _EMAIL.finditer(text):
        found.append(Finding("email", m.start(), m.end()))
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _luhn_ok(digits) and len(set(digits)) > 1:
            found.append(Finding("card_number", m.start(), m.end()))
    for match in phonenumbers.PhoneNumberMatcher(text, "GB", leniency=phonenumbers.Leniency.VALID):
        found.append(Finding("phone", match.start, match.end))
    for m in _POSTCODE.finditer(text.upper()):
        # Upper-cased to match, but a postcode written in lower case is still a postcode; require a
        # space or the full length so words like "ab1" inside prose are not flagged.
        raw = text[m.start() : m.end()]
        if " " not in raw and len(raw) < 6:
            continue
        line_start = text.rfind("\n", 0, m.start()) + 1
        kind = "address" if _NAME_BEFORE.search(text[line_start : m.start()]) else "postcode"
        found.append(Finding(kind, m.start(), m.end()))
    found.sort(key=lambda f: (f.start, -(f.end - f.start)))
    result: list[Finding] = []
    for finding in found:
        if result and finding.start < result[-1].end:
            continue
        result.append(finding)
    return result


def redact(text: str, findings: list[Finding]) -> str:
    """``text`` with each finding replaced by a label such as ``[email address]``."""
    out, last = [], 0
    for f in sorted(findings, key=lambda f: f.start):
        out.append(text[last : f.start])
        out.append(f"[{f.label}]")
        last = f.end
    out.append(text[last:])
    return "".join(out)


def kinds(findings: list[Finding]) -> list[str]:
    """The distinct kinds found, in a stable order (what the audit records: never the values)."""
    return sorted({f.kind for f in findings})
