"""Attacks from someone holding the site's own database login, and from someone holding the whole database.

The runtime role is made here exactly as deployments make it (``manage.py audit_db_roles``) and
connected to with psycopg, as an attacker with the site's DATABASE_URL would. What full control of
the database (a superuser) can still do to the rows is caught by the head anchor kept outside it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import uuid

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.utils import timezone

from audit.anchor import anchor_read
from audit.integrity import PURGE_ACTION, audit_verify
from audit.models import AuditContent, AuditEvent, LegalHold
from audit.retention import legal_hold_place, legal_hold_release, retention_purge
from audit.services import NO_CONTENT, audit_record, canonical_json, sha256_text
from tests.audit.conftest import tampering, unsigned_event, written_at

pytestmark = pytest.mark.django_db(transaction=True)

OLD_IGNORE = (
    "{audit_auditevent:pgtrigger_audit_event_append_only_27797,"
    "audit_auditcontent:pgtrigger_audit_content_no_update_4bdb0,"
    "audit_auditcontent:pgtrigger_audit_content_no_delete_41c16,"
    "audit_legalhold:pgtrigger_legal_hold_no_delete_d681a}"
)
AUDIT_TABLES = ("audit_auditevent", "audit_auditcontent", "audit_legalhold")


@pytest.fixture
def runtime_db(monkeypatch):
    """A psycopg connection (autocommit) as a fresh runtime role with the grants audit_db_roles gives."""
    role, password = f"humphrey_app_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    monkeypatch.setenv("TEST_RUNTIME_PASSWORD", password)
    call_command("audit_db_roles", "--role", role, "--password-env", "TEST_RUNTIME_PASSWORD", stdout=io.StringIO())
    db = connection.settings_dict
    conn = psycopg.connect(
        host=db["HOST"], port=db["PORT"] or None, dbname=db["NAME"], user=role, password=password, autocommit=True
    )
    conn.role = role
    yield conn
    conn.close()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP OWNED BY "{role}"')
        cursor.execute(f'DROP ROLE "{role}"')


def refused(conn, statement: str, params=None) -> str:
    """Run ``statement`` as the runtime role; it must fail. Returns the database's message."""
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught, conn.transaction():
        conn.execute(statement, params)
    return str(caught.value)


def verify_failure() -> str:
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit", stdout=io.StringIO(), stderr=(err := io.StringIO()))
    return err.getvalue() + str(caught.value)


def test_runtime_role_cannot_update_delete_or_truncate_the_trail(runtime_db, record_answer, civil_servant, auditor):
    """With pgtrigger.ignore and every audit setting set, the site's login still changes nothing."""
    record_answer(civil_servant)
    legal_hold_place(actor=auditor, reason="Case 1", user=civil_servant)
    counts = [AuditEvent.objects.count(), AuditContent.objects.count(), LegalHold.objects.count()]
    runtime_db.execute("SELECT set_config('pgtrigger.ignore', %s, false)", [OLD_IGNORE])
    runtime_db.execute("SET humphrey.audit_truncate = 'allow'")
    runtime_db.execute("SET humphrey.audit_purge = 'on'")
    for statement in (
        "UPDATE audit_auditevent SET outcome = 'x'",
        "DELETE FROM audit_auditevent",
        "UPDATE audit_auditcontent SET body = '{}'::jsonb",
        "DELETE FROM audit_auditcontent",
        "DELETE FROM audit_legalhold",
        "UPDATE audit_retention_floor SET days = 1",
        *(f"TRUNCATE {table} CASCADE" for table in AUDIT_TABLES),
    ):
        assert "permission denied" in refused(runtime_db, statement)
    # Releasing is the one update a runtime role may make to a hold, and only that.
    assert "audit: Cannot update" in refused(runtime_db, "UPDATE audit_legalhold SET reason = 'none'")
    assert "audit: Cannot update" in refused(
        runtime_db, "UPDATE audit_legalhold SET released_at = now() - interval '1 year', user_id = NULL"
    )
    assert [AuditEvent.objects.count(), AuditContent.objects.count(), LegalHold.objects.count()] == counts
    assert audit_verify().ok


