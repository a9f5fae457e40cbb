"""OCR throughput and accuracy: scanned pages of real guidance read through our PDF parser; prints JSON.

Takes paragraphs from the shared corpus's ``docs`` (``HUMPHREY_CORPUS_DIR``, else ``../shared/corpus``),
their Markdown reduced to plain sentences, and types them onto A4 pages (Pillow, DejaVu Sans 11 pt,
``tests.documents.files.scanned_page``) as pictures at ``--scan-dpi``, in a PDF with no text layer
(fpdf2): what a scanner makes of a printed page. ``--skew`` turns each picture by that many degrees and
``--noise`` speckles it, as a worn copy would be. Then ``documents.ingest.parse.parse`` reads it as the
worker does (pypdfium2 draws each page at ``--dpi``, Tesseract reads it) and the figures are:

- pages, seconds, pages_per_minute (whole parse, wall clock) and seconds per page (p50, max);
- tesseract_cpu_seconds: CPU time of the Tesseract processes (more than the wall time: it used more
  than one core);
- character accuracy per page: ``difflib.SequenceMatcher`` ratio between the text typed on the page
  and the text read (whitespace folded), mean and min; and word accuracy (the share of the typed
  words read exactly, in order);
- the machine: CPU model, family and model numbers, cores, memory, load average, Tesseract's version.

    .venv/bin/python bench/ocr.py                      # 20 clean pages at 300 dpi
    .venv/bin/python bench/ocr.py --pages 10 --skew 0.7 --noise 0.02
    OMP_THREAD_LIMIT=2 .venv/bin/python bench/ocr.py   # Tesseract on two threads (default: one)
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import itertools
import json
import os
import platform
import random
import re
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import CORPUS, log  # noqa: E402

PAGE_CHARS = 2_300  # about a printed A4 page of 11 pt text with paragraph gaps


def plain_paragraphs(markdown: str) -> list[str]:
    """The prose paragraphs of a Markdown file: no headings, tables, front matter, code or link targets."""
    text = re.sub(r"\A---\n.*?\n---\n", "", markdown, flags=re.S)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if not lines or lines[0].startswith(("#", "|", "<", ">")):
            continue
        block = " ".join(re.sub(r"^([-*+]|\d+\.)\s+", "", line) for line in lines)
        block = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", block)  # links and images: their words only
        block = re.sub(r"[*_`]+", "", block)
        block = re.sub(r"\s+", " ", block).strip()
        if len(block) >= 120 and block.isascii():
            paragraphs.append(block)
    return paragraphs


def page_texts(corpus: Path, pages: int) -> list[str]:
    """``pages`` page-fulls of paragraphs, in the corpus's order."""
    out: list[str] = []
    current: list[str] = []
    for path in sorted((corpus / "docs").rglob("*.md")):
        for paragraph in plain_paragraphs(path.read_text(encoding="utf-8")):
            if len(paragraph) > PAGE_CHARS:
                continue
            if sum(len(p) for p in current) + len(paragraph) > PAGE_CHARS:
                out.append("\n\n".join(current))
                current = []
                if len(out) == pages:
                    return out
            current.append(paragraph)
    if current and len(out) < pages:
        out.append("\n\n".join(current))
    if len(out) < pages:
        raise SystemExit(f"the corpus at {corpus} gives only {len(out)} pages")
    return out


def scanned_pdf(texts: list[str], *, scan_dpi: int, skew: float, noise: float, seed: int) -> bytes:
    from fpdf import FPDF
    from PIL import Image

    from tests.documents.files import A4_MM, scanned_page

    rng = random.Random(seed)
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    for text in texts:
        image = scanned_page(text, dpi=scan_dpi)
        if skew:
            angle = rng.uniform(-skew, skew)
            image = image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=255)
        if noise:
            pixels = image.load()
            width, height = image.size
            for _ in range(int(width * height * noise)):
                x, y = rng.randrange(width), rng.randrange(height)
                pixels[x, y] = 0 if pixels[x, y] > 127 else 255
        pdf.add_page()
        pdf.image(image, x=0, y=0, w=A4_MM[0], h=A4_MM[1])
    return bytes(pdf.output())


