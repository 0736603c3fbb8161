"""The Integrations page: the administrator creates and revokes keys; auditors read."""

import re
from html.parser import HTMLParser

import pytest

from accounts import roles
from api import services
from api.models import ApiCall, ApiKey, key_hash
from tests.base import make_user

pytestmark = pytest.mark.django_db
PAGE = "/integrations/"


class _Tables(HTMLParser):
    """The page's tables by caption: each row as the visible text of its cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._caption = ""
        self._rows: list[list[str]] | None = None
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._caption, self._rows = "", []
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("caption", "th", "td"):
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("caption", "th", "td") and self._text is not None:
            text = " ".join("".join(self._text).split())
            if tag == "caption":
                self._caption = text
            elif self._rows:
                self._rows[-1].append(text)
            self._text = None
        elif tag == "table" and self._rows is not None:
            self.tables[self._caption] = self._rows
            self._rows = None


def table(page: str, caption: str) -> list[dict[str, str]]:
    """The rows of the page's table with this caption, each cell under its column's
    heading, as a person reads them."""
    parser = _Tables()
    parser.feed(page)
    parser.close()
    assert caption in parser.tables, f"no table {caption!r} on the page: {list(parser.tables)}"
    heading, *rows = parser.tables[caption]
    return [dict(zip(heading, row, strict=True)) for row in rows]


@pytest.fixture
def admin(client):
    user = make_user("root", roles.ADMINISTRATOR)
    client.force_login(user)
    return user


def test_the_administrator_creates_a_key_that_is_shown_once_and_works(client, admin):
    answer = client.post(
        PAGE + "keys/", {"name": "help centre", "scopes": ["appeals:write", "decisions:read"]}
    )
    assert answer.status_code == 200 and answer["Cache-Control"] == "no-store"
    found = re.search(r'value="(ld_[0-9a-f]{8}_[^"]+)"', answer.content.decode())
    assert found, "the new key is not on the page"
    secret = found.group(1)
    key = ApiKey.objects.get(name="help centre")
    assert key.scopes == ["appeals:write", "decisions:read"]
    assert key.key_hash == key_hash(secret)  # only its hash is kept
    assert secret not in str(ApiKey.objects.filter(pk=key.pk).values().get())
    # It works, and the page then shows its use; the key itself never again.
    assert client.get("/api/v1/decisions", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    page = client.get(PAGE).content.decode()
    assert secret not in page and f"ld_{key.prefix}_…" in page
    assert "GET /api/v1/decisions" in page


def test_bad_input_is_named_on_its_field_and_creates_nothing(client, admin):
    page = client.post(PAGE + "keys/", {"name": " ", "scopes": []}).content.decode()
    assert "This field is required." in page
    assert "Choose at least one thing the key may do." in page
    services.api_key_create(name="crm", scopes=["decisions:read"], actor=admin)
    page = client.post(PAGE + "keys/", {"name": "crm", "scopes": ["decisions:read"]})
    assert "has a live key already: revoke it first" in page.content.decode()
    assert ApiKey.objects.count() == 1


def test_a_revoked_key_gets_401_and_its_integration_may_get_a_new_key(client, admin):
    old, secret = services.api_key_create(name="crm", scopes=["decisions:read"], actor=admin)
    answer = client.post(PAGE + "keys/revoke/", {"key": old.pk}, follow=True)
    assert "The key of crm is revoked" in answer.content.decode()
    assert client.get("/api/v1/decisions", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    assert "revoked" in client.get(PAGE).content.decode()
    client.post(PAGE + "keys/", {"name": "crm", "scopes": ["decisions:read"]})
    assert ApiKey.objects.filter(name="crm").count() == 2
    new = ApiKey.objects.get(name="crm", revoked_at__isnull=True)
    # A page left open since: its button names the old key, which stays revoked,
    # and the new key is not touched.
    answer = client.post(PAGE + "keys/revoke/", {"key": old.pk}, follow=True)
    assert "No live key" in answer.content.decode()
    new.refresh_from_db()
    assert new.revoked_at is None
    answer = client.post(PAGE + "keys/revoke/", {"key": "crm"}, follow=True)
    assert "Choose the key to revoke." in answer.content.decode()


def test_the_key_actions_take_posts_only(client, admin):
    assert client.get(PAGE + "keys/").status_code == 405
    assert client.get(PAGE + "keys/revoke/").status_code == 405


def test_auditors_read_the_keys_and_calls_but_change_nothing(client):
    admin = make_user("root", roles.ADMINISTRATOR)
    services.api_key_create(name="crm", scopes=["decisions:read"], actor=admin)
    ApiCall.objects.create(key_name="", method="GET", path="/api/v1/decisions", status=401,
                           milliseconds=3)  # fmt: skip
    client.force_login(make_user("frank", roles.AUDITOR))
    page = client.get(PAGE).content.decode()
    assert "crm" in page and "no valid key" in page
    assert "Create the key" not in page and "Revoke" not in page
    assert (
        client.post(PAGE + "keys/", {"name": "x", "scopes": ["decisions:read"]}).status_code == 403
    )
    key = ApiKey.objects.get()
    assert client.post(PAGE + "keys/revoke/", {"key": key.pk}).status_code == 403
    assert ApiKey.objects.get().revoked_at is None


@pytest.mark.parametrize(
    "role", [roles.RISK_ANALYST, roles.APPEAL_HANDLER, roles.APPEAL_LEAD, roles.POLICY_ADMIN]
)
def test_other_roles_cannot_open_the_page(client, role):
    client.force_login(make_user("someone", role))
    assert client.get(PAGE).status_code == 403


def test_the_page_reads_in_few_queries_however_many_calls(
    client, admin, django_assert_max_num_queries
):
    for name in ("crm", "risk engine", "help centre"):
        key, _secret = services.api_key_create(name=name, scopes=["decisions:read"], actor=admin)
        ApiCall.objects.bulk_create(
            ApiCall(key=key, key_name=name, method="GET", path="/api/v1/decisions", status=200,
                    milliseconds=2) for _ in range(30)
        )  # fmt: skip
    with django_assert_max_num_queries(8):
        page = client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    # Each key's row shows its own 30 calls of the last 24 hours, none refused.
    keys = table(html, "API keys, live ones first")
    seen = [(row["Integration"], row["Calls, 24 h"], row["Refused, 24 h"]) for row in keys]
    assert sorted(seen) == [
        ("crm", "30", "0"),
        ("help centre", "30", "0"),
        ("risk engine", "30", "0"),
    ]
    assert len(table(html, "The latest 50 API calls, newest first")) == 50