def test_triggers_refuse_a_role_granted_too_much(runtime_db, record_answer, civil_servant, auditor):
    """Even a runtime role wrongly granted UPDATE, DELETE and TRUNCATE cannot change the trail: the triggers
    trust neither pgtrigger.ignore nor any setting a session can make."""
    record_answer(civil_servant)
    legal_hold_place(actor=auditor, reason="Case 1", user=civil_servant)
    with connection.cursor() as cursor:
        cursor.execute(f'GRANT ALL ON {", ".join(AUDIT_TABLES)} TO "{runtime_db.role}"')
    runtime_db.execute("SELECT set_config('pgtrigger.ignore', %s, false)", [OLD_IGNORE])
    runtime_db.execute("SET humphrey.audit_truncate = 'allow'")
    runtime_db.execute("SET humphrey.audit_purge = 'on'")
    for statement in (
        "UPDATE audit_auditevent SET outcome = 'x'",
        "DELETE FROM audit_auditevent",
        "UPDATE audit_auditcontent SET body = '{}'::jsonb",
        "DELETE FROM audit_auditcontent",
        "DELETE FROM audit_legalhold",
    ):
        assert "audit: Cannot" in refused(runtime_db, statement)
    for table in AUDIT_TABLES:
        assert f"audit: Cannot truncate {table}" in refused(runtime_db, f"TRUNCATE {table} CASCADE")
    assert AuditContent.objects.count() == 2
    assert audit_verify().ok


def forge(conn, *, action: str, data: dict, mac: str = "") -> int:
    """Append a well-chained event as the runtime role (what its INSERT grant allows), with no signature
    or a made-up one (the role cannot read the key); returns its seq."""
    seq, prev = conn.execute("SELECT seq, sha256 FROM audit_auditevent ORDER BY seq DESC LIMIT 1").fetchone()
    fields, text = unsigned_event(seq=seq + 1, prev=prev, action=action, data=data)
    created_at = fields["created_at"]
    conn.execute(
        "INSERT INTO audit_auditevent (seq, created_at, action, outcome, actor_id, actor_label, subject, data,"
        " content_sha256, prev_sha256, sha256, canonical" + (", mac" if mac else "") + ") VALUES (%s, %s, %s, %s,"
        " NULL, '', '', %s::jsonb, %s, %s, %s, %s" + (", %s" if mac else "") + ")",
        [seq + 1, created_at, action, "done", canonical_json(data), NO_CONTENT, prev, sha256_text(text), text]
        + ([mac] if mac else []),
    )
    return seq + 1


def test_events_appended_with_the_database_login_alone_are_reported(runtime_db, record_answer, civil_servant):
    """The chain cannot tell a well-chained event appended by the runtime role from a real one; its
    signature can: the site signs every event under a key the database does not hold. One forged
    with no signature and one with a made-up signature are both reported; the real ones are not."""
    real = [record_answer(civil_servant) for _ in range(2)]
    assert all(len(e.mac) == 64 for e in real) and audit_verify().ok
    bare = forge(runtime_db, action="answer", data={"conversation_id": 1, "message_id": 2})
    made_up = forge(runtime_db, action="answer", data={"conversation_id": 3, "message_id": 4}, mac=real[0].mac)
    result = audit_verify()
    assert [(p.seq, p.kind) for p in result.problems] == [(bare, "unsigned"), (made_up, "unsigned")]
    output = verify_failure()
    assert (
        f"Event #{bare} (answer" in output and "is not signed, though the site has signed every event since" in output
    )
    assert f"Event #{made_up} (answer" in output and "has a signature that does not verify" in output


def test_events_from_before_signing_are_counted_and_a_rotated_key_is_honoured(record_answer, make_user, settings):
    """A trail begun before this version has unsigned events at its start: counted, not reported, and
    where signing began is pinned in the head anchor. A SECRET_KEY rotated with the old one kept in
    SECRET_KEY_FALLBACKS still verifies every signature; a key replaced outright does not (and says
    why it may be)."""
    from unittest import mock

    import audit.services

    with mock.patch.object(audit.services, "event_signature", lambda digest: ""):
        person = make_user("early@example.gov.uk")
        old = [record_answer(person) for _ in range(2)]
    new = [record_answer(person) for _ in range(2)]
    assert [e.mac for e in old] == ["", ""] and all(e.mac for e in new)
    unsigned = AuditEvent.objects.filter(mac="").count()
    result = audit_verify()
    assert result.ok and result.before_signing == unsigned >= 2
    assert result.signed_from == new[0].seq
    assert f"{unsigned} written before events were signed (before #{new[0].seq}, where the head anchor" in (
        result.summary()
    )

    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    assert audit_verify().ok
    settings.SECRET_KEY_FALLBACKS = []
    problems = audit_verify().problems
    (bad,) = [p for p in problems if p.kind == "unsigned"]
    assert list(bad.seqs) == [e.seq for e in new]
    assert "have signatures that do not verify" in str(bad) and "the audit key changed without the old one kept" in str(
        bad
    )
    assert [p.kind for p in problems] == ["head", "head", "unsigned"]  # the anchor's signatures fail too