def fold(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def word_accuracy(typed: str, read: str) -> float:
    words, got = fold(typed).split(), fold(read).split()
    matcher = difflib.SequenceMatcher(None, words, got, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / max(1, len(words))


def machine() -> dict:
    info: dict = {"cpu_count": os.cpu_count(), "python": platform.python_version()}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        for key, name in (("model name", "cpu"), ("cpu family", "cpu_family"), ("model", "cpu_model")):
            match = re.search(rf"^{key}\s*:\s*(.+)$", cpuinfo, re.M)
            if match:
                info[name] = match.group(1).strip()
        memory = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        if memory:
            info["memory_gb"] = round(int(memory.group(1)) / 1024 / 1024, 1)
    except OSError:
        pass
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(CORPUS), help="the shared corpus (its docs/ folder is read)")
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--dpi", type=int, default=300, help="resolution pages are drawn at for OCR")
    parser.add_argument("--scan-dpi", type=int, default=300, help="resolution of the scanned pictures")
    parser.add_argument("--skew", type=float, default=0.0, help="turn each page by up to this many degrees")
    parser.add_argument("--noise", type=float, default=0.0, help="share of pixels flipped (speckle)")
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args()

    import pypdfium2
    import pytesseract

    from documents.ingest.parse import OcrOptions, ParseLimits, parse

    texts = page_texts(Path(args.corpus), args.pages)
    log(f"making {len(texts)} scanned pages")
    data = scanned_pdf(texts, scan_dpi=args.scan_dpi, skew=args.skew, noise=args.noise, seed=args.seed)
    ticks: list[float] = []
    load_before = os.getloadavg()[0]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    parsed = parse(
        data,
        "bench-scan.pdf",
        limits=ParseLimits(ocr=OcrOptions(dpi=args.dpi)),
        progress=lambda done, total: ticks.append(time.perf_counter()),
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    tesseract_cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    per_page = [later - earlier for earlier, later in itertools.pairwise(ticks)]
    read = {number: "" for number in range(1, len(texts) + 1)}
    for section in parsed.sections:
        read[section.page] += "\n\n" + section.text
    chars = [
        difflib.SequenceMatcher(None, fold(typed), fold(read[n]), autojunk=False).ratio()
        for n, typed in enumerate(texts, start=1)
    ]
    words = [word_accuracy(typed, read[n]) for n, typed in enumerate(texts, start=1)]
    print(
        json.dumps(
            {
                "benchmark": "ocr",
                "date": dt.date.today().isoformat(),
                "pages": len(texts),
                "ocr_pages": len(parsed.metadata.get("ocr_pages", [])),
                "typed_chars": sum(len(t) for t in texts),
                "seconds": round(seconds, 2),
                "pages_per_minute": round(len(texts) / seconds * 60, 1),
                "seconds_per_page_p50": round(statistics.median(per_page), 2) if per_page else None,
                "seconds_per_page_max": round(max(per_page), 2) if per_page else None,
                "tesseract_cpu_seconds": round(tesseract_cpu, 2),
                "char_accuracy_mean": round(statistics.fmean(chars), 4),
                "char_accuracy_min": round(min(chars), 4),
                "word_accuracy_mean": round(statistics.fmean(words), 4),
                "word_accuracy_min": round(min(words), 4),
                "dpi": args.dpi,
                "scan_dpi": args.scan_dpi,
                "skew_degrees": args.skew,
                "noise": args.noise,
                "omp_thread_limit": os.environ.get("OMP_THREAD_LIMIT", "1 (ours)"),
                "tesseract": str(pytesseract.get_tesseract_version()),
                "pypdfium2": str(pypdfium2.PYPDFIUM_INFO),
                "load_average_before": round(load_before, 2),
                "load_average_after": round(os.getloadavg()[0], 2),
                **machine(),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
