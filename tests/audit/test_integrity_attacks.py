"""Ways an auditor's review defeated the integrity check, each now caught.

Anchor catch-up (a tail deleted, then the site writes past the old head), signature downgrade
(every signature blanked), the anchor removed, verification messages that hid or misnamed the
root cause, and a legal hold released behind the purge's back. The attacker holds the database
(triggers off, as a superuser can) and may delete the anchor files, but not read the audit key.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

import audit.services
from accounts.roles import Role
from audit.anchor import anchor_read
from audit.integrity import audit_verify
from audit.models import AuditContent, AuditEvent, LegalHold
from audit.retention import retention_purge
from audit.services import canonical_json, sha256_text
from tests.audit.conftest import anchor_commit_pending, tampering, unsigned_event, written_at

DAY_AGO = dt.timedelta(days=1)


def head() -> AuditEvent:
    return AuditEvent.objects.order_by("-seq").first()


def delete_after(seq: int) -> None:
    """Delete every event after ``seq`` and its content, as a database superuser can."""
    with tampering() as cursor:
        cursor.execute(
            "DELETE FROM audit_auditcontent WHERE event_id IN (SELECT id FROM audit_auditevent WHERE seq > %s)", [seq]
        )
        cursor.execute("DELETE FROM audit_auditevent WHERE seq > %s", [seq])


def rewrite_from(seq: int, *, outcome: str, blank_signatures: bool = False) -> None:
    """Change event ``seq``'s outcome and recompute its digest and every later one (a valid chain again),
    optionally blanking every signature as well."""
    prev = AuditEvent.objects.get(seq=seq - 1).sha256
    with tampering() as cursor:
        for row in AuditEvent.objects.filter(seq__gte=seq).order_by("seq"):
            hashed = json.loads(row.canonical) | {"prev_sha256": prev}
            if row.seq == seq:
                hashed["outcome"] = outcome
            text = canonical_json(hashed)
            prev = sha256_text(text)
            cursor.execute(
                "UPDATE audit_auditevent SET outcome = %s, prev_sha256 = %s, canonical = %s, sha256 = %s"
                " WHERE seq = %s",
                [hashed["outcome"], hashed["prev_sha256"], text, prev, row.seq],
            )
        if blank_signatures:
            cursor.execute("UPDATE audit_auditevent SET mac = ''")


def append_unsigned(action: str, data: dict) -> int:
    """Append a well-chained event without a signature (nobody without the key can make one)."""
    last = head()
    fields, text = unsigned_event(seq=last.seq + 1, prev=last.sha256, action=action, data=data)
    with tampering():
        AuditEvent.objects.create(**fields, sha256=sha256_text(text), canonical=text, mac="")
    return last.seq + 1


def remove_anchor(path) -> None:
    path.unlink()
    path.with_name(path.name + ".log").unlink()


def logged(path) -> list[dict]:
    return [json.loads(line) for line in path.with_name(path.name + ".log").read_text().splitlines()]


def kinds(result) -> list[str]:
    return [p.kind for p in result.problems]


# Anchor catch-up


@pytest.mark.django_db(transaction=True)
def test_a_tail_deleted_stays_caught_after_the_site_writes_past_the_old_head(
    record_answer, civil_servant, audit_anchor
):
    """Deleting the newest events, then letting the site write more than were deleted, used to verify as
    intact. Every checkpoint is now checked: the anchor still holds the deleted head, signed twice for the
    same seq with different digests, and the writer recorded (once) that the chain did not extend its head."""
    events = [record_answer(civil_servant) for _ in range(5)]
    old_head = head()
    delete_after(events[1].seq)
    for _ in range(5):
        record_answer(civil_servant)
    assert head().seq > old_head.seq

    result = audit_verify()
    assert kinds(result) == ["head", "anchor_conflict"]
    now = AuditEvent.objects.get(seq=old_head.seq).sha256
    assert str(result.problems[0]).startswith(
        f"Events after #{events[1].seq} were deleted or rewritten: the anchor recorded #{old_head.seq} with digest "
        f"{old_head.sha256} at "
    )
    assert f"the chain now has digest {now}." in str(result.problems[0])
    assert "two signed checkpoints with different digests" in str(result.problems[0])
    assert result.problems[0].seq == events[1].seq + 1

    conflict = AuditEvent.objects.get(action="audit.anchor_conflict")
    assert conflict.data["anchored"] | {"at": ""} == {
        "kind": "conflict",
        "seq": old_head.seq,
        "sha256": old_head.sha256,
        "at": "",
        "chain_has": None,
    }
    marked = [line for line in logged(audit_anchor) if line.get("mark")]
    assert [(line["seq"], line["mark"]["seq"]) for line in marked] == [(events[1].seq + 1, old_head.seq)]
    twice = {line["sha256"] for line in logged(audit_anchor) if line["seq"] == old_head.seq}
    assert twice == {old_head.sha256, now}


@pytest.mark.django_db(transaction=True)
def test_every_checkpoint_is_checked_not_only_the_furthest(record_answer, civil_servant):
    """A chain rewritten from an earlier event and signed again (as only a key holder could) matches its
    newest checkpoint once the site has written on; the earlier checkpoints name where it was rewritten."""
    from audit.anchor import event_signature

    events = [record_answer(civil_servant) for _ in range(4)]
    rewrite_from(events[1].seq, outcome="refused")
    with tampering() as cursor:
        for seq, sha256 in AuditEvent.objects.values_list("seq", "sha256"):
            cursor.execute("UPDATE audit_auditevent SET mac = %s WHERE seq = %s", [event_signature(sha256), seq])
    record_answer(civil_servant)

    result = audit_verify()
    assert kinds(result) == ["head", "anchor_conflict"]
    assert result.problems[0].seq == events[1].seq
    assert f"Events after #{events[0].seq} were deleted or rewritten" in str(result.problems[0])


def test_checkpoints_written_out_of_order_for_a_new_chain_are_neither_a_restart_nor_a_conflict(
    record_answer, civil_servant
):
    """Concurrent writers commit in one order and anchor in another: a lower checkpoint after a higher one,
    even the very first ones of a brand-new chain, is the normal case."""
    for _ in range(3):
        record_answer(civil_servant)
    pending = [entry for entry in connection.run_on_commit if getattr(entry[1], "audit_checkpoint", False)]
    connection.run_on_commit = [entry for entry in connection.run_on_commit if entry not in pending]
    for _, write, _ in reversed(pending):
        write()
    assert not AuditEvent.objects.filter(action__startswith="audit.anchor_").exists()
    assert audit_verify().ok
    assert not [line for line in logged(anchor_read(None).path) if line.get("mark")]


# Signature downgrade


@pytest.mark.django_db(transaction=True)
def test_signatures_blanked_and_an_event_forged_are_reported_though_the_site_writes_on(record_answer, civil_servant):
    """Blanking every signature and appending a forged grant used to verify as "written before events were
    signed". The anchor pins where signing began, so every unsigned event after it is reported, as one run."""
    for _ in range(3):
        record_answer(civil_servant)
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET mac = ''")
    forged = append_unsigned("curation.collection_grant", {"group": "Contractors", "collection": "hr-policies"})
    record_answer(civil_servant)

    result = audit_verify()
    assert not result.ok and "written before events were signed" not in result.summary()
    assert (result.before_signing, result.signed_from) == (0, 1)
    ((problem_seqs, message),) = [(list(p.seqs), str(p)) for p in result.problems]
    assert problem_seqs == list(range(1, forged + 1))
    assert f"Events #1 to #{forged} ({forged}) are not signed, though the site has signed every event since #1, " in (
        message
    )
    assert "as the head anchor records" in message


