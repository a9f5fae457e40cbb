"""Signed checkpoints of the chain's head, kept outside the database.

A hash chain cannot show that its newest events were removed, nor that someone able to rewrite
the database recomputed every digest: both leave a valid chain. The anchor is the answer. After
each audit event commits, the writer records "the chain that starts with event #1 = G reached
#seq = sha256" in a small file outside the database, signed with HMAC-SHA-256 under a key that is
not in the database (``HUMPHREY_AUDIT_ANCHOR_KEY``; by default derived from ``SECRET_KEY`` with a
salt of its own). Verification then insists that every anchored event is still there with its
anchored digest, and that the chain reaches at least as far as the furthest.

Files (``HUMPHREY_AUDIT_ANCHOR_PATH``, by default under ``HUMPHREY_DATA_DIR``):

- ``<path>.log``: one JSON line per checkpoint (about 300 bytes), appended as each event commits;
- ``<path>``: JSON ``{"version": 1, "chains": {G: checkpoint}}``, the writer's current head of each
  chain, replaced atomically (write a temporary file, ``os.replace``), at most once a second while it
  moves forward (it trails the log by that much at most), at once when it starts or marks a chain.

Each checkpoint also pins ``signed_from``, the seq from which the site signed every event of the
chain (``AuditEvent.mac``): outside the database, so blanking every signature in it and rewriting
history does not pass as "written before events were signed".

The writer does not take the chain's word for it. Before it anchors an event it checks that the
chain still holds its current head; if not (events deleted or rewritten behind its back), it
writes the checkpoint marked ``conflict`` with what the anchor had recorded, and an
``audit.anchor_conflict`` event. If it finds no anchor at all for a chain that already has events
(the files were removed, or moved), it writes the checkpoint marked ``restart`` and an
``audit.anchor_restart`` event. Verification reports both until (for a restart) an auditor
acknowledges it. A brand-new chain whose first events are anchored out of order is not a restart.

Verification reads every validly signed checkpoint of the file and the log: one of them put back
from an earlier copy (an older but valid signature) is not enough, and two signed checkpoints of
one seq with different digests prove a rewrite. Ship the log off the host to make that stronger.

Chains are keyed by the digest of their event #1, so a database emptied and started again (the
test runner does that between tests) gets an anchor of its own instead of tripping over the old
one; an anchor for the *current* chain that is missing is reported by verification.

Several processes write: every update holds an exclusive ``fcntl`` lock on ``<path>.lock`` while
it reads, compares and replaces. What this does not stop: someone who can write these files *and*
read the key (a shell on the web host) can sign anything. Keep a copy of the log elsewhere.
"""

# Over 500 lines on purpose: writing a checkpoint and reading them back for verification share one
# file format, one signature and one notion of a chain's head; split, each half would restate them.

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import hashlib
import hmac
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

logger = logging.getLogger(__name__)

_SALT = b"humphrey.audit.anchor.v1"
VERSION = 1  # of event signatures and of the anchor file
CHECKPOINT_VERSION = 2  # checkpoints with signed_from and mark; version 1 ones (without) still verify
_REPLACE_EVERY = 1.0  # seconds: the most the anchor file trails its log
# The log's end the writer reads for checkpoints newer than the file; the file is its fallback.
_TAIL_BYTES = 16 * 1024
# A chain this young, every event of it signed, whose first checkpoints are written out of order is
# starting, not restarting: concurrent first writers commit in one order and anchor in another.
_FRESH_CHAIN = dt.timedelta(minutes=5)

RESTART = "restart"
CONFLICT = "conflict"
# Why a restart: no checkpoint of the chain at all, or not the log this process last wrote to.
MISSING = "missing"
REPLACED = "replaced"


@dataclass(frozen=True)
class Checkpoint:
    chain: str  # sha256 of the chain's event #1
    seq: int
    sha256: str
    at: str = ""
    sig: str = ""
    version: int = 1
    signed_from: int | None = None  # the seq from which the site signed every event of the chain
    mark: dict | None = field(default=None, compare=False)  # {"kind": RESTART | CONFLICT, ...}

    @property
    def kind(self) -> str:
        return str((self.mark or {}).get("kind", ""))

    def signed_fields(self) -> dict:
        fields = {
            "chain": self.chain,
            "seq": self.seq,
            "sha256": self.sha256,
            "at": self.at,
            "signed_from": self.signed_from,
        }
        if self.mark is not None:
            fields["mark"] = self.mark
        return fields

    def as_record(self) -> dict:
        if self.version == 1:
            return {"chain": self.chain, "seq": self.seq, "sha256": self.sha256, "at": self.at, "sig": self.sig}
        return {"v": self.version, **self.signed_fields(), "sig": self.sig}


