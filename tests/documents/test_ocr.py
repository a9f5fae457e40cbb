"""Scanned PDFs (issue 23): pages with no text layer are read by Tesseract, in the worker, page by page.

Every scan is made in the test (Pillow draws the text, fpdf2 wraps the picture in a PDF with no text
layer) and read by the real Tesseract that ``make test`` installs (``make ocr``); nothing here is
skipped when it is missing: these tests fail instead. The fact each scan holds exists only in its
picture, so finding it proves the OCR read it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os

import pytest
from django.urls import reverse
from django.utils import timezone

from documents.ingest import pipeline
from documents.ingest.chunk import chunk_document
from documents.ingest.formats import ocr
from documents.ingest.parse import OcrOptions, ParseError, ParseLimits, parse
from documents.models import DocumentVersion, VersionStatus
from tests.conftest import PASSWORD
from tests.documents.files import make_scanned_pdf, upload_and_ingest

SCAN = "Subsistence\n\nThe capybara allowance is 12 pounds a day for staff working away from their usual office."
SCAN_2 = "Travel\n\nClaims for the narwhal ferry must be made within 30 days of the journey."
TYPED = "Contents. This handbook covers subsistence, travel and how to claim what you have spent."
ANCHOR = "page 1 (text recognised from a scan)"
HOUR = dt.timedelta(hours=1)


def limits(**ocr_options) -> ParseLimits:
    return ParseLimits(ocr=OcrOptions(**ocr_options))


@pytest.fixture
def reader(make_user):
    return make_user("rita@example.gov.uk", groups=["All staff"])


@pytest.fixture
def no_tesseract(monkeypatch):
    """pytesseract pointed at a Tesseract that does not exist, as on a server without the package."""
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/bin/tesseract")


# --- Parsing -------------------------------------------------------------------------------------------


def test_a_scanned_page_is_read_by_ocr_and_cited_as_a_scan():
    parsed = parse(make_scanned_pdf([SCAN]), "scan.pdf")
    assert parsed.metadata == {"ocr_pages": [1]}
    assert parsed.page_count == 1
    assert "capybara allowance is 12 pounds a day" in parsed.text
    assert [(s.page, s.place) for s in parsed.sections] == [(1, ANCHOR)]
    (chunk,) = chunk_document(parsed)
    assert chunk.anchor == ANCHOR
    assert chunk.page == 1
    assert chunk.text == parsed.text[chunk.char_start : chunk.char_end]


def test_a_scan_hard_to_read_is_cited_as_such():
    """A coarse scan (45 dots an inch) is read with misread words: Tesseract's confidence in them is
    low (below ``HUMPHREY_OCR_MIN_CONFIDENCE``), so its citations say the page was hard to read; with
    a lower bar, they do not."""
    parsed = parse(make_scanned_pdf([SCAN], dpi=45), "coarse.pdf")
    assert parsed.metadata == {"ocr_pages": [1], "ocr_unsure_pages": [1]}
    assert [s.place for s in parsed.sections] == [
        "page 1 (text recognised from a scan, hard to read, some words may be misread)"
    ]
    clear = parse(make_scanned_pdf([SCAN], dpi=45), "coarse.pdf", limits=limits(min_confidence=40))
    assert [s.place for s in clear.sections] == [ANCHOR]


def test_the_curator_is_told_which_scanned_pages_were_hard_to_read(make_collection, curator, client):
    version = upload_and_ingest(make_collection(), "coarse.pdf", make_scanned_pdf([SCAN_2, SCAN], dpi=45), curator)
    assert version.status == VersionStatus.READY, version.error
    assert client.login(username=curator.username, password=PASSWORD)
    html = client.get(reverse("documents:version", args=[version.pk])).content.decode()
    assert "2 of 2 pages read by OCR" in html
    assert "Hard to read, so their text may hold misread words: pages 1, 2" in html


def test_the_page_text_is_laid_out_from_tesseracts_word_table():
    """Words on a line joined by spaces, lines by line breaks, paragraphs and blocks by a blank line;
    the confidence is the words' mean, each weighted by its length, unscored entries left out."""
    table = {
        "text": ["", "Travel", "", "Claims", "are", "paid", "monthly.", "Ask", "HR"],
        "block_num": [1, 1, 2, 2, 2, 2, 2, 3, 3],
        "par_num": [0, 1, 1, 1, 1, 1, 1, 1, 1],
        "line_num": [0, 1, 1, 1, 1, 1, 2, 1, 1],
        "conf": [-1, 90, -1, 80, 80, 80, 40, 100, 100],
    }
    page = ocr.page_text(table)
    assert page.text == "Travel\n\nClaims are paid\nmonthly.\n\nAsk HR"
    assert page.confidence == round((90 * 6 + 80 * 13 + 40 * 8 + 100 * 5) / 32, 1)
    assert ocr.page_text({"text": []}).confidence is None