@pytest.mark.django_db(transaction=True)
def test_history_rewritten_and_signatures_blanked_fails_even_after_the_site_writes_on(record_answer, civil_servant):
    """The review's case: an answer's outcome rewritten, the chain recomputed, every signature blanked, then
    an ordinary event. The anchor and the pinned start of signing both still say so, root cause first."""
    events = [record_answer(civil_servant, outcome="error") for _ in range(4)]
    rewrite_from(events[1].seq, outcome="answered", blank_signatures=True)
    record_answer(civil_servant)

    result = audit_verify()
    assert kinds(result) == ["head", "anchor_conflict", "unsigned"]
    assert f"Events after #{events[0].seq} were deleted or rewritten" in str(result.problems[0])
    assert "written before events were signed" not in result.summary()


def test_events_from_before_signing_stay_acceptable_but_cannot_grow(record_answer, make_user):
    """A trail begun before signing keeps its unsigned first events (the upgrade path); blanking the
    signatures of later ones no longer just makes that count grow."""
    with mock.patch.object(audit.services, "event_signature", lambda digest: ""):
        person = make_user("early@example.gov.uk")
        record_answer(person)
    new = [record_answer(person) for _ in range(3)]
    before = AuditEvent.objects.filter(mac="").count()
    result = audit_verify()
    assert result.ok and result.before_signing == before

    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET mac = '' WHERE seq <= %s", [new[1].seq])
    result = audit_verify()
    assert not result.ok and result.before_signing == before
    assert result.signed_from == new[0].seq  # pinned by the anchor when the first signed event was anchored
    assert [(p.kind, list(p.seqs)) for p in result.problems] == [("unsigned", [new[0].seq, new[1].seq])]