@dataclass
class AnchorState:
    """What the anchor files say about one chain, for verification."""

    path: Path
    checkpoint: Checkpoint | None = None  # the furthest validly signed checkpoint of this chain
    file_found: bool = False
    bad_signatures: int = 0  # checkpoints of this chain whose signature does not verify
    unreadable: str = ""  # why the anchor file could not be read, if it could not
    other_chains: int = 0  # chains (other databases or earlier test runs) also anchored in the file
    # seq -> every digest validly signed for it, with when it was first signed: normally one
    digests: dict[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    marks: list[Checkpoint] = field(default_factory=list)  # validly signed checkpoints marked restart/conflict
    signed_from: int | None = None  # the lowest signed_from any valid checkpoint pins

    def add(self, point: Checkpoint) -> None:
        known = self.digests.get(point.seq, ())
        if not any(digest == point.sha256 for digest, _ in known):
            self.digests[point.seq] = (*known, (point.sha256, point.at))
        if point.mark is not None and point not in self.marks:
            self.marks.append(point)
        if point.signed_from is not None:
            self.signed_from = min(point.signed_from, self.signed_from or point.signed_from)
        if self.checkpoint is None or point.seq > self.checkpoint.seq:
            self.checkpoint = point


def anchor_path() -> Path:
    return Path(settings.HUMPHREY_AUDIT_ANCHOR_PATH)


def _log_path(path: Path) -> Path:
    return path.with_name(path.name + ".log")


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@functools.lru_cache(maxsize=8)  # verification checks every event's signature with these keys
def _derive(secret: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), _SALT, hashlib.sha256).digest()


def _keys() -> list[bytes]:
    """The signing key first, then keys still accepted: HUMPHREY_AUDIT_ANCHOR_KEY_FALLBACKS for an
    explicit key, keys derived from SECRET_KEY_FALLBACKS for a derived one."""
    explicit = getattr(settings, "HUMPHREY_AUDIT_ANCHOR_KEY", "")
    if explicit:
        former = getattr(settings, "HUMPHREY_AUDIT_ANCHOR_KEY_FALLBACKS", [])
        return [explicit.encode("utf-8"), *(k.encode("utf-8") for k in former)]
    return [_derive(settings.SECRET_KEY), *(_derive(k) for k in getattr(settings, "SECRET_KEY_FALLBACKS", []))]


def _message(point: Checkpoint) -> bytes:
    head = f"humphrey-audit-anchor|{point.version}|{point.chain}|{point.seq}|{point.sha256}|{point.at}"
    if point.version == 1:
        return head.encode()
    mark = "" if point.mark is None else json.dumps(point.mark, sort_keys=True, separators=(",", ":"))
    signed_from = "" if point.signed_from is None else point.signed_from
    return f"{head}|{signed_from}|{mark}".encode()


def _hmac(key: bytes, message: bytes) -> str:
    return hmac.digest(key, message, "sha256").hex()


def _verifies(message: bytes, signature: str, keys: list[bytes] | None = None) -> bool:
    """Whether ``signature`` is ``message``'s under the signing key or a key still accepted."""
    return any(hmac.compare_digest(_hmac(key, message), signature) for key in keys or _keys())


def _signed(point: Checkpoint) -> Checkpoint:
    return replace(point, sig=_hmac(_keys()[0], _message(point)))


def signature_valid(point: Checkpoint, keys: list[bytes] | None = None) -> bool:
    return _verifies(_message(point), point.sig or "", keys)


def _event_message(sha256: str) -> bytes:
    return f"humphrey-audit-event|{VERSION}|{sha256}".encode()


def event_signature(sha256: str) -> str:
    """The signature stored with each event (``AuditEvent.mac``): HMAC-SHA-256 of its digest under
    the same key as the anchor, which the database never holds. Someone with the database login alone
    can append a well-chained event (the runtime role must be able to INSERT), but not sign it."""
    return _hmac(_keys()[0], _event_message(sha256))