def test_an_explicit_audit_key_is_rotated_with_its_fallbacks(record_answer, make_user, settings):
    """Events signed under an explicit HUMPHREY_AUDIT_ANCHOR_KEY verify after it is replaced, while the
    former key is listed in HUMPHREY_AUDIT_ANCHOR_KEY_FALLBACKS, and not once it is dropped."""
    settings.HUMPHREY_AUDIT_ANCHOR_KEY = "first-audit-key-" + "a" * 40
    civil_servant = make_user("casey@example.gov.uk")
    first = record_answer(civil_servant)
    settings.HUMPHREY_AUDIT_ANCHOR_KEY, settings.HUMPHREY_AUDIT_ANCHOR_KEY_FALLBACKS = (
        "second-" + "b" * 40,
        [settings.HUMPHREY_AUDIT_ANCHOR_KEY],
    )
    second = record_answer(civil_servant)
    assert audit_verify().ok
    settings.HUMPHREY_AUDIT_ANCHOR_KEY_FALLBACKS = []
    unsigned = [seq for p in audit_verify().problems if p.kind == "unsigned" for seq in p.seqs]
    assert first.seq in unsigned and second.seq not in unsigned


def test_forged_purge_with_a_future_cutoff_deletes_nothing_and_is_reported(runtime_db, record_answer, civil_servant):
    """A well-chained purge event claiming a far-future cutoff: the content cannot be deleted (not by hand,
    not through the purge function), and verify_audit names the forged cutoff. Content then removed by a
    superuser is still reported missing: the forged purge accounts for nothing."""
    events = [record_answer(civil_servant) for _ in range(2)]
    future = (timezone.now() + dt.timedelta(days=3650)).isoformat()
    forged = forge(runtime_db, action=PURGE_ACTION, data={"before": future, "retention_days": 365})
    assert "permission denied" in refused(runtime_db, "DELETE FROM audit_auditcontent")
    assert "newer than the retention period allows" in refused(
        runtime_db, "SELECT audit_purge_content(%s::timestamptz)", [future]
    )
    assert AuditContent.objects.count() == 2
    output = verify_failure()
    assert f"Event #{forged} ({PURGE_ACTION}" in output and "newer than the 365-day retention period" in output

    with tampering():
        AuditContent.objects.filter(pk=events[0].pk).delete()
    kinds = {(p.seq, p.kind) for p in audit_verify().problems}
    assert (forged, "purge_too_new") in kinds
    assert (events[0].seq, "content_missing") in kinds


def test_purge_function_refuses_a_too_new_cutoff_and_spares_held_content(
    runtime_db, record_answer, make_user, auditor, retention_days
):
    """The runtime role may call the purge function, but only with a cutoff the retention period allows,
    and it never removes content under an active legal hold; called without a purge event, what it
    removed is reported."""
    retention_days(30)
    alice, bob = make_user("alice@example.gov.uk"), make_user("bob@example.gov.uk")
    with written_at(timezone.now() - dt.timedelta(days=40)):
        old_alice, old_bob = record_answer(alice), record_answer(bob)
    legal_hold_place(actor=auditor, reason="Tribunal 7", user=bob)
    assert "newer than the retention period allows (30 days)" in refused(
        runtime_db, "SELECT audit_purge_content(now() - interval '29 days')"
    )
    (purged,) = runtime_db.execute("SELECT audit_purge_content(now() - interval '30 days')").fetchone()
    assert purged == 1
    assert not AuditContent.objects.filter(pk=old_alice.pk).exists()
    assert AuditContent.objects.filter(pk=old_bob.pk).exists()
    problems = audit_verify().problems
    assert [(p.seq, p.kind) for p in problems] == [(old_alice.seq, "content_missing")]


