"""Signed exports: a third party holding the public key can tell an export is whole, unaltered and the
site's; the trail records the key before it signs and the file's SHA-256 once it is sent; an export
that comes back is checked on the auditors' page and by ``verify_export``."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from audit.export_signing import canonical_manifest, key_id_of, public_pem
from audit.models import AuditEvent
from tests.audit.conftest import tampering
from tests.audit.test_audit_pages_fixes import answer

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators"),
]


def exported(client, auditor, civil_servant, tmp_path, kind: str = "jsonl") -> Path:
    answer(civil_servant, 1)
    answer(civil_servant, 2)
    client.force_login(auditor)
    response = client.get(f"/audit/export.{kind}", {"action": ""})
    assert response.status_code == 200
    path = tmp_path / f"export.{kind}"
    path.write_bytes(b"".join(response))
    return path


def manifest_of(path: Path) -> dict:
    return json.loads(path.read_bytes().splitlines()[-1])["manifest"]


def rewrite_manifest(path: Path, change) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    manifest = json.loads(lines[-1])["manifest"]
    change(manifest)
    lines[-1] = (json.dumps({"manifest": manifest}, ensure_ascii=False, sort_keys=True) + "\n").encode()
    path.write_bytes(b"".join(lines))


def verify(path: Path, *args: str) -> tuple[bool, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_export", str(path), *args, stdout=out, stderr=err)
    except CommandError as exc:
        return False, f"{out.getvalue()}{err.getvalue()}{exc}"
    return True, out.getvalue()


def test_the_manifest_is_signed_by_a_key_the_trail_recorded_first(client, auditor, civil_servant, tmp_path):
    path = exported(client, auditor, civil_servant, tmp_path)
    manifest = manifest_of(path)
    key_event = AuditEvent.objects.get(action="audit.export_key")
    export_event = AuditEvent.objects.get(action="audit.export")
    assert key_event.seq < export_event.seq and key_event.actor_id == auditor.pk
    assert manifest["signature"]["key_id"] == key_event.data["key_id"]
    assert manifest["signature"]["algorithm"] == "Ed25519"

    out, err = io.StringIO(), io.StringIO()
    call_command("audit_export_key", stdout=out, stderr=err)
    assert out.getvalue() == key_event.data["public_key"] and key_event.data["key_id"] in err.getvalue()

    ok, text = verify(path)
    assert ok, text
    assert "The site sent this exact file" in text and auditor.email in text
    # A second export signs with the same key and records it once.
    client.get("/audit/export.jsonl", {"action": ""})
    assert AuditEvent.objects.filter(action="audit.export_key").count() == 1


def test_the_file_sent_is_recorded_with_its_sha256_in_both_formats(client, auditor, civil_servant, tmp_path):
    for kind in ("jsonl", "csv"):
        path = exported(client, auditor, civil_servant, tmp_path, kind)
        export_event = AuditEvent.objects.filter(action="audit.export").latest("seq")
        complete = AuditEvent.objects.filter(action="audit.export_complete").latest("seq")
        assert complete.seq > export_event.seq
        assert complete.data["export"] == export_event.seq and complete.data["format"] == kind
        assert complete.data["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert complete.data["bytes"] == path.stat().st_size and complete.actor_id == auditor.pk


def test_a_download_cut_short_records_no_completion():
    """The reader goes away after the first lines: the stream is closed there, and nothing says the
    file was sent (the sync test client reads a stream whole, so the stream is driven here)."""
    import asyncio

    from audit.exports import arecorded

    completed = []

    async def lines():
        for n in range(3):
            yield f"line {n}\n"

    async def read_one_then_leave():
        stream = arecorded(lines(), lambda size, sha256: completed.append((size, sha256)))
        first = await anext(stream)
        await stream.aclose()
        return first

    assert asyncio.run(read_one_then_leave()) == "line 0\n" and completed == []

    async def read_all():
        return [line async for line in arecorded(lines(), lambda size, sha256: completed.append((size, sha256)))]

    assert "".join(asyncio.run(read_all())) == "line 0\nline 1\nline 2\n"
    assert completed == [(21, hashlib.sha256(b"line 0\nline 1\nline 2\n").hexdigest())]


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda text: text.replace('"outcome": "answered"', '"outcome": "error"', 1), "outcome differs from what"),
        (lambda text: text.replace('\\"outcome\\":\\"answered\\"', '\\"outcome\\":\\"error\\"', 1), "does not match"),
        (lambda text: "\n".join(line for n, line in enumerate(text.split("\n")) if n != 1), "a line was changed"),
    ],
    ids=["a field altered", "the text hashed altered", "a line removed"],
)
def test_an_altered_export_does_not_check(client, auditor, civil_servant, tmp_path, tamper, expected):
    path = exported(client, auditor, civil_servant, tmp_path)
    path.write_text(tamper(path.read_text()))
    ok, text = verify(path)
    assert not ok and expected in text
    recorded = AuditEvent.objects.filter(action="audit.verify").latest("seq")
    assert recorded.outcome == "failed" and recorded.data["export"]["ok"] is False


def test_a_manifest_altered_or_signed_by_another_key_does_not_check(client, auditor, civil_servant, tmp_path):
    path = exported(client, auditor, civil_servant, tmp_path)
    original = path.read_bytes()
    rewrite_manifest(path, lambda m: m.update(rows_expected=1))
    ok, text = verify(path)
    assert not ok and "signature does not verify" in text

    # Someone rewrites the file and signs it with a key of their own, naming it in the file.
    path.write_bytes(original)
    forger = Ed25519PrivateKey.generate()

    def resign(manifest: dict) -> None:
        manifest["filters"] = {"action": "answer"}
        manifest["signature"] = {
            "algorithm": "Ed25519",
            "key_id": key_id_of(forger.public_key()),
            "public_key": public_pem(forger.public_key()),
            "value": base64.b64encode(forger.sign(canonical_manifest(manifest))).decode(),
        }

    rewrite_manifest(path, resign)
    ok, text = verify(path)
    assert not ok and "which is not a trusted key" in text

    rewrite_manifest(path, lambda m: m.pop("signature"))
    ok, text = verify(path)
    assert not ok and "The manifest is not signed" in text


def test_an_export_of_events_altered_in_the_trail_since_does_not_check(client, auditor, civil_servant, tmp_path):
    """The file still checks by itself; against the trail, the event rewritten since is named."""
    path = exported(client, auditor, civil_servant, tmp_path)
    first = AuditEvent.objects.filter(action="answer").order_by("seq").first()
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET sha256 = %s WHERE seq = %s", ["0" * 64, first.seq])
    assert verify(path, "--offline", "--public-key", str(_public_key_file(tmp_path)))[0]
    ok, text = verify(path)
    assert not ok and f"#{first.seq} is not in this site's trail as exported" in text


def _public_key_file(tmp_path: Path) -> Path:
    key = tmp_path / "export-key.pem"
    out = io.StringIO()
    call_command("audit_export_key", stdout=out, stderr=io.StringIO())
    key.write_text(out.getvalue())
    return key


def test_offline_the_file_checks_only_with_the_public_key_given(client, auditor, civil_servant, tmp_path):
    path = exported(client, auditor, civil_servant, tmp_path)
    ok, text = verify(path, "--offline")
    assert not ok and "--offline needs --public-key" in text
    ok, text = verify(path, "--offline", "--public-key", str(_public_key_file(tmp_path)))
    assert ok, text
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    ok, text = verify(path, "--offline", "--public-key", str(bad))
    assert not ok and "not an Ed25519 public key" in text


def test_the_documented_offline_check_needs_the_signature_and_raises_plainly(client, auditor, civil_servant, tmp_path):
    """The docs' checker, run as a third party would, with python -O too: a file whose digests were all
    recomputed after an edit fails on the signature, and a trailing blank line is not an alteration."""
    path = exported(client, auditor, civil_servant, tmp_path)
    pem = _public_key_file(tmp_path).read_text()
    text = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text()
    section = text[text.index("### Checking a JSON Lines export away from the site") :]
    script = tmp_path / "check.py"
    script.write_text(re.search(r"```python\n(.*?)```", section, re.S).group(1) + RUN_CHECK)

    def check(file: Path) -> str:
        run = subprocess.run(
            [sys.executable, "-O", str(script), str(file), pem], capture_output=True, text=True, check=False
        )
        return run.stdout.strip()

    assert check(path) == "ok"
    path.write_bytes(path.read_bytes() + b"\n")
    assert check(path) == "ok"
    # Rewrite an answer and recompute everything a forger can: its digests and rows_sha256.
    lines = path.read_bytes().splitlines(keepends=True)[:-1]
    manifest = json.loads(lines[-1])["manifest"]
    lines = lines[:-1]
    answer_line = next(i for i, line in enumerate(lines) if b'"action": "answer"' in line)
    event = json.loads(lines[answer_line])
    event["outcome"] = "error"
    hashed = json.loads(event["canonical"])
    hashed["outcome"] = "error"
    event["canonical"] = json.dumps(hashed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    event["sha256"] = hashlib.sha256(event["canonical"].encode()).hexdigest()
    lines[answer_line] = (json.dumps(event, ensure_ascii=False) + "\n").encode()
    manifest["rows_sha256"] = hashlib.sha256(b"".join(lines)).hexdigest()
    forged = tmp_path / "forged.jsonl"
    forged.write_bytes(b"".join(lines) + (json.dumps({"manifest": manifest}) + "\n").encode())
    assert check(forged) == "ExportInvalid: the manifest's signature does not verify with this key"
    forged.write_bytes(b"")
    assert check(forged) == "ExportInvalid: the file is empty"


RUN_CHECK = """
import sys

