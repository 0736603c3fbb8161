from django.contrib.auth.models import Group
from django.urls import reverse

from accounts import roles
from tests.base import BaseTestCase

PAGES = {
    "Overview": reverse("overview"),
    "Accounts": reverse("accounts:list"),
    "Runs": reverse("decisions:runs"),
    "Appeals": reverse("appeals:queue"),
    "Policy": reverse("policies:index"),
    "Audit": reverse("decisions:audit"),
}

# What each persona's role may open, as docs/architecture.md, "Roles", reads.
ALLOWED = {
    "alice": {"Overview", "Accounts", "Runs", "Policy"},
    "bob": {"Overview", "Accounts", "Appeals"},
    "carol": {"Overview", "Accounts", "Appeals", "Policy"},
    "dave": {"Overview", "Accounts", "Runs", "Policy"},
    "frank": {"Overview", "Accounts", "Runs", "Appeals", "Policy", "Audit"},
}


class RoleTests(BaseTestCase):
    def test_the_five_roles_exist_as_groups(self):
        names = set(Group.objects.values_list("name", flat=True))
        self.assertLessEqual(set(roles.ROLE_LABELS), names)

    def test_only_the_auditor_may_export_and_only_admins_edit_policy(self):
        self.assertTrue(self.frank.has_perm("accounts.export_audit"))
        self.assertFalse(self.frank.has_perm("accounts.edit_policy"))
        self.assertTrue(self.dave.has_perm("accounts.edit_policy"))
        self.assertFalse(self.alice.has_perm("accounts.edit_policy"))
        self.assertFalse(self.bob.has_perm("accounts.lead_appeals"))
        self.assertTrue(self.carol.has_perm("accounts.lead_appeals"))

    def test_each_role_opens_exactly_its_pages(self):
        for username, allowed in ALLOWED.items():
            self.client.force_login(getattr(self, username))
            for page, url in PAGES.items():
                with self.subTest(user=username, page=page):
                    response = self.client.get(url)
                    expected = 200 if page in allowed else 403
                    self.assertEqual(response.status_code, expected)

    def test_the_navigation_shows_only_what_the_role_may_open(self):
        self.client.force_login(self.bob)
        response = self.client.get(reverse("overview"))
        nav = response.content.decode().split("<nav", 1)[1].split("</nav>", 1)[0]
        self.assertIn("Appeals", nav)
        self.assertNotIn("Audit", nav)
        self.assertNotIn("Runs", nav)
        self.assertNotIn("Policy", nav)

    def test_a_refused_page_explains_itself(self):
        self.client.force_login(self.alice)
        response = self.client.get(reverse("decisions:audit"))
        self.assertContains(response, "Your role cannot open this page", status_code=403)

    def test_a_user_without_a_role_is_refused_everywhere(self):
        from tests.base import make_user

        self.client.force_login(make_user("nobody"))
        for url in PAGES.values():
            self.assertEqual(self.client.get(url).status_code, 403)
