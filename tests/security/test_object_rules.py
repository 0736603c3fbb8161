"""Object-level rules: an appeal is worked by its assignee (or a lead); no one
approves or widens their own request, draft, restoration or held run; a URL's
parent object owns the child it names; the administrator and a break-glass
superuser pass no check their roles do not grant."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts import roles
from accounts.models import Account, AccountNote
from appeals import outcomes
from appeals import services as appeal_services
from appeals.models import Appeal, Evidence
from decisions import errors, overrides, runs
from decisions.models import LimitDecision, OverrideRequest, RescoreRun
from policies import services as policy_services
from policies.models import Policy
from tests.base import make_account, make_signals, make_user
from tests.files import PNG
from tests.security.test_access_matrix import fingerprint

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(settings, tmp_path):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    settings.APPEAL_APPROVAL_ABOVE = Decimal("20000")
    people = {
        "alice": make_user("alice", roles.RISK_ANALYST),
        "greg": make_user("greg", roles.RISK_ANALYST),
        "bob": make_user("bob", roles.APPEAL_HANDLER),
        "otto": make_user("otto", roles.APPEAL_HANDLER),
        "carol": make_user("carol", roles.APPEAL_LEAD),
        "hana": make_user("hana", roles.APPEAL_LEAD),
        "dave": make_user("dave", roles.POLICY_ADMIN),
        "erin": make_user("erin", roles.POLICY_ADMIN),
        "frank": make_user("frank", roles.AUDITOR),
        "ada": make_user("ada", roles.ADMINISTRATOR),
    }
    account = make_account(reference="LD-O-1", current_limit=Decimal("80000.00"))
    make_signals(account)
    overrides.account_override_limit(
        account_id=account.pk,
        expected_version=account.version,
        new_limit=Decimal("3000"),
        actor=people["alice"],
        justification="Cut after the bureau check.",
    )
    return people, account


def a_pending_override(account, actor, limit):
    """An override above what one person may apply alone: it waits for a lead."""
    account.refresh_from_db()
    overrides.account_override_limit(
        account_id=account.pk,
        expected_version=account.version,
        new_limit=Decimal(limit),
        actor=actor,
        justification="Salary verified by the branch.",
    )
    return OverrideRequest.objects.get(state="pending")


def an_appeal_of(account, owner, lead):
    decision = LimitDecision.objects.filter(account=account).latest("sequence")
    appeal = appeal_services.appeal_intake(
        account=account,
        actor=owner,
        channel="hotline",
        category="misjudged",
        statement="I only compared rates.",
        decision_id=decision.pk,
    ).appeal
    appeal_services.appeal_assign(appeal_id=appeal.pk, assignee=owner, lead=lead)
    return Appeal.objects.get(pk=appeal.pk)


def test_a_handler_can_do_nothing_to_an_appeal_assigned_to_someone_else(client, book):
    people, account = book
    appeal = an_appeal_of(account, people["otto"], people["carol"])
    client.force_login(people["bob"])
    posts = [
        ("appeals:move", {"move": move, "note": "Customer says the income is higher."})
        for move in ("request_info", "customer_replied", "escalate", "withdraw")
    ] + [
        (
            "appeals:decide",
            {"outcome": "full", "justification": "Salary flow verified.", "confirm": "1"},
        ),
        ("appeals:evidence_upload", {"file": SimpleUploadedFile("bob.png", PNG, "image/png")}),
    ]
    for name, data in posts:
        before = fingerprint()
        response = client.post(reverse(name, args=[appeal.pk]), data, follow=True)
        assert response.status_code == 200, name
        assert "This appeal is assigned to someone else." in response.content.decode(), name
        assert fingerprint() == before, name
    appeal.refresh_from_db()
    assert appeal.is_open and not Evidence.objects.exists()
    # Its assignee, and a lead stepping in, may.
    client.force_login(people["otto"])
    upload = SimpleUploadedFile("otto.png", PNG, "image/png")
    url = reverse("appeals:evidence_upload", args=[appeal.pk])
    response = client.post(url, {"file": upload}, follow=True)
    assert "otto.png added." in response.content.decode()
    client.force_login(people["carol"])
    client.post(reverse("appeals:move", args=[appeal.pk]), {"move": "withdraw", "note": ""})
    appeal.refresh_from_db()
    assert appeal.state == "withdrawn"


def test_a_leads_own_large_restoration_waits_for_another_lead(client, book):
    people, account = book
    appeal = an_appeal_of(account, people["carol"], people["hana"])
    result = outcomes.appeal_decide(
        appeal_id=appeal.pk,
        actor=people["carol"],
        outcome="full",
        justification="Salary flow verified at the branch.",
    )
    assert result.pending  # 80,000 is above the approval amount, even for a lead
    client.force_login(people["carol"])
    response = client.post(
        reverse("appeals:approve", args=[appeal.pk]), {"decision": "approve"}, follow=True
    )
    assert "The person who proposed an outcome cannot approve it." in response.content.decode()
    assert Account.objects.get(pk=account.pk).current_limit == Decimal("3000.00")
    client.force_login(people["hana"])
    client.post(reverse("appeals:approve", args=[appeal.pk]), {"decision": "approve"})
    assert Account.objects.get(pk=account.pk).current_limit == Decimal("80000.00")


def test_no_one_approves_their_own_override_even_holding_both_roles(client, book):
    _people, account = book
    both = make_user("max", roles.RISK_ANALYST)
    both.groups.add(*User.objects.get(username="carol").groups.all())
    request = a_pending_override(account, both, "90000")
    client.force_login(both)
    url = reverse("accounts:override_decide", args=[account.reference, request.pk])
    response = client.post(url, {"decision": "approve"}, follow=True)
    assert "You cannot approve your own override" in response.content.decode()
    request.refresh_from_db()
    assert request.state == "pending"


def test_an_override_request_is_decided_only_under_its_own_account(client, book):
    people, account = book
    request = a_pending_override(account, people["alice"], "90000")
    other = make_account(reference="LD-O-2")
    client.force_login(people["carol"])
    before = fingerprint()
    for decision in ("approve", "reject"):
        url = reverse("accounts:override_decide", args=[other.reference, request.pk])
        assert client.post(url, {"decision": decision}).status_code == 404
    assert fingerprint() == before
    # Without a choice, nothing is decided (an empty form never rejects).
    url = reverse("accounts:override_decide", args=[account.reference, request.pk])
    response = client.post(url, {}, follow=True)
    assert "Choose to approve or to reject the override." in response.content.decode()
    assert fingerprint() == before


def test_the_author_of_a_version_never_widens_its_rollout(client, book):
    people, _account = book
    dave, erin = people["dave"], people["erin"]
    draft = policy_services.policy_draft_create(author=dave)
    # Drafted, simulated, approved by erin at 10% (tests/policies covers those steps).
    Policy.objects.filter(pk=draft.pk).update(state="rollout", rollout_share=10, approver=erin)
    client.force_login(dave)
    page = client.get(reverse("policies:index")).content.decode()
    assert f"You wrote v{draft.version}: a second policy admin widens its rollout." in page
    response = client.post(
        reverse("policies:rollout"), {"action": "widen", "share": "50"}, follow=True
    )
    assert f"You wrote v{draft.version}: a second policy admin widens" in response.content.decode()
    assert Policy.objects.get(pk=draft.pk).rollout_share == 10
    client.force_login(erin)
    client.post(reverse("policies:rollout"), {"action": "widen", "share": "50"})
    assert Policy.objects.get(pk=draft.pk).rollout_share == 50


def test_the_person_who_started_a_held_run_cannot_approve_it(book):
    people, _account = book
    run = runs.run_start(trigger="button", started_by=people["alice"])
    RescoreRun.objects.filter(pk=run.pk).update(state="waiting")
    with pytest.raises(errors.DecisionError, match="You started this run"):
        runs.run_approve(run_id=run.pk, actor=people["alice"])
    assert RescoreRun.objects.get(pk=run.pk).state == "waiting"
    runs.run_approve(run_id=run.pk, actor=people["greg"])
    assert RescoreRun.objects.get(pk=run.pk).decided_by == people["greg"]


def test_a_non_numeric_assignee_is_a_form_error(client, book):
    people, account = book
    appeal = an_appeal_of(account, people["bob"], people["carol"])
    client.force_login(people["carol"])
    for chosen in ("abc", "", "-1", "99999"):
        response = client.post(
            reverse("appeals:assign", args=[appeal.pk]), {"assignee": chosen}, follow=True
        )
        assert response.status_code == 200
        assert "Choose who takes the appeal." in response.content.decode()
    assert Appeal.objects.get(pk=appeal.pk).assignee == people["bob"]


def test_the_auditor_reads_and_exports_and_writes_nothing(client, book):
    people, account = book
    client.force_login(people["frank"])
    before = fingerprint()
    assert (
        client.post(
            reverse("accounts:note", args=[account.reference]), {"text": "Looked at this."}
        ).status_code
        == 403
    )
    assert (
        client.post(
            reverse("appeals:intake", args=[account.reference]),
            {
                "channel": "hotline",
                "category": "misjudged",
                "statement": "x" * 20,
                "priority": "urgent",
            },
        ).status_code
        == 403
    )
    assert client.post(reverse("worker_check")).status_code == 403
    assert fingerprint() == before and not AccountNote.objects.exists()
    assert client.get(reverse("decisions:audit")).status_code == 200
    # And the pages offer none of these.
    page = client.get(reverse("accounts:detail", args=[account.reference])).content.decode()
    assert "Add the note" not in page and "Record an appeal for a caller" not in page
    assert "Check the worker now" not in client.get(reverse("overview")).content.decode()


def test_the_administrator_is_a_role_and_a_superuser_is_no_bypass(client, book):
    people, account = book
    request = a_pending_override(account, people["alice"], "60000")
    root = User.objects.create_superuser("root", password=None)
    url = reverse("accounts:override_decide", args=[account.reference, request.pk])
    for person in (people["ada"], root):
        client.force_login(person)
        assert client.post(url, {"decision": "approve"}).status_code == 403
        with pytest.raises(errors.DecisionError):
            overrides.override_approve(request_id=request.pk, approver=person)
    assert OverrideRequest.objects.get(pk=request.pk).state == "pending"
    # The account page names who may approve: the appeal leads, no one else.
    client.force_login(people["alice"])
    page = client.get(reverse("accounts:detail", args=[account.reference]))
    assert page.context["approvers"] == ["carol", "hana"]
    assert not people["ada"].is_superuser


def test_an_administrator_cannot_raise_themself_in_user_management(client, book):
    people, _account = book
    ada, nora = people["ada"], make_user("nora")
    client.force_login(ada)
    own = client.get(reverse("admin:auth_user_change", args=[ada.pk])).content.decode()
    assert 'name="groups"' not in own and 'name="is_superuser"' not in own
    other = client.get(reverse("admin:auth_user_change", args=[nora.pk])).content.decode()
    assert 'name="groups"' in other and 'name="is_superuser"' not in other
    # Posting the fields anyway changes nothing of them.
    lead = User.objects.get(username="carol").groups.get()
    client.post(
        reverse("admin:auth_user_change", args=[ada.pk]),
        {
            "username": "ada",
            "is_superuser": "on",
            "groups": [lead.pk],
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    ada.refresh_from_db()
    assert not ada.is_superuser and list(ada.groups.values_list("name", flat=True)) == [
        roles.ADMINISTRATOR
    ]
    # Giving another user a role is recorded, and the audit page shows it.
    client.post(
        reverse("admin:auth_user_change", args=[nora.pk]),
        {
            "username": "nora",
            "groups": [lead.pk],
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert list(nora.groups.values_list("name", flat=True)) == [roles.APPEAL_LEAD]
    client.force_login(people["frank"])
    audit = client.get(reverse("decisions:audit")).content.decode()
    assert "Changes to users and roles" in audit and "“nora”" in audit and "Groups" in audit
