"""A subject-access request gets what the site stores about the person, not only what the trail
recorded: their account, their conversations as they stand (renamed titles, deleted ones, questions
and answers not yet purged, what was cited), their ratings with comments; nobody else's; signed."""

from __future__ import annotations

import base64
import json

import pytest
from allauth.mfa.models import Authenticator
from cryptography.exceptions import InvalidSignature

from accounts.roles import Role
from assistant.models import Citation, Conversation, Feedback, Message
from audit.export_signing import canonical_manifest, load_public_key
from audit.models import AuditEvent
from tests.factories import add_document, make_collection

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators"),
]


@pytest.fixture
def stored(make_user, civil_servant):
    """A curator's conversations (one renamed, one deleted), with a cited answer and a rating; and a
    civil servant's conversation that must not appear in the curator's records."""
    person = make_user("robin@example.gov.uk", roles=[Role.CURATOR], groups=["HR"])
    chunk = add_document(make_collection("hr", groups=["HR"]), ["Sick leave: a fit note after 7 days."],
                         title="Sickness absence").current_version.chunks.get()  # fmt: skip
    version = chunk.version  # Robin uploaded it and owns the document (the documents app's records)
    version.uploaded_by = person
    version.save(update_fields=["uploaded_by"])
    version.document.owner_email = "Robin@example.gov.uk"
    version.document.save(update_fields=["owner_email"])
    renamed = Conversation.objects.create(owner=person, title="My sick leave in March")
    question = Message.objects.create(conversation=renamed, role="user", text="I was off 3 days, fit note?")
    answer = Message.objects.create(
        conversation=renamed, role="assistant", text="After 7 days [1].", question=question, collections=["hr"]
    )
    Citation.objects.create(message=answer, n=1, chunk=chunk, version=chunk.version, quote=chunk.text)
    Feedback.objects.create(message=answer, user=person, rating="down", comment="Useful but long")
    deleted = Conversation.objects.create(owner=person, title="Deleted one")
    Message.objects.create(conversation=deleted, role="user", text="A question I deleted")
    deleted.hidden_at = deleted.created_at
    deleted.save()
    other = Conversation.objects.create(owner=civil_servant, title="Someone else's")
    Message.objects.create(conversation=other, role="user", text="Not Robin's question")
    return person


def test_the_records_hold_everything_stored_about_the_person_and_nothing_of_others(client, auditor, stored):
    client.force_login(auditor)
    response = client.get("/audit/person/records.json", {"email": "Robin@example.gov.uk "})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert response["Content-Disposition"].startswith('attachment; filename="subject-access-records-')
    text = b"".join(response).decode()
    document = json.loads(text)
    records = document["records"]
    assert records["account"]["email"] == "robin@example.gov.uk" and records["account"]["groups"] == ["Curators", "HR"]
    assert records["account"]["two_factor"] == ["totp"]
    secret = Authenticator.objects.get(user=stored).data
    assert not any(str(value) in text for value in secret.values() if value)  # never its secrets

    titles = [c["title"] for c in records["conversations"]]
    assert titles == ["My sick leave in March", "Deleted one"]
    assert records["conversations"][1]["deleted_by_owner_at"] is not None
    messages = records["conversations"][0]["messages"]
    assert [m["text"] for m in messages] == ["I was off 3 days, fit note?", "After 7 days [1]."]
    assert messages[1]["citations"][0]["document"] == "Sickness absence"
    assert records["feedback"][0]["comment"] == "Useful but long" and records["feedback"][0]["rating"] == "down"
    assert "Not Robin's question" not in text and "Someone else's" not in text
    assert [(r["kind"], r["document"]) for r in records["curation"]] == [
        ("file_uploaded", "Sickness absence"),
        ("document_owner", "Sickness absence"),
    ]
    assert document["counts"] == {"conversations": 2, "feedback": 1, "curation": 2}

    recorded = AuditEvent.objects.filter(action="audit.subject_access").latest("seq")
    assert recorded.actor_id == auditor.pk and recorded.subject == f"user:{stored.pk}"
    assert recorded.data["records"] == {"conversations": 2, "feedback": 1, "curation": 2}
    assert document["head"] == {"seq": recorded.seq, "sha256": recorded.sha256, "action": "audit.subject_access"}

    # Signed with the key the trail recorded: altering any record breaks it.
    key = AuditEvent.objects.get(action="audit.export_key").data
    signature = base64.b64decode(document["signature"]["value"])
    load_public_key(key["public_key"]).verify(signature, canonical_manifest(document))
    document["records"]["feedback"][0]["comment"] = "Changed"
    with pytest.raises(InvalidSignature):
        load_public_key(key["public_key"]).verify(signature, canonical_manifest(document))


def test_an_address_with_no_account_gets_an_empty_record_and_is_still_recorded(client, auditor):
    client.force_login(auditor)
    document = json.loads(b"".join(client.get("/audit/person/records.json", {"email": "nobody@example.gov.uk"})))
    assert {name: document["records"][name] for name in ("account", "conversations", "feedback", "curation")} == {
        "account": None,
        "conversations": [],
        "feedback": [],
        "curation": [],
    }
    assert AuditEvent.objects.filter(action="audit.subject_access", data__email="nobody@example.gov.uk").exists()


def test_a_bad_address_is_an_error_on_the_page(client, auditor):
    client.force_login(auditor)
    response = client.get("/audit/person/records.json", {"email": "not an address"})
    assert response.status_code == 400 and "govuk-error-message" in response.content.decode()


def test_the_subject_access_page_links_both_downloads(client, auditor, stored):
    client.force_login(auditor)
    text = client.get("/audit/person/", {"email": stored.email}).content.decode()
    assert "/audit/person/export.jsonl?" in text and "/audit/person/records.json?email=robin%40example.gov.uk" in text
