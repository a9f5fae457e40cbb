"""The hash chain: what audit_record writes, and verify_audit catching every kind of tampering."""

from __future__ import annotations

import datetime as dt
import itertools
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.db.utils import ProgrammingError

from audit.integrity import audit_verify
from audit.models import AuditContent, AuditEvent, LegalHold
from audit.retention import legal_hold_place
from audit.selectors import ANSWER_OUTCOMES
from audit.services import GENESIS, audit_record, sha256_text
from tests.audit.conftest import anchor_commit_pending, tampering

pytestmark = pytest.mark.django_db

# What ``pgtrigger.ignore`` set for the pgtrigger triggers that guarded these tables until audit 0004.
OLD_IGNORE = (
    "{audit_auditevent:pgtrigger_audit_event_append_only_27797,"
    "audit_auditcontent:pgtrigger_audit_content_no_update_4bdb0,"
    "audit_auditcontent:pgtrigger_audit_content_no_delete_41c16,"
    "audit_legalhold:pgtrigger_legal_hold_no_delete_d681a}"
)


def verify_output() -> tuple[bool, str]:
    """Run the command; (passed, everything it said)."""
    import io

    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_audit", stdout=out, stderr=err)
    except CommandError as exc:
        return False, out.getvalue() + err.getvalue() + str(exc)
    return True, out.getvalue() + err.getvalue()


def test_an_event_for_every_outcome_and_the_chain_verifies(record_answer, civil_servant):
    """Every answer outcome is recorded as its own chained event with content, and the chain verifies."""
    before = list(AuditEvent.objects.values_list("sha256", flat=True))  # creating the user may be an event
    events = [record_answer(civil_servant, outcome=outcome) for outcome in ANSWER_OUTCOMES]
    assert [e.outcome for e in AuditEvent.objects.filter(action="answer")] == list(ANSWER_OUTCOMES)
    assert [e.seq for e in events] == list(range(len(before) + 1, len(before) + len(ANSWER_OUTCOMES) + 1))
    assert events[0].prev_sha256 == (before[-1] if before else GENESIS)
    for earlier, later in itertools.pairwise(events):
        assert later.prev_sha256 == earlier.sha256
    assert AuditContent.objects.count() == len(ANSWER_OUTCOMES)
    assert events[0].actor_label == "casey@example.gov.uk"
    passed, output = verify_output()
    assert passed, output
    assert f"Checked {len(before) + len(ANSWER_OUTCOMES)} events" in output


def test_digests_recompute_from_what_postgresql_returns(civil_servant):
    """Numbers jsonb rewrites (1e20, -0.0, long floats), odd text and dates still verify after a round trip."""
    audit_record(
        action="answer",
        actor=civil_servant,
        outcome="answered",
        data={
            "big": 1e20,
            "negative_zero": -0.0,
            "long": 1.2345678901234567e25,
            "tiny": 1e-7,
            "int": 2**62,
            "nan": float("nan"),
            "when": dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC),
            "tuple": (1, 2),
            3: "int key",
        },
        content={"question": "Nul\x00 and surrogate \ud800 and émoji 🙂", "score": 0.30000000000000004},
    )
    event = AuditEvent.objects.get(action="answer")
    assert event.data["nan"] == "NaN"
    assert event.data["3"] == "int key"
    assert "\ufffd" in event.content.body["question"]
    result = audit_verify()
    assert result.ok, result.problems


def test_raw_sql_update_and_delete_are_refused(record_answer, civil_servant):
    """The database itself refuses UPDATE and DELETE on events and content, whatever the caller (here the
    owner, with pgtrigger.ignore set as the old triggers would have obeyed)."""
    record_answer(civil_servant)
    statements = [
        "UPDATE audit_auditevent SET outcome = 'answered-ok'",
        "DELETE FROM audit_auditevent",
        "UPDATE audit_auditcontent SET body = '{}'::jsonb",
        "DELETE FROM audit_auditcontent",
    ]
    for sql in statements:
        with pytest.raises(ProgrammingError, match="audit: Cannot"), transaction.atomic(), connection.cursor() as c:
            c.execute("SELECT set_config('pgtrigger.ignore', %s, true)", [OLD_IGNORE])
            c.execute(sql)
    assert AuditEvent.objects.get(action="answer").outcome == "answered"
    assert AuditContent.objects.count() == 1