def event_signature_valid(sha256: str, mac: str) -> bool:
    return _verifies(_event_message(sha256), mac)


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _parse(chain: str, raw: object) -> Checkpoint | None:
    if not isinstance(raw, dict):
        return None
    try:
        version = int(raw.get("v", 1))
        mark = raw.get("mark") if version > 1 else None
        return Checkpoint(
            chain=chain,
            seq=int(raw["seq"]),
            sha256=str(raw["sha256"]),
            at=str(raw.get("at", "")),
            sig=str(raw["sig"]),
            version=version,
            signed_from=_whole(raw.get("signed_from")) if version > 1 else None,
            mark=mark if isinstance(mark, dict) else None,
        )
    except (KeyError, TypeError, ValueError):
        return None


def _read_file(path: Path) -> dict:
    with path.open("r", encoding="utf-8") as handle:
        document = json.load(handle)
    if not isinstance(document, dict) or not isinstance(document.get("chains"), dict):
        raise ValueError("not an audit anchor file")
    return document


def _log_points(lines, chain: str):
    """(checkpoint or None if unparseable) for each line of ``chain`` among ``lines``."""
    for line in lines:
        if chain not in line:
            continue
        try:
            raw = json.loads(line)
        except ValueError:
            continue  # a torn last line after a crash, or the cut start of a tail
        if isinstance(raw, dict) and raw.get("chain") == chain:
            yield _parse(chain, raw)


