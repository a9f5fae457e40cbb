"""Management commands: ingest (summary and exit code), load_sample, reembed, ingestion_queue."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from accounts.roles import Role
from documents.embeddings import FakeEmbeddings
from documents.ingest.parse import EXTENSIONS
from documents.models import Chunk, Collection, Document, DocumentVersion, VersionStatus

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "guidance"
    (root / "hr").mkdir(parents=True)
    (root / "travel.md").write_text("# Travel\n\nRail is standard class.\n")
    (root / "hr" / "leave.txt").write_text("Leave\n=====\n\nYou get 25 days.\n")
    (root / "hr" / "broken.pdf").write_bytes(b"%PDF-1.7\nthis is not a real pdf")
    (root / "notes.exe").write_bytes(b"MZ not ingested")
    (root / ".hidden.md").write_text("# Hidden\n\nNot ingested.\n")
    return root


def test_ingest_walks_folders_summarises_and_fails_non_zero(folder, fake_embedder, media):
    """Good files are ingested, a broken one is reported with its reason, and the exit code is non-zero."""
    out, error = run(
        "ingest", str(folder), "--collection", "hr", "--create", "--wait", "--group", "HR", "--no-progress"
    )
    assert error is not None and error.returncode == 1
    assert "ingested 2" in out and "unchanged 0" in out and "failed 1" in out
    assert "broken.pdf" in out and "damaged" in out
    collection = Collection.objects.get(slug="hr")
    assert [g.name for g in collection.reader_groups.all()] == ["HR"]
    assert set(Document.objects.filter(collection=collection).values_list("source_name", flat=True)) == {
        "travel.md",
        "leave.txt",
        "broken.pdf",
    }
    assert Chunk.objects.filter(collection=collection, searchable=True).count() >= 2


def test_ingest_and_wait_leaves_statistics_that_know_the_new_chunks(folder, fake_embedder, media):
    """The words channel weighs words by the planner's statistics: after a bulk load they are
    refreshed at once, not whenever autovacuum gets to it (the test database is never auto-analysed)."""
    from django.db import connection

    def analysed_words() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT most_common_elems::text::text[] FROM pg_stats "
                "WHERE tablename = 'documents_chunk' AND attname = 'search_vector'"
            )
            row = cursor.fetchone()
        return (row[0] or []) if row else []

    (folder / "hr" / "broken.pdf").unlink()
    run("ingest", str(folder), "--collection", "hr", "--create", "--wait", "--no-progress")
    assert "rail" in analysed_words()
    (folder / "zebra.md").write_text("# Zebra\n\nZebra crossings are marked in white.\n")
    run("ingest", str(folder), "--collection", "hr", "--wait", "--no-progress")
    assert "zebra" in analysed_words()


def test_ingest_again_reports_unchanged_and_succeeds(folder, fake_embedder, media):
    """Re-running over the same good files changes nothing and exits zero."""
    (folder / "hr" / "broken.pdf").unlink()
    run("ingest", str(folder), "--collection", "hr", "--create", "--wait", "--no-progress")
    out, error = run("ingest", str(folder), "--collection", "hr", "--wait", "--no-progress")
    assert error is None
    assert "ingested 0" in out and "unchanged 2" in out and "failed 0" in out


def test_ingest_without_wait_queues(folder, fake_embedder, media):
    """Without --wait the files are queued for the worker."""
    (folder / "hr" / "broken.pdf").unlink()
    out, error = run("ingest", str(folder / "travel.md"), "--collection", "hr", "--create", "--no-progress")
    assert error is None and "queued 1" in out
    assert DocumentVersion.objects.get().status == VersionStatus.QUEUED


def test_ingest_needs_create_for_a_new_collection(folder, fake_embedder, media):
    """An unknown collection is an error unless --create is given."""
    _, error = run("ingest", str(folder), "--collection", "nope", "--no-progress")
    assert error is not None and "--create" in str(error)
    assert not Collection.objects.exists()


def test_load_sample_is_idempotent_and_readable_by_all_staff(fake_embedder, media, make_user):
    """The sample collection loads every format, and loading it again changes nothing."""
    make_user("curator@example.gov.uk", roles=[Role.CURATOR])
    out, error = run("load_sample")
    assert error is None, out
    assert "ingested 5" in out
    collection = Collection.objects.get(slug="dde-guidance")
    assert list(collection.reader_groups.values_list("name", flat=True)) == ["All staff"]
    assert collection.curators.filter(email="curator@example.gov.uk").exists()
    types = set(DocumentVersion.objects.values_list("content_type", flat=True))
    assert {"application/pdf", "text/html", "text/markdown", "text/plain"} <= types
    assert any("wordprocessingml" in t for t in types)
    assert Chunk.objects.filter(collection=collection, searchable=True, text__contains="TS2").exists()
    out, error = run("load_sample")
    assert error is None and "unchanged 5" in out
    assert DocumentVersion.objects.count() == 5


def test_reembed_replaces_vectors_from_another_model(folder, fake_embedder, media):
    """Chunks embedded by another model are re-embedded with the configured one."""
    (folder / "hr" / "broken.pdf").unlink()
    run("ingest", str(folder), "--collection", "hr", "--create", "--wait", "--no-progress")
    Chunk.objects.update(embedding_model="old/model")
    out, error = run("reembed")
    assert error is None
    assert "Re-embedded" in out
    assert set(Chunk.objects.values_list("embedding_model", flat=True)) == {FakeEmbeddings.model_id}


def test_reembed_units_cuts_again_the_units_of_chunks_cut_by_an_older_rule(folder, fake_embedder, media):
    """Units are made at ingestion: a chunk cut by an older rule (here as a heading) is cut again and
    its unit vectors made again; chunks already cut as now are left alone."""
    from documents.ingest.units import RULE, split_units

    (folder / "hr" / "broken.pdf").unlink()
    run("ingest", str(folder), "--collection", "hr", "--create", "--wait", "--no-progress")
    old = Chunk.objects.get(text__contains="25 days")
    current = old.units
    assert current == [[0, len(old.text), "sentence", -1]]
    assert set(Chunk.objects.values_list("units_rule", flat=True)) == {RULE}  # stamped at ingestion
    Chunk.objects.update(units_rule=0)  # as the upgrade's migration leaves every chunk
    Chunk.objects.filter(pk=old.pk).update(units=[[0, len(old.text), "heading", -1]], unit_vectors=b"\0" * 768)
    untouched = Chunk.objects.exclude(pk=old.pk).get()
    out, error = run("reembed", "--units")
    assert error is None and "Cut the answer units of 1 chunk(s) again." in out
    old.refresh_from_db()
    assert old.units == [u.as_list() for u in split_units(old.text)] == current
    assert len(bytes(old.unit_vectors)) == len(current) * 384 * 2 and bytes(old.unit_vectors) != b"\0" * 768
    assert Chunk.objects.get(pk=untouched.pk).unit_vectors == untouched.unit_vectors
    # Both are stamped, the one cut as before too, so the next run reads neither.
    assert set(Chunk.objects.values_list("units_rule", flat=True)) == {RULE}
    Chunk.objects.filter(pk=untouched.pk).update(units=[])
    out, error = run("reembed", "--units")
    assert error is None and "Cut the answer units of 0 chunk(s) again." in out


def test_reread_stores_again_what_todays_readers_read_otherwise(folder, fake_embedder, media):
    """A version read by an older reader (here: its chunk's recorded cut altered) is stored again as a
    new version, audited as an upload by a re-read; the dry run only says so; documents read the same
    are left; a second run finds nothing to do."""
    from audit.models import AuditEvent

    (folder / "hr" / "broken.pdf").unlink()
    run("ingest", str(folder), "--collection", "hr", "--create", "--wait", "--no-progress")
    leave = Document.objects.get(source_name="leave.txt")
    Chunk.objects.filter(version=leave.current_version).update(embed_sha256="read-by-an-older-release")
    DocumentVersion.objects.update(read_rule=0)  # as the migration that brought the stamp leaves them
    out, error = run("reread", "--collection", "hr", "--dry-run")
    assert error is None and "hr/leave.txt: would be read again" in out and "hr/travel.md: unchanged" in out
    assert leave.versions.count() == 1
    out, error = run("reread", "--collection", "hr", "--wait")
    assert error is None and "1 of 2 document(s) stored again as new versions." in out
    leave.refresh_from_db()
    assert leave.current_version.number == 2 and leave.current_version.status == VersionStatus.READY
    assert Document.objects.get(source_name="travel.md").versions.count() == 1
    upload = AuditEvent.objects.filter(action="curation.document_upload", data__reread=True).get()
    assert upload.data["version"] == 2 and upload.actor_id is None
    out, _ = run("reread", "--collection", "hr")
    assert "0 of 0 document(s)" in out  # both read by today's readers: neither read again

    # After an upgrade that raises READ_RULE only the versions read before it are read again; the one
    # read the same is stamped, so the next run reads nothing; --all reads every one.
    from documents.ingest.chunk import READ_RULE

    DocumentVersion.objects.filter(document__source_name="travel.md").update(read_rule=READ_RULE - 1)
    out, _ = run("reembed", "--queue")
    assert "1 document(s) were read by an older release's readers" in out
    out, _ = run("reread", "--collection", "hr")
    assert "hr/travel.md: unchanged" in out and "0 of 1 document(s)" in out
    assert Document.objects.get(source_name="travel.md").current_version.read_rule == READ_RULE
    assert "0 of 0 document(s)" in run("reread", "--collection", "hr")[0]
    assert "0 of 2 document(s)" in run("reread", "--collection", "hr", "--all")[0]
    _, error = run("reread", "--collection", "nowhere")
    assert error is not None and "no collection" in str(error)


def test_ingestion_queue_lists_failed_and_queued(folder, fake_embedder, media):
    """The queue shows queued and failed versions with the failure reason."""
    run("ingest", str(folder), "--collection", "hr", "--create", "--wait", "--no-progress")
    (folder / "new.md").write_text("# New\n\nQueued text.\n")
    run("ingest", str(folder / "new.md"), "--collection", "hr", "--no-progress")
    out, error = run("ingestion_queue")
    assert error is None
    assert "failed" in out and "broken.pdf" in out and "damaged" in out
    assert "queued" in out and "new.md" in out
    assert "travel.md" not in out


def test_ingest_reports_an_oversized_file_without_reading_it(folder, fake_embedder, media, settings):
    """A file over HUMPHREY_MAX_UPLOAD_MB is skipped with the reason; the others go on."""
    settings.HUMPHREY_MAX_UPLOAD_MB = 1
    (folder / "hr" / "broken.pdf").unlink()
    (folder / "huge.txt").write_bytes(b"a " * (700 * 1024))
    out, error = run("ingest", str(folder), "--collection", "hr", "--create", "--wait", "--no-progress")
    assert error is None
    assert "ingested 2" in out and "failed 0" in out
    assert f"skipped: {folder / 'huge.txt'}: too big: 1.4 MB, the most we accept is 1 MB" in out
    assert not Document.objects.filter(source_name="huge.txt").exists()


@pytest.fixture
def mixed(tmp_path, settings):
    """What a department's shared folder holds: one readable file among others we cannot take."""
    settings.HUMPHREY_MAX_UPLOAD_MB = 1
    root = tmp_path / "shared"
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "passwords.md").write_text("# Passwords\n\nUse a password manager.\n")
    (root / "deck.key").write_bytes(b"PK\x03\x04 slides")
    (root / "policies" / "budget.numbers").write_bytes(b"PK\x03\x04 sheet")
    (root / "reply.pages").write_bytes(b"PK\x03\x04 letter")
    (root / ".draft.md").write_text("# Draft\n\nNot yet.\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (root / "policies" / "archive.md").write_bytes(b"# Archive\n\n" + b"old words " * 120_000)
    return root


def test_ingest_reports_every_file_and_why_it_skipped_one(mixed, fake_embedder, media):
    """Ingested, unchanged, failed and skipped are each named; a skip says why (unsupported type,
    hidden, too big) and is not an error without --strict."""
    out, error = run("ingest", str(mixed), "--collection", "it", "--create", "--wait", "--no-progress")
    assert error is None, out
    assert "it: ingested 1, unchanged 0, failed 0, skipped 6" in out
    lines = out.splitlines()
    assert f"  ingested: {mixed / 'policies' / 'passwords.md'}" in lines
    accepted = f"(accepted: {', '.join(sorted(EXTENSIONS))})"
    assert f"  skipped: {mixed / 'deck.key'}: unsupported type .key {accepted}" in lines
    assert f"  skipped: {mixed / 'policies' / 'budget.numbers'}: unsupported type .numbers {accepted}" in lines
    assert f"  skipped: {mixed / 'reply.pages'}: unsupported type .pages {accepted}" in lines
    assert f"  skipped: {mixed / '.draft.md'}: hidden" in lines
    assert f"  skipped: {mixed / '.git'}/: hidden" in lines  # the folder once, not each file in it
    assert any(
        line.startswith(f"  skipped: {mixed / 'policies' / 'archive.md'}: too big: 1.1 MB, the most we accept is 1 MB")
        for line in lines
    ), out
    assert list(Document.objects.values_list("source_name", flat=True)) == ["passwords.md"]

    again, error = run("ingest", str(mixed), "--collection", "it", "--wait", "--no-progress")
    assert error is None
    assert "it: ingested 0, unchanged 1, failed 0, skipped 6" in again
    assert f"  unchanged: {mixed / 'policies' / 'passwords.md'}" in again.splitlines()


def test_ingest_strict_makes_a_skip_an_error(mixed, fake_embedder, media):
    """With --strict a skipped file fails the run (after the readable files are ingested)."""
    out, error = run("ingest", str(mixed), "--collection", "it", "--create", "--wait", "--strict", "--no-progress")
    assert error is not None and error.returncode == 1
    assert "6 file(s) skipped (--strict)" in str(error)
    assert "ingested 1" in out and "skipped 6" in out
    (mixed / "deck.key").unlink()
    out, error = run("ingest", str(mixed / "deck.key"), "--collection", "it", "--strict", "--no-progress")
    assert error is not None and "failed 1" in out  # named and not there: failed, not found


def test_ingest_skips_a_file_named_directly_whose_type_it_cannot_read(mixed, fake_embedder, media):
    out, error = run("ingest", str(mixed / "reply.pages"), "--collection", "it", "--create", "--no-progress")
    assert error is None
    assert "ingested 0, unchanged 0, failed 0, skipped 1" in out and "unsupported type .pages" in out
    out, error = run("ingest", str(mixed / "reply.pages"), "--collection", "it", "--strict", "--no-progress")
    assert error is not None and error.returncode == 1


def test_ingest_refuses_an_empty_file_and_keeps_no_document_for_it(folder, fake_embedder, media):
    """As an upload does: an empty file is reported, with the reason, and leaves nothing behind."""
    (folder / "hr" / "broken.pdf").unlink()
    (folder / "blank.md").write_bytes(b"")
    out, error = run("ingest", str(folder), "--collection", "hr", "--create", "--wait", "--no-progress")
    assert error is not None and error.returncode == 1
    assert "ingested 2" in out and "failed 1" in out
    assert "blank.md: The file is empty." in out
    assert not Document.objects.filter(source_name="blank.md").exists()
