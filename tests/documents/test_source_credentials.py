"""Synced sources that sign in: an intranet page or sitemap behind a sign-in, read with a credential
the operator configured (``HUMPHREY_SOURCE_CREDENTIALS``) and a curator chose by name. The secret is
sent only to the credential's own origins (never after a redirect to another site), and is never
stored, shown, logged or audited."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEvent
from documents.models import RunOutcome, Source, SourceKind
from documents.services.sources import source_add, source_update
from documents.sources.credentials import origin
from tests.conftest import signed_in
from tests.documents.sources_server import Page, SourceServer
from tests.documents.test_sources import _sync

pytestmark = pytest.mark.django_db

SECRET = "Bearer s3cret-value-9f2c"


@pytest.fixture
def sites(settings, monkeypatch):
    """An intranet that wants the secret, another site that records what it is sent, and the credential."""
    settings.HUMPHREY_SOURCE_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.HUMPHREY_SOURCE_HOST_INTERVAL = 0
    settings.HUMPHREY_SOURCE_TIMEOUT = 2
    with SourceServer(sign_in=("Authorization", SECRET)) as intranet, SourceServer() as elsewhere:
        settings.HUMPHREY_SOURCE_CREDENTIALS = {
            "intranet": {
                "origins": [origin(intranet.url("/"))],
                "header": "Authorization",
                "value_env": "TEST_INTRANET_TOKEN",
            }
        }
        monkeypatch.setenv("TEST_INTRANET_TOKEN", SECRET)
        yield intranet, elsewhere


def test_a_source_signs_in_to_its_own_site_and_nowhere_else(make_collection, curator, sites, caplog):
    intranet, elsewhere = sites
    collection = make_collection()
    page = intranet.html("/policy", "Expenses policy", "The pangolin allowance is 12 pounds a night.")
    away = elsewhere.html("/public", "Public page", "Nothing secret here.")
    intranet.pages["/moved"] = Page(b"", status=302, headers={"Location": away})

    without = source_add(collection=collection, kind=SourceKind.PAGES, location=page, user=curator)
    run = _sync(without)
    assert (run.added, run.failed) == (0, 1) and "401" in json.dumps(run.changes)

    caplog.set_level(logging.DEBUG)
    source = source_add(
        collection=collection,
        kind=SourceKind.PAGES,
        location=f"{page}\n{intranet.url('/moved')}",
        user=curator,
        credential="intranet",
    )
    run = _sync(source)
    assert (run.outcome, run.added) == (RunOutcome.OK, 2), run.changes
    assert ("/policy", SECRET) in intranet.authorization
    assert elsewhere.authorization and all(value is None for _, value in elsewhere.authorization)

    # The name is kept and audited; the secret nowhere.
    assert Source.objects.get(pk=source.pk).credential == "intranet"
    added = AuditEvent.objects.filter(action="curation.source_add").latest("seq")
    assert added.data["credential"] == "intranet"
    everything = json.dumps(list(AuditEvent.objects.values("data", "content")), default=str)
    assert "s3cret" not in everything and "s3cret" not in caplog.text
    assert "s3cret" not in json.dumps(list(Source.objects.values()), default=str)


def test_a_credential_is_checked_when_chosen(make_collection, curator, sites, settings):
    intranet, elsewhere = sites
    collection = make_collection()
    page = intranet.url("/policy")
    with pytest.raises(ValidationError, match="no credential called 'vpn'"):
        source_add(collection=collection, kind=SourceKind.PAGES, location=page, user=curator, credential="vpn")
    with pytest.raises(ValidationError, match="only sent to"):
        source_add(
            collection=collection,
            kind=SourceKind.PAGES,
            location=elsewhere.url("/public"),
            user=curator,
            credential="intranet",
        )
    settings.HUMPHREY_SOURCE_ALLOWED_ROOTS = ["/tmp"]
    with pytest.raises(ValidationError, match="Only web pages and sitemaps"):
        source_add(collection=collection, kind=SourceKind.FOLDER, location="/tmp", user=curator, credential="intranet")
    source = source_add(collection=collection, kind=SourceKind.PAGES, location=page, user=curator)
    source_update(source=source, user=curator, credential="intranet")
    assert Source.objects.get(pk=source.pk).credential == "intranet"
    call_command("source_add", intranet.url("/other"), "--collection", collection.slug, "--credential", "intranet",
                 stdout=io.StringIO())  # fmt: skip
    assert Source.objects.filter(collection=collection, credential="intranet").count() == 2


def test_a_run_without_the_secret_set_fails_and_says_which_variable(make_collection, curator, sites, monkeypatch):
    intranet, _ = sites
    page = intranet.html("/policy", "Expenses policy", "The pangolin allowance is 12 pounds a night.")
    source = source_add(
        collection=make_collection(), kind=SourceKind.PAGES, location=page, user=curator, credential="intranet"
    )
    monkeypatch.delenv("TEST_INTRANET_TOKEN")
    run = _sync(source)
    # The curator reads that it is not set up; the variable is named for the service team, in the
    # run's audit event and the log, never on the curator's page.
    assert run.outcome == RunOutcome.FAILED and "Ask the service team" in run.error
    assert "TEST_INTRANET_TOKEN" not in run.error
    event = AuditEvent.objects.get(action="curation.source_sync", data__run_id=run.pk)
    assert "TEST_INTRANET_TOKEN is not set" in event.data["cause"]
    assert not intranet.authorization  # nothing was asked of the site


def test_curators_choose_a_credential_by_name(client, make_collection, curator, sites, settings):
    intranet, _ = sites
    collection = make_collection()
    intranet.html("/policy", "Expenses policy", "The pangolin allowance is 12 pounds a night.")
    signed_in(client, curator)
    url = reverse("documents:source_add", args=[collection.slug])
    form = client.get(url).content.decode()
    assert "Does it need signing in to?" in form and '<option value="intranet">intranet</option>' in form
    response = client.post(
        url, {"kind": "pages", "location": intranet.url("/policy"), "every_hours": "24", "credential": "intranet"}
    )
    source = Source.objects.get(collection=collection)
    assert response.status_code == 302 and source.credential == "intranet"
    detail = client.get(reverse("documents:source", args=[collection.slug, source.pk])).content.decode()
    assert "Signs in with" in detail and "s3cret" not in detail

    # The operator removes the credential: the change page still names it, and saving keeps it.
    settings.HUMPHREY_SOURCE_CREDENTIALS = {}
    edit = reverse("documents:source_edit", args=[collection.slug, source.pk])
    page = client.get(edit).content.decode()
    assert '<option value="intranet" selected>intranet (no longer set up: its runs fail)</option>' in page
    client.post(edit, {"location": intranet.url("/policy"), "every_hours": "12", "credential": "intranet"})
    source.refresh_from_db()
    assert (source.every_hours, source.credential) == (12, "intranet")