def test_content_removed_under_a_legal_hold_is_reported(record_answer, make_user, auditor, retention_days, monkeypatch):
    """Held content the purge kept, then removed behind its back, is named even though purges cover its date."""
    from audit import retention

    monkeypatch.setitem(retention._purgers, "conversations", lambda **kwargs: 0)
    retention_days(30)
    alice, bob = make_user("alice@example.gov.uk"), make_user("bob@example.gov.uk")
    with written_at(timezone.now() - dt.timedelta(days=40)):
        old_alice, old_bob = record_answer(alice), record_answer(bob)
    legal_hold_place(actor=auditor, reason="Tribunal 7", user=bob)
    assert retention_purge().contents == 1
    assert audit_verify().ok
    with tampering():
        AuditContent.objects.filter(pk=old_bob.pk).delete()
    problem = audit_verify().first_problem
    assert (problem.seq, problem.kind) == (old_bob.seq, "held_content_missing")
    assert "a legal hold covered it at every purge" in problem.message
    assert not AuditContent.objects.filter(pk=old_alice.pk).exists()


def test_a_hold_released_outside_the_site_is_reported_and_still_protects(
    runtime_db, record_answer, make_user, auditor, retention_days, monkeypatch
):
    """The runtime role may release a hold (it must, for the site to), so someone with its login can
    release one without the site's event. The release is reported, the hold counts as in force, and the
    purge refuses to run at all (the database function would honour the release). Once an auditor
    records the release, the purge runs and everything verifies but the forged event."""
    from audit import retention
    from audit.retention import HoldReleaseUnrecorded

    monkeypatch.setitem(retention._purgers, "conversations", lambda **kwargs: 0)
    retention_days(30)
    bob, carol = make_user("bob@example.gov.uk"), make_user("carol@example.gov.uk")
    with written_at(timezone.now() - dt.timedelta(days=40)):
        old_bob, old_carol = record_answer(bob), record_answer(carol)
    quiet = legal_hold_place(actor=auditor, reason="Tribunal 7", user=bob)
    proper = legal_hold_place(actor=auditor, reason="FOI 12", user=carol)
    runtime_db.execute("UPDATE audit_legalhold SET released_at = now() WHERE id = %s", [quiet.pk])
    # A release event forged to cover it records nothing: it is not the site's (and is reported so).
    forged = forge(runtime_db, action="legal_hold.release", data={"hold_id": quiet.pk})
    legal_hold_release(hold=proper, actor=auditor)
    for dry_run in (True, False):
        with pytest.raises(HoldReleaseUnrecorded, match=f"legal hold {quiet.pk} \\(user:{bob.pk}\\) marked released"):
            retention_purge(dry_run=dry_run)
    assert AuditContent.objects.filter(pk__in=[old_bob.pk, old_carol.pk]).count() == 2
    problems = audit_verify().problems
    placed = AuditEvent.objects.get(action="legal_hold.place", data__hold_id=quiet.pk).seq
    assert [(p.seq, p.kind) for p in problems] == [(placed, "hold_release_unrecorded"), (forged, "unsigned")]
    assert f"Legal hold {quiet.pk} (user:{bob.pk}) is marked released at" in problems[0].message
    assert "released outside the site" in problems[0].message

    legal_hold_release(hold=quiet, actor=auditor)  # the auditor records it: the hold ends now
    assert retention_purge().contents == 2
    assert [(p.seq, p.kind) for p in audit_verify().problems] == [(forged, "unsigned")]


