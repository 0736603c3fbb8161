"""The evidence packs' pages: the auditor starts a pack, a real worker builds it, the page
follows it, the zip downloads and verifies; who may open what."""

from __future__ import annotations

import io
import time
from datetime import date
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts import roles
from compliance import services
from compliance.models import EvidencePack
from tests.base import make_user
from tests.compliance.book import MARCH, built, march_book


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_form_offers_the_last_calendar_month_and_refuses_bad_periods(settings):
    frank = make_user("frank-f", roles.AUDITOR)
    client = client_of(frank)
    page = client.get(reverse("compliance:packs"))
    assert page.status_code == 200
    default = page.context["form"].initial
    assert default["first"].day == 1
    assert (default["last"] - default["first"]).days in range(27, 31)
    empty = client.post(reverse("compliance:packs"), {})
    assert empty.status_code == 400
    backwards = client.post(
        reverse("compliance:packs"), {"first": "2025-03-31", "last": "2025-03-01"}
    )
    assert backwards.status_code == 400
    assert "The end of the period is before its start." in backwards.content.decode()
    assert not EvidencePack.objects.exists()


@pytest.mark.django_db
def test_every_holder_of_the_export_permission_downloads_every_pack_nobody_else(settings):
    book = march_book()
    made = built(MARCH, book.frank)
    other_auditor = make_user("grace-pack", roles.AUDITOR)
    download = reverse("compliance:pack_download", args=[made.pk])
    response: Any = client_of(other_auditor).get(download)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    content = b"".join(response.streaming_content)
    assert services.pack_verify(io.BytesIO(content)).ok
    for role in (
        roles.RISK_ANALYST,
        roles.APPEAL_HANDLER,
        roles.APPEAL_LEAD,
        roles.POLICY_ADMIN,
        roles.ADMINISTRATOR,
    ):
        person = make_user(f"no-{role}", role)
        for name in ("compliance:pack", "compliance:pack_progress", "compliance:pack_download"):
            assert client_of(person).get(reverse(name, args=[made.pk])).status_code == 403
    assert Client().get(download).status_code == 302  # to the login page


@pytest.mark.django_db
def test_a_pack_without_its_file_is_not_found(settings):
    frank = make_user("frank-nf", roles.AUDITOR)
    waiting = EvidencePack.objects.create(
        period_from=date(2025, 3, 1), period_to=date(2025, 3, 31), started_by=frank
    )
    client = client_of(frank)
    assert client.get(reverse("compliance:pack_download", args=[waiting.pk])).status_code == 404
    assert client.get(reverse("compliance:pack_download", args=[waiting.pk + 1])).status_code == 404
    page = client.get(reverse("compliance:pack_progress", args=[waiting.pk]))
    assert 'hx-trigger="every 2s"' in page.content.decode()  # still polled while queued


@pytest.mark.django_db(transaction=True)
def test_the_worker_builds_the_pack_the_page_follows_it_and_it_verifies(celery_worker):
    book = march_book()
    client = client_of(book.frank)
    started = client.post(
        reverse("compliance:packs"), {"first": "2025-03-01", "last": "2025-03-31"}
    )
    assert started.status_code == 302
    made = EvidencePack.objects.get()
    assert started["Location"] == reverse("compliance:pack", args=[made.pk])
    progress = reverse("compliance:pack_progress", args=[made.pk])
    deadline = time.monotonic() + 120
    while True:
        made.refresh_from_db()
        if (
            made.state in {EvidencePack.State.DONE, EvidencePack.State.FAILED}
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.5)
    assert made.state == EvidencePack.State.DONE, made.error
    panel = client.get(progress).content.decode()
    assert "hx-trigger" not in panel  # no more polling once ready
    assert "Download the evidence pack (zip)" in panel
    assert "chain_heads.csv" in panel
    response: Any = client.get(reverse("compliance:pack_download", args=[made.pk]))
    result = services.pack_verify(io.BytesIO(b"".join(response.streaming_content)))
    assert result.ok, result.problems
    # the same period again, once built, is allowed; while one is building it is not
    EvidencePack.objects.filter(pk=made.pk).update(state=EvidencePack.State.RUNNING)
    again = client.post(reverse("compliance:packs"), {"first": "2025-03-01", "last": "2025-03-31"})
    assert again.status_code == 400
    assert "A pack of this period is being built" in again.content.decode()