def test_raw_sql_truncate_is_refused(record_answer, civil_servant, auditor):
    """TRUNCATE, which the row triggers never see, is refused on every audit table; every row is still there."""
    record_answer(civil_servant)
    legal_hold_place(actor=auditor, reason="Case 1", user=civil_servant)
    models = (AuditEvent, AuditContent, LegalHold)
    counts = [model.objects.count() for model in models]
    assert all(counts)
    with connection.cursor() as c:  # check the deferred foreign keys now: TRUNCATE refuses tables with pending checks
        c.execute("SET CONSTRAINTS ALL IMMEDIATE")
    statements = [
        "TRUNCATE audit_auditevent CASCADE",
        "TRUNCATE audit_auditcontent",
        "TRUNCATE audit_legalhold",
        "TRUNCATE audit_auditevent, audit_auditcontent, audit_legalhold RESTART IDENTITY",  # as manage.py flush
    ]
    for sql in statements:
        with (
            pytest.raises(ProgrammingError, match="audit: Cannot truncate audit_"),
            transaction.atomic(),
            connection.cursor() as c,
        ):
            # The test database's own default allows TRUNCATE so Django can empty it between tests; taken
            # away (rolled back with the failed statement), as everywhere else. A session's own setting
            # counts for nothing.
            c.execute(
                f"ALTER DATABASE {connection.ops.quote_name(connection.settings_dict['NAME'])} "
                "RESET humphrey.audit_truncate"
            )
            c.execute("SELECT set_config('humphrey.audit_truncate', 'allow', true)")
            c.execute(sql)
    assert [model.objects.count() for model in models] == counts
    assert audit_verify().ok