try:
    check_export(sys.argv[1], sys.argv[2])
    print("ok")
except ExportInvalid as exc:
    print(f"ExportInvalid: {exc}")
"""


def test_the_auditors_page_checks_an_uploaded_export(client, auditor, civil_servant, tmp_path):
    path = exported(client, auditor, civil_servant, tmp_path)
    page = client.get("/audit/verify/export/")
    key = AuditEvent.objects.get(action="audit.export_key")
    assert key.data["public_key"].splitlines()[1] in page.content.decode()

    good = client.post("/audit/verify/export/", {"file": SimpleUploadedFile("export.jsonl", path.read_bytes())})
    assert good.status_code == 200 and "This export is intact and was made by this site" in good.content.decode()
    assert 'role="status"' in good.content.decode() and "Result for export.jsonl" in good.content.decode()
    assert "The site sent this exact file" in good.content.decode()

    altered = path.read_bytes().replace(b'"outcome": "answered"', b'"outcome": "error"', 1)
    bad = client.post("/audit/verify/export/", {"file": SimpleUploadedFile("export.jsonl", altered)})
    assert "This file has been altered or is not an export from this site" in bad.content.decode()
    assert "outcome differs from what was hashed" in bad.content.decode()

    junk = client.post("/audit/verify/export/", {"file": SimpleUploadedFile("export.jsonl", b"%PDF-1.7\n\x00\xff")})
    assert "This is not a Humphrey JSON Lines export" in junk.content.decode()
    missing = client.post("/audit/verify/export/", {})
    assert missing.status_code == 400 and "govuk-error-summary" in missing.content.decode()
    outcomes = list(AuditEvent.objects.filter(action="audit.verify").order_by("seq").values_list("outcome", flat=True))
    assert outcomes == ["ok", "failed", "failed", "invalid"]


def test_others_cannot_check_exports_or_see_keys(client, make_user):
    from accounts.roles import Role

    curator = make_user("curator@example.gov.uk", roles=[Role.CURATOR], staff=True)
    client.force_login(curator)
    assert client.get("/audit/verify/export/").status_code == 403
    assert client.post("/audit/verify/export/", {}).status_code == 403


def test_an_unusable_signing_key_refuses_export_and_records_none(client, auditor, civil_servant, settings, tmp_path):
    key_file = settings.HUMPHREY_AUDIT_EXPORT_KEY_PATH = tmp_path / "key.pem"
    key_file.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    answer(civil_servant, 1)
    client.force_login(auditor)
    response = client.get("/audit/export.jsonl", {"action": ""})
    assert response.status_code == 503
    text = response.content.decode()
    assert "Export not available" in text and "HUMPHREY_AUDIT_EXPORT_KEY_PATH" in text and "not a key" not in text
    assert not AuditEvent.objects.filter(action__startswith="audit.export").exists()


def test_the_key_file_is_made_readable_by_the_site_only(client, auditor, civil_servant, settings, tmp_path):
    exported(client, auditor, civil_servant, tmp_path)
    key_file = Path(settings.HUMPHREY_AUDIT_EXPORT_KEY_PATH)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert b"PRIVATE KEY" in key_file.read_bytes()


# --- what someone with the database login, or the key, or a malformed file cannot do ----------------


def forge_key_event(public_pem: str, key_id: str) -> int:
    """An ``audit.export_key`` row appended with the database login alone: well chained, not signed."""
    from django.db import connection

    from audit.services import canonical_json, sha256_text
    from tests.audit.conftest import unsigned_event

    last = AuditEvent.objects.order_by("-seq").first()
    data = {"key_id": key_id, "algorithm": "Ed25519", "public_key": public_pem}
    fields, text = unsigned_event(seq=last.seq + 1, prev=last.sha256, action="audit.export_key", data=data)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (seq, created_at, action, outcome, actor_id, actor_label, subject, data,"
            " content_sha256, prev_sha256, sha256, canonical) VALUES (%s, %s, %s, 'done', NULL, '', '', %s::jsonb,"
            " %s, %s, %s, %s)",
            [fields["seq"], fields["created_at"], "audit.export_key", canonical_json(data), fields["content_sha256"],
             last.sha256, sha256_text(text), text],
        )  # fmt: skip
    return fields["seq"]


def drop_a_row_and_sign(path: Path, private: Ed25519PrivateKey) -> None:
    """Remove one event and make everything the file says of itself agree, signed with ``private``."""
    lines = path.read_bytes().splitlines(keepends=True)
    manifest = json.loads(lines[-1])["manifest"]
    rows = lines[:-1][:1] + lines[:-1][2:]
    manifest["rows"] = manifest["rows_expected"] = len(rows)
    manifest["rows_sha256"] = hashlib.sha256(b"".join(rows)).hexdigest()
    manifest["first_seq"], manifest["last_seq"] = json.loads(rows[0])["seq"], json.loads(rows[-1])["seq"]
    manifest.pop("signature")
    manifest["signature"] = {
        "algorithm": "Ed25519",
        "key_id": key_id_of(private.public_key()),
        "public_key": public_pem(private.public_key()),
        "value": base64.b64encode(private.sign(canonical_manifest(manifest))).decode(),
    }
    path.write_bytes(b"".join(rows) + (json.dumps({"manifest": manifest}, sort_keys=True) + "\n").encode())


def test_a_key_added_with_the_database_login_alone_is_not_trusted(client, auditor, civil_servant, tmp_path):
    """Found by an auditor: a row naming their own key, inserted with the database login, made the
    site certify an export with a row removed. Only a key event the site signed is trusted now, and
    a row cannot claim the real key's id for another key."""
    path = exported(client, auditor, civil_servant, tmp_path)
    real_id = AuditEvent.objects.get(action="audit.export_key").data["key_id"]
    forger = Ed25519PrivateKey.generate()
    forge_key_event(public_pem(forger.public_key()), key_id_of(forger.public_key()))
    forge_key_event(public_pem(forger.public_key()), real_id)  # claiming the real key's id
    drop_a_row_and_sign(path, forger)
    ok, text = verify(path)
    assert not ok and "which is not a trusted key" in text
    page = client.get("/audit/verify/export/").content.decode()
    assert page.count("not written by this site: do not use") == 2
    assert page.count('govuk-tag--green">signs exports now') == 1
    assert public_pem(forger.public_key()).splitlines()[1] not in page