def _log_tail(path: Path, chain: str) -> list[Checkpoint]:
    """The checkpoints of ``chain`` near the end of the log (signatures not yet checked)."""
    try:
        with _log_path(path).open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - _TAIL_BYTES))
            lines = log.read().decode("utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    return [p for p in _log_points(lines, chain) if p is not None]


def _log_all(path: Path, chain: str) -> list[Checkpoint]:
    with contextlib.suppress(FileNotFoundError), _log_path(path).open("r", encoding="utf-8") as log:
        return [p for p in _log_points(log, chain) if p is not None]
    return []


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock_path(path).open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


class DatabaseChain:
    """What the writer asks of the chain itself (plain SQL: the ORM would cost more than the rest)."""

    def digest_at(self, seq: int) -> str | None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT sha256 FROM audit_auditevent WHERE seq = %s", [seq])
            row = cursor.fetchone()
        return row[0] if row else None

    def signed_from(self) -> int | None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT min(seq) FROM audit_auditevent WHERE mac <> ''")
            return cursor.fetchone()[0]

    def starting(self, seq: int) -> bool:
        """Whether the events before ``seq`` are a chain just begun by the site: event #1 is recent
        and every one of them carries the site's signature (which someone without the key cannot make)."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT created_at FROM audit_auditevent WHERE seq = 1")
            first = cursor.fetchone()
            if first is None or dt.datetime.now(dt.UTC) - first[0] > _FRESH_CHAIN:
                return False
            cursor.execute("SELECT seq, sha256, mac FROM audit_auditevent WHERE seq < %s ORDER BY seq", [seq])
            rows = cursor.fetchall()
        return [r[0] for r in rows] == list(range(1, seq)) and all(event_signature_valid(r[1], r[2]) for r in rows)


def _current_head(points: list[Checkpoint]) -> Checkpoint | None:
    """The writer's head among ``points``: the furthest, except that a marked checkpoint (the writer
    accepting a chain it found changed) replaces everything written before it."""
    head = None
    for point in sorted(points, key=lambda p: p.at):
        if head is None or point.mark is not None or point.seq > head.seq:
            head = point
    return head


def _signed_head(points: list[Checkpoint]) -> Checkpoint | None:
    """``_current_head`` of the validly signed ones among ``points`` (only candidates are checked)."""
    points = list(points)
    while (head := _current_head(points)) is not None and not signature_valid(head):
        points = [p for p in points if p is not head]
    return head


@dataclass(frozen=True)
class _Seen:
    """Where this process left the log after its last checkpoint of a chain, and the head then."""

    offset: int
    ending: bytes  # the log's bytes just before ``offset``: proof it is still the same log
    head: Checkpoint


# Parsing the log's tail for every event would cost more than the rest of the anchoring: a process
# reads only what others appended since its own last checkpoint, when the log is still the one it wrote.
_seen: dict[tuple[str, str], _Seen] = {}
_SEEN_CHAINS = 64


def _appended_since(path: Path, chain: str, seen: _Seen) -> list[Checkpoint] | None:
    """The checkpoints of ``chain`` appended after ``seen``, or None if the log is not the one it saw."""
    try:
        with _log_path(path).open("rb") as log:
            log.seek(seen.offset - len(seen.ending))
            if log.read(len(seen.ending)) != seen.ending:
                return None
            lines = log.read().decode("utf-8", errors="replace").splitlines()
    except (FileNotFoundError, OSError):
        return None
    return [p for p in _log_points(lines, chain) if p is not None]


@dataclass(frozen=True)
class _Head:
    point: Checkpoint | None
    log_replaced: bool = False  # the log no longer holds this process's last checkpoint where it wrote it


def _writer_head(path: Path, chain: str, document: dict, seq: int) -> _Head:
    seen = _seen.get((str(path), chain))
    if seen is not None and (appended := _appended_since(path, chain, seen)) is not None:
        return _Head(_signed_head([seen.head, *appended]))
    in_file = _parse(chain, document["chains"].get(chain))
    point = _signed_head([p for p in (in_file, *_log_tail(path, chain)) if p is not None])
    if point is None and seq > 1:  # the first event of a chain has no head to look for
        point = _signed_head(_log_all(path, chain))
    return _Head(point, log_replaced=seen is not None)


def _append(path: Path, point: Checkpoint, head: Checkpoint | None) -> None:
    line = (json.dumps(point.as_record(), sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
    with _log_path(path).open("ab") as log:
        log.write(line)
        offset = log.tell()
    if len(_seen) >= _SEEN_CHAINS:
        _seen.clear()
    newest = _current_head([p for p in (head, point) if p is not None])
    _seen[(str(path), point.chain)] = _Seen(offset=offset, ending=line[-64:], head=newest)


def _mark(head: _Head, seq: int, chain_db: DatabaseChain) -> dict | None:
    """Why this checkpoint does not simply extend the anchored head, or None if it does."""
    point = head.point
    if head.log_replaced:
        return {"kind": RESTART, "reason": MISSING if point is None else REPLACED}
    if point is None:
        return None if seq == 1 or chain_db.starting(seq) else {"kind": RESTART, "reason": MISSING}
    held = chain_db.digest_at(point.seq)
    if held == point.sha256:
        return None
    return {"kind": CONFLICT, "seq": point.seq, "sha256": point.sha256, "at": point.at, "chain_has": held}


def _load_for_update(path: Path) -> tuple[dict, os.stat_result | None]:
    try:
        return _read_file(path), path.stat()
    except FileNotFoundError:
        return {"version": VERSION, "chains": {}}, None
    except ValueError:
        # Unreadable (a torn write, or tampering): start afresh, keeping the bad file to look at.
        with contextlib.suppress(OSError):
            os.replace(path, path.with_name(path.name + ".unreadable"))
        return {"version": VERSION, "chains": {}}, None


def _replace_due(document: dict, point: Checkpoint, stat: os.stat_result | None) -> bool:
    """Whether the small file should take ``point`` now (see ``checkpoint_write``)."""
    current = _parse(point.chain, document["chains"].get(point.chain))
    if point.mark is not None or current is None or not signature_valid(current):
        return True
    if current.seq >= point.seq:
        return False
    return stat is None or time.time() - stat.st_mtime >= _REPLACE_EVERY


def _replace(path: Path, document: dict) -> None:
    fd, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, sort_keys=True, separators=(",", ":"))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def checkpoint_write(
    chain: str, seq: int, sha256: str, *, path: Path | None = None, chain_db: DatabaseChain | None = None
) -> Checkpoint:
    """Record (seq, sha256) as a checkpoint of ``chain`` and return it (marked if it had to be).

    Every checkpoint is appended to the log (cheap). The small file is replaced (write a temporary
    file, ``os.replace``) only when this moves its checkpoint forward and it has not been replaced
    for ``_REPLACE_EVERY`` seconds, or when it does not hold this chain yet, or the checkpoint is
    marked: a rename over an existing file makes ext4 flush the data first, which would otherwise
    cost every audit event a disk write. Nothing is fsynced: a checkpoint lost in a crash only
    leaves the anchor older, which verification accepts (the chain must reach *at least* the anchor).

    A checkpoint of a lower seq than the head is normal (concurrent writers commit in one order and
    anchor in another) as long as the chain still holds the head; one that finds the head gone or
    changed, or no anchor for a chain that has events, is marked (``_mark``).
    """
    path = path or anchor_path()
    chain_db = chain_db or DatabaseChain()
    with _locked(path):
        document, stat = _load_for_update(path)
        head = _writer_head(path, chain, document, seq)
        mark = _mark(head, seq, chain_db)
        point = _signed(
            Checkpoint(
                chain=chain,
                seq=seq,
                sha256=sha256,
                at=dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
                version=CHECKPOINT_VERSION,
                signed_from=_pinned_start(head.point, chain_db),
                mark=mark,
            )
        )
        _append(path, point, head.point)
        if _replace_due(document, point, stat):
            document["chains"][chain] = point.as_record()
            _replace(path, document)
    return point


def _pinned_start(head: Checkpoint | None, chain_db: DatabaseChain) -> int | None:
    """Where signing began: kept from the head through a conflict (the chain's word is worth less
    than the anchor's), read from the chain when the anchor starts or predates pinning it."""
    if head is not None and head.signed_from is not None:
        return head.signed_from
    return chain_db.signed_from()


def checkpoint_after_commit(seq: int, sha256: str) -> None:
    """Anchor (seq, sha256) once the transaction that wrote it commits (at once if none is open).

    Never before: an anchor naming an event that then rolled back would name a seq the next
    writer reuses with another digest.
    """

    def write() -> None:
        try:
            chain = sha256 if seq == 1 else _chain_id()
            if chain:
                point = checkpoint_write(chain, seq, sha256)
                if point.mark is not None:
                    _record_mark(point)
        except Exception:  # the event is committed; a missed checkpoint only leaves the anchor older
            logger.exception("audit anchor: could not record checkpoint #%s", seq)

    write.audit_checkpoint = True  # tests/audit/conftest.py finds these among pending on-commit callbacks
    transaction.on_commit(write, robust=True)


def _record_mark(point: Checkpoint) -> None:
    """Say in the trail itself (and the log, for whoever watches it) what the writer found."""
    from audit.actions import Action  # audit.services imports this module
    from audit.services import audit_record

    if point.kind == RESTART:
        reason = point.mark.get("reason", MISSING)
        logger.error("audit anchor: restarted at #%s (anchor %s)", point.seq, reason)
        audit_record(
            action=Action.AUDIT_ANCHOR_RESTART,
            outcome="restarted",
            data={
                "seq": point.seq,
                "sha256": point.sha256,
                "at": point.at,
                "signed_from": point.signed_from,
                "reason": reason,
                "note": f"{restart_cause(reason)}: deletion of events before #{point.seq} cannot be ruled out.",
            },
        )
        return
    logger.error("audit anchor: the chain no longer holds anchored event #%s", point.mark.get("seq"))
    audit_record(
        action=Action.AUDIT_ANCHOR_CONFLICT,
        outcome="conflict",
        data={"seq": point.seq, "sha256": point.sha256, "at": point.at, "anchored": point.mark},
    )


def restart_cause(reason: str) -> str:
    if reason == REPLACED:
        return "The head anchor log no longer held the checkpoints the site had written to it (truncated or replaced)"
    return "The head anchor had no checkpoint of this chain although the chain already had events"


def _chain_id() -> str:
    """The digest of event #1, which names the chain (plain SQL: the ORM would cost more than the rest)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT sha256 FROM audit_auditevent WHERE seq = 1")
        row = cursor.fetchone()
    return row[0] if row else ""


def anchor_read(chain: str | None, *, path: Path | None = None) -> AnchorState:
    """Every validly signed checkpoint of ``chain``, from the anchor file and its log."""
    path = path or anchor_path()
    state = AnchorState(path=path)
    keys = _keys()
    try:
        document = _read_file(path)
    except FileNotFoundError:
        document = None
    except (OSError, ValueError) as exc:
        state.file_found, state.unreadable, document = True, str(exc) or type(exc).__name__, None
    points: list[Checkpoint | None] = []
    if document is not None:
        state.file_found = True
        state.other_chains = sum(1 for key in document["chains"] if key != chain)
        if chain is not None and chain in document["chains"]:
            points.append(_parse(chain, document["chains"][chain]))
    if chain is not None:
        with contextlib.suppress(FileNotFoundError), _log_path(path).open("r", encoding="utf-8") as log:
            points.extend(_log_points(log, chain))
    for point in points:
        if point is None or not signature_valid(point, keys):
            state.bad_signatures += 1
        else:
            state.add(point)
    return state
