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

Every detector runs in time linear in the question's length, whatever the question: one question that
stalled the intake would stall everyone's. Each pattern tried at a position looks at a bounded number of
characters, or at a run of characters no other attempt looks at again (no nested or adjacent quantifiers
over the same characters); the name before a postcode is found once for the whole question and looked up
in a bounded window before each postcode. tests/pii/test_pii_worst_case.py measures the worst inputs known.
"""

from __future__ import annotations

import re
from bisect import bisect_left
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
# What ``redact`` leaves in a question's place of each kind.
REDACTED = tuple(f"[{label}]" for label in KIND_LABELS.values())


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]


# Fixed-length groups with single optional spaces between them: at most 13 characters per attempt.
_NINO = re.compile(
    r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z])\s?(\d{2})\s?(\d{2})\s?(\d{2})\s?([A-D])\b",
    re.IGNORECASE,
)
# Email addresses are found from each "@" outwards (see _emails): the local part is the run of these
# characters before it, the domain is matched after it. Labels are possessive: a label is followed by a
# dot or by the end of the domain, so giving characters back could never help.
_EMAIL_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)*\.[A-Za-z]{2,}\b")
_WORD_BOUNDARY = re.compile(r"\b")
# 13-19 digits, single spaces or hyphens between them: each character has one role, at most 37 per attempt.
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
# At most 8 characters per attempt. Case-insensitive rather than matched on text.upper(): upper-casing
# can lengthen a text ("ß" becomes "SS"), which would shift every position after it.
_POSTCODE = re.compile(
    r"\b(GIR ?0AA|[A-PR-UWYZ](?:\d[A-HJKPSTUW\d]?|[A-HK-Y]\d[ABEHMNPRVWXY\d]?) ?\d[ABD-HJLNP-UW-Z]{2})\b",
    re.IGNORECASE,
)
# Two capitalised words with spaces (not a line break) between them: a name. The second word is in a
# lookahead so that it can start the next pair ("John Henry Smith" is two pairs). An attempt reads one
# word, the spaces after it and the next word; no other attempt reads those spaces again.
_NAME_PAIR = re.compile(r"\b[A-Z][a-z]+[^\S\n]+(?=([A-Z][a-z]+)\b)")
# A name ending this close before a postcode, on the same line, makes the postcode an address.
_NAME_WINDOW = 80


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


def _emails(text: str) -> list[tuple[int, int]]:
    """Where email addresses are: each "@" with local-part characters before it and a domain after it.

    The same matches as ``\\b[A-Za-z0-9._%+-]+@<domain>`` scanned left to right, without its cost: that
    pattern, tried at each word boundary of a long run such as "a.a.a.a…", reads the whole run each time.
    Here each run of local-part characters is read once, back from its "@", and each domain once.
    """
    spans: list[tuple[int, int]] = []
    end_of_last = 0
    at = text.find("@")
    while at != -1:
        start = at
        while start > end_of_last and text[start - 1] in _EMAIL_LOCAL:
            start -= 1
        # The address starts at the first word boundary of the run (as "\b" at its start required).
        boundary = _WORD_BOUNDARY.search(text, start, at) if start < at else None
        if boundary is not None and boundary.start() < at:
            domain = _EMAIL_DOMAIN.match(text, at + 1)
            if domain is not None:
                spans.append((boundary.start(), domain.end()))
                end_of_last = domain.end()
        at = text.find("@", max(at + 1, end_of_last))
    return spans


def _name_ends(text: str) -> list[int]:
    """Where each pair of capitalised words ends, in order: found once for the whole text."""
    return [m.end(1) for m in _NAME_PAIR.finditer(text)]


def _name_before(text: str, name_ends: list[int], postcode_start: int) -> bool:
    """Whether a name ends at most _NAME_WINDOW characters before the postcode, on its line."""
    window_start = max(0, postcode_start - _NAME_WINDOW)
    line_start = text.rfind("\n", window_start, postcode_start) + 1  # within the window only
    i = bisect_left(name_ends, max(window_start, line_start))
    return i < len(name_ends) and name_ends[i] <= postcode_start


# Every kind looked for has a digit or an "@" (or its full-width form): text without one holds none.
_MAY_HOLD = re.compile(r"[\d@\uff20]")


def may_hold_personal_data(text: str) -> bool:
    """False only when ``text`` certainly holds no personal data (a cheap test before the real one)."""
    return _MAY_HOLD.search(text) is not None


def find_personal_data(text: str) -> list[Finding]:
    """Every personal-data finding in ``text``, in order, overlaps removed (first, longest wins).

    Linear in the length of ``text`` (see the module's docstring).
    """
    found: list[Finding] = []
    for m in _NINO.finditer(text):
        found.append(Finding("ni_number", m.start(), m.end()))
    for start, end in _emails(text):
        found.append(Finding("email", start, end))
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _luhn_ok(digits) and len(set(digits)) > 1:
            found.append(Finding("card_number", m.start(), m.end()))
    # Google's libphonenumber: candidates of bounded length, each parsed, then its parts if it fails:
    # linear, and the costliest detector per character (bounds in tests/pii/test_pii_worst_case.py).
    for match in phonenumbers.PhoneNumberMatcher(text, "GB", leniency=phonenumbers.Leniency.VALID):
        found.append(Finding("phone", match.start, match.end))
    name_ends: list[int] | None = None
    for m in _POSTCODE.finditer(text):
        # A postcode written in lower case is still a postcode; require a space or the full length so
        # words like "ab1" inside prose are not flagged.
        if " " not in m.group() and len(m.group()) < 6:
            continue
        if name_ends is None:
            name_ends = _name_ends(text)
        kind = "address" if _name_before(text, name_ends, m.start()) else "postcode"
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


def _serve() -> None:
    """A scanning worker (``python -m assistant.pii``, see ``assistant.scanning``): one JSON line in
    (the text), one JSON line out (its findings as ``[kind, start, end]``), until stdin closes."""
    import json
    import signal
    import sys

    # It stops when its stdin closes, as the process that started it exits: Ctrl-C in a terminal
    # reaches it too, and would only print a traceback over the site's last lines.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for line in sys.stdin:
        findings = find_personal_data(json.loads(line))
        sys.stdout.write(json.dumps([[f.kind, f.start, f.end] for f in findings]) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve()