def test_a_file_signed_with_the_real_key_must_agree_with_its_export_event(client, auditor, civil_servant, tmp_path):
    """Someone holding the key itself still cannot drop a row: the export event, which the site signed,
    recorded how many rows were sent."""
    from audit.export_signing import export_key

    path = exported(client, auditor, civil_servant, tmp_path)
    drop_a_row_and_sign(path, export_key().private)
    assert verify(path, "--offline", "--public-key", str(_public_key_file(tmp_path)))[0]  # the file alone agrees
    ok, text = verify(path)
    assert not ok and "disagree on the number of events" in text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"manifest": {"signature": 5, "head": 5, "rows": 0, "rows_sha256": ""}}\n', "The manifest is not signed"),
        (b"[" * 100_000 + b"\n" + b'{"manifest": {"head": [1]}}\n', "Line 1 is not an exported event"),
        (b'{"manifest": ' + b"[" * 100_000 + b"\n", "not a Humphrey JSON Lines export"),
        (b"", "not a Humphrey JSON Lines export"),
    ],
    ids=["values of the wrong type", "a line nested too deep", "a manifest nested too deep", "an empty file"],
)
def test_a_malformed_file_is_a_clear_problem_recorded_never_an_error(client, auditor, tmp_path, content, expected):
    client.force_login(auditor)
    response = client.post("/audit/verify/export/", {"file": SimpleUploadedFile("x.jsonl", content)})
    if content:
        assert response.status_code == 200 and expected in response.content.decode()
        assert AuditEvent.objects.filter(action="audit.verify", outcome="failed").exists()
    else:  # Django refuses an empty upload as the form's own error
        assert response.status_code == 400
    path = tmp_path / "x.jsonl"
    path.write_bytes(content)
    ok, text = verify(path)
    assert not ok and expected in text


