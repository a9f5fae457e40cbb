"""Curation screens: curators only, only their own collections (404 otherwise); the passage view
for readers of the collection only; Django admin cannot bypass the services."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditEvent
from documents.models import Chunk, Collection, DocumentVersion, VersionStatus
from tests.conftest import signed_in
from tests.documents.files import upload_and_ingest

pytestmark = pytest.mark.django_db

IMMEDIATE = {
    "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default", "ingest"]}
}
LEAVE = b"# Leave\n\n## Carry over\n\nYou may carry over up to 5 days of unused leave into the next leave year.\n"


@pytest.fixture
def collection(make_collection):
    return make_collection("hr", groups=["HR"])


@pytest.fixture
def other_curator(make_user):
    return make_user("olu@example.gov.uk", roles=[Role.CURATOR])


def test_curation_needs_sign_in_and_the_curator_role(client, civil_servant, collection):
    """Anonymous users are sent to sign in; civil servants are refused."""
    response = client.get("/curate/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    signed_in(client, civil_servant)
    assert client.get("/curate/").status_code == 403
    assert client.get(f"/curate/c/{collection.slug}/").status_code == 403


def test_curator_sees_only_their_collections(client, curator, other_curator, make_collection, collection):
    """Another curator's collection is not listed and every page of it is a 404."""
    theirs = make_collection("finance", owner=other_curator)
    version = upload_and_ingest(theirs, "leave.md", LEAVE, other_curator)
    chunk = version.chunks.first()
    signed_in(client, curator)
    listing = client.get("/curate/")
    assert listing.status_code == 200
    assert b"Hr" in listing.content and b"Finance" not in listing.content
    for url in [
        f"/curate/c/{theirs.slug}/",
        f"/curate/c/{theirs.slug}/status.json",
        f"/curate/c/{theirs.slug}/try/?q=leave",
        f"/curate/c/{theirs.slug}/retire/",
        f"/curate/documents/{version.document_id}/",
        f"/curate/versions/{version.pk}/",
        f"/curate/chunks/{chunk.pk}/",
    ]:
        assert client.get(url).status_code == 404, url
    assert client.post(f"/curate/c/{theirs.slug}/retire/").status_code == 404
    assert client.post(f"/curate/documents/{version.document_id}/retire/").status_code == 404
    assert (
        client.post(f"/curate/c/{theirs.slug}/upload/", {"files": [SimpleUploadedFile("x.md", b"# X")]}).status_code
        == 404
    )
    theirs.refresh_from_db()
    assert theirs.is_active and theirs.documents.count() == 1


def test_create_a_collection_and_grant_groups(client, curator, fake_embedder, media):
    """A curator creates a collection with reader groups; it is audited and they become its curator."""
    hr = Group.objects.create(name="HR")
    signed_in(client, curator)
    response = client.post(
        "/curate/new/", {"name": "People policies", "slug": "", "marking": "OFFICIAL", "reader_groups": [hr.pk]}
    )
    assert response.status_code == 302
    collection = Collection.objects.get(slug="people-policies")
    assert list(collection.reader_groups.all()) == [hr]
    assert collection.curators.filter(pk=curator.pk).exists()
    assert AuditEvent.objects.filter(action="curation.collection_create", actor_id=curator.pk).exists()
    error = client.post("/curate/new/", {"name": "", "marking": "OFFICIAL"})
    assert error.status_code == 400 and b"Enter a name" in error.content


