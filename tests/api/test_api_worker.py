"""Signal events through the API re-score their accounts on a real Celery worker."""

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts import roles
from accounts.models import AccountSignals
from api import services
from decisions.models import RescoreRequest, RescoreRun
from tests.base import make_account, make_signals, make_user
from tests.conftest import PROFILES

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("profile", PROFILES)
def test_events_that_cut_a_line_are_re_scored_by_the_worker(client, celery_worker, profile):
    admin = make_user("root", roles.ADMINISTRATOR)
    key = services.api_key_create(name="risk-engine", scopes=["signals:write"], actor=admin)[1]
    accounts = []
    for number in range(3):
        account = make_account(
            reference=f"LD-W-{number}", current_limit=Decimal("8000.00"), score=640
        )
        make_signals(
            account, credit_score=640, lender_applications_30d=1, lender_applications_90d=2
        )
        accounts.append(account)
    AccountSignals.objects.update(observed_at=timezone.now() - timedelta(hours=1))
    # A rate shopper's burst: the first two accounts apply to 14 lenders in 30 days.
    events = [
        {
            "event_id": f"w{number}:{step}",
            "account": f"LD-W-{number}",
            "observed_at": (timezone.now() - timedelta(minutes=5 - step)).isoformat(),
            "signals": {"lender_applications_30d": 7 * step, "lender_applications_90d": 7 * step},
        }
        for number in range(2)
        for step in (1, 2)
    ]
    response = client.post(
        "/api/v1/signals/events",
        json.dumps({"events": events}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200 and response.json()["applied"] == 4

    deadline = time.monotonic() + 60
    while RescoreRequest.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not RescoreRequest.objects.exists(), "the worker did not take the requests"
    run = RescoreRun.objects.get(trigger="signal")  # both accounts in one re-score
    assert run.state == "done" and run.accounts_total == 2 and run.reduced == 2
    for account in accounts[:2]:
        decision = account.decisions.get()
        assert decision.run_id == run.pk and decision.action == "reduce"
        assert "MULTI_LENDING" in decision.reasons
        assert decision.inputs["lender_applications_30d"] == 14  # the newest event's value
    assert not accounts[2].decisions.exists()