def test_a_csv_export_is_known_by_its_record_of_sending_only(client, auditor, civil_servant, tmp_path):
    path = exported(client, auditor, civil_servant, tmp_path, "csv")
    page = client.post("/audit/verify/export/", {"file": SimpleUploadedFile("a.csv", path.read_bytes())})
    text = page.content.decode()
    assert "This is a CSV export the site sent, unchanged" in text and "The site sent this exact file" in text
    altered = path.read_bytes().replace(b"answered", b"error", 1)
    text = client.post("/audit/verify/export/", {"file": SimpleUploadedFile("a.csv", altered)}).content.decode()
    assert "This CSV file is not one the site recorded sending" in text


def test_the_subject_access_records_file_is_checked_too(client, auditor, civil_servant):
    answer(civil_servant, 1)
    client.force_login(auditor)
    raw = b"".join(client.get("/audit/person/records.json", {"email": civil_servant.email}))
    page = client.post("/audit/verify/export/", {"file": SimpleUploadedFile("r.json", raw)}).content.decode()
    assert "This export is intact and was made by this site" in page and "The site sent this exact file" in page
    altered = raw.replace(civil_servant.email.encode(), b"someone.else@example.gov.uk", 1)
    page = client.post("/audit/verify/export/", {"file": SimpleUploadedFile("r.json", altered)}).content.decode()
    assert "signature does not verify" in page
