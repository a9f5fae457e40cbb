"""Signed checkpoints of the chain's head, kept outside the database.

A hash chain cannot show that its newest events were removed, nor that someone able to rewrite
the database recomputed every digest: both leave a valid chain. The anchor is the answer. After
each audit event commits, the writer records "the chain that starts with event #1 = G reached
#seq = sha256" in a small file outside the database, signed with HMAC-SHA-256 under a key that is
not in the database (``HUMPHREY_AUDIT_ANCHOR_KEY``; by default derived from ``SECRET_KEY`` with a
salt of its own). Verification then insists that the anchored event is still there with the
anchored digest, and that the chain reaches at least that far.

Files (``HUMPHREY_AUDIT_ANCHOR_PATH``, by default under ``HUMPHREY_DATA_DIR``):

- ``<path>.log``: one JSON line per checkpoint (about 250 bytes), appended as each event commits;
- ``<path>``: JSON ``{"version": 1, "chains": {G: {"seq", "sha256", "at", "sig"}}}``, replaced
  atomically (write a temporary file, ``os.replace``), only ever moved forward, and at most once a
  second (it trails the log by that much at most).

Verification takes the furthest validly signed checkpoint of the two, so one of them put back from
an earlier copy (an older but valid signature) is not enough; ship the log off the host to make
that stronger still.

Chains are keyed by the digest of their event #1, so a database emptied and started again (the
test runner does that between tests) gets an anchor of its own instead of tripping over the old
one; an anchor for the *current* chain that is missing is reported by verification.

Several processes write: every update holds an exclusive ``fcntl`` lock on ``<path>.lock`` while
it reads, compares and replaces. What this does not stop: someone who can write these files *and*
read the key (a shell on the web host) can sign anything. Keep a copy of the log elsewhere.
"""

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
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

logger = logging.getLogger(__name__)

_SALT = b"humphrey.audit.anchor.v1"
VERSION = 1
_REPLACE_EVERY = 1.0  # seconds: the most the anchor file trails its log


@dataclass(frozen=True)
class Checkpoint:
    chain: str  # sha256 of the chain's event #1
    seq: int
    sha256: str
    at: str = ""
    sig: str = ""

    def as_record(self) -> dict:
        return {"chain": self.chain, "seq": self.seq, "sha256": self.sha256, "at": self.at, "sig": self.sig}


@dataclass
class AnchorState:
    """What the anchor files say about one chain, for verification."""

    path: Path
    checkpoint: Checkpoint | None = None  # the furthest validly signed checkpoint of this chain
    file_found: bool = False
    bad_signatures: int = 0  # checkpoints of this chain whose signature does not verify
    unreadable: str = ""  # why the anchor file could not be read, if it could not
    other_chains: int = 0  # chains (other databases or earlier test runs) also anchored in the file


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


def _message(chain: str, seq: int, sha256: str, at: str) -> bytes:
    return f"humphrey-audit-anchor|{VERSION}|{chain}|{seq}|{sha256}|{at}".encode()


def _hmac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _verifies(message: bytes, signature: str) -> bool:
    """Whether ``signature`` is ``message``'s under the signing key or a key still accepted."""
    return any(hmac.compare_digest(_hmac(key, message), signature) for key in _keys())


def sign(chain: str, seq: int, sha256: str, at: str) -> str:
    return _hmac(_keys()[0], _message(chain, seq, sha256, at))


def signature_valid(point: Checkpoint) -> bool:
    return _verifies(_message(point.chain, point.seq, point.sha256, point.at), point.sig or "")


def _event_message(sha256: str) -> bytes:
    return f"humphrey-audit-event|{VERSION}|{sha256}".encode()


def event_signature(sha256: str) -> str:
    """The signature stored with each event (``AuditEvent.mac``): HMAC-SHA-256 of its digest under
    the same key as the anchor, which the database never holds. Someone with the database login alone
    can append a well-chained event (the runtime role must be able to INSERT), but not sign it."""
    return _hmac(_keys()[0], _event_message(sha256))


def event_signature_valid(sha256: str, mac: str) -> bool:
    return _verifies(_event_message(sha256), mac)


def _parse(chain: str, raw: object) -> Checkpoint | None:
    if not isinstance(raw, dict):
        return None
    try:
        return Checkpoint(
            chain=chain, seq=int(raw["seq"]), sha256=str(raw["sha256"]), at=str(raw.get("at", "")), sig=str(raw["sig"])
        )
    except (KeyError, TypeError, ValueError):
        return None