# The anchor removed


@pytest.mark.django_db(transaction=True)
def test_anchor_removed_then_written_past_is_a_restart_until_an_auditor_acknowledges_it(
    record_answer, make_user, audit_anchor
):
    """Removing the anchor files (no key needed) with the newest events, then letting the site write, used
    to start a fresh anchor silently. The writer records the restart; verification reports it until an
    auditor acknowledges it, by command, as an audit event (a forged acknowledgement counts for nothing)."""
    with written_at(timezone.now() - DAY_AGO):
        person = make_user("casey@example.gov.uk")
        auditor = make_user("aditya@example.gov.uk", roles=[Role.AUDITOR])
        events = [record_answer(person) for _ in range(4)]
    delete_after(events[1].seq)
    remove_anchor(audit_anchor)
    assert "No anchor: tail deletion cannot be detected" in str(audit_verify().first_problem)

    first_new = record_answer(person)
    restart = AuditEvent.objects.get(action="audit.anchor_restart")
    assert restart.data["seq"] == first_new.seq
    assert f"deletion of events before #{first_new.seq} cannot be ruled out" in restart.data["note"]
    result = audit_verify()
    assert [(p.kind, p.seq) for p in result.problems] == [("anchor_restart", first_new.seq)]
    assert f"The head anchor restarted at #{first_new.seq} on " in str(result.first_problem)
    assert f"(recorded as event #{restart.seq})" in str(result.first_problem)

    forged = append_unsigned("audit.anchor_acknowledge", {"restart_seq": first_new.seq, "reason": "none"})
    assert [(p.kind, p.seq) for p in audit_verify().problems] == [
        ("anchor_restart", first_new.seq),
        ("unsigned", forged),
    ]
    with pytest.raises(CommandError, match="is not an auditor"):
        call_command("verify_audit", "--acknowledge-restart", str(first_new.seq), "--by", person.email, "--reason", "x")
    with pytest.raises(CommandError, match=f"No anchor restart at #{first_new.seq + 1} is recorded"):
        call_command(
            "verify_audit", "--acknowledge-restart", str(first_new.seq + 1), "--by", auditor.email, "--reason", "x"
        )
    out = io.StringIO()
    with pytest.raises(CommandError):  # the forged event is still reported; the restart no longer is
        call_command(
            "verify_audit",
            "--acknowledge-restart",
            str(first_new.seq),
            "--by",
            auditor.email,
            "--reason",
            "Compared with the copy of the anchor log shipped off the host",
            stdout=out,
            stderr=io.StringIO(),
        )
    ack = AuditEvent.objects.get(action="audit.anchor_acknowledge", actor=auditor)
    assert ack.data["restart_seq"] == first_new.seq and ack.mac
    assert f"(event #{ack.seq})" in out.getvalue()
    result = audit_verify()
    assert [(p.kind, p.seq) for p in result.problems] == [("unsigned", forged)]
    assert f"acknowledged it in event #{ack.seq}: Compared with the copy" in result.summary()


