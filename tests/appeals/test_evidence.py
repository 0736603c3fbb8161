import hashlib
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from appeals import evidence
from appeals.models import Appeal, Evidence
from tests.base import make_account, make_user
from tests.files import JPEG, PDF, PNG, image, pdf

ZIP = b"PK\x03\x04" + b"\x00" * 40


@pytest.fixture
def appeal(db, settings, tmp_path):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    return Appeal.objects.create(
        account=make_account(),
        channel="written",
        category="evidence",
        statement="Salary flow attached.",
        sla_due=timezone.now() + timedelta(hours=8),
    )


@pytest.fixture
def handler(db, client, appeal):
    """The handler the appeal is assigned to."""
    user = make_user("hana", "Appeal handler")
    appeal.assignee = user
    appeal.save()
    client.force_login(user)
    return user


def upload(client, appeal, name, content, content_type="application/octet-stream"):
    return client.post(
        reverse("appeals:evidence_upload", args=[appeal.pk]),
        {"file": SimpleUploadedFile(name, content, content_type=content_type)},
        follow=True,
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("payslip.png", b"PK\x03\x04" + b"\x00" * 40, "Only PDF, PNG and JPEG"),  # a zip
        ("salary.pdf", b"<html><script>alert(1)</script></html>", "Only PDF, PNG and JPEG"),
        ("statement.pdf", b"", "The file is empty."),
        ("photo.jpg", b"MZ\x90\x00" + b"\x00" * 40, "Only PDF, PNG and JPEG"),  # a program
        # The right first bytes, and then something else.
        ("statement.pdf", b"%PDF-1.7\n" + ZIP, "cannot be read as a whole document"),
        ("statement.pdf", PDF + ZIP, "cannot be read as a whole document"),  # a polyglot
        ("statement.pdf", PDF[: len(PDF) // 2], "cannot be read as a whole document"),
        ("statement.pdf", b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n", "cannot be read"),
        ("scan.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "cannot be decoded"),
        ("scan.png", PNG + ZIP, "cannot be decoded"),
        ("photo.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9", "cannot be decoded"),
        ("photo.jpg", JPEG[:-40] + b"\xff\xd9", "cannot be decoded"),
    ],
)
def test_a_bad_file_is_refused_with_a_message_and_nothing_is_stored(
    client, handler, appeal, settings, name, content, message
):
    response = upload(client, appeal, name, content, "application/pdf")
    assert message in response.content.decode()
    assert not Evidence.objects.exists()
    root = settings.EVIDENCE_ROOT
    assert not root.exists() or not any(p.is_file() for p in root.rglob("*"))


def test_a_pdf_of_too_many_pages_or_an_image_of_too_many_pixels_is_refused(
    client, handler, appeal, settings
):
    settings.EVIDENCE_MAX_PDF_PAGES = 3
    response = upload(client, appeal, "statement.pdf", pdf(pages=4))
    assert "This PDF has 4 pages; at most 3 are accepted." in response.content.decode()
    settings.EVIDENCE_MAX_IMAGE_PIXELS = 100
    response = upload(client, appeal, "scan.png", image("PNG", (20, 10)))
    assert "This image is 20 × 10 pixels; it is too large." in response.content.decode()
    assert not Evidence.objects.exists()
    assert (
        "statement.pdf added." in upload(client, appeal, "statement.pdf", pdf(3)).content.decode()
    )


def test_only_the_assignee_or_a_lead_adds_evidence(client, handler, appeal):
    other = make_user("otto", "Appeal handler")
    client.force_login(other)
    response = upload(client, appeal, "payslip.png", PNG)
    assert "This appeal is assigned to someone else." in response.content.decode()
    assert not Evidence.objects.exists()
    client.force_login(make_user("lena", "Appeal lead"))
    assert "payslip.png added." in upload(client, appeal, "payslip.png", PNG).content.decode()


def test_an_oversize_file_is_refused(client, handler, appeal, settings):
    settings.EVIDENCE_MAX_BYTES = 1024
    response = upload(client, appeal, "big.pdf", PDF + b"0" * 2048)
    assert "The file is larger than" in response.content.decode()
    assert not Evidence.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "stored_name", "content_type"),
    [
        ("../../etc/passwd.png", PNG, "passwd.png", "image/png"),
        ("..\\..\\windows\\工资流水.pdf", PDF, "工资流水.pdf", "application/pdf"),
        ("scan.PDF.exe", JPEG, "scan.PDF.jpg", "image/jpeg"),  # named by what it is
        ("\x00\x1b[31m.png", PNG, "31m.png", "image/png"),
        ("...png", PNG, "evidence.png", "image/png"),
    ],
)
def test_names_are_sanitised_and_the_type_comes_from_the_content(
    client, handler, appeal, settings, name, content, stored_name, content_type
):
    response = upload(client, appeal, name, content)
    assert f"{stored_name} added." in response.content.decode()
    item = Evidence.objects.get()
    assert (item.name, item.content_type, item.size) == (stored_name, content_type, len(content))
    assert item.sha256 == hashlib.sha256(content).hexdigest()
    stored = [p for p in settings.EVIDENCE_ROOT.rglob("*") if p.is_file()]
    assert [p.name for p in stored] == [item.stored_as]  # never the customer's name
    assert stored[0].read_bytes() == content
    assert item.appeal.events.get(move="evidence").actor == handler


def test_the_file_is_served_only_to_appeal_staff_with_safe_headers(client, handler, appeal):
    upload(client, appeal, "payslip.png", PNG)
    item = Evidence.objects.get()
    url = reverse("appeals:evidence_file", args=[item.pk])
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["Content-Disposition"].startswith("inline")
    page = client.get(reverse("appeals:detail", args=[appeal.pk])).content.decode()
    assert f'<img src="{url}"' in page
    client.force_login(make_user("ana", "Risk analyst"))
    assert client.get(url).status_code == 403
    assert upload(client, appeal, "x.png", PNG).status_code == 403


def test_the_checks_themselves():
    assert evidence.sniff(PDF[:8]) == "application/pdf"
    assert evidence.sniff(b"<!DOCTYPE html>") is None
    assert evidence.safe_name("a/b/../c.txt", "image/png") == "c.png"
    assert evidence.safe_name("", "image/jpeg") == "evidence.jpg"
    assert len(evidence.safe_name("x" * 500 + ".pdf", "application/pdf")) == 100
