"""Run in the image by deploy-test.sh (manage.py shell < this): a scanned page, made here, read by OCR."""

import io

from PIL import Image, ImageDraw, ImageFont

from documents.ingest.parse import parse
from documents.ingest.pipeline import parse_limits

page = Image.new("L", (1654, 2339), 255)  # A4 at 200 dpi
ImageDraw.Draw(page).text((150, 300), "The heron allowance is 12 pounds.", font=ImageFont.load_default(size=48), fill=0)
scan = io.BytesIO()
page.save(scan, "PDF", resolution=200)
read = parse(scan.getvalue(), "scan.pdf", limits=parse_limits())
assert "heron allowance" in read.text.lower(), read.text
print("OCR in the image:", read.sections[0].place, "-", read.text.strip())
