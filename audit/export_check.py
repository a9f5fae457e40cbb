"""Checking an audit export that has come back: is it whole, unaltered and this site's?

What a JSON Lines file proves by itself (docs/audit.md gives the same check for a third party):
every event's digest recomputes from the text hashed, consecutive events chain, and the manifest,
which holds the SHA-256 of every line above it, is signed by an Ed25519 key. Without a trusted public
key that proves nothing: anyone can recompute digests. So trust comes from the site only:

- a key is trusted if it is the site's signing key now, or the trail recorded it in an event *the
  site wrote* (its digest recomputes and its HMAC verifies under the audit key, which the database
  never holds): someone with the database login alone can insert a row naming a key of their own,
  but not sign it. A key's id is computed from the key, never taken from the row;
- the manifest must agree with the ``audit.export`` event it names (also one the site wrote): the
  row count, the head the rows were cut from, the filters or person, the reason given for reading;
- every event in the file must still be in the trail with the same digest, and the file itself is
  looked up among the files the site recorded sending (``audit.export_complete``), in any format:
  a CSV carries no signature, so that record is the only thing that can vouch for one.

The subject-access records file (one signed JSON document) is checked the same way against the
``audit.subject_access`` event it names. Every value read from the file is untrusted: a malformed
file is a clear problem, never an exception.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from audit.actions import Action
from audit.anchor import event_signature_valid
from audit.export_signing import ExportKeyError, export_key, key_id_of, load_public_key, signature_problem
from audit.exports import CSV_COLUMNS
from audit.models import AuditEvent
from audit.services import HASHED_FIELDS, sha256_text
from audit.subject_access import FORMAT as RECORDS_FORMAT

#: Problems listed in full; past this many, a count.
SHOWN = 20
#: What the manifest repeats of the export event that recorded it (besides rows and the head).
_RECORDED_FACTS = ("filters", "subject_access", "purpose")
#: What a file's JSON may not parse into: deeper than this is not an export (and would exhaust the stack).
_UNREADABLE = (ValueError, TypeError, KeyError, AttributeError, RecursionError)


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


@dataclass
class ExportCheck:
    kind: str = "jsonl"  # "jsonl", "records" (the subject-access records file), "csv" or "unknown"
    rows: int = 0
    manifest: dict | None = None
    file_sha256: str = ""
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)  # what was established, for the person checking
    digests: dict[int, str] = field(default_factory=dict)  # seq -> sha256 of each event in the file
    sent: dict | None = None  # the audit.export_complete event recording this exact file, if any
    more_problems: int = 0

    @property
    def csv_sent(self) -> bool:
        """A CSV the site recorded sending: the only thing that can be said of one."""
        return self.kind == "csv" and self.sent is not None and not self.problems

    @property
    def ok(self) -> bool:
        return not self.problems and not self.more_problems and self.kind in ("jsonl", "records")

    def problem(self, text: str) -> None:
        if len(self.problems) < SHOWN:
            self.problems.append(text)
        else:
            self.more_problems += 1

    def as_record(self) -> dict:
        manifest = self.manifest if isinstance(self.manifest, dict) else {}
        signature = manifest.get("signature")
        head = manifest.get("head")
        return {
            "ok": self.ok,
            "kind": self.kind,
            "rows": self.rows,
            "file_sha256": self.file_sha256,
            "head": head if isinstance(head, dict) else None,
            "key_id": str(signature.get("key_id"))[:64] if isinstance(signature, dict) else None,
            "sent_event": self.sent["seq"] if self.sent else None,
            "problems": self.problems[:5],
            "problem_count": len(self.problems) + self.more_problems,
        }


def _event_problems(event: dict, previous: dict | None) -> list[str]:
    seq = event.get("seq")
    exported = {**event, "actor_label": event.get("actor")}
    text = event.get("canonical") or json.dumps(
        {name: exported.get(name) for name in HASHED_FIELDS}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    if sha256_text(text) != event.get("sha256"):
        return [f"Event #{seq}: its digest does not match the text hashed, so the line was altered"]
    problems = []
    hashed = json.loads(text)
    for name in HASHED_FIELDS:
        if hashed.get(name) != exported.get(name):
            problems.append(f"Event #{seq}: {name.removesuffix('_label')} differs from what was hashed")
    if event.get("content_canonical") is not None:
        if sha256_text(event["content_canonical"]) != event.get("content_sha256"):
            problems.append(f"Event #{seq}: its content does not match its content digest")
        elif json.loads(event["content_canonical"]) != event.get("content"):
            problems.append(f"Event #{seq}: its content differs from the content hashed")
    follows = previous is not None and isinstance(seq, int) and previous.get("seq") == seq - 1
    if follows and event.get("prev_sha256") != previous.get("sha256"):
        problems.append(f"Event #{seq} does not follow #{seq - 1}: it names another event's digest before it")
    return problems


def _lines(raw: bytes, result: ExportCheck) -> list[bytes]:
    lines = raw.splitlines(keepends=True)
    blank = 0
    while lines and not lines[-1].strip():
        lines.pop()
        blank += 1
    if blank:
        result.facts.append(f"{_plural(blank, 'blank line')} after the manifest were left out of the check.")
    if any(line.endswith(b"\r\n") for line in lines[:1] + lines[-1:]):
        result.facts.append("The file's line endings were converted (CRLF): exports are written with LF only.")
    return lines


def _manifest_of(line: bytes) -> dict | None:
    try:
        manifest = json.loads(line)["manifest"]
    except _UNREADABLE:
        return None
    return manifest if isinstance(manifest, dict) else None


def check_file(raw: bytes, trusted: dict | None = None) -> ExportCheck:
    """Everything the file shows by itself; ``trusted`` (key id -> public key) for the signature."""
    result = ExportCheck(file_sha256=hashlib.sha256(raw).hexdigest())
    records = _records_document(raw)
    if records is not None:
        result.kind, result.manifest = "records", records
        _check_signature(result, trusted)
        return result
    lines = _lines(raw, result)
    manifest = _manifest_of(lines[-1]) if lines else None
    if manifest is None:
        header = raw.split(b"\n", 1)[0].strip().decode("utf-8", "replace")
        if header.lstrip("\ufeff") == ",".join(CSV_COLUMNS):
            result.kind = "csv"
        else:
            result.kind = "unknown"
            result.problem("This is not a Humphrey JSON Lines export: its last line is not a manifest")
        return result
    result.manifest = manifest
    rows = lines[:-1]
    result.rows = len(rows)
    if hashlib.sha256(b"".join(rows)).hexdigest() != manifest.get("rows_sha256"):
        result.problem("The lines above the manifest are not the ones exported: a line was changed, added or removed")
    if len(rows) != manifest.get("rows"):
        result.problem(f"The file holds {_plural(len(rows), 'event')}; the manifest says {manifest.get('rows')}")
    previous, seqs = None, []
    for number, line in enumerate(rows, start=1):
        try:
            event = json.loads(line)
            problems = _event_problems(event, previous)
        except _UNREADABLE:
            result.problem(f"Line {number} is not an exported event")
            previous = None
            continue
        for text in problems:
            result.problem(text)
        seqs.append(event.get("seq"))
        if isinstance(event.get("seq"), int):
            result.digests[event["seq"]] = str(event.get("sha256"))
        previous = event
    if [manifest.get("first_seq"), manifest.get("last_seq")] != ([seqs[0], seqs[-1]] if seqs else [None, None]):
        result.problem("The first and last events are not the ones the manifest names")
    _check_signature(result, trusted)
    return result


def _records_document(raw: bytes) -> dict | None:
    """The subject-access records file, if that is what this is (one JSON object of its format)."""
    if not raw.lstrip().startswith(b"{") or b'"format"' not in raw[:200_000]:
        return None
    try:
        document = json.loads(raw)
    except _UNREADABLE:
        return None
    return document if isinstance(document, dict) and document.get("format") == RECORDS_FORMAT else None


def _check_signature(result: ExportCheck, trusted: dict | None) -> None:
    problem = signature_problem(result.manifest or {}, trusted or {})
    if problem:
        result.problem(problem[:1].upper() + problem[1:])
    else:
        result.facts.append(f"It is signed with the site's key {result.manifest['signature']['key_id']}.")


def _site_written(sha256: str, canonical: str, mac: str | None) -> bool:
    """Whether the site wrote this event: its digest recomputes and its HMAC verifies under the audit
    key (which someone with the database login alone does not have)."""
    return bool(canonical) and sha256_text(canonical) == sha256 and event_signature_valid(sha256, mac or "")


def recorded_keys() -> list[dict]:
    """Every export key the trail names, oldest first, each marked whether it can be trusted (the
    site wrote the event, and the id is the key's own) and whether it signs exports now."""
    try:
        current = export_key().key_id
    except ExportKeyError:
        current = None
    keys = []
    events = AuditEvent.objects.filter(action=Action.AUDIT_EXPORT_KEY).order_by("seq")
    for seq, at, sha256, canonical, mac, data in events.values_list(
        "seq", "created_at", "sha256", "canonical", "mac", "data"
    ):
        data = data if isinstance(data, dict) else {}
        try:
            key = load_public_key(str(data.get("public_key")))
            key_id = key_id_of(key)
        except _UNREADABLE:
            key, key_id = None, None
        trusted = key is not None and key_id == data.get("key_id") and _site_written(sha256, canonical, mac)
        keys.append(
            {
                "seq": seq,
                "created_at": at,
                "key_id": key_id or str(data.get("key_id"))[:64],
                "algorithm": data.get("algorithm"),
                "public_key": data.get("public_key"),
                "trusted": trusted,
                "current": trusted and key_id == current,
                "key": key if trusted else None,
            }
        )
    return keys


def trusted_keys() -> dict:
    """Key id -> public key: the site's signing key now, and every key the site recorded itself."""
    keys = {key["key_id"]: key["key"] for key in recorded_keys() if key["trusted"]}
    try:
        current = export_key()
        keys[current.key_id] = current.private.public_key()
    except ExportKeyError:
        pass
    return keys


def _lookup_sent(result: ExportCheck) -> None:
    sent = (
        AuditEvent.objects.filter(action=Action.AUDIT_EXPORT_COMPLETE, data__sha256=result.file_sha256)
        .values("seq", "actor_label", "created_at", "data", "sha256", "canonical", "mac")
        .first()
    )
    if sent is not None and _site_written(sent["sha256"], sent["canonical"], sent["mac"]):
        result.sent = sent
        when = timezone.localtime(sent["created_at"], timezone.get_default_timezone())
        result.facts.insert(
            0,
            f"The site sent this exact file to {sent['actor_label']} on {when:%-d %B %Y at %H:%M} "
            f"({settings.TIME_ZONE}; event #{sent['seq']}).",
        )


def _head_event(head: object, action: Action, result: ExportCheck) -> dict | None:
    """The event the file names as the one recording it, if the site wrote it; else a problem."""
    seq = head.get("seq") if isinstance(head, dict) else None
    row = (
        AuditEvent.objects.filter(seq=seq, action=action).values("seq", "sha256", "canonical", "mac", "data").first()
        if isinstance(seq, int)
        else None
    )
    if row is None or row["sha256"] != head.get("sha256"):
        result.problem(f"The {action} event the file names (#{seq}) is not in this site's audit trail")
        return None
    if not _site_written(row["sha256"], row["canonical"], row["mac"]):
        result.problem(f"The {action} event the file names (#{seq}) was not written by the site")
        return None
    return row["data"] if isinstance(row["data"], dict) else {}


def _against_export_event(result: ExportCheck) -> None:
    manifest = result.manifest or {}
    recorded = _head_event(manifest.get("head"), Action.AUDIT_EXPORT, result)
    if recorded is None:
        return
    as_of = manifest.get("as_of")
    as_of_seq = as_of.get("seq") if isinstance(as_of, dict) else None
    differs = [
        name
        for name, ours, theirs in [
            ("the number of events", recorded.get("rows"), manifest.get("rows")),
            ("the head the events were cut from", recorded.get("as_of"), as_of_seq),
            ("the format", recorded.get("format"), "jsonl"),
            *((f"the {name.replace('_', ' ')}", recorded.get(name), manifest.get(name)) for name in _RECORDED_FACTS),
        ]
        if (ours or None) != (theirs or None)
    ]
    for name in differs:
        result.problem(f"The manifest and the export event #{manifest['head']['seq']} disagree on {name}")


def _against_records_event(result: ExportCheck) -> None:
    document = result.manifest or {}
    recorded = _head_event(document.get("head"), Action.AUDIT_SUBJECT_ACCESS, result)
    if recorded is None:
        return
    if recorded.get("email") != document.get("subject_access") or recorded.get("records") != document.get("counts"):
        result.problem("The file and the subject-access event it names disagree on whose records, or how many")
    if (recorded.get("purpose") or None) != (document.get("purpose") or None):
        result.problem("The file and the subject-access event it names disagree on the reason given for reading")


def _against_trail(result: ExportCheck) -> None:
    """What only the site can say: the file is one it sent, and its events are still in the chain."""
    _lookup_sent(result)
    if result.kind == "csv":
        if result.sent is None:
            result.problem(
                "This CSV file is not one the site recorded sending (a CSV carries no signature, so that record "
                "is the only way to check one: use the JSON Lines export as evidence)"
            )
        else:
            result.facts.append("A CSV file carries no signature: give the JSON Lines export as evidence.")
        return
    if result.kind == "records":
        _against_records_event(result)
    elif result.kind == "jsonl":
        _against_export_event(result)
    else:
        return
    if result.ok and result.sent is None:
        result.facts.append(
            "The site has no record of sending this exact file (a download cut short, or a file saved otherwise, "
            "is not recorded): the checks above still hold."
        )
    if not result.digests:
        return
    in_trail = dict(AuditEvent.objects.filter(seq__in=list(result.digests)).values_list("seq", "sha256"))
    changed = sorted(seq for seq, digest in in_trail.items() if digest != result.digests[seq])
    for seq in changed:
        result.problem(f"Event #{seq} is not in this site's trail as exported: the trail or the file was altered")
    missing = len(result.digests) - len(in_trail)
    if missing:
        verb = "is" if missing == 1 else "are"
        result.problem(f"{_plural(missing, 'event')} of the file {verb} not in this site's trail")


def check_export(raw: bytes, extra_keys: list[str] | None = None, *, against_trail: bool = True) -> ExportCheck:
    """``check_file`` with the keys the site trusts (and any PEM keys given), then the trail's facts."""
    trusted = trusted_keys() if against_trail else {}
    for pem in extra_keys or []:
        key = load_public_key(pem)
        trusted[key_id_of(key)] = key
    result = check_file(raw, trusted)
    if against_trail:
        _against_trail(result)
    elif result.kind == "csv":
        result.problem("A CSV file carries no signature: only the site can check one (without --offline)")
    return result
