"""The integration API through the real URL stack: keys and scopes, signal events
(idempotency, ordering, per-event errors), explanations, the decision feed."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from accounts import roles
from accounts.models import AccountSignals
from api import selectors, services
from api.models import ApiCall, SignalEvent
from decisions import overrides
from tests.base import make_account, make_signals, make_user

pytestmark = pytest.mark.django_db
URL = "/api/v1"


@pytest.fixture
def admin():
    return make_user("root", roles.ADMINISTRATOR)


@pytest.fixture
def keys(admin):
    made = {}
    for name, scopes in {
        "risk-engine": ["signals:write"],
        "crm": ["decisions:read"],
    }.items():
        made[name] = services.api_key_create(name=name, scopes=scopes, actor=admin)[1]
    return made


def post(client, key, path, body, **extra):
    return client.post(
        URL + path,
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        **extra,
    )


def get(client, key, path):
    return client.get(URL + path, HTTP_AUTHORIZATION=f"Bearer {key}")


def event(event_id, account, minutes_ago=0, **signals):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return {
        "event_id": event_id,
        "account": account,
        "observed_at": at.isoformat(),
        "signals": signals,
    }


@pytest.fixture
def account():
    found = make_account(reference="LD-API-1")
    make_signals(found, lender_applications_30d=1, lender_applications_90d=2)
    AccountSignals.objects.filter(account=found).update(
        observed_at=timezone.now() - timedelta(hours=1)
    )
    return found


def test_keys_are_stored_hashed_scoped_and_revocable(client, admin, keys, account):
    stored = services.api_key_create(name="help centre", scopes=["appeals:write"], actor=admin)
    key, secret = stored
    assert secret.startswith(f"ld_{key.prefix}_") and secret not in key.key_hash
    assert selectors.api_key_for(secret) == key
    with pytest.raises(services.ApiKeyError, match="Only an administrator"):
        services.api_key_create(
            name="x", scopes=["appeals:write"], actor=User.objects.create_user("mallory")
        )
    assert get(client, "ld_nope_nope", "/decisions").status_code == 401
    assert client.get(URL + "/decisions").status_code == 401
    forbidden = get(client, keys["risk-engine"], "/decisions")
    assert forbidden.status_code == 403
    assert forbidden.json() == {"detail": "This key lacks the scope decisions:read."}
    assert get(client, keys["crm"], "/decisions").status_code == 200
    services.api_key_revoke(name="crm", actor=admin)
    assert get(client, keys["crm"], "/decisions").status_code == 401
    logged = list(ApiCall.objects.order_by("id").values_list("key_name", "status"))
    assert logged == [("", 401), ("", 401), ("risk-engine", 403), ("crm", 200), ("", 401)]


def test_signal_events_apply_once_in_order_with_per_event_errors(
    client, keys, account, django_capture_on_commit_callbacks
):
    batch = {
        "events": [
            event("e1", "LD-API-1", lender_applications_30d=6, lender_applications_90d=9),
            event(
                "e2", "LD-API-1", minutes_ago=120, lender_applications_30d=1
            ),  # older than on file
            event("e3", "LD-API-1", utilization=5),  # out of range
            event("e4", "LD-NOBODY", utilization=0.5),
            event("e5", "LD-API-1", shoe_size=44),
            event("e6", "LD-API-1", lender_applications_90d=3),  # fewer than in 30 days now
        ]
    }
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(client, keys["risk-engine"], "/signals/events", batch)
    assert response.status_code == 200, response.content
    body = response.json()
    statuses = {r["event_id"]: (r["status"], r["errors"]) for r in body["results"]}
    assert statuses["e1"] == ("applied", {})
    assert statuses["e2"] == ("stale", {})
    assert statuses["e3"] == ("rejected", {"utilization": "must be between 0 and 2"})
    assert statuses["e4"] == ("rejected", {"account": "no account with this reference"})
    assert statuses["e5"] == ("rejected", {"shoe_size": "is not a signal Limit Desk knows"})
    assert statuses["e6"][0] == "rejected" and "lender_applications_90d" in statuses["e6"][1]
    assert (body["applied"], body["stale"], body["rejected"]) == (1, 1, 4)
    signals = AccountSignals.objects.get(account=account)
    assert (signals.lender_applications_30d, signals.lender_applications_90d) == (6, 9)
    assert len(callbacks) == 1  # one re-score for the account that changed

    again = post(client, keys["risk-engine"], "/signals/events", {"events": [batch["events"][0]]})
    assert again.json()["results"] == [{"event_id": "e1", "status": "duplicate", "errors": {}}]
    assert SignalEvent.objects.filter(event_id="e1").count() == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"events": []}, 422),
        ({"events": [{"event_id": "x"}]}, 422),
        ({"events": [event(f"e{n}", "LD-API-1", age=30) for n in range(501)]}, 422),
        ({"nothing": 1}, 422),
    ],
)
def test_bad_payloads_get_422_with_field_messages(client, keys, account, body, status):
    response = post(client, keys["risk-engine"], "/signals/events", body)
    assert response.status_code == status
    assert response.json()["detail"]
    assert AccountSignals.objects.get(account=account).lender_applications_30d == 1


def test_an_oversized_body_gets_413(client, keys, settings, account):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = {"events": [event(f"e{n}", "LD-API-1", age=30) for n in range(40)]}
    response = post(client, keys["risk-engine"], "/signals/events", big)
    assert response.status_code == 413
    assert "larger than 1,000 bytes" in response.json()["detail"]


def test_the_explanation_speaks_the_customers_language(client, keys):
    call_command("seed_demo", "--accounts", "10", verbosity=0)
    english = get(client, keys["crm"], "/accounts/LD-CASE-A/explanation?lang=en").json()
    assert english["decision"]["action"] == "reduce"
    assert [r["code"] for r in english["reasons"]][:2] == ["BAND_CEILING", "MULTI_LENDING"]
    assert english["reasons"][0]["text"].startswith("Your limit was above the most our policy")
    assert english["reasons"][0]["facts"] == [
        "the limit ¥8,000 is above band E's ceiling of ¥3,000; this set the limit: ¥3,000"
    ]
    assert "Applications at other lenders in 30 days: 14; under 2 scores best" in (
        english["reasons"][1]["facts"][1].capitalize()
    )
    assert english["restoration"].endswith("the limit would have stayed at ¥8,000 (band D).")
    chinese = get(client, keys["crm"], "/accounts/LD-CASE-A/explanation?lang=zh-hans").json()
    assert chinese["reasons"][1]["text"].startswith("您近期在其他机构的借款申请")
    assert chinese["reasons"][0]["facts"][0].startswith("额度 ¥8,000 高于 E 档上限 ¥3,000")
    assert get(client, keys["crm"], "/accounts/LD-NOBODY/explanation").status_code == 404
    assert get(client, keys["crm"], "/accounts/LD-CASE-A/explanation?lang=fr").status_code == 422


def test_the_decision_feed_is_a_stable_cursor(client, keys, account, monkeypatch):
    monkeypatch.setattr(selectors, "FEED_SETTLE", timedelta(0))
    analyst = make_user("alice", roles.RISK_ANALYST)
    for limit in ("9000", "8000", "7000"):
        account.refresh_from_db()
        overrides.account_override_limit(
            account_id=account.pk,
            expected_version=account.version,
            new_limit=Decimal(limit),
            actor=analyst,
            justification="Bureau check.",
        )
    first = get(client, keys["crm"], "/decisions?limit=2").json()
    assert [d["new_limit"] for d in first["decisions"]] == ["9000.00", "8000.00"]
    rest = get(client, keys["crm"], f"/decisions?after={first['next_cursor']}").json()
    assert [d["new_limit"] for d in rest["decisions"]] == ["7000.00"]
    empty = get(client, keys["crm"], f"/decisions?after={rest['next_cursor']}").json()
    assert empty == {"decisions": [], "next_cursor": rest["next_cursor"]}
    assert get(client, keys["crm"], "/decisions?after=-1").status_code == 422


def test_the_schema_and_its_docs_page_are_served_to_signed_in_staff(client):
    for path in ("/openapi.json", "/docs"):
        response = client.get(URL + path)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    client.force_login(make_user("nora"))  # signed in, no role
    assert client.get(URL + "/openapi.json").status_code == 403
    client.force_login(make_user("bo", roles.APPEAL_HANDLER))
    schema = client.get(URL + "/openapi.json").json()
    assert schema["info"]["title"] == "Limit Desk API"
    assert {"/api/v1/signals/events", "/api/v1/decisions"} <= set(schema["paths"])
    docs = client.get(URL + "/docs")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
    assert "'unsafe-inline'" in docs["Content-Security-Policy"]
    assert "'unsafe-inline'" not in client.get("/login/")["Content-Security-Policy"]


def test_an_applied_event_asks_for_a_re_score_of_its_account_once(
    client, keys, account, django_capture_on_commit_callbacks
):
    from decisions.models import RescoreRequest

    events = [
        event("re1", "LD-API-1", minutes_ago=-1, age=30),
        event("re2", "LD-API-1", minutes_ago=-2, age=31),
        event("re3", "LD-API-1", minutes_ago=60 * 24 * 400, age=32),
    ]
    with django_capture_on_commit_callbacks() as callbacks:
        answer = post(client, keys["risk-engine"], "/signals/events", {"events": events}).json()
    assert [r["status"] for r in answer["results"]] == ["applied", "applied", "stale"]
    assert list(RescoreRequest.objects.values_list("account_id", flat=True)) == [account.pk]
    assert callbacks  # the worker is told once the batch commits