def _read_file(path: Path) -> dict:
    with path.open("r", encoding="utf-8") as handle:
        document = json.load(handle)
    if not isinstance(document, dict) or not isinstance(document.get("chains"), dict):
        raise ValueError("not an audit anchor file")
    return document


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock_path(path).open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def checkpoint_write(chain: str, seq: int, sha256: str, *, path: Path | None = None) -> bool:
    """Record (seq, sha256) as a checkpoint of ``chain``; True if the anchor file itself was replaced.

    Every checkpoint is appended to the log (cheap). The small file is replaced (write a temporary
    file, ``os.replace``) only when this moves its checkpoint forward and it has not been replaced
    for ``_REPLACE_EVERY`` seconds, or when it does not hold this chain yet: a rename over an
    existing file makes ext4 flush the data first, which would otherwise cost every audit event a
    disk write. The file therefore trails the log by at most that long; verification takes the
    furthest of the two. Nothing is fsynced: a checkpoint lost in a crash only leaves the anchor
    older, which verification accepts (the chain must reach *at least* the anchor).
    """
    path = path or anchor_path()
    at = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    point = Checkpoint(chain=chain, seq=seq, sha256=sha256, at=at, sig=sign(chain, seq, sha256, at))
    with _locked(path):
        with _log_path(path).open("a", encoding="utf-8") as log:
            log.write(json.dumps(point.as_record(), sort_keys=True, separators=(",", ":")) + "\n")
        try:
            stat = path.stat()
        except FileNotFoundError:
            stat = None
        try:
            document = _read_file(path) if stat is not None else {"version": VERSION, "chains": {}}
        except ValueError:
            # Unreadable (a torn write, or tampering): start afresh, keeping the bad file to look at.
            with contextlib.suppress(OSError):
                os.replace(path, path.with_name(path.name + ".unreadable"))
            document, stat = {"version": VERSION, "chains": {}}, None
        current = _parse(chain, document["chains"].get(chain))
        if current is not None and signature_valid(current):
            if current.seq >= seq:
                return False
            if stat is not None and time.time() - stat.st_mtime < _REPLACE_EVERY:
                return False
        document["chains"][chain] = {"seq": seq, "sha256": sha256, "at": at, "sig": point.sig}
        fd, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle, sort_keys=True, separators=(",", ":"))
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    return True


def checkpoint_after_commit(seq: int, sha256: str) -> None:
    """Anchor (seq, sha256) once the transaction that wrote it commits (at once if none is open).

    Never before: an anchor naming an event that then rolled back would name a seq the next
    writer reuses with another digest.
    """

    def write() -> None:
        try:
            chain = sha256 if seq == 1 else _chain_id()
            if chain:
                checkpoint_write(chain, seq, sha256)
        except Exception:  # the event is committed; a missed checkpoint only leaves the anchor older
            logger.exception("audit anchor: could not record checkpoint #%s", seq)

    write.audit_checkpoint = True  # tests/audit/conftest.py finds these among pending on-commit callbacks
    transaction.on_commit(write, robust=True)


def _chain_id() -> str:
    """The digest of event #1, which names the chain (plain SQL: the ORM would cost more than the rest)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT sha256 FROM audit_auditevent WHERE seq = 1")
        row = cursor.fetchone()
    return row[0] if row else ""


def anchor_read(chain: str | None, *, path: Path | None = None) -> AnchorState:
    """The furthest validly signed checkpoint of ``chain``, from the anchor file and its log."""
    path = path or anchor_path()
    state = AnchorState(path=path)
    candidates: list[Checkpoint] = []
    try:
        document = _read_file(path)
    except FileNotFoundError:
        document = None
    except (OSError, ValueError) as exc:
        state.file_found, state.unreadable, document = True, str(exc) or type(exc).__name__, None
    if document is not None:
        state.file_found = True
        state.other_chains = sum(1 for key in document["chains"] if key != chain)
        if chain is not None and chain in document["chains"]:
            point = _parse(chain, document["chains"][chain])
            if point is None or not signature_valid(point):
                state.bad_signatures += 1
            else:
                candidates.append(point)
    if chain is not None:
        logged: list[Checkpoint] = []
        with contextlib.suppress(FileNotFoundError), _log_path(path).open("r", encoding="utf-8") as log:
            for line in log:
                if chain not in line:
                    continue
                try:
                    raw = json.loads(line)
                except ValueError:
                    continue  # a torn last line after a crash
                if isinstance(raw, dict) and raw.get("chain") == chain and (point := _parse(chain, raw)):
                    logged.append(point)
        # The furthest logged checkpoint that is validly signed; any higher ones are forgeries.
        floor = max((c.seq for c in candidates), default=-1)
        for point in sorted(logged, key=lambda c: c.seq, reverse=True):
            if point.seq <= floor:
                break
            if signature_valid(point):
                candidates.append(point)
                break
            state.bad_signatures += 1
    if candidates:
        state.checkpoint = max(candidates, key=lambda c: c.seq)
    return state