def test_upload_many_files_then_watch_status(client, curator, collection, settings, django_capture_on_commit_callbacks):
    """Several files in one upload are each queued and ingested; the status endpoint reports them."""
    settings.TASKS = IMMEDIATE
    signed_in(client, curator)
    files = [
        SimpleUploadedFile("leave.md", LEAVE),
        SimpleUploadedFile("travel.txt", b"Travel\n======\n\nRail is standard class.\n"),
        SimpleUploadedFile("bad.pdf", b"<html><body>not a pdf</body></html>"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/curate/c/{collection.slug}/upload/", {"files": files})
    assert response.status_code == 302
    statuses = {v.original_filename: v.status for v in DocumentVersion.objects.all()}
    # The mislabelled file is refused at upload: nothing of it is stored, the others are read.
    assert statuses == {"leave.md": VersionStatus.READY, "travel.txt": VersionStatus.READY}
    data = client.get(f"/curate/c/{collection.slug}/status.json").json()
    assert data["busy"] is False
    assert sorted(row["status"] for row in data["versions"]) == ["ready", "ready"]
    page = client.get(f"/curate/c/{collection.slug}/")
    assert b"web page" in page.content  # the refusal's reason is shown, at the Files field
    assert b'type="file"' in page.content and b"multiple" in page.content


def test_version_page_lists_chunks_and_retry_requeues_a_failed_version(client, curator, collection):
    """A version's chunks are listed; a failed version can be retried from its page."""
    ok = upload_and_ingest(collection, "leave.md", LEAVE, curator)
    bad = upload_and_ingest(collection, "bad.pdf", b"%PDF-1.4 broken", curator)
    signed_in(client, curator)
    page = client.get(reverse("documents:version", args=[ok.pk]))
    assert page.status_code == 200 and b"carry over up to 5 days" in page.content
    failed_page = client.get(bad.get_absolute_url())
    assert b"Retry ingestion" in failed_page.content
    response = client.post(reverse("documents:version_retry", args=[bad.pk]))
    assert response.status_code == 302
    bad.refresh_from_db()
    assert bad.status == VersionStatus.QUEUED
    assert AuditEvent.objects.filter(action="curation.version_retry").exists()


def test_retire_document_from_the_screens(client, curator, collection):
    """Retiring a document asks for confirmation, then hides its chunks from search."""
    version = upload_and_ingest(collection, "leave.md", LEAVE, curator)
    signed_in(client, curator)
    confirm = client.get(reverse("documents:document_retire", args=[version.document_id]))
    assert confirm.status_code == 200 and b"Retire" in confirm.content
    client.post(reverse("documents:document_retire", args=[version.document_id]))
    assert not Chunk.objects.filter(searchable=True).exists()


def test_grant_and_revoke_from_the_collection_page(client, curator, collection):
    """Groups are granted and revoked from the collection page."""
    finance = Group.objects.create(name="Finance")
    signed_in(client, curator)
    client.post(f"/curate/c/{collection.slug}/readers/", {"group": finance.pk})
    assert collection.reader_groups.filter(pk=finance.pk).exists()
    client.post(f"/curate/c/{collection.slug}/readers/", {"revoke": finance.pk})
    assert not collection.reader_groups.filter(pk=finance.pk).exists()


def test_try_a_question_shows_what_retrieval_returns(client, curator, collection):
    """The try box shows passages retrieval returns for the curator (when their group may read it)."""
    upload_and_ingest(collection, "leave.md", LEAVE, curator)
    signed_in(client, curator)
    page = client.get(f"/curate/c/{collection.slug}/try/", {"q": "carry over unused leave"})
    assert page.status_code == 200
    assert b"not in a group that may read" in page.content
    curator.groups.add(Group.objects.get(name="HR"))
    page = client.get(f"/curate/c/{collection.slug}/try/", {"q": "carry over unused leave"})
    assert b"carry over up to 5 days" in page.content


def test_try_a_question_shows_what_chat_would_answer_and_why(client, curator, collection):
    """Above the passages, the curator sees what chat would answer from this collection, through the
    same steps: the quote and its citation when covered; "not covered", with the words the guidance
    never uses, when not, so they can tell a gap in the guidance from a question asked in other words."""
    upload_and_ingest(collection, "leave.md", LEAVE, curator)
    curator.groups.add(Group.objects.get(name="HR"))
    signed_in(client, curator)
    page = client.get(f"/curate/c/{collection.slug}/try/", {"q": "How many days of unused leave can I carry over?"})
    text = page.content.decode()
    assert "What chat would answer" in text and 'govuk-tag--green">Answered' in text
    assert "<blockquote>" in text and "You may carry over up to 5 days of unused leave" in text
    assert "no language model is configured" in text.lower()
    page = client.get(f"/curate/c/{collection.slug}/try/", {"q": "How do I get a parking permit for the car park?"})
    text = page.content.decode()
    assert 'govuk-tag--red">Not covered' in text and "does not cover this question" in text
    assert "Words the closest passages never use" in text and "parking" in text


def test_try_a_question_with_a_model_configured_does_not_say_there_is_none(client, curator, collection, settings):
    """With a language model configured the page says chat's answer is the model's, and the quotes it
    shows under that do not open with "No language model is configured"."""
    from assistant.providers import reset_chat_models

    upload_and_ingest(collection, "leave.md", LEAVE, curator)
    curator.groups.add(Group.objects.get(name="HR"))
    signed_in(client, curator)
    settings.HUMPHREY_CHAT_MODELS = {
        **settings.HUMPHREY_CHAT_MODELS,
        "default": {"CLASS": "openai", "CONFIG": {"base_url": "http://127.0.0.1:1/v1", "api_key": "k", "model": "m"}},
    }
    settings.HUMPHREY_CHAT_MODEL_ALIAS = "default"
    reset_chat_models()
    try:
        page = client.get(f"/curate/c/{collection.slug}/try/", {"q": "How many days of unused leave can I carry over?"})
    finally:
        reset_chat_models()
    text = page.content.decode()
    assert "A language model is configured" in text and "You may carry over up to 5 days of unused leave" in text
    assert "no language model is configured" not in text.lower()


def test_try_a_question_with_the_embedder_down_judges_by_words_and_says_so(client, curator, collection, monkeypatch):
    """As chat does when the embedding service fails: the question is searched and judged by its words
    alone, and the page says so, instead of failing."""
    from assistant.services import trial
    from documents.retrieval import selector

    upload_and_ingest(collection, "leave.md", LEAVE, curator)
    curator.groups.add(Group.objects.get(name="HR"))

    class Down:
        def embed_query(self, text):
            raise ConnectionError("the embedding service is down")

    monkeypatch.setattr(trial, "get_embedder", Down)
    monkeypatch.setattr(selector, "get_embedder", Down)
    signed_in(client, curator)
    page = client.get(f"/curate/c/{collection.slug}/try/", {"q": "How many days of unused leave can I carry over?"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "The embedding service did not answer" in text and "You may carry over up to 5 days" in text
    assert "1 passage returned" in text


def test_passage_view_for_readers_only_and_keeps_old_versions(client, curator, make_user, collection):
    """A reader sees a passage cited to them highlighted (also from an older version); anyone else
    gets a 404 (tests/documents/test_passage_access.py tries every case)."""
    from tests.documents.test_passage_access import cite

    v1 = upload_and_ingest(collection, "leave.md", LEAVE, curator)
    old_chunk = v1.chunks.get(text__contains="5 days")
    upload_and_ingest(collection, "leave.md", LEAVE.replace(b"5 days", b"10 days"), curator)
    reader = make_user("rita@example.gov.uk", groups=["HR"])
    outsider = make_user("oscar@example.gov.uk", groups=["Finance"])
    cite(old_chunk, reader)
    cite(old_chunk, outsider)  # cited once, but the collection is not theirs to read
    url = reverse("documents:passage", args=[old_chunk.pk])
    signed_in(client, reader)
    page = client.get(url)
    assert page.status_code == 200
    assert b'<mark class="app-passage--highlight" id="passage">' in page.content
    assert b"carry over up to 5 days" in page.content
    assert b"(upload 1: see the document itself" in page.content and b"older version" in page.content
    client.logout()
    signed_in(client, outsider)
    assert client.get(url).status_code == 404
    assert client.get(reverse("documents:passage", args=[old_chunk.pk + 10_000])).status_code == 404


def test_a_passage_reads_as_text_with_its_headings_in_bold_not_markdown(client, curator, make_user, collection):
    """Readers see a Markdown document's headings as headings ("## Part 1" in bold, without its
    marker); the text stays escaped, and a "#" inside a line is left as it is."""
    from documents.templatetags.passages import readable

    # Short sections are merged into one passage, which then holds their headings' lines.
    body = b"# Guide\n\n## Part 1\n\nRule 1 applies, see #1.\n\n## Part 2\n\nRule 2 applies too.\n"
    version = upload_and_ingest(collection, "guide.md", body, curator)
    chunk = version.chunks.get(text__contains="## Part 2")
    signed_in(client, make_user("rita@example.gov.uk", groups=["HR"]))
    page = client.get(reverse("documents:passage", args=[chunk.pk])).content.decode()
    assert '<strong class="app-passage__heading">Part 2</strong>' in page
    assert "## Part" not in page and "see #1." in page
    assert str(readable("## A <b> heading\nline #2")) == (
        '<strong class="app-passage__heading">A &lt;b&gt; heading</strong>\nline #2'
    )
    assert str(readable("## As stored", False)) == "## As stored"


def test_the_passage_page_says_where_a_passage_is_once(client, curator, make_user, collection):
    """Section and Where rows only say what the title does not: a passage whose heading and place are
    the document's title shows neither; a passage under a sub-heading shows that section once."""
    body = b"# Leave policy\n\nYou get 25 days a year.\n\n## Carrying over\n\n" + b"You may carry over 5 days. " * 40
    version = upload_and_ingest(collection, "leave.md", body, curator)
    signed_in(client, make_user("rita@example.gov.uk", groups=["HR"]))

    def rows(chunk) -> dict[str, str]:
        page = client.get(reverse("documents:passage", args=[chunk.pk])).content.decode()
        found = re.findall(r'__key">([^<]+)</dt><dd class="govuk-summary-list__value">([^<]*)<', page)
        return dict(found)

    top = version.chunks.get(text__contains="25 days")
    assert top.heading_path == "Leave policy"  # the title, as stored, for the page to leave out
    assert "Section" not in rows(top) and "Where" not in rows(top)
    carry = rows(version.chunks.filter(text__contains="carry over").first())
    assert carry["Section"] == "Carrying over" and "Where" not in carry


def test_chunk_view_highlights_the_chunk_in_its_version(client, curator, collection):
    """The curator's chunk view shows the whole version's text with the chunk highlighted."""
    body = b"# Guide\n\n" + b"\n\n".join(b"## Part %d\n\n" % i + b"Rule %d applies here. " % i * 60 for i in range(4))
    version = upload_and_ingest(collection, "guide.md", body, curator)
    chunk = version.chunks.get(ordinal=2)
    signed_in(client, curator)
    page = client.get(reverse("documents:chunk", args=[chunk.pk])).content.decode()
    start = page.index('<mark class="app-passage--highlight" id="passage">') + len(
        '<mark class="app-passage--highlight" id="passage">'
    )
    assert page[start : page.index("</mark>", start)] == chunk.text
    assert "Rule 0 applies" in page and "Rule 3 applies" in page


def test_admin_is_read_only(client, make_user, collection, curator):
    """Staff can look in the admin but cannot add, change or bulk-delete documents there."""
    upload_and_ingest(collection, "leave.md", LEAVE, curator)
    admin_user = make_user("root@example.gov.uk", staff=True)  # with the authenticator app staff need
    admin_user.is_superuser = True
    admin_user.save()
    signed_in(client, admin_user)
    page = client.get("/admin/documents/chunk/")
    assert page.status_code == 200
    assert b"delete_selected" not in page.content
    assert client.get("/admin/documents/collection/add/").status_code == 403