@pytest.mark.django_db(transaction=True)
def test_anchor_log_cut_back_with_the_tail_is_a_restart(record_answer, civil_servant, audit_anchor):
    """Cutting the log back (and the file with it) to before a deleted tail leaves a consistent anchor
    with nothing missing; the site notices that the log no longer holds what it wrote there."""
    events = [record_answer(civil_servant) for _ in range(4)]
    lines = audit_anchor.with_name(audit_anchor.name + ".log").read_text().splitlines(True)
    kept = [line for line in lines if json.loads(line)["seq"] <= events[1].seq]
    audit_anchor.with_name(audit_anchor.name + ".log").write_text("".join(kept))
    earlier = json.loads(kept[-1])
    audit_anchor.write_text(json.dumps({"version": 1, "chains": {earlier.pop("chain"): earlier}}))
    delete_after(events[1].seq)
    assert audit_verify().ok  # consistent: only a copy kept elsewhere could tell

    first_new = record_answer(civil_servant)
    restart = AuditEvent.objects.get(action="audit.anchor_restart")
    assert (restart.data["seq"], restart.data["reason"]) == (first_new.seq, "replaced")
    result = audit_verify()
    assert [(p.kind, p.seq) for p in result.problems] == [("anchor_restart", first_new.seq)]
    assert "no longer held the checkpoints the site had written to it (truncated or replaced)" in str(
        result.first_problem
    )


# Verification messages


def test_a_deleted_and_renumbered_range_is_summarised_after_the_anchor_not_hidden_by_the_cap(
    record_answer, civil_servant
):
    """Deleting one event and renumbering every later one used to give "out of order" and twenty "seq
    differs", with the decisive anchor problem cut off. The anchor comes first, then the renumbered range."""
    events = [record_answer(civil_servant) for _ in range(26)]
    anchor_commit_pending()
    gone, last = events[3].seq, head().seq
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditcontent WHERE event_id = %s", [events[3].pk])
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = %s", [gone])
        cursor.execute("UPDATE audit_auditevent SET seq = -seq WHERE seq > %s", [gone])
        cursor.execute("UPDATE audit_auditevent SET seq = -seq - 1 WHERE seq < 0")

    result = audit_verify()
    assert kinds(result) == ["head", "renumbered", "out_of_order"]
    assert [(p.kind, p.seq, list(p.seqs)[-1]) for p in result.problems] == [
        ("head", gone, last),
        ("renumbered", gone, last - 1),
        ("out_of_order", gone, gone),
    ]
    assert f"Events after #{gone - 1} were deleted or rewritten" in str(result.problems[0])
    assert (
        f"Events #{gone} to #{last - 1} ({last - gone}) renumbered: recorded as #{gone + 1} to #{last}, so 1 event(s) "
        f"before #{gone} were deleted" in str(result.problems[1])
    )


def test_the_root_cause_comes_first_whatever_the_cap(record_answer, civil_servant):
    """Many rewritten events and a deleted tail: with room for two problems, the tail deletion is one."""
    events = [record_answer(civil_servant) for _ in range(6)]
    anchor_commit_pending()
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET outcome = 'refused' WHERE seq < %s", [events[-1].seq])
    delete_after(events[-2].seq)
    result = audit_verify(max_problems=2)
    assert kinds(result) == ["head", "altered"] and result.more_problems
    assert result.problem_counts["altered"] == AuditEvent.objects.count() >= len(events) - 1
    assert "The newest 1 event(s) were deleted" in str(result.first_problem)


def test_a_rewritten_event_is_called_rewritten_with_what_it_was(record_answer, civil_servant):
    """An outcome changed in place says what was recorded and what is there now; one whose digest was
    recomputed is "rewritten after the site signed it" (not appended), and the untouched next event is
    named as following the old digest (not just "out of order")."""
    events = [record_answer(civil_servant, outcome="error") for _ in range(3)]
    anchor_commit_pending()
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET outcome = 'answered' WHERE seq = %s", [events[0].seq])
    assert 'was rewritten: outcome was "error" when recorded, is now "answered"' in str(audit_verify().first_problem)

    forged = events[1].canonical.replace('"outcome":"error"', '"outcome":"answered"')
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET outcome = 'error' WHERE seq = %s", [events[0].seq])
        cursor.execute(
            "UPDATE audit_auditevent SET outcome = 'answered', canonical = %s, sha256 = %s WHERE seq = %s",
            [forged, sha256_text(forged), events[1].seq],
        )
    messages = {p.kind: str(p) for p in audit_verify().problems}
    assert "rewritten after the site signed it" in messages["unsigned"] and "appended" not in messages["unsigned"]
    assert f"it names the digest #{events[1].seq} had before #{events[1].seq} was rewritten" in messages["out_of_order"]


