"""Checks of an evidence file, by its content and not by its name: pure, no ORM.

PDF, PNG and JPEG only, recognised by their first bytes (a file called
salary.pdf that holds HTML is refused) and then read whole (`inspect`): a PDF
that the PDF library opens, within a page limit, with nothing after its end; an
image that decodes, within a pixel limit, with nothing after its end. A real PDF
header followed by zip data is refused. At most EVIDENCE_MAX_BYTES; the name the
customer gave it is kept only as a harmless label.
"""

from __future__ import annotations

import io
import re
import unicodedata
import warnings

from django.utils.translation import gettext as _
from PIL import Image
from pypdf import PdfReader

KINDS = {
    "application/pdf": (b"%PDF-", ".pdf"),
    "image/png": (b"\x89PNG\r\n\x1a\n", ".png"),
    "image/jpeg": (b"\xff\xd8\xff", ".jpg"),
}
SNIFF_BYTES = 8
_UNSAFE = re.compile(r"[^\w.\- ()\u3000-\u303f\u4e00-\u9fff]+")


def sniff(head: bytes) -> str | None:
    """The content type the first bytes show, or None for anything else."""
    for content_type, (magic, _extension) in KINDS.items():
        if head.startswith(magic):
            return content_type
    return None


def safe_name(name: str, content_type: str) -> str:
    """A display name: no directories, no control or odd characters, at most 100
    characters, ending in the extension of what the file really is."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFKC", base)
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = _UNSAFE.sub("_", stem).strip(" ._") or "evidence"
    return stem[:96] + KINDS[content_type][1]


# What may follow a file's end marker: line ends and padding only.
_PADDING = b" \t\r\n\x00"
_PNG_END = b"IEND\xaeB`\x82"
_JPEG_END = b"\xff\xd9"


def inspect(content_type: str, data: bytes, *, max_pages: int, max_pixels: int) -> str | None:
    """None when the whole file is what its first bytes claim, else why it is refused."""
    if content_type == "application/pdf":
        return _inspect_pdf(data, max_pages)
    return _inspect_image(content_type, data, max_pixels)


def _inspect_pdf(data: bytes, max_pages: int) -> str | None:
    unreadable = _("This PDF cannot be read as a whole document; scan or save it again.")
    end = data.rstrip(_PADDING)
    if not end.endswith(b"%%EOF"):
        return unreadable  # something else follows the document (or it is cut short)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data), strict=True)
            if reader.is_encrypted:
                return _("This PDF is password-protected; send it without a password.")
            pages = len(reader.pages)
            for page in reader.pages:
                page.get_contents()  # every page's content stream parses
    except Exception:
        return unreadable
    if pages == 0:
        return unreadable
    if pages > max_pages:
        return _("This PDF has %(pages)s pages; at most %(limit)s are accepted.") % {
            "pages": pages,
            "limit": max_pages,
        }
    return None


def _inspect_image(content_type: str, data: bytes, max_pixels: int) -> str | None:
    unreadable = _("This image cannot be decoded; take the photo or scan again.")
    end = _PNG_END if content_type == "image/png" else _JPEG_END
    if not data.rstrip(_PADDING).endswith(end):
        return unreadable  # something else follows the image (or it is cut short)
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                return _("This image is %(width)s × %(height)s pixels; it is too large.") % {
                    "width": width,
                    "height": height,
                }
            expected = "PNG" if content_type == "image/png" else "JPEG"
            if image.format != expected:
                return unreadable
            image.load()  # decode every pixel
    except Exception:
        return unreadable
    return None
