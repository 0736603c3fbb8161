"""Checks of an evidence file, by its content and not by its name: pure, no ORM.

PDF, PNG and JPEG only, recognised by their first bytes (a file called
salary.pdf that holds HTML is refused); at most EVIDENCE_MAX_BYTES; the name
the customer gave it is kept only as a harmless label.
"""

from __future__ import annotations

import re
import unicodedata

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