def test_the_verify_event_keeps_every_listed_problem_and_the_counts(client, auditor, record_answer, civil_servant):
    """The audit.verify event holds the problems' messages (bounded), root causes first, and how many of
    each kind were found, not five seq/kind pairs."""
    events = [record_answer(civil_servant) for _ in range(25)]
    anchor_commit_pending()
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET outcome = 'refused' WHERE action = 'answer'")
    client.force_login(auditor)
    text = client.post("/audit/verify/").content.decode()
    assert "Found: 25 altered." in text
    recorded = AuditEvent.objects.get(action="audit.verify").data
    assert recorded["problem_counts"] == {"altered": 25} and recorded["more_problems"] is True
    assert len(recorded["problems"]) == 20
    first = recorded["problems"][0]
    assert (first["seq"], first["kind"]) == (events[0].seq, "altered")
    assert 'outcome was "answered" when recorded, is now "refused"' in first["message"]
    assert all(len(p["message"]) <= 1000 for p in recorded["problems"])


# Legal holds


def test_a_hold_released_outside_the_site_is_listed_in_force_and_stops_the_purge(auditor, civil_servant, record_answer):
    """legal_hold list and the purge apply verification's rule: a release no legal_hold.release event
    records does not count. The purge refuses (dry run too) until an auditor records the release."""
    out = io.StringIO()
    call_command(
        "legal_hold",
        "place",
        "--user",
        civil_servant.email,
        "--reason",
        "Tribunal 7",
        "--by",
        auditor.email,
        stdout=out,
    )
    hold = LegalHold.objects.get()
    place = AuditEvent.objects.get(action="legal_hold.place")
    assert place.content.body == {"reason": "Tribunal 7"}
    LegalHold.objects.filter(pk=hold.pk).update(released_at=timezone.now())  # the runtime role may do this

    out = io.StringIO()
    call_command("legal_hold", "list", stdout=out)
    assert out.getvalue().startswith(f"{hold.pk}\tuser:{civil_servant.pk}\t")
    assert "RELEASED OUTSIDE THE SITE" in out.getvalue() and "still in force" in out.getvalue()
    page = _auditor_client(auditor).get("/audit/person/", {"email": civil_servant.email}).content.decode()
    assert "outside the site, so still in force" in page, "the subject-access page says what the purge will do"
    for dry_run in ([], ["--dry-run"]):
        with pytest.raises(
            CommandError, match=f"Refusing to purge: legal hold {hold.pk} \\(user:{civil_servant.pk}\\)"
        ):
            call_command("purge_retention", *dry_run, stdout=io.StringIO())
    assert not AuditEvent.objects.filter(action="retention.purge").exists()

    out = io.StringIO()
    call_command("legal_hold", "release", str(hold.pk), "--by", auditor.email, stdout=out)
    assert "its release outside the site is now recorded" in out.getvalue()
    release = AuditEvent.objects.get(action="legal_hold.release")
    assert release.data["released_outside_site"] is True and release.actor == auditor
    out = io.StringIO()
    call_command("legal_hold", "list", stdout=out)
    assert out.getvalue() == ""
    assert retention_purge().event_seq is not None
    assert audit_verify().ok


def test_an_auditor_without_two_factor_authentication_is_told_so(make_user, civil_servant, settings):
    settings.HUMPHREY_REQUIRE_MFA_FOR = ["auditor"]
    unenrolled = make_user("new.auditor@example.gov.uk", roles=[Role.AUDITOR], totp=False)
    with pytest.raises(CommandError, match="has not set up two-factor authentication"):
        call_command("legal_hold", "place", "--user", civil_servant.email, "--reason", "x", "--by", unenrolled.email)
    assert not LegalHold.objects.exists() and not AuditContent.objects.filter(event__action="legal_hold.place")


def _auditor_client(auditor):
    from django.test import Client

    client = Client()
    client.force_login(auditor)
    return client
