"""Checking a JSON Lines audit export that has come back: is it whole, unaltered, and ours?

What the file proves by itself (docs/audit.md gives the same check for a third party, in plain
Python): every event's digest recomputes from the text hashed, consecutive events chain, no line was
changed, added or removed (``rows_sha256``), and the manifest is signed by an Ed25519 key. What only
the site can add, for ``verify_export`` and the auditors' page: that the key is one the trail
recorded, that the file is byte for byte one the site sent (``audit.export_complete``), and that each
event it holds is still in the chain with the same digest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from audit.actions import Action
from audit.export_signing import key_id_of, load_public_key, signature_problem
from audit.models import AuditEvent
from audit.services import sha256_text

#: The fields of an exported event that its digest covers (``actor`` is hashed as ``actor_label``).
HASHED = (
    "seq",
    "created_at",
    "action",
    "outcome",
    "actor_id",
    "actor_label",
    "subject",
    "data",
    "content_sha256",
    "prev_sha256",
)
#: Problems listed in full; past this many, a count.
SHOWN = 20


@dataclass
class ExportCheck:
    rows: int = 0
    manifest: dict | None = None
    file_sha256: str = ""
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)  # what was established, for the person checking
    digests: dict[int, str] = field(default_factory=dict)  # seq -> sha256 of each event in the file
    more_problems: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and not self.more_problems

    def problem(self, text: str) -> None:
        if len(self.problems) < SHOWN:
            self.problems.append(text)
        else:
            self.more_problems += 1

    def as_record(self) -> dict:
        manifest = self.manifest or {}
        return {
            "ok": self.ok,
            "rows": self.rows,
            "file_sha256": self.file_sha256,
            "head": manifest.get("head"),
            "key_id": (manifest.get("signature") or {}).get("key_id"),
            "problems": self.problems[:5],
            "problem_count": len(self.problems) + self.more_problems,
        }


def _event_problems(event: dict, previous: dict | None) -> list[str]:
    seq = event.get("seq")
    exported = {**event, "actor_label": event.get("actor")}
    text = event.get("canonical") or json.dumps(
        {name: exported.get(name) for name in HASHED}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    if sha256_text(text) != event.get("sha256"):
        return [f"#{seq}: its digest does not match the text hashed: the line was altered"]
    problems = []
    hashed = json.loads(text)
    for name in HASHED:
        if hashed.get(name) != exported.get(name):
            problems.append(f"#{seq}: {name.removesuffix('_label')} differs from what was hashed")
    if event.get("content_canonical") is not None:
        if sha256_text(event["content_canonical"]) != event.get("content_sha256"):
            problems.append(f"#{seq}: its content does not match its content digest")
        elif json.loads(event["content_canonical"]) != event.get("content"):
            problems.append(f"#{seq}: its content differs from the content hashed")
    follows = previous is not None and isinstance(seq, int) and previous.get("seq") == seq - 1
    if follows and event.get("prev_sha256") != previous.get("sha256"):
        problems.append(f"#{seq}: does not follow #{seq - 1} (another event's digest is named before it)")
    return problems


def check_file(raw: bytes, trusted: dict | None = None) -> ExportCheck:
    """Everything the file shows by itself; ``trusted`` (key id -> public key) for the signature."""
    result = ExportCheck(file_sha256=hashlib.sha256(raw).hexdigest())
    lines = raw.splitlines(keepends=True)
    try:
        manifest = json.loads(lines[-1])["manifest"] if lines else None
    except (ValueError, KeyError, TypeError):
        manifest = None
    if not isinstance(manifest, dict):
        result.problem("the last line is not a Humphrey export manifest: the file is cut short or not an export")
        return result
    result.manifest = manifest
    rows = lines[:-1]
    result.rows = len(rows)
    if hashlib.sha256(b"".join(rows)).hexdigest() != manifest.get("rows_sha256"):
        result.problem("the lines above the manifest are not the ones exported: a line was changed, added or removed")
    if len(rows) != manifest.get("rows"):
        result.problem(f"the file holds {len(rows)} events, the manifest says {manifest.get('rows')}")
    previous = None
    seqs = []
    for number, line in enumerate(rows, start=1):
        try:
            event = json.loads(line)
            problems = _event_problems(event, previous)
        except (ValueError, TypeError, AttributeError):
            result.problem(f"line {number} is not an exported event")
            previous = None
            continue
        for text in problems:
            result.problem(text)
        seqs.append(event.get("seq"))
        if isinstance(event.get("seq"), int):
            result.digests[event["seq"]] = str(event.get("sha256"))
        previous = event
    if [manifest.get("first_seq"), manifest.get("last_seq")] != ([seqs[0], seqs[-1]] if seqs else [None, None]):
        result.problem("the first and last events are not the ones the manifest names")
    problem = signature_problem(manifest, trusted or {})
    if problem:
        result.problem(problem)
    else:
        result.facts.append(f"The manifest is signed with key {manifest['signature']['key_id']}.")
    return result


def trail_keys() -> dict:
    """Every export public key the trail recorded (key id -> key)."""
    keys = {}
    for data in AuditEvent.objects.filter(action=Action.AUDIT_EXPORT_KEY).values_list("data", flat=True):
        try:
            keys[data["key_id"]] = load_public_key(data["public_key"])
        except (KeyError, TypeError, ValueError):
            continue  # an event that is not a key is the chain check's business, not this one's
    return keys


def _against_trail(result: ExportCheck) -> None:
    """What only the site can say: the file is one it sent, and its events are still in the chain."""
    manifest = result.manifest or {}
    head = manifest.get("head") or {}
    sent = (
        AuditEvent.objects.filter(action=Action.AUDIT_EXPORT_COMPLETE, data__sha256=result.file_sha256)
        .values("seq", "actor_label", "created_at", "data")
        .first()
    )
    if sent is not None:
        result.facts.append(
            f"The site sent this exact file (SHA-256 {result.file_sha256[:16]}…) to {sent['actor_label']} "
            f"on {sent['created_at']:%d %B %Y at %H:%M} UTC (event #{sent['seq']})."
        )
    elif result.ok:
        result.facts.append("No record of this exact file being sent was found (a download cut short is not recorded).")
    exported = (
        AuditEvent.objects.filter(seq=head.get("seq"), action=Action.AUDIT_EXPORT).values_list("sha256", flat=True)
        if isinstance(head.get("seq"), int)
        else []
    )
    if not exported or exported[0] != head.get("sha256"):
        result.problem(f"the export event the manifest names (#{head.get('seq')}) is not in this site's audit trail")
    changed = [
        seq
        for seq, digest in AuditEvent.objects.filter(seq__in=list(result.digests)).values_list("seq", "sha256")
        if digest != result.digests[seq]
    ]
    missing = len(result.digests) - AuditEvent.objects.filter(seq__in=list(result.digests)).count()
    for seq in sorted(changed):
        result.problem(f"#{seq} is not in this site's trail as exported: the trail or the file differs (verify both)")
    if missing:
        result.problem(f"{missing} event{'s' if missing != 1 else ''} of the file are not in this site's trail")


def check_export(raw: bytes, extra_keys: list[str] | None = None, *, against_trail: bool = True) -> ExportCheck:
    """``check_file`` with the keys the trail recorded (and any PEM keys given), then the trail's facts."""
    trusted = trail_keys() if against_trail else {}
    for pem in extra_keys or []:
        key = load_public_key(pem)
        trusted[key_id_of(key)] = key
    result = check_file(raw, trusted)
    if against_trail and result.manifest is not None:
        _against_trail(result)
    return result
