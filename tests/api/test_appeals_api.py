"""Appeals from integrations (help centre, written applications), with evidence."""

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts import roles
from api import services
from appeals.models import Appeal, Evidence
from decisions import overrides
from tests.base import make_account, make_user
from tests.files import PNG

pytestmark = pytest.mark.django_db
URL = "/api/v1/appeals"


@pytest.fixture
def key(settings, tmp_path):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    admin = make_user("root", roles.ADMINISTRATOR)
    return services.api_key_create(name="help-centre", scopes=["appeals:write"], actor=admin)[1]


@pytest.fixture
def account():
    from accounts import roles

    found = make_account(reference="LD-API-2")
    overrides.account_override_limit(
        account_id=found.pk,
        expected_version=found.version,
        new_limit=found.current_limit / 2,
        actor=make_user("alice", roles.RISK_ANALYST),
        justification="Bureau check.",
    )
    return found


def send(client, key, files=(), **fields):
    data = {
        "account": "LD-API-2",
        "channel": "app",
        "category": "evidence",
        "statement": "My salary is paid into your bank.",
        **fields,
    }
    if files:
        data["files"] = list(files)
    return client.post(URL, data, HTTP_AUTHORIZATION=f"Bearer {key}")


def test_an_appeal_with_evidence_is_recorded_and_a_second_one_joins_it(client, key, account):
    response = send(client, key, files=[SimpleUploadedFile("工资.png", PNG, "image/png")])
    assert response.status_code == 201, response.content
    body = response.json()
    appeal = Appeal.objects.get(pk=body["appeal"])
    assert (appeal.channel, appeal.category, appeal.decision) == (
        "app",
        "evidence",
        account.decisions.get(),
    )
    assert body["evidence"][0]["content_type"] == "image/png" and len(body["evidence"]) == 1
    stored = Evidence.objects.get(appeal=appeal)
    assert (stored.uploaded_by, stored.uploaded_via) == (None, "help-centre")
    assert "via help-centre" in appeal.events.get(move="received").note

    again = send(client, key, channel="written", statement="Written application, same cut.")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["appeal"] == appeal.pk


def test_a_bad_file_refuses_the_whole_appeal_and_stores_nothing(client, key, account, tmp_path):
    html = SimpleUploadedFile("salary.pdf", b"<html><script>x</script></html>", "application/pdf")
    response = send(client, key, files=[SimpleUploadedFile("a.png", PNG, "image/png"), html])
    assert response.status_code == 422
    assert response.json()["detail"].startswith("salary.pdf: Only PDF, PNG and JPEG")
    assert not Appeal.objects.exists() and not Evidence.objects.exists()
    assert (
        not any(Path(tmp_path / "evidence").rglob("*"))
        if (tmp_path / "evidence").exists()
        else True
    )


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"account": "LD-NOBODY"}, 404),
        ({"channel": "hotline"}, 422),  # staff record hotline calls themselves
        ({"statement": "hi"}, 422),
        ({"requested_limit": "-5"}, 422),
    ],
)
def test_bad_appeals_are_refused_with_a_reason(client, key, account, fields, status):
    response = send(client, key, **fields)
    assert response.status_code == status, response.content
    assert response.json()["detail"]
    assert not Appeal.objects.exists()


def test_scope_and_file_count(client, key, account):
    admin = User.objects.get(username="root")
    reader = services.api_key_create(name="crm", scopes=["decisions:read"], actor=admin)[1]
    assert send(client, reader).status_code == 403
    many = [SimpleUploadedFile(f"{n}.png", PNG, "image/png") for n in range(6)]
    response = send(client, key, files=many)
    assert response.status_code == 422 and "At most 5" in response.json()["detail"]