def test_only_the_scanned_page_of_a_mixed_pdf_is_read_and_progress_is_told_per_page():
    calls = []
    parsed = parse(
        make_scanned_pdf([TYPED, SCAN], typed=(1,)),
        "mixed.pdf",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert parsed.metadata == {"ocr_pages": [2]}
    assert calls == [(0, 1), (1, 1)]
    anchors = {draft.page: draft.anchor for draft in chunk_document(parsed)}
    assert anchors == {1: "page 1", 2: "page 2 (text recognised from a scan)"}
    assert "capybara" in parsed.text and "This handbook covers subsistence" in parsed.text


def test_a_scan_with_a_typed_stamp_on_top_is_still_read_by_ocr():
    """A scanner's stamp (a text layer of a few dozen characters) over a full-page picture is a scan."""
    stamp = "Received 3 March 2026 - Finance registry ref 4471"
    parsed = parse(make_scanned_pdf([SCAN], header=stamp), "stamped.pdf")
    assert parsed.metadata == {"ocr_pages": [1]}
    assert "capybara allowance" in parsed.text


def test_a_short_typed_page_with_a_logo_is_not_a_scan(no_tesseract):
    """A cover page with a title and a small picture keeps its text layer: Tesseract is not started."""
    parsed = parse(make_scanned_pdf(["Travel handbook 2026: subsistence"], typed=(1,), logo=True), "cover.pdf")
    assert parsed.metadata == {}
    assert "Travel handbook" in parsed.text


def test_a_pdf_with_a_text_layer_is_not_read_by_ocr(no_tesseract):
    """Tesseract is never started for a PDF whose pages all have text: it could not be, here."""
    calls = []
    parsed = parse(make_scanned_pdf([TYPED], typed=(1,)), "typed.pdf", progress=lambda *a: calls.append(a))
    assert parsed.metadata == {} and calls == []
    assert parsed.sections[0].place == ""


def test_tesseract_runs_on_one_thread_unless_the_environment_says(monkeypatch):
    """Tesseract's own environment gets OMP_THREAD_LIMIT=1 (the worker's is left alone); an operator's
    OMP_THREAD_LIMIT wins."""
    import pytesseract

    seen = []
    real = pytesseract.pytesseract.run_tesseract

    def spy(*args, **kwargs):
        seen.append(pytesseract.pytesseract.environ.get("OMP_THREAD_LIMIT"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pytesseract.pytesseract, "run_tesseract", spy)
    monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    data = make_scanned_pdf([SCAN])
    parse(data, "scan.pdf")
    assert "OMP_THREAD_LIMIT" not in os.environ
    monkeypatch.setenv("OMP_THREAD_LIMIT", "2")
    parse(data, "scan.pdf")
    assert seen == ["1", "2"]


def test_a_pdf_pdfium_cannot_open_keeps_its_text_layer(monkeypatch):
    """pypdf and PDFium read PDFs differently: one PDFium refuses keeps the text pypdf found, and only
    a PDF with no text at all is refused, as damaged."""

    def refuse(data):
        raise ParseError("corrupt", "The PDF's scanned pages could not be drawn: it looks damaged (PdfiumError).")

    monkeypatch.setattr(ocr, "_open", refuse)
    parsed = parse(make_scanned_pdf([TYPED, SCAN], typed=(1,)), "mixed.pdf")
    assert parsed.metadata == {} and "handbook" in parsed.text
    with pytest.raises(ParseError) as caught:
        parse(make_scanned_pdf([SCAN]), "scan.pdf")
    assert caught.value.code == "corrupt"


# --- Bad input -----------------------------------------------------------------------------------------


def test_tesseract_missing_is_said_plainly_naming_the_packages(no_tesseract):
    with pytest.raises(ParseError) as caught:
        parse(make_scanned_pdf([SCAN]), "scan.pdf")
    assert caught.value.code == "ocr_unavailable"
    assert "tesseract-ocr and tesseract-ocr-eng" in caught.value.message
    assert "Traceback" not in caught.value.message


def test_missing_language_data_names_its_package():
    with pytest.raises(ParseError) as caught:
        parse(make_scanned_pdf([SCAN]), "scan.pdf", limits=limits(languages="eng+cym"))
    assert caught.value.code == "ocr_unavailable"
    assert "tesseract-ocr-cym" in caught.value.message


def test_ocr_switched_off_refuses_a_scan_and_still_reads_text_pages():
    with pytest.raises(ParseError) as caught:
        parse(make_scanned_pdf([SCAN]), "scan.pdf", limits=limits(enabled=False))
    assert caught.value.code == "ocr_off"
    assert "no text layer" in caught.value.message and "switched off" in caught.value.message
    parsed = parse(make_scanned_pdf([TYPED, SCAN], typed=(1,)), "mixed.pdf", limits=limits(enabled=False))
    assert "capybara" not in parsed.text and "handbook" in parsed.text
    assert parsed.metadata == {}


def test_a_page_over_the_time_limit_is_refused():
    dense = " ".join([SCAN_2.replace("\n\n", ". ")] * 25)
    with pytest.raises(ParseError) as caught:
        parse(make_scanned_pdf([dense], dpi=300), "dense.pdf", limits=limits(page_timeout=1, dpi=600))
    assert caught.value.code == "ocr_timeout"
    assert "Page 1" in caught.value.message and "1 seconds" in caught.value.message


def test_recognised_text_counts_toward_the_text_limit():
    data = make_scanned_pdf([TYPED, SCAN], typed=(1,))
    with pytest.raises(ParseError) as caught:
        parse(data, "mixed.pdf", limits=ParseLimits(max_text_chars=len(TYPED) + 40))
    assert caught.value.code == "too_large"


def test_pictures_far_larger_than_a_scan_are_not_drawn():
    with pytest.raises(ParseError) as caught:
        parse(make_scanned_pdf([SCAN]), "scan.pdf", limits=limits(max_image_pixels=1_000_000))
    assert caught.value.code == "bomb"


def test_a_page_is_drawn_no_larger_than_the_pixel_cap():
    """However large its stated size or the resolution asked for, a page is drawn within the cap."""
    import pypdfium2

    document = pypdfium2.PdfDocument(make_scanned_pdf([SCAN]))
    try:
        options = OcrOptions(dpi=1200, max_render_pixels=2_000_000)
        image = ocr._draw(document[0], 1, options)
        assert image.width * image.height <= 2_000_000
        assert image.mode == "L"
    finally:
        document.close()


# --- Ingested by the worker, found, shown --------------------------------------------------------------


def test_ingestion_reads_scans_page_by_page_and_retrieval_finds_their_facts(
    make_collection, curator, reader, client, monkeypatch
):
    """Through the real pipeline: while parsing, the version's progress counts OCR'd pages (each update
    a heartbeat); embedding then counts chunks; the fact only the scan holds is retrieved, cited with
    its anchor, and the version page says how many pages were read by OCR."""
    rows = []
    real = pipeline._ocr_progress

    def spy(version_id):
        inner = real(version_id)

        def progress(done, total):
            inner(done, total)
            rows.append(
                DocumentVersion.objects.values("status", "progress_done", "progress_total", "heartbeat_at").get(
                    pk=version_id
                )
            )

        return progress

    monkeypatch.setattr(pipeline, "_ocr_progress", spy)
    collection = make_collection()
    version = upload_and_ingest(
        collection, "handbook.pdf", make_scanned_pdf([TYPED, SCAN, SCAN_2], typed=(1,)), curator
    )
    assert version.status == VersionStatus.READY, version.error
    assert [(r["status"], r["progress_done"], r["progress_total"]) for r in rows] == [
        ("parsing", 0, 2),
        ("parsing", 1, 2),
        ("parsing", 2, 2),
    ]
    beats = [r["heartbeat_at"] for r in rows]
    assert beats == sorted(beats) and beats[0] < beats[-1]
    assert version.progress_total == version.chunks.count() == version.progress_done

    from documents.retrieval import passages_for_user

    found = [p for p in passages_for_user(user=reader, query="narwhal ferry claims", collections=["guidance"])]
    (passage,) = [p for p in found if "narwhal" in p.text][:1]
    assert passage.anchor.startswith("page 3 (text recognised from a scan)")
    assert passage.page == 3

    assert client.login(username=reader.username, password=PASSWORD)
    page = client.get(reverse("documents:passage", args=[passage.chunk_id]))
    assert page.status_code == 200
    assert "page 3 (text recognised from a scan)" in page.content.decode()
    client.logout()

    assert client.login(username=curator.username, password=PASSWORD)
    html = client.get(reverse("documents:version", args=[version.pk])).content.decode()
    assert "2 of 3 pages read by OCR" in html
    assert "pages 2, 3" in html


@pytest.mark.parametrize(
    ("setting", "words"),
    [("off", "switched off"), ("missing", "tesseract-ocr and tesseract-ocr-eng")],
)
def test_a_scan_the_worker_cannot_read_fails_its_version_with_the_reason(
    make_collection, curator, settings, monkeypatch, setting, words
):
    if setting == "off":
        settings.HUMPHREY_OCR = False
    else:
        import pytesseract

        monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/bin/tesseract")
    version = upload_and_ingest(make_collection(), "scan.pdf", make_scanned_pdf([SCAN]), curator)
    assert version.status == VersionStatus.FAILED
    assert words in version.error
    assert "went wrong" not in version.error and not version.chunks.exists()


def test_the_curator_sees_ocr_progress_while_parsing(make_collection, curator, client):
    collection = make_collection()
    version = upload_and_ingest(collection, "typed.pdf", make_scanned_pdf([TYPED], typed=(1,)), curator)
    DocumentVersion.objects.filter(pk=version.pk).update(
        status=VersionStatus.PARSING, progress_done=3, progress_total=12
    )
    assert client.login(username=curator.username, password=PASSWORD)
    html = client.get(reverse("documents:collection", args=[collection.slug])).content.decode()
    assert "Recognising text from scanned pages: 3 of 12" in html
    status = client.get(reverse("documents:collection_status", args=[collection.slug])).json()
    (row,) = [r for r in status["versions"] if r["version"] == version.pk]
    assert (row["status"], row["done"], row["total"]) == ("parsing", 3, 12)  # curate-status.js says the same
    detail = client.get(reverse("documents:version", args=[version.pk])).content.decode()
    assert "Recognising text from scanned pages: 3 of 12" in detail
    assert "of 12 chunks" not in detail
    # Failed part-way through its scans: no chunks, so the page count is not shown as chunks embedded.
    version.chunks.all().delete()
    DocumentVersion.objects.filter(pk=version.pk).update(status=VersionStatus.FAILED, error="Page 4 took too long.")
    detail = client.get(reverse("documents:version", args=[version.pk])).content.decode()
    assert "Page 4 took too long." in detail and "of 12 chunks" not in detail


def test_a_retry_starts_its_page_count_afresh(make_collection, curator):
    """A stalled version taken up again does not show the earlier attempt's count as OCR progress."""
    version = upload_and_ingest(make_collection(), "typed.pdf", make_scanned_pdf([TYPED], typed=(1,)), curator)
    DocumentVersion.objects.filter(pk=version.pk).update(
        status=VersionStatus.EMBEDDING, progress_done=5, progress_total=9, heartbeat_at=timezone.now() - HOUR
    )
    claimed = pipeline._claim(version.pk)
    assert claimed is not None
    assert (claimed.status, claimed.progress_done, claimed.progress_total) == ("parsing", 0, 0)


def test_ocr_options_come_from_settings(settings):
    settings.HUMPHREY_OCR = False
    settings.HUMPHREY_OCR_LANGUAGES = "eng+cym"
    settings.HUMPHREY_OCR_DPI = 200
    settings.HUMPHREY_OCR_PAGE_TIMEOUT = 30
    settings.HUMPHREY_OCR_MIN_CONFIDENCE = 55
    options = pipeline.parse_limits().ocr
    assert dataclasses.astuple(options)[:4] == (False, "eng+cym", 200, 30)
    assert options.min_confidence == 55