def test_orm_update_and_delete_are_refused(record_answer, civil_servant):
    """Even through the ORM (as an admin action or a careless script would), nothing changes."""
    event = record_answer(civil_servant)
    with pytest.raises(ProgrammingError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(outcome="x")
    with pytest.raises(ProgrammingError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_row_altered_with_trigger_disabled_is_named(record_answer, civil_servant):
    """An event changed behind the trigger's back (triggers off, as a superuser) is caught and named."""
    events = [record_answer(civil_servant) for _ in range(4)]
    with tampering() as c:
        c.execute("UPDATE audit_auditevent SET outcome = 'refused' WHERE seq = %s", [events[2].seq])
    passed, output = verify_output()
    assert not passed
    assert f"First problem: Event #{events[2].seq} (answer" in output
    assert 'was rewritten: outcome was "answered" when recorded, is now "refused"' in output


def test_data_altered_with_all_triggers_disabled_is_named(record_answer, civil_servant):
    """ALTER TABLE ... DISABLE TRIGGER ALL, then a change to the JSON data, is caught and named."""
    events = [record_answer(civil_servant) for _ in range(3)]
    with connection.cursor() as c:
        c.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending foreign-key checks, so ALTER TABLE may run
        c.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER ALL")
        c.execute(
            "UPDATE audit_auditevent SET data = jsonb_set(data, '{model,name}', '\"other-model\"') WHERE seq = %s",
            [events[1].seq],
        )
        c.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER ALL")
    result = audit_verify()
    assert not result.ok
    assert result.first_problem.seq == events[1].seq
    assert result.first_problem.kind == "altered"
    assert 'data.model.name was "gpt-4o-mini" when recorded, is now "other-model"' in result.first_problem.message


def test_rehashed_row_breaks_the_chain_at_the_next_event(record_answer, civil_servant):
    """Rewriting an event's text and digest consistently still shows: the anchor recorded another digest
    for it (the root cause, first), its signature no longer matches its digest, and the next event no
    longer follows it (because it was rewritten, not because it moved)."""
    events = [record_answer(civil_servant) for _ in range(3)]
    anchor_commit_pending()  # anchored as each committed, before anyone could tamper
    forged = events[1].canonical.replace('"answered"', '"refused"')
    with tampering() as c:
        c.execute(
            "UPDATE audit_auditevent SET outcome = 'refused', canonical = %s, sha256 = %s WHERE seq = %s",
            [forged, sha256_text(forged), events[1].seq],
        )
    result = audit_verify()
    assert [(p.seq, p.kind) for p in result.problems] == [
        (events[1].seq, "head"),
        (events[1].seq, "unsigned"),
        (events[2].seq, "out_of_order"),
    ]
    assert f"Events after #{events[0].seq} were deleted or rewritten" in str(result.problems[0])
    assert f"it names the digest #{events[1].seq} had before #{events[1].seq} was rewritten" in str(result.problems[2])


def test_content_altered_is_named(record_answer, civil_servant):
    """A changed answer text is caught by the content digest, naming the event."""
    events = [record_answer(civil_servant) for _ in range(2)]
    with tampering() as c:
        c.execute(
            "UPDATE audit_auditcontent SET body = jsonb_set(body, '{answer}', '\"Something else\"') "
            "WHERE event_id = %s",
            [events[0].pk],
        )
    result = audit_verify()
    assert (result.first_problem.seq, result.first_problem.kind) == (events[0].seq, "content_altered")


def test_content_deleted_outside_a_purge_is_named(record_answer, civil_servant):
    """Content removed without a retention purge is reported as missing, naming the event."""
    events = [record_answer(civil_servant) for _ in range(2)]
    with tampering():
        AuditContent.objects.filter(pk=events[1].pk).delete()
    result = audit_verify()
    assert (result.first_problem.seq, result.first_problem.kind) == (events[1].seq, "content_missing")


def test_deleted_row_is_a_gap(record_answer, civil_servant):
    """A deleted event leaves a gap in seq that verify_audit names."""
    events = [record_answer(civil_servant) for _ in range(5)]
    anchor_commit_pending()  # anchored as each committed, before anyone could tamper
    with connection.cursor() as c:
        c.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending foreign-key checks, so ALTER TABLE may run
        c.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER ALL")
        c.execute("ALTER TABLE audit_auditcontent DISABLE TRIGGER ALL")
        c.execute("DELETE FROM audit_auditcontent WHERE event_id = %s", [events[2].pk])
        c.execute("DELETE FROM audit_auditevent WHERE seq = %s", [events[2].seq])
        c.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER ALL")
        c.execute("ALTER TABLE audit_auditcontent ENABLE TRIGGER ALL")
    passed, output = verify_output()
    assert not passed
    assert f"First problem: Event #{events[2].seq} missing: the chain jumps to #{events[3].seq}." in output


def test_truncated_head_is_caught_with_an_expected_head(record_answer, civil_servant):
    """Removing the newest events is caught when an earlier head, kept elsewhere, is given (and by the anchor)."""
    events = [record_answer(civil_servant) for _ in range(3)]
    head = f"{events[-1].seq}:{events[-1].sha256}"
    assert verify_output()[0]
    with tampering():
        AuditContent.objects.filter(pk=events[-1].pk).delete()
        AuditEvent.objects.filter(pk=events[-1].pk).delete()
    passed, output = verify_output()  # the chain alone cannot tell; the head anchor can
    assert not passed
    assert "The newest 1 event(s) were deleted: the anchor (signed" in output
    err = __import__("io").StringIO()
    with pytest.raises(CommandError, match="The newest 1 event"):
        call_command("verify_audit", expect_head=head, stdout=__import__("io").StringIO(), stderr=err)
    assert f"Event #{events[-1].seq}, recorded earlier as the head, is missing" in err.getvalue()


def test_rolled_back_writer_leaves_no_gap(civil_servant):
    """An event written in a transaction that rolls back leaves no hole in the chain."""
    audit_record(action="audit.view")
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(action="audit.search")
        raise RuntimeError("the change failed")
    audit_record(action="audit.verify")
    seqs = list(AuditEvent.objects.values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert list(AuditEvent.objects.filter(action__startswith="audit.").values_list("action", flat=True)) == [
        "audit.view",
        "audit.verify",
    ]
    assert audit_verify().ok


@pytest.mark.django_db(transaction=True)
def test_chain_verifies_after_concurrent_writers(make_user):
    """Eight threads, each on its own database connection, writing at once cannot fork the chain."""
    user = make_user("writer@example.gov.uk")
    per_thread, threads_n = 15, 8
    errors: list[BaseException] = []
    start = threading.Barrier(threads_n)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with transaction.atomic():
                    audit_record(
                        action="answer",
                        actor=user,
                        outcome="answered",
                        subject=f"conversation:{n}",
                        data={"conversation_id": n, "message_id": n * 1000 + i},
                        content={"question": f"q{n}-{i}", "answer": "a"},
                    )
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    events = list(AuditEvent.objects.filter(action="answer").values_list("seq", flat=True))
    assert len(events) == per_thread * threads_n
    result = audit_verify(batch_size=7)  # small batches also exercise the keyset pagination
    assert result.ok, result.problems
    assert result.checked == AuditEvent.objects.count()
    assert AuditEvent.objects.values("prev_sha256").distinct().count() == AuditEvent.objects.count()


def test_garbled_hashed_text_is_named(record_answer, civil_servant):
    """A hashed text overwritten with non-JSON is still checked (in Python) and named, not a crash."""
    events = [record_answer(civil_servant) for _ in range(3)]
    with tampering() as c:
        c.execute("UPDATE audit_auditevent SET canonical = 'not json' WHERE seq = %s", [events[1].seq])
    result = audit_verify()
    assert [(p.seq, p.kind) for p in result.problems] == [(events[1].seq, "altered")]
    assert "was rewritten: its recorded text no longer matches its digest" in str(result.first_problem)


def test_events_without_hashed_text_verify_from_their_columns(record_answer, civil_servant):
    """Events written before the hashed text was kept are verified by recomputing from their columns."""
    events = [record_answer(civil_servant) for _ in range(2)]
    with tampering() as c:
        c.execute("UPDATE audit_auditevent SET canonical = '' WHERE seq = %s", [events[0].seq])
    assert audit_verify().ok
    with tampering() as c:
        c.execute("UPDATE audit_auditevent SET subject = 'conversation:0' WHERE seq = %s", [events[0].seq])
    assert audit_verify().first_problem.seq == events[0].seq


def test_only_the_actions_of_the_enumeration_are_recorded():
    """A free string is refused before anything is written: every kind of event is in audit.actions."""
    with pytest.raises(ValueError, match="not an audit action"):
        audit_record(action="curation.colection_create")  # a typo of a real one
    assert not AuditEvent.objects.exists()
