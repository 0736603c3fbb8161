"""Real evidence files, made in memory: a PDF that a PDF library opens, images
that decode (evidence is read whole, appeals/evidence.py)."""

from __future__ import annotations

import io

from PIL import Image
from pypdf import PdfWriter


def pdf(pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _page in range(pages):
        writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image(kind: str = "PNG", size: tuple[int, int] = (4, 3)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=kind)
    return out.getvalue()


PDF = pdf()
PNG = image("PNG")
JPEG = image("JPEG")
