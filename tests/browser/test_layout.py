"""The main pages on a phone (390x844), a laptop (1366x900) and a wide screen (1920x1080):
no sideways page scroll on the phone, the wide screen used, a visible focus ring,
axe clean, the Policy page short with a long version history — and the date filter
of the audit page keeping its value in Chinese."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Browser, Page, ViewportSize, expect

from accounts import roles
from accounts.models import Account
from appeals import services as appeal_services
from policies.models import Policy
from tests.base import PASSWORD, ensure_roles, make_user
from tests.browser.conftest import new_page, screenshot, serious_violations

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PHONE = ViewportSize(width=390, height=844)
LAPTOP = ViewportSize(width=1366, height=900)
WIDE = ViewportSize(width=1920, height=1080)


def build_the_desk() -> dict[str, str]:
    """Demo-like data: the seeded book, an appeal, and 24 earlier policy versions each
    changing a threshold or two; returns the main pages by name."""
    ensure_roles()
    call_command("seed_demo", "--accounts", "60", verbosity=0)
    zoe = make_user("zoe", roles.RISK_ANALYST)
    for role in (roles.APPEAL_LEAD, roles.POLICY_ADMIN, roles.AUDITOR):
        zoe.groups.add(Group.objects.get(name=role))  # every page, the longest menu
    account = Account.objects.get(reference="LD-CASE-A")
    appeal = appeal_services.appeal_intake(
        account=account,
        actor=zoe,
        channel="hotline",
        category="evidence",
        statement="I repaid everything last month; my salary rose, the statement is attached.",
        requested_limit=Decimal("1882265300"),
    ).appeal
    active = Policy.objects.get(state="active")
    rules = dict(active.rules)
    start = timezone.now() - timedelta(days=400)
    for number in range(2, 26):
        rules = {**rules, "close_dpd": 60 + number, "multi_lending_applications_30d": number}
        Policy.objects.create(
            version=number,
            state=Policy.State.RETIRED,
            rules=rules,
            rationale=f"Version {number}: one small step on overdue and multi-lending.",
            author=zoe,
            created_at=start + timedelta(days=number * 10),
            activated_at=start + timedelta(days=number * 10 + 1),
            retired_at=start + timedelta(days=number * 10 + 10),
        )
    Policy.objects.create(
        version=26,
        state=Policy.State.DRAFT,
        rules={**rules, "raise_cap_pct": "12"},
        rationale="A draft: raises a little faster.",
        author=zoe,
    )
    return {
        "overview": "/",
        "accounts": "/accounts/",
        "account": "/accounts/LD-CASE-A/",
        "appeals": "/appeals/",
        "appeal": f"/appeals/{appeal.pk}/",
        "policy": "/policy/",
        "runs": "/runs/",
        "audit": "/audit/",
    }


def logged_in(browser: Browser, base_url: str, viewport: ViewportSize) -> Page:
    page = new_page(browser)
    page.set_viewport_size(viewport)
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill("zoe")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    return page


def page_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


# The outermost elements reaching past the viewport's right edge (for a failure message).
SPILLING = """() => {
  const out = [];
  const clipped = e => {
    for (let a = e.parentElement; a && a !== document.body; a = a.parentElement)
      if (getComputedStyle(a).overflowX !== 'visible') return true;
    return false;
  };
  for (const e of document.querySelectorAll('body *')) {
    const r = e.getBoundingClientRect();
    if (r.right > innerWidth + 1 && !out.some(o => o.contains(e)) && !clipped(e)) out.push(e);
  }
  return out.slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : '')
    + ' ' + Math.round(e.getBoundingClientRect().right));
}"""


def spilling(page: Page) -> list[str]:
    return list(page.evaluate(SPILLING))


def test_the_main_pages_fit_a_phone_fill_a_wide_screen_and_pass_axe(live_server, browser):
    pages = build_the_desk()

    phone = logged_in(browser, live_server.url, PHONE)
    for name, path in pages.items():
        phone.goto(f"{live_server.url}{path}")
        assert page_width(phone) <= PHONE["width"], f"{name} on a phone: {spilling(phone)}"
        assert serious_violations(phone) == [], name
        screenshot(phone, f"layout-{name}-390")
    # The menu wraps: every link stays on screen.
    for link in phone.get_by_role("navigation", name="Main").get_by_role("link").all():
        box = link.bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"], link.inner_text()
    phone.context.close()

    laptop = logged_in(browser, live_server.url, LAPTOP)
    for name, path in pages.items():
        laptop.goto(f"{live_server.url}{path}")
        assert page_width(laptop) <= LAPTOP["width"], name
        assert serious_violations(laptop) == [], name
    laptop.context.close()

    wide = logged_in(browser, live_server.url, WIDE)
    for name, path in pages.items():
        wide.goto(f"{live_server.url}{path}")
        main = wide.locator("main").bounding_box()
        assert main is not None and main["width"] > 1280, f"{name}: main is {main}"
        assert page_width(wide) <= WIDE["width"], name
        screenshot(wide, f"layout-{name}-1920")
    assert wide.console_errors == []  # type: ignore[attr-defined]
    wide.context.close()


def test_a_wide_table_scrolls_inside_its_card_not_the_page(live_server, browser):
    build_the_desk()
    phone = logged_in(browser, live_server.url, PHONE)
    phone.goto(f"{live_server.url}/accounts/")
    table = phone.get_by_role("table").first
    expect(table).to_be_visible()
    scroller = table.evaluate(
        "t => { let e = t.parentElement; while (e && getComputedStyle(e).overflowX !== 'auto')"
        " e = e.parentElement; return e ? e.getBoundingClientRect().right : null; }"
    )
    assert scroller is not None and scroller <= PHONE["width"]
    assert page_width(phone) <= PHONE["width"]
    phone.context.close()


def test_the_focus_ring_is_three_pixels_on_dark_and_light_buttons(live_server, browser):
    build_the_desk()
    page = logged_in(browser, live_server.url, LAPTOP)
    page.goto(f"{live_server.url}/policy/")
    dark = page.get_by_role("button", name="Start a new draft")  # class="primary"
    assert dark.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(11, 79, 138)"
    page.keyboard.press("Tab")  # keyboard focus: :focus-visible applies
    dark.focus()
    ring = dark.evaluate(
        "b => { const s = getComputedStyle(b);"
        " return [s.outlineStyle, s.outlineWidth, s.outlineOffset, s.boxShadow]; }"
    )
    assert ring[:3] == ["solid", "3px", "2px"]
    assert "rgb(255, 191, 71)" in ring[3]  # a light halo round the dark ring
    screenshot(page, "layout-focus-ring")
    light = page.get_by_role("button", name="Roll back")
    light.focus()
    assert light.evaluate("b => getComputedStyle(b).outlineWidth") == "3px"
    page.context.close()


def test_the_policy_page_folds_a_long_history_to_its_changes(live_server, browser):
    build_the_desk()
    page = logged_in(browser, live_server.url, LAPTOP)
    page.goto(f"{live_server.url}/policy/")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 6000, f"the Policy page is {height} px tall"
    # A retired version is one line until opened; it then shows what it changed.
    v10 = page.get_by_role("region", name="Version 10", exact=True)
    expect(v10).to_contain_text("retired")
    expect(v10).to_contain_text("2 thresholds changed")
    diff = v10.get_by_role("table", name="Changed against v9")
    expect(diff).to_be_hidden()
    v10.get_by_role("heading", name="Version 10").click()
    expect(diff).to_be_visible()
    expect(diff).to_contain_text("Close the line at days past due of at least")
    expect(
        diff.get_by_role("row", name="Close the line at days past due of at least")
    ).to_contain_text("69")
    expect(
        diff.get_by_role("row", name="Close the line at days past due of at least")
    ).to_contain_text("70")
    # The draft is open with its change; the active version open with every threshold.
    draft = page.get_by_role("region", name="Version 26", exact=True)
    expect(draft.get_by_role("table", name="Changed against v25")).to_contain_text(
        "A raise is at most (% per cycle)"
    )
    active = page.get_by_role("region", name="Version 1", exact=True)
    expect(active.get_by_role("table", name="Thresholds")).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, "layout-policy")
    page.context.close()


def test_the_audit_date_filter_keeps_its_value_in_chinese(live_server, browser):
    build_the_desk()
    page = logged_in(browser, live_server.url, LAPTOP)
    page.get_by_label("Language").select_option("zh-hans")
    page.get_by_role("button", name="Switch").click()
    page.goto(f"{live_server.url}/audit/")
    today = timezone.now().date()
    since = page.locator("input[name=since]")
    until = page.locator("input[name=until]")
    # The browser shows an ISO value; a localised "2026/11/02" would show as blank.
    expect(since).to_have_value((today - timedelta(days=30)).isoformat())
    expect(until).to_have_value(today.isoformat())
    until.fill("2026-11-02")
    expect(until).to_have_value("2026-11-02")
    screenshot(page, "layout-audit-zh-hans")
    page.context.close()


def test_amounts_are_grouped_by_thousands_in_chinese(live_server, browser):
    pages = build_the_desk()
    page = logged_in(browser, live_server.url, LAPTOP)
    page.get_by_label("Language").select_option("zh-hans")
    page.get_by_role("button", name="Switch").click()
    page.goto(f"{live_server.url}{pages['appeal']}")
    expect(page.locator("main")).to_contain_text("¥1,882,265,300.00")
    expect(page.locator("main")).not_to_contain_text("1882265300")
    page.context.close()