def test_newest_events_deleted_are_caught_by_the_anchor(client, record_answer, civil_servant, auditor):
    """A superuser deleting the newest events leaves a valid shorter chain; the anchor, the command and the
    auditors' Verify page all say so, and still do once the site has written past the old head: the writer
    records the conflict, and every checkpoint the chain no longer holds is reported."""
    events = [record_answer(civil_servant) for _ in range(5)]
    head = AuditEvent.objects.order_by("-seq").first()
    assert anchor_read(AuditEvent.objects.get(seq=1).sha256).checkpoint.seq == head.seq
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditcontent WHERE event_id = ANY(%s)", [[e.pk for e in events[-2:]]])
        cursor.execute("DELETE FROM audit_auditevent WHERE seq > %s", [events[-3].seq])
    assert "The newest 2 event(s) were deleted" in verify_failure()
    client.force_login(auditor)
    text = client.post("/audit/verify/").content.decode()
    assert "The audit trail has been tampered with" in text
    # Signing in wrote an event since, taking one of the deleted numbers; the conflict it found took the other.
    assert AuditEvent.objects.get(action="audit.anchor_conflict").seq == head.seq
    assert (
        f"Events after #{events[-3].seq} were deleted or rewritten: the anchor recorded #{head.seq} with digest" in text
    )
    assert f"{head.sha256} at " in text and "the chain now has digest" in text
    assert "the chain no longer held the anchor&#x27;s head" in text


def test_chain_rewritten_from_an_earlier_event_is_caught_by_the_anchor(record_answer, civil_servant):
    """Rewriting an event and recomputing every later digest makes a valid chain; the anchor does not match it."""
    events = [record_answer(civil_servant) for _ in range(4)]
    assert audit_verify().ok
    rows = list(AuditEvent.objects.filter(seq__gte=events[1].seq).order_by("seq"))
    prev = AuditEvent.objects.get(seq=events[1].seq - 1).sha256
    with tampering() as cursor:
        for row in rows:
            hashed = json.loads(row.canonical)
            hashed["prev_sha256"] = prev
            if row.seq == events[1].seq:
                hashed["outcome"] = "refused"
            text = canonical_json(hashed)
            prev = sha256_text(text)
            cursor.execute(
                "UPDATE audit_auditevent SET outcome = %s, prev_sha256 = %s, canonical = %s, sha256 = %s"
                " WHERE seq = %s",
                [hashed["outcome"], hashed["prev_sha256"], text, prev, row.seq],
            )
    result = audit_verify()
    # The anchor names where the chain was rewritten (first); the rewritten events' signatures no longer match.
    assert [(p.seq, p.kind, list(p.seqs)) for p in result.problems] == [
        (rows[0].seq, "head", [row.seq for row in rows]),
        (rows[0].seq, "unsigned", [row.seq for row in rows]),
    ]
    assert f"Events after #{rows[0].seq - 1} were deleted or rewritten" in str(result.problems[0])
    assert "they were rewritten after the site signed them" in str(result.problems[1])


def test_anchor_tampering_is_reported(record_answer, civil_servant, audit_anchor):
    """An anchor checkpoint edited without the key has a bad signature; an anchor deleted is reported, not
    ignored."""
    events = [record_answer(civil_servant) for _ in range(2)]
    assert audit_verify().ok
    log = audit_anchor.with_name(audit_anchor.name + ".log")
    # Claim the chain ended elsewhere: the file's checkpoint, then the log's newest line.
    document = json.loads(audit_anchor.read_text())
    (chain,) = document["chains"]
    document["chains"][chain]["sha256"] = "0" * 64
    audit_anchor.write_text(json.dumps(document))
    problems = audit_verify().problems
    assert [p.kind for p in problems] == ["head"]
    assert "have a bad signature" in str(problems[0])
    lines = log.read_text().splitlines(True)
    forged = json.loads(lines[-1])
    forged["seq"] = events[-1].seq + 5
    log.write_text("".join(lines[:-1]) + json.dumps(forged) + "\n")
    assert any("have a bad signature" in str(p) for p in audit_verify().problems)

    audit_anchor.unlink()
    log.unlink()
    result = audit_verify()
    assert [p.kind for p in result.problems] == ["head"]
    assert "No anchor: tail deletion cannot be detected" in str(result.first_problem)


def test_anchor_only_moves_forward_under_concurrent_writers(make_user):
    """Writers in several threads, each committing and anchoring on its own: the anchor ends at the head."""
    user = make_user("writer@example.gov.uk")
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(10):
                with transaction.atomic():
                    audit_record(action="audit.view", actor=user, data={"n": n, "i": i})
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    head = AuditEvent.objects.order_by("-seq").first()
    anchored = anchor_read(AuditEvent.objects.get(seq=1).sha256).checkpoint
    assert (anchored.seq, anchored.sha256) == (head.seq, head.sha256)
    assert audit_verify().ok
