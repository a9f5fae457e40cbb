"""Retention: purge_retention removes old content, keeps the chain valid, and respects legal holds."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.db.utils import ProgrammingError
from django.utils import timezone

from audit import retention
from audit.integrity import audit_verify
from audit.models import AuditContent, AuditEvent, LegalHold
from audit.retention import legal_hold_place, legal_hold_release, retention_purge
from tests.audit.conftest import written_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_conversations_purge(monkeypatch):
    """Stands in for the conversations purger the assistant registers, recording its calls."""
    calls = []

    def conversations_purge(*, before, held_user_ids, held_conversation_ids):
        calls.append({"before": before, "held_user_ids": held_user_ids, "held_conversation_ids": held_conversation_ids})
        return {"conversations": 2}

    monkeypatch.setitem(retention._purgers, "conversations", conversations_purge)
    return calls


def test_purge_keeps_chain_valid_and_respects_legal_hold(
    retention_days, record_answer, record_feedback, make_user, auditor, fake_conversations_purge
):
    """Old content goes, held and recent content stays, digests stay, and the chain still verifies."""
    retention_days(30)
    alice, bob, carol = (make_user(f"{n}@example.gov.uk") for n in ("alice", "bob", "carol"))
    with written_at(timezone.now() - dt.timedelta(days=31)):
        old_alice = record_answer(alice, conversation_id=1)
        old_feedback = record_feedback(alice, old_alice, "down", "Wrong number of days")
        old_bob = record_answer(bob, conversation_id=2)
        old_carol = record_answer(carol, conversation_id=3)
        hold_user = legal_hold_place(actor=auditor, reason="Employment tribunal case 123", user=bob)
        legal_hold_place(actor=auditor, reason="FOI request 9", conversation_id=3)

    dry = retention_purge(dry_run=True)
    # Purgeable: alice's answer and feedback. Held: bob's and carol's answers and both holds' reasons.
    assert (dry.contents, dry.held) == (2, 4)
    assert AuditContent.objects.filter(pk__in=[old_alice.pk, old_feedback.pk]).count() == 2
    assert not AuditEvent.objects.filter(action="retention.purge").exists()

    result = retention_purge(actor=auditor)
    assert result.contents == 2
    assert not AuditContent.objects.filter(pk__in=[old_alice.pk, old_feedback.pk]).exists()
    assert AuditContent.objects.filter(pk__in=[old_bob.pk, old_carol.pk]).count() == 2
    assert AuditEvent.objects.filter(pk=old_alice.pk).exists()  # metadata and digests stay
    assert abs(result.before - (timezone.now() - dt.timedelta(days=30))) < dt.timedelta(minutes=5)
    assert fake_conversations_purge == [
        {"before": result.before, "held_user_ids": [bob.pk], "held_conversation_ids": [3]}
    ]
    purge = AuditEvent.objects.get(action="retention.purge")
    assert purge.actor == auditor
    assert purge.data["contents_purged"] == 2
    assert purge.data["conversations"] == {"conversations": 2}
    verified = audit_verify()
    assert verified.ok, verified.problems
    assert verified.purged == 2

    # Released, the hold no longer protects: the next purge removes bob's content too.
    legal_hold_release(hold=hold_user, actor=auditor)
    retention_purge(actor=auditor)
    assert not AuditContent.objects.filter(pk=old_bob.pk).exists()
    assert AuditContent.objects.filter(pk=old_carol.pk).exists()
    assert audit_verify().ok


def test_recent_content_is_not_purged(retention_days, record_answer, civil_servant, fake_conversations_purge):
    """Content younger than the retention period is kept."""
    retention_days(30)
    event = record_answer(civil_servant)
    assert retention_purge().contents == 0
    assert AuditContent.objects.filter(pk=event.pk).exists()


def test_purge_command_reports_and_dry_run_changes_nothing(
    retention_days, record_answer, civil_servant, fake_conversations_purge
):
    """The command prints what it did; --dry-run purges nothing and records nothing."""
    retention_days(1)
    record_answer(civil_servant)
    out = io.StringIO()
    call_command("purge_retention", "--dry-run", stdout=out)
    assert "Would purge the content of 0 audit event(s) older than 1 days" in out.getvalue()
    assert not AuditEvent.objects.filter(action="retention.purge").exists()
    out = io.StringIO()
    call_command("purge_retention", stdout=out)
    assert f"Recorded as audit event #{AuditEvent.objects.get(action='retention.purge').seq}." in out.getvalue()
    assert "Conversations purged: {'conversations': 2}" in out.getvalue()


def test_purge_without_the_assistant_function_says_so(retention_days, record_answer, civil_servant, monkeypatch):
    """With no conversations purger registered, the purge says loudly that conversations were not purged."""
    monkeypatch.delitem(retention._purgers, "conversations")
    retention_days(1)
    out, err = io.StringIO(), io.StringIO()
    call_command("purge_retention", stdout=out, stderr=err)
    assert "conversations were NOT purged" in err.getvalue()
    event = AuditEvent.objects.get(action="retention.purge")
    assert event.outcome == "partial"
    assert "conversations_purge" in event.data["conversations_error"]


def test_legal_holds_cannot_be_deleted_and_need_a_reason(auditor, civil_servant):
    """Holds are released, never deleted; a hold without a reason or target is refused."""
    hold = legal_hold_place(actor=auditor, reason="Case 1", user=civil_servant)
    with pytest.raises(ProgrammingError), transaction.atomic():
        LegalHold.objects.filter(pk=hold.pk).delete()
    with pytest.raises(ValueError, match="needs a reason"):
        legal_hold_place(actor=auditor, reason="  ", user=civil_servant)
    with pytest.raises(ValueError, match="one person or one conversation"):
        legal_hold_place(actor=auditor, reason="x", user=civil_servant, conversation_id=4)
    legal_hold_release(hold=hold, actor=auditor)
    with pytest.raises(ValueError, match="already released"):
        legal_hold_release(hold=hold, actor=auditor)
    actions = list(AuditEvent.objects.filter(action__startswith="legal_hold").values_list("action", flat=True))
    assert actions == ["legal_hold.place", "legal_hold.release"]


def test_legal_hold_command(auditor, civil_servant):
    """Auditors place, list and release holds from the command line; others are refused."""
    out = io.StringIO()
    call_command(
        "legal_hold", "place", "--user", civil_servant.email, "--reason", "Case 7", "--by", auditor.email, stdout=out
    )
    hold = LegalHold.objects.get()
    assert f"Legal hold {hold.pk} placed on user:{civil_servant.pk}." in out.getvalue()
    out = io.StringIO()
    call_command("legal_hold", "list", stdout=out)
    assert "Case 7" in out.getvalue()
    with pytest.raises(CommandError, match="not an auditor"):
        call_command("legal_hold", "release", str(hold.pk), "--by", civil_servant.email)
    call_command("legal_hold", "release", str(hold.pk), "--by", auditor.email, stdout=io.StringIO())
    hold.refresh_from_db()
    assert hold.released_at is not None


def test_purge_calls_the_assistant_purge(retention_days, record_answer, civil_servant):
    """With the chat app's conversations_purge in place, the purge calls it and records what it returned."""
    retention_days(1)
    with written_at(timezone.now() - dt.timedelta(days=2)):
        record_answer(civil_servant)
    result = retention_purge()
    assert result.conversations_error == ""
    event = AuditEvent.objects.get(action="retention.purge")
    assert event.outcome == "done"
    assert event.data["conversations"] == result.conversations
    assert audit_verify().ok


def test_the_assistant_registers_its_conversations_purge():
    """The audit app imports no other app: the assistant hands it its purge when it starts."""
    from assistant.services import conversations_purge

    assert retention._purgers["conversations"] is conversations_purge
